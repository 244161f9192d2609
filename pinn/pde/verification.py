"""The self-check of a solve in two variables: the checks of :mod:`pinn.verification`, measured on the rectangle.

For each equation, at fresh points of the rectangle (the R2 sequence, between and beside any training set):
relative residual rms(r) / rms(sum_i |t_i|) <= verify.residual, and rms_fresh / rms_training <= verify.generalisation.
For each condition, at points along its line other than those trained on:
rms(r_c) / (rms(sum_i |t_i|) + max |u|) <= verify.conditions.
Against a trusted reference (a closed form, or a numerical reference whose own accuracy is at most a tenth of
verify.tolerance): ||u - u_ref|| / ||u_ref|| on the output grid <= verify.tolerance.
"""

from __future__ import annotations

from typing import Mapping, Optional

import numpy as np

from .. import expressions as ex
from ..verification import (NOISE_FLOOR, Check, ConditionFigures, EquationFigures, Measurements, Verification,
                            _at_most, _parameter_checks, _ratio)
from .problem import PDEProblem

FRESH_FACTOR = 4
MIN_FRESH_POINTS = 4096
MAX_FRESH_POINTS = 1 << 15
#: Points along a condition's line for its check (odd, so never the 128 it trained on, ends aside).
CHECK_LINE_POINTS = 257
#: A numerical reference judges a solve only if its own accuracy is at most this share of verify.tolerance.
REFERENCE_MARGIN = 0.1


def _rms(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.sqrt(np.mean(values * values))) if values.size else 0.0


def _equation_parts(problem, residuals, model, points):
    """{i: (r, sum_i |t_i|)} at points [N, 2] (numpy)."""
    import tensorflow as tf

    from .residuals import field_partials

    x = tf.constant(points, dtype=model.dtype)
    values = field_partials(model, x, residuals.equation_needed)
    scope = residuals._scope(model, x, values)
    functions = ex.tensorflow_functions()
    out = {}
    for i, residual in enumerate(residuals.equations):
        r = np.asarray(ex.evaluate(residual, scope, functions) + 0.0 * x[:, 0])
        scale = sum(np.abs(np.asarray(ex.evaluate(t, scope, functions) + 0.0 * x[:, 0])) for t in ex.additive_terms(residual))
        out[i] = (r, scale)
    return out


def measure_field(problem: PDEProblem, model, residuals, training_points: Optional[np.ndarray]) -> Measurements:
    """Each equation at fresh and training points, each condition along its line (TensorFlow)."""
    count = len(training_points) if training_points is not None else problem.training.points
    fresh = problem.domain.fresh(int(min(max(FRESH_FACTOR * count, MIN_FRESH_POINTS), MAX_FRESH_POINTS)))
    parts, trained = {}, {}
    for start in range(0, len(fresh), 8192):
        for i, (r, s) in _equation_parts(problem, residuals, model, fresh[start:start + 8192]).items():
            parts.setdefault(i, ([], []))[0].append(r)
            parts[i][1].append(s)
    if training_points is not None:
        trained = _equation_parts(problem, residuals, model, training_points)
    equations = []
    for i, equation in enumerate(problem.equations):
        r, s = np.concatenate(parts[i][0]), np.concatenate(parts[i][1])
        worst = int(np.argmax(np.where(np.isfinite(r), np.abs(r), np.inf)))
        equations.append(EquationFigures(f"equation[{i}]", equation.source, _rms(r), _rms(s),
                                         _rms(trained[i][0]) if trained else float("nan"), worst_at=tuple(fresh[worst]),
                                         fresh_points=len(fresh), training_points=count))
    return Measurements(tuple(equations), tuple(_condition_figures(problem, model)))


def _condition_figures(problem: PDEProblem, model):
    """Every condition (built in or penalised) at CHECK_LINE_POINTS along its line."""
    import tensorflow as tf

    from .residuals import field_partials

    functions = ex.tensorflow_functions()
    largest = max([1e-300] + [float(np.max(np.abs(v))) for v in _grid_values(problem, model).values()])
    out = []
    for j, condition in enumerate(problem.conditions):
        places = {}
        for node in condition.field_values:
            places.setdefault(node.fixed, set()).add(tuple(node.orders))
        scope = dict(problem.constants)
        scope.update(model.parameters)
        free = None
        for fixed, needed in places.items():
            held = {v: f for v, f in zip(problem.variables, fixed) if f is not None}
            points = tf.constant(problem.domain.line(held, CHECK_LINE_POINTS), dtype=model.dtype)
            values = field_partials(model, points, sorted(needed))
            for k, u in enumerate(problem.unknowns):
                for index in needed:
                    scope[(u, index, fixed)] = values[index][:, k]
            free = points
        for i, v in enumerate(problem.variables):
            scope[v] = free[:, i]
        r = np.asarray(ex.evaluate(condition.residual, scope, functions) + 0.0 * free[:, 0])
        terms = sum(np.abs(np.asarray(ex.evaluate(t, scope, functions) + 0.0 * free[:, 0])) for t in ex.additive_terms(condition.residual))
        out.append(ConditionFigures(f"condition[{j}]", condition.source, _rms(r), _rms(terms) + largest))
    return out


def _grid_values(problem: PDEProblem, model) -> dict:
    import tensorflow as tf

    mesh = problem.domain.mesh((33, 33))
    values = model(tf.constant(mesh, dtype=model.dtype)).numpy()
    return {u: values[:, k] for k, u in enumerate(problem.unknowns)}


def verify_field(problem: PDEProblem, measurements: Measurements, values: Mapping[str, np.ndarray], reference,
                 parameters: Mapping[str, float]) -> Verification:
    """Judge the measurements, the solution on the output grid against a trusted reference, the learned parameters."""
    spec = problem.verify
    checks = []
    for e in measurements.equations:
        where = f"largest at ({', '.join(f'{v} = {c:.4g}' for v, c in zip(problem.variables, e.worst_at))}), {e.fresh_points} fresh points"
        checks.append(Check(f"{e.name} relative residual", "residual", e.relative, spec.residual, _at_most(e.relative, spec.residual), where))
        ratio = _ratio(e.fresh_rms, e.training_rms)
        judged = not e.relative <= NOISE_FLOOR and np.isfinite(e.training_rms)
        checks.append(Check(f"{e.name} fresh/training residual", "generalisation", ratio, spec.generalisation,
                            _at_most(ratio, spec.generalisation) or not judged,
                            f"RMS {e.fresh_rms:.1e} at {e.fresh_points} fresh points, {e.training_rms:.1e} at "
                            f"{e.training_points} training points" + ("" if judged else "; not judged")))
    for c in measurements.conditions:
        checks.append(Check(f"{c.name} relative residual", "condition", c.relative, spec.conditions,
                            _at_most(c.relative, spec.conditions), f"{c.source}: RMS residual {c.residual:.1e} along its line"))
    against = "none"
    if reference is not None and reference.success and reference.accuracy <= REFERENCE_MARGIN * spec.tolerance:
        for u in problem.unknowns:
            if u not in reference.values:
                continue
            truth, got = np.asarray(reference.values[u], dtype=float), np.asarray(values[u], dtype=float)
            error = _ratio(float(np.linalg.norm(got - truth)), float(np.linalg.norm(truth)))
            word = "exact solution" if u in problem.exact else "reference"
            against = "exact" if u in problem.exact else "reference"
            checks.append(Check(f"{u} relative L2 error against the {word}", "reference", error, spec.tolerance,
                                _at_most(error, spec.tolerance), f"{reference.label}, on the {values[u].shape[0]}x{values[u].shape[1]} output grid"))
    checks += _parameter_checks(problem, parameters)
    return Verification(tuple(checks), against)
