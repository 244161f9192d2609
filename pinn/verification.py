"""The self-check of a solve: is the trained network a solution, and does it agree with a trusted reference?

A solve is called solved only when every check here passes (:class:`Verification`).
For each equation e with residual r = t_1 +- t_2 +- ... (its additive terms),
at ``FRESH_FACTOR`` times as many fresh points as training used (both ends,
and points between and beside every training point: :meth:`pinn.domain.Interval.fresh`):

    relative residual   rms(r) / rms(sum_i |t_i|)            <= verify.residual        (default 1e-3)
    generalisation      rms_fresh(r) / rms_training(r)       <= verify.generalisation  (default 10), judged
                                                                only when the relative residual is above NOISE_FLOOR
For each condition c (r_c = left - right, terms as above), where it holds:

    relative residual   |r_c| / (sum_i |t_i| + max |u|)       <= verify.conditions      (default 1e-4)

And where a trusted reference exists (an exact solution, or a scipy reference
that passed its own checks), for each unknown u:

    relative L2 error   ||u - u_ref|| / ||u_ref||             <= verify.tolerance       (default 1e-3)

For each trainable parameter p whose true value is given (``exact:``):

    relative error      |p - p_true| / |p_true|               <= verify.parameters      (default 1e-3)
                        (|p - p_true| when p_true is 0)

Without a reference the residual checks alone decide.  The thresholds were
measured on the shipped problems and on deliberately broken runs
(docs/verification.md).  Measuring needs the trained model (:func:`measure`,
TensorFlow, called by the solver); judging is numpy only (:func:`verify`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np

from . import expressions as ex

FRESH_FACTOR = 8  # fresh points per training point
MIN_FRESH_POINTS = 1025
MAX_FRESH_POINTS = 1 << 16
NOISE_FLOOR = 1e-6  # below this relative residual the ratio of two round-off figures means nothing

ADVICE = {
    "residual": "Try more collocation points (training.points), redraws (training.resample_every), "
                "a longer run (training.adam.steps, training.lbfgs.steps) or a shorter domain.",
    "generalisation": "The network fits the training points but not the points between them: use more "
                      "collocation points (training.points) or redraw them (training.resample_every).",
    "condition": "Weight the conditions more (training.weights.conditions) or train longer.",
    "reference": "The network solves the equations only approximately, and the error grew along the domain: "
                 "try more points, a longer run, a larger network (network.hidden) or a shorter domain; "
                 "or loosen verify.tolerance if this accuracy is enough.",
    "window": "A window of the march failed its own check even at its shortest: train each window longer "
              "(training.adam.steps, training.lbfgs.steps), use more points per window (training.points), or list "
              "shorter windows (training.windows: [t0, t1, ...]).",
    "parameter": "A learned parameter is far from its true value: the equations and data may admit another value "
                 "(a second root, such as -w for w when only w^2 appears) or training stopped short: start nearer "
                 "(parameters.NAME.initial), add data or a condition that tells the values apart, train longer, "
                 "or loosen verify.parameters if the data allow no better (noise).",
}

#: A boundary-value problem whose equations or error failed: what benchmarks/long_bvp.py measured.
LONG_BVP_ADVICE = ("If the solution has a layer much thinner than the domain or many oscillations across it: "
                   "one network does not resolve those, and neither 8x the points, a wider network nor LM "
                   "repaired it when measured; split the domain (training.subdomains: 10, or boundaries graded "
                   "into the layer such as [0, 0.001, 0.003, 0.01, 0.03, 1]) with network.hidden: [32, 32] and "
                   "training.phases: [adam, lbfgs, lm] (docs/problem-format.md, 'Long boundary-value problems').")


@dataclass(frozen=True)
class EquationFigures:
    """One equation at fresh and at training points: RMS residual, RMS scale, and where |r| is largest."""

    name: str  # equation[0]
    source: str
    fresh_rms: float
    fresh_scale: float  # rms(sum_i |t_i|) at the fresh points
    training_rms: float
    worst_at: float  # the fresh point with the largest |r|
    fresh_points: int
    training_points: int

    @property
    def relative(self) -> float:
        return _ratio(self.fresh_rms, self.fresh_scale)


@dataclass(frozen=True)
class ConditionFigures:
    """One condition where it holds: its residual and the magnitude it is judged by."""

    name: str  # condition[1]
    source: str
    residual: float
    scale: float

    @property
    def relative(self) -> float:
        return _ratio(abs(self.residual), self.scale)


@dataclass(frozen=True)
class Measurements:
    """What :func:`measure` found on the trained model; judged by :func:`verify`."""

    equations: Tuple[EquationFigures, ...] = ()
    conditions: Tuple[ConditionFigures, ...] = ()


@dataclass(frozen=True)
class Check:
    """One check: what it measures, the figure, the threshold it must not exceed, and the verdict."""

    name: str  # "equation[0] residual at fresh points"
    kind: str  # a key of ADVICE
    figure: float
    threshold: float
    passed: bool
    detail: str  # one line: what was measured, where

    def as_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "figure": _number(self.figure), "threshold": self.threshold,
                "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class Verification:
    """The checks of one solve; ``passed`` only if every one passed."""

    checks: Tuple[Check, ...]
    reference: str = "none"  # what the reference check compared with: exact | reference | none
    advice: Tuple[str, ...] = ()  # said after the checks' own advice when any check failed (LONG_BVP_ADVICE)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def verdict(self) -> str:
        return "verified" if self.passed else "failed"

    @property
    def failed(self) -> Tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.passed)

    @property
    def message(self) -> str:
        """One paragraph: every failed check with its figure and threshold, then what to try."""
        if self.passed:
            return f"The solution passed all {len(self.checks)} checks."
        failures = "; ".join(f"{c.name} is {c.figure:.1e} (at most {c.threshold:.0e} allowed{', ' + c.detail if c.detail else ''})"
                             for c in self.failed)
        advice = " ".join(dict.fromkeys([*(ADVICE[c.kind] for c in self.failed), *self.advice]))
        return f"The solution failed its checks: {failures}. {advice}"

    def as_dict(self) -> Dict[str, Any]:
        return {"verdict": self.verdict, "passed": self.passed, "against": self.reference,
                "checks": [c.as_dict() for c in self.checks]}


def fresh_point_count(training_points: int) -> int:
    """How many fresh points check a solve trained on ``training_points``."""
    return int(min(max(FRESH_FACTOR * training_points, MIN_FRESH_POINTS), MAX_FRESH_POINTS))


def measure(problem, model, residuals, training_points: Optional[np.ndarray] = None) -> Measurements:
    """Each equation's residual at fresh and at training points, each condition's residual (TensorFlow).

    ``training_points`` [N, 1] (default: drawn as training drew them) are
    the points the fresh ones are compared with; a march of windows gives the
    windows' points together.
    """
    import tensorflow as tf

    from .solution import evaluate_model

    spec = problem.training
    figures = []
    if residuals is not None and residuals.equations:
        training = (problem.domain.sample(spec.points, spec.sampler, np.random.default_rng(spec.seed + 1))
                    if training_points is None else np.asarray(training_points, dtype=float).reshape(-1, 1))
        fresh = problem.domain.fresh(fresh_point_count(len(training)))
        at_training = residuals.equation_parts(model, tf.constant(training, dtype=model.dtype))
        at_fresh = _in_batches(residuals, model, fresh)
        for equation, term in zip(problem.equations, residuals.equations):
            r_fresh, scale = at_fresh[term.name]
            r_training = at_training[term.name][0]
            figures.append(EquationFigures(
                term.name, equation.source, _rms(r_fresh), _rms(scale), _rms(r_training),
                float(fresh[int(np.argmax(np.abs(np.nan_to_num(r_fresh, nan=np.inf)))), 0]), len(fresh), len(training)))
    conditions = []
    if problem.conditions:
        points = sorted({p for c in problem.conditions for p in c.points})
        order = max(problem.max_order, 0)
        values = evaluate_model(model, problem.unknowns, np.array(points), order)
        scope: Dict[Any, Any] = dict(problem.constants)
        scope.update({name: float(v.numpy()) for name, v in model.parameters.items()})
        for i, point in enumerate(points):
            for u in problem.unknowns:
                for k in range(order + 1):
                    scope[(u, k, float(point))] = float(values[u][k, i])
        grid = evaluate_model(model, problem.unknowns, problem.domain.grid(min(problem.output.points, 1001)), 0)
        magnitude = max((float(np.max(np.abs(v[0]))) for v in grid.values()), default=0.0)
        for index, condition in enumerate(problem.conditions):
            residual, terms = _condition_parts(condition.residual, scope)
            conditions.append(ConditionFigures(f"condition[{index}]", condition.source, residual, terms + magnitude))
    return Measurements(tuple(figures), tuple(conditions))


def verify(problem, measurements: Measurements, x: np.ndarray, solution_values: Mapping[str, np.ndarray],
           reference=None, parameters: Optional[Mapping[str, float]] = None) -> Verification:
    """Judge ``measurements``, the values [orders + 1, len(x)] of each unknown at ``x`` against ``reference``,
    and the learned ``parameters`` ({name: value}) against their true values."""
    spec = problem.verify
    checks = []
    for e in measurements.equations:
        where = f"largest at {problem.variable} = {e.worst_at:.4g}, {e.fresh_points} fresh points"
        checks.append(Check(f"{e.name} relative residual", "residual", e.relative, spec.residual,
                            _at_most(e.relative, spec.residual), where))
        ratio = _ratio(e.fresh_rms, e.training_rms)
        judged = not e.relative <= NOISE_FLOOR
        checks.append(Check(f"{e.name} fresh/training residual", "generalisation", ratio, spec.generalisation,
                            _at_most(ratio, spec.generalisation) or not judged,
                            f"RMS {e.fresh_rms:.1e} at {e.fresh_points} fresh points, {e.training_rms:.1e} at "
                            f"{e.training_points} training points" + ("" if judged else "; both at round-off, not judged")))
    for c in measurements.conditions:
        checks.append(Check(f"{c.name} relative residual", "condition", c.relative, spec.conditions,
                            _at_most(c.relative, spec.conditions), f"{c.source}: residual {c.residual:.1e}"))
    against = "none"
    if reference is not None and reference.success:
        expected = reference.evaluate(np.asarray(x, dtype=float))
        limits = reference.limit_points(np.asarray(x, dtype=float)) if hasattr(reference, "limit_points") else {}
        for u, values in solution_values.items():
            if u not in expected:
                continue
            truth, got = np.asarray(expected[u][0], dtype=float), np.asarray(values[0], dtype=float)
            defined = np.isfinite(truth)  # a closed form undefined at a point, with no limit there, is left out
            error = (_ratio(float(np.linalg.norm(got[defined] - truth[defined])), float(np.linalg.norm(truth[defined])))
                     if defined.any() else float("inf"))  # nothing to compare with: not verified
            against = reference.against(u) if against in ("none", reference.against(u)) else "exact and reference"
            checks.append(Check(f"{u} relative L2 error against the {reference.against(u)}", "reference", error,
                                spec.tolerance, _at_most(error, spec.tolerance),
                                f"{reference.source} ({reference.method or 'closed form'})"
                                + _singular_note(defined, limits[u][0] if u in limits else None)))
    checks += _parameter_checks(problem, parameters or {})
    failed_residual = any(c.kind in ("residual", "reference") and not c.passed for c in checks)
    one_domain = getattr(problem, "kind", None) == "bvp" and getattr(problem.training, "subdomains", 1) == 1
    advice = (LONG_BVP_ADVICE,) if failed_residual and one_domain else ()
    return Verification(tuple(checks), against, advice)


def _parameter_checks(problem, learned: Mapping[str, float]) -> list:
    """One check per trainable parameter with a true value: its relative error (absolute when the truth is 0)."""
    checks = []
    for p in problem.trainable_parameters:
        if p.true_value is None or p.name not in learned:
            continue
        value, true = float(learned[p.name]), float(p.true_value)
        error = abs(value - true) / abs(true) if true != 0 else abs(value - true)
        error = error if np.isfinite(error) else float("inf")
        checks.append(Check(f"parameter {p.name} {'relative' if true != 0 else 'absolute'} error against its true value",
                            "parameter", error, problem.verify.parameters, _at_most(error, problem.verify.parameters),
                            f"learned {p.name} = {value:.8g}, true {true:.8g}"))
    return checks


def _singular_note(defined: np.ndarray, limit: Optional[np.ndarray]) -> str:
    """``; 1 point by its limit, 2 left out``: where the closed form was undefined as written (pinn.limits)."""
    parts = []
    by_limit = int(np.count_nonzero(limit & defined)) if limit is not None else 0
    if by_limit:
        parts.append(f"{by_limit} point{'s' if by_limit > 1 else ''} by its two-sided limit")
    if not defined.all():
        parts.append(f"{int(np.count_nonzero(~defined))} undefined, left out")
    return f"; {', '.join(parts)}" if parts else ""


def _in_batches(residuals, model, x: np.ndarray, batch: int = 8192) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """:meth:`Residuals.equation_parts` at x [N, 1], ``batch`` points at a time."""
    import tensorflow as tf

    pieces = [residuals.equation_parts(model, tf.constant(x[i : i + batch], dtype=model.dtype)) for i in range(0, len(x), batch)]
    return {name: tuple(np.concatenate([p[name][j] for p in pieces]) for j in range(2)) for name in pieces[0]}


def _condition_parts(residual: ex.Node, scope: Mapping[Any, Any]) -> Tuple[float, float]:
    """(r, sum_i |t_i|) of a condition's residual with its point values in ``scope``."""
    with np.errstate(all="ignore"):
        value = float(ex.evaluate(residual, scope))
        terms = sum(abs(float(ex.evaluate(t, scope))) for t in ex.additive_terms(residual))
    return value, terms


def _rms(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.sqrt(np.mean(values**2))) if values.size else 0.0


def _ratio(top: float, bottom: float) -> float:
    """top / bottom, with 0/0 = 0 and anything non-finite = inf (so a check on it fails)."""
    if not (np.isfinite(top) and np.isfinite(bottom)):
        return float("inf")
    if top == 0:
        return 0.0
    return float(top / bottom) if bottom > 0 else float("inf")


def _at_most(figure: float, threshold: float) -> bool:
    return bool(np.isfinite(figure) and figure <= threshold)


def _number(value: float) -> Optional[float]:
    return float(value) if np.isfinite(value) else None
