"""Residual-based refinement: the phase ``refine``, after L-BFGS by default, a repair that runs only when needed.

When the residual between the collocation points has grown well above the
residual at them (rms over fresh candidates > ``TRIGGER`` x rms at the
points: the network fits its points and not the equation between them, which
L-BFGS does on a layer the grid under-resolves), it moves a share
``training.refine`` of the points to where the equations' residual is largest
(RAR-D, Wu et al. 2023) and trains again with L-BFGS (up to
``training.lbfgs.steps``) on the new points.  Otherwise it does nothing, and
the run is bit for bit what it was without the phase.  From
``CANDIDATES_PER_POINT`` x N fresh candidates (:meth:`pinn.domain.Interval.fresh`)
it draws m = round(refine N) without replacement with probability

    p(x) ∝ r(x)^2 / mean(r^2) + 1,     r^2 the sum over equations of the squared residual,

and keeps N - m of the current points, evenly spread, ends included.  The
count N never changes, so no compiled step retraces; the loss on the new
points measures more than before, so the best weights so far are forgotten
(the current ones are the best, restored at the phase's start).
"""

from __future__ import annotations

from typing import List, Optional

import numpy as np
import tensorflow as tf

from .phase_support import PhaseOutcome, Status, TrainingContext

CANDIDATES_PER_POINT = 16
TRIGGER = 2.0  # rms residual at the candidates / at the current points above which points move (measured: 8.2 on
               # the boundary layer after Adam, 0.91-0.98 on the quadratic, periodic and cooling problems)


def needs_refinement(at_candidates: np.ndarray, at_points: np.ndarray) -> bool:
    """rms(r) at the candidates > TRIGGER * rms(r) at the points (arguments: squared residuals)."""
    inside, outside = float(np.mean(at_points)), float(np.mean(at_candidates))
    if not np.isfinite(outside):
        return True
    return bool(outside > TRIGGER**2 * inside)


def refined_points(current: np.ndarray, candidates: np.ndarray, squares: np.ndarray, share: float,
                   rng: np.random.Generator) -> np.ndarray:
    """[N, 1]: N - m of ``current`` [N, 1] evenly spread, and m of ``candidates`` [M, 1] drawn by p ∝ r^2 / mean r^2 + 1."""
    count = len(current)
    moved = min(int(round(share * count)), count, len(candidates))
    ordered = np.sort(current[:, 0])
    kept = ordered[np.unique(np.round(np.linspace(0, count - 1, count - moved)).astype(int))] if count > moved else ordered[:0]
    squares = np.asarray(squares, dtype=float)
    finite = np.isfinite(squares)
    top = np.max(squares[finite]) if finite.any() else 1.0
    squares = np.where(finite, squares, top)
    mean = np.mean(squares)
    weights = (squares / mean if mean > 0 else np.zeros_like(squares)) + 1.0
    chosen = rng.choice(len(candidates), size=moved, replace=False, p=weights / weights.sum())
    points = np.sort(np.concatenate([kept, candidates[chosen, 0]]))
    return points.reshape(-1, 1)


def refine_phase(context: TrainingContext, running: np.ndarray) -> List[Optional[PhaseOutcome]]:
    """Move the points of the members that need it (``context.refine()``), then L-BFGS on them; one outcome per member."""
    moved = np.broadcast_to(np.atleast_1d(np.asarray(context.refine(), dtype=int)), running.shape) * running
    if not moved.any():  # nothing to repair: the phase leaves no trace (no record, the status as it was)
        context.counts.steps.pop("refine", None)
        context.counts.seconds.pop("refine", None)
        return [None] * len(running)
    reset = tf.constant(np.reshape(moved > 0, context.best_loss.shape), dtype=tf.bool)
    context.best_loss.assign(tf.where(reset, tf.constant(np.inf, context.best_loss.dtype), context.best_loss))
    outcomes = _lbfgs_again(context, moved > 0)
    return [None if not running[k] or outcome is None or not moved[k] else
            PhaseOutcome(outcome.status, f"moved {int(moved[k])} collocation points to where the residual is largest; "
                                         f"then L-BFGS {outcome.message}", outcome.steps)
            for k, outcome in enumerate(outcomes)]


def _lbfgs_again(context: TrainingContext, members: np.ndarray) -> List[Optional[PhaseOutcome]]:
    """The L-BFGS phase on the moved points, its counts booked to ``refine`` (the first L-BFGS phase keeps its own)."""
    from .batched_lbfgs import stacked_lbfgs_phase
    from .lbfgs import lbfgs_phase

    counts = context.counts
    saved = (counts.steps.get("lbfgs"), counts.seconds.get("lbfgs"), counts.member_steps.pop("lbfgs", None))
    counts.steps["lbfgs"], counts.seconds["lbfgs"] = 0, 0.0
    try:
        outcomes = (stacked_lbfgs_phase if context.members is not None else lbfgs_phase)(context, members.copy())
    finally:
        counts.steps["refine"], counts.seconds["refine"] = counts.steps["lbfgs"], counts.seconds["lbfgs"]
        if "lbfgs" in counts.member_steps:
            counts.member_steps["refine"] = counts.member_steps.pop("lbfgs")
        steps, seconds, member_steps = saved
        for table, value in ((counts.steps, steps), (counts.seconds, seconds)):
            if value is None:
                table.pop("lbfgs", None)
            else:
                table["lbfgs"] = value
        if member_steps is not None:
            counts.member_steps["lbfgs"] = member_steps
    return outcomes
