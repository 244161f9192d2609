"""Training: one loop over a list of phases, each a row of :data:`PHASES`.

``training.phases`` (default ``[adam, lbfgs, refine]``; ``lm`` on request) names the phases in order.
Each phase starts from the best weights so far, runs, keeps the best weights
it sees and says why it stopped (:class:`~pinn.phase_support.PhaseOutcome`);
the loop (:func:`run_phases`) owns the order, the best weights, the
non-finite stop, interruption and the status, for one model (:func:`train`)
and for stacked members (:func:`pinn.vectorized.train_members`) alike.  Every
reader (progress, the closing table, the plot, metrics.json, the saved model)
reads :attr:`TrainingResult.phases`, so a new phase is a row here, a label in
:data:`pinn.problem.PHASE_LABELS` and its options in the spec; no reader changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np
import tensorflow as tf

from .adam import adam_phase
from .batched_lbfgs import stacked_lbfgs_phase
from .lbfgs import lbfgs_phase
from .levenberg_marquardt import lm_phase
from .refinement import refine_phase
from .phase_support import (STATUS_MESSAGES, Counts, History, PhaseOutcome, Progress, Status, TrainingContext,
                            interrupts_deferred, per_member, weighted_total)
from .problem import PHASE_LABELS, TrainingSpec
from .residuals import Residuals

__all__ = ["PHASES", "Phase", "PhaseRecord", "Progress", "STATUS_MESSAGES", "Status", "TrainingResult", "interrupts_deferred",
           "per_member", "run_phases", "train", "weighted_total"]


@dataclass(frozen=True)
class Phase:
    """A row of :data:`PHASES`: the step budget from the spec, and how it runs on one model and on stacked members.

    Both runners take (context, running mask) and return one outcome per
    member (None for members not running).
    """

    budget: Callable[[TrainingSpec], int]
    single: Callable[[TrainingContext, np.ndarray], List[Optional[PhaseOutcome]]]
    stacked: Callable[[TrainingContext, np.ndarray], List[Optional[PhaseOutcome]]]


#: The training phases by name (labels in pinn.problem.PHASE_LABELS, options in TrainingSpec).
PHASES: Dict[str, Phase] = {
    "adam": Phase(lambda spec: spec.adam.steps, adam_phase, adam_phase),
    "refine": Phase(lambda spec: spec.lbfgs.steps if spec.refine > 0 else 0, refine_phase, refine_phase),
    "lbfgs": Phase(lambda spec: spec.lbfgs.steps, lbfgs_phase, stacked_lbfgs_phase),
    "lm": Phase(lambda spec: spec.lm.steps, lm_phase, lm_phase),
}


@dataclass(frozen=True)
class PhaseRecord:
    """One phase as it ran: its name (a key of PHASES), steps, seconds, and why it stopped ("" if interrupted)."""

    name: str
    steps: int
    seconds: float
    stop: str = ""

    @property
    def label(self) -> str:
        return PHASE_LABELS.get(self.name, self.name)


@dataclass(frozen=True, eq=False)
class TrainingResult:
    """What training reached: status, message, history, the phases as they ran, the lowest loss.

    ``history`` maps ``step``, ``phase`` (the index of the phase in
    ``training.phases``), ``total`` and each term name (``equation[0]``,
    ``condition[1]``, ``data``) to arrays of equal length, one entry per
    recorded point.
    """

    status: Status
    message: str
    history: Mapping[str, np.ndarray]
    phases: Tuple[PhaseRecord, ...]
    best_loss: float

    @property
    def steps(self) -> int:
        return sum(p.steps for p in self.phases)

    @property
    def train_seconds(self) -> float:
        return sum(p.seconds for p in self.phases)

    @property
    def stops(self) -> Dict[str, str]:
        """{phase name: why it stopped} for the phases that ended by themselves."""
        return {p.name: p.stop for p in self.phases if p.stop}

    def steps_of(self, name: str) -> int:
        return sum(p.steps for p in self.phases if p.name == name)

    def seconds_of(self, name: str) -> float:
        return sum(p.seconds for p in self.phases if p.name == name)

    # the two default phases by name, for scripts written before the phase list
    adam_steps = property(lambda self: self.steps_of("adam"))
    lbfgs_steps = property(lambda self: self.steps_of("lbfgs"))
    adam_seconds = property(lambda self: self.seconds_of("adam"))
    lbfgs_seconds = property(lambda self: self.seconds_of("lbfgs"))

    def summary(self) -> str:
        """``2000 Adam + 708 L-BFGS``: the steps of each phase that ran (phases that did nothing left out)."""
        return " + ".join(f"{p.steps} {p.label}" for p in self.phases if p.steps) or "no training"


def message_for(status: Status, stops: Mapping[str, str], phases: Tuple[str, ...]) -> str:
    """The result's message: a non-finite stop says where; convergence names the phase that converged."""
    ran = [name for name in phases if name in stops]
    if status is Status.NONFINITE_LOSS and ran:
        return stops[ran[-1]]
    return STATUS_MESSAGES[status].format(phase=PHASE_LABELS.get(ran[-1], ran[-1]) if ran else "training")


def run_phases(context: TrainingContext) -> List[TrainingResult]:
    """Run ``context.spec.phases`` in order on the context's members; one TrainingResult per member.

    A member whose phase ends unsuccessfully (a non-finite loss) runs no later
    phase; a KeyboardInterrupt ends training for all with status INTERRUPTED.
    Each member ends on its best finite weights.
    """
    spec, counts = context.spec, context.counts
    members = context.members or 1
    stacked = context.members is not None
    statuses = [Status.MAX_STEPS] * members
    stops: List[Dict[str, str]] = [{} for _ in range(members)]
    steps: List[Dict[str, int]] = [{} for _ in range(members)]
    running = np.ones(members, dtype=bool)
    try:
        for index, name in enumerate(spec.phases):
            phase = PHASES[name]
            if phase.budget(spec) <= 0 or not running.any():
                continue
            if index > 0:
                _restore_finite_best(context)  # each phase starts from the best weights so far
            counts.start(name, index)
            outcomes = (phase.stacked if stacked else phase.single)(context, running.copy())
            for k, outcome in enumerate(outcomes):
                if outcome is not None:
                    statuses[k], stops[k][name], steps[k][name] = outcome.status, outcome.message, outcome.steps
                    running[k] = outcome.status.success
    except KeyboardInterrupt:
        statuses = [Status.INTERRUPTED] * members
    _restore_finite_best(context)
    best = np.atleast_1d(context.best_loss.numpy())
    results = []
    for k in range(members):
        records = tuple(
            PhaseRecord(name, _member_steps(counts, steps[k], name, k, stacked), counts.seconds[name], stops[k].get(name, ""))
            for name in spec.phases if name in counts.steps
        )
        results.append(TrainingResult(status=statuses[k], message=message_for(statuses[k], stops[k], spec.phases),
                                      history=context.histories[k].arrays(), phases=records, best_loss=float(best[k])))
    return results


def _member_steps(counts: Counts, outcome_steps: Mapping[str, int], name: str, member: int, stacked: bool) -> int:
    """A phase's steps for one member: the shared count, or for stacked members what the member itself did."""
    if stacked and name in counts.member_steps:
        return int(counts.member_steps[name][member])
    if stacked and name in outcome_steps:
        return int(outcome_steps[name])
    return counts.steps[name]


def _restore_finite_best(context: TrainingContext) -> None:
    """The best weights back into the model, for each member whose lowest loss is finite."""
    finite = tf.math.is_finite(context.best_loss)
    if context.members is None:
        if bool(finite.numpy()):
            for variable, kept in zip(context.variables, context.best):
                variable.assign(kept)
        return
    for variable, kept in zip(context.variables, context.best):
        variable.assign(tf.where(per_member(finite, variable), kept, variable))


def train(model, residuals: Residuals, spec: TrainingSpec, domain, *, progress: Optional[Callable[[Progress], None]] = None,
          schedule=None) -> TrainingResult:
    """Fit ``model`` (a :class:`~pinn.network.TrialSolution`) to the residuals: the phases of ``spec`` in order.

    The collocation points come from ``schedule`` (:class:`pinn.collocation.Schedule`;
    by default all of ``domain``, redrawn every ``spec.resample_every`` Adam
    steps).  A KeyboardInterrupt ends training with status INTERRUPTED and the
    best weights restored.
    """
    from .collocation import Schedule
    from .domain import Interval
    from .refinement import CANDIDATES_PER_POINT, needs_refinement, refined_points

    dtype = model.dtype
    domain = domain if isinstance(domain, Interval) else Interval(*domain)
    schedule = schedule or Schedule(domain, spec.points, spec.sampler, spec.resample_every)
    rng = np.random.default_rng(spec.seed + 1)
    points = tf.Variable(schedule.initial(rng), dtype=dtype, trainable=False, name="collocation")
    weights = tf.constant(residuals.weights, dtype=dtype)

    def loss(x):
        terms = residuals.loss_terms(model, x)
        return weighted_total(weights, terms), terms

    def resample(step):
        points.assign(schedule.points(step, rng))

    def refine():
        if not residuals.equations:
            return 0  # nothing to refine by
        candidates = schedule.domain.fresh(CANDIDATES_PER_POINT * spec.points)
        squares = residuals.squared_residuals(model, tf.constant(candidates, dtype=dtype))
        if not needs_refinement(squares, residuals.squared_residuals(model, points)):
            return 0
        points.assign(refined_points(points.numpy(), candidates, squares, spec.refine, rng))
        return int(round(spec.refine * spec.points))

    context = TrainingContext(
        variables=model.weights, loss=loss, points=points, best=[tf.Variable(v, trainable=False) for v in model.weights],
        best_loss=tf.Variable(np.inf, dtype=dtype, trainable=False), spec=spec, resample=resample,
        histories=[History(residuals.term_names)], progress=progress, counts=Counts(), model=model, residuals=residuals,
        schedule=schedule, refine=refine,
    )
    (result,) = run_phases(context)
    return result

