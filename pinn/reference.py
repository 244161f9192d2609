"""Reference solutions to check a network against: closed forms, or scipy's solvers.

``reference_solution(problem, x)`` returns a :class:`Reference` holding each
unknown and its derivatives up to the order the equations use, on ``x``:

* ``exact``: the problem's ``exact:`` expressions, differentiated symbolically
  (where one is undefined as written, ``sin(x)/x`` at 0, its two-sided limit:
  :mod:`pinn.limits`);
* ``ivp``: ``solve_ivp`` (DOP853, rtol 1e-10, atol 1e-12; Radau or LSODA when
  the problem is stiff) from the one point where all conditions sit, in both
  directions if it is interior;
* ``bvp``: ``solve_bvp`` (tol 1e-8) when the conditions sit at the domain ends;
* ``shooting``: ``scipy.optimize.root`` over the state at the left end, each
  guess integrated by ``solve_ivp``, for conditions at interior or many points
  (and when ``solve_bvp`` fails);
* ``none``: no reference (``reference: none``, a data fit, an unknown parameter).

Equations of any order and any number of unknowns are reduced to first order
by :class:`pinn.odesystem.FirstOrderSystem`.  Numerical failure never raises: a
reference that could not be computed, or that does not meet every condition
and equation at fresh points, comes back with ``success=False`` and a message.
numpy and scipy only; no TensorFlow.

This module holds the result, the exact reference and the choice of method;
the solvers and the checks of their solutions are in
:mod:`pinn.reference_solvers` (their constants re-exported from here).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

from . import calculus
from . import expressions as ex
from .limits import ClosedForms, SingularPoints, singular_points
from .odesystem import FirstOrderSystem, HighestDerivativeError
from .problem import Problem
from .reference_solvers import (  # noqa: F401  (re-exported: pinn.reference.EVALUATION_BUDGET, RTOL, ...)
    ATOL, BVP_MAX_NODES, BVP_TOLERANCE, CONDITION_TOLERANCE, EQUATION_TOLERANCE, EVALUATION_BUDGET, RTOL, SHOOTING_ATOL,
    SHOOTING_RTOL, STIFFNESS_LIMIT, _FRESH_FRACTIONS, _bvp, _Failure, _ivp, _shooting, _verify,
)

SOURCES = ("exact", "ivp", "bvp", "shooting", "none")


# --------------------------------------------------------------------- the result


@dataclass(frozen=True, eq=False)
class Reference:
    """A reference solution on a grid.

    ``values[u]`` has shape [orders[u] + 1, len(x)], row k the k-th derivative
    of u.  ``source`` is one of ``exact | ivp | bvp | shooting | none``;
    ``success`` is False (and ``values`` empty) when no trustworthy reference
    could be made, and ``message`` says why or how it was made.
    ``parameters`` holds the trainable parameters' values used (true values,
    or values determined by the conditions).  ``exact_unknowns`` lists the
    unknowns whose values come from closed forms.
    """

    source: str
    x: np.ndarray
    values: Mapping[str, np.ndarray]
    success: bool
    message: str
    parameters: Mapping[str, float] = field(default_factory=dict)
    exact_unknowns: Tuple[str, ...] = ()
    method: str = ""
    evaluator: Optional[Callable[[np.ndarray], Dict[str, np.ndarray]]] = field(default=None, repr=False)
    limits: Optional[Callable[[np.ndarray], Dict[str, np.ndarray]]] = field(default=None, repr=False)

    def against(self, unknown: str) -> str:
        """``"exact"`` if ``unknown``'s values are a closed form, else ``"reference"``."""
        return "exact" if self.source == "exact" or unknown in self.exact_unknowns else "reference"

    def evaluate(self, x) -> Dict[str, np.ndarray]:
        """{u: [orders[u] + 1, len(x)]} at new points: exactly where possible, else by cubic splines."""
        x = np.asarray(x, dtype=float).reshape(-1)
        if not self.values:
            return {}
        if x.shape == self.x.shape and np.array_equal(x, self.x):
            return {u: np.array(v) for u, v in self.values.items()}
        if self.evaluator is not None:
            return self.evaluator(x)
        from scipy.interpolate import CubicSpline

        order = np.argsort(self.x)
        return {u: CubicSpline(self.x[order], v[:, order], axis=1)(x) for u, v in self.values.items()}

    def limit_points(self, x) -> Dict[str, np.ndarray]:
        """{u: bool [orders[u] + 1, len(x)]}: the entries at x where a closed form is undefined as written
        (``sin(x)/x`` at 0) and is its two-sided limit instead (:mod:`pinn.limits`); {} if there are none."""
        if self.limits is None or not self.values:
            return {}
        return self.limits(np.asarray(x, dtype=float).reshape(-1))

    def singular_points(self, x, variable: str = "x") -> SingularPoints:
        """Where the reference on x is a limit of a closed form, and where it is undefined (left out of the errors)."""
        x = np.asarray(x, dtype=float).reshape(-1)
        return singular_points(x, self.limit_points(x), self.evaluate(x) if self.values else {}, variable)


def _none(x, message: str, source: str = "none", success: bool = True, method: str = "") -> Reference:
    return Reference(source, x, {}, success, message, method=method)


# ---------------------------------------------------------------- entry point


def reference_solution(problem: Problem, x=None, *, exact: bool = True) -> Reference:
    """The reference for ``problem`` on ``x`` (default: the output grid).

    Closed forms (``exact:``) come first unless ``exact=False``; otherwise the
    problem's ``reference`` mode decides (auto: ``solve_ivp`` when all
    conditions sit at one point, ``solve_bvp`` when at the domain ends,
    shooting otherwise).  Never raises for numerical failure.
    """
    if x is None:
        x = np.linspace(*problem.domain, problem.output.points)
    x = np.asarray(x, dtype=float).reshape(-1)
    covered = set(problem.exact) >= set(problem.unknowns)
    if exact and problem.exact and (covered or not problem.equations):
        return exact_reference(problem, x)
    if not problem.equations:
        return _none(x, "a data fit has no equations to solve for a reference; give exact: to compare against a closed form")
    if problem.reference == "none":
        return _none(x, "no reference was asked for (reference: none)")
    reference = numerical_reference(problem, x)
    if exact and problem.exact and reference.success:
        closed = exact_reference(problem, x)
        values = {**reference.values, **closed.values}
        numeric = reference.evaluator

        def evaluator(points):
            return {**numeric(points), **closed.evaluate(points)}

        reference = Reference(reference.source, x, values, True, reference.message + f"; {', '.join(closed.values)} from exact:",
                              reference.parameters, tuple(closed.values), reference.method, evaluator, closed.limits)
    return reference


def known_constants(problem: Problem) -> Dict[str, float]:
    """Values of the constants, fixed parameters, and trainable ones whose true value is known."""
    constants = problem.constants
    constants.update({p.name: p.true_value for p in problem.trainable_parameters if p.true_value is not None})
    return constants


# ---------------------------------------------------------------- exact


def exact_reference(problem: Problem, x) -> Reference:
    """The closed forms of ``exact:`` and their derivatives, differentiated symbolically."""
    x = np.asarray(x, dtype=float).reshape(-1)
    constants = known_constants(problem)
    rows = {u: calculus.derivatives(ex.substitute(e.node, constants), problem.variable, problem.reported_orders.get(u, 0))
            for u, e in problem.exact.items()}

    def as_written(points):
        points = np.asarray(points, dtype=float).reshape(-1)
        with np.errstate(all="ignore"):
            return {u: np.stack([np.broadcast_to(np.asarray(ex.evaluate(node, {problem.variable: points}, calculus.CALCULUS_FUNCTIONS), dtype=float),
                                                 points.shape) for node in nodes]) for u, nodes in rows.items()}

    evaluator = ClosedForms(as_written, problem.length)  # sin(x)/x at 0: its limit (pinn.limits)
    message = f"closed form from exact: for {', '.join(rows)}"
    complaint = _check_exact(problem, constants, evaluator)
    if complaint:
        warnings.warn(f"{problem.file or problem.name}: exact: {complaint}", stacklevel=2)
        message += f"; warning: {complaint}"
    parameters = {p.name: p.true_value for p in problem.trainable_parameters if p.true_value is not None}
    return Reference("exact", x, evaluator(x), True, message, parameters, tuple(rows), "symbolic", evaluator,
                     evaluator.limit_points)


def _check_exact(problem: Problem, constants: Mapping[str, float], evaluator) -> str:
    """A complaint if the closed forms miss an equation or condition, else ''."""
    if not problem.equations or not set(problem.exact) >= set(problem.unknowns):
        return ""
    try:
        system = FirstOrderSystem(problem, constants)
    except ValueError:
        return ""
    if any(calculus.depends_on(r, [p.name for p in problem.trainable_parameters]) for r in system.residuals + system.conditions):
        return ""
    low, high = problem.domain
    fresh = low + (high - low) * ((np.arange(1, 98) * _FRESH_FRACTIONS[0]) % 1.0)
    values = evaluator(fresh)
    state = np.vstack([values[u][: system.orders[u]] for u in system.unknowns] or [np.zeros((0, fresh.size))])
    highest = np.stack([values[u][system.orders[u]] for u in system.unknowns])
    with np.errstate(all="ignore"):
        residuals = system.equation_residuals(fresh, state, highest)
    scale = 1.0 + max(float(np.max(np.abs(v))) for v in values.values())
    for index, residual in enumerate(residuals):
        if not np.all(np.abs(residual) <= 1e-6 * scale):
            return (f"the closed form does not satisfy equations[{index}] {problem.equations[index].source!r} "
                    f"(residual up to {np.nanmax(np.abs(residual)):.3g}); errors against it may mislead")
    at_points = {p: {u: v[:, 0] for u, v in evaluator([p]).items()} for p in system.condition_points}
    for index, residual in enumerate(system.condition_residuals(at_points)):
        if not abs(residual) <= 1e-6 * system.residual_scale(at_points):
            return f"the closed form does not satisfy conditions[{index}] {system.condition_sources[index]!r} (residual {residual:.3g})"
    return ""


# ---------------------------------------------------------------- numerical


def numerical_reference(problem: Problem, x) -> Reference:
    """A scipy reference (ivp, bvp or shooting by the problem's mode), checked; never raises."""
    x = np.asarray(x, dtype=float).reshape(-1)
    try:
        constants, free = _parameters(problem)
    except _Failure as failure:
        return _none(x, str(failure))
    try:
        system = FirstOrderSystem(problem, constants, [p.name for p in free])
    except ValueError as error:
        return _none(x, f"no reference: {error}", success=False)
    if system.size == 0:
        return _none(x, "no reference: the equations contain no derivatives", success=False)
    p0 = np.array([p.value for p in free], dtype=float)
    guess = _fixed_guess(problem, constants)
    low, high = problem.domain
    tolerance = 1e-9 * (high - low)
    points = sorted({p for c in problem.conditions for p in c.points})
    at_ends = all(min(abs(p - low), abs(p - high)) <= tolerance for p in points)
    notes: List[str] = []
    if problem.reference == "ivp" and len(points) != 1:
        notes.append("reference: ivp, but the conditions sit at several points, so shooting is used")
    if len(points) == 1 and problem.reference in ("auto", "ivp"):
        attempts = [("ivp", lambda: _ivp(system, points[0], guess, p0))]
    elif at_ends and problem.reference in ("auto", "bvp"):
        attempts = [("bvp", lambda: _bvp(system, guess, p0)), ("shooting", lambda: _shooting(system, guess, p0))]
    else:
        attempts = [("shooting", lambda: _shooting(system, guess, p0))]
    for source, attempt in attempts:
        try:
            dense, method, how = attempt()
            checked = _verify(system, dense)
            values = dense(x)
            if not all(np.all(np.isfinite(v)) for v in values.values()):
                raise _Failure("the solution is not finite on the output grid")
        except (_Failure, HighestDerivativeError, FloatingPointError, ValueError, np.linalg.LinAlgError) as failure:
            notes.append(f"{source}: {failure}")
            continue
        except Exception as failure:  # never raise for a numerical failure, but say what it was
            notes.append(f"{source}: unexpected {type(failure).__name__}: {failure}")
            continue
        parameters = {p.name: p.true_value for p in problem.trainable_parameters if p.true_value is not None}
        parameters.update({p.name: float(v) for p, v in zip(free, dense.p)})
        if free:
            how += "; determined by the conditions: " + ", ".join(f"{p.name} = {v:.10g}" for p, v in zip(free, dense.p))
        message = "; ".join(notes + [f"{how}; {checked}"])
        return Reference(source, x, values, True, message, parameters, (), method, dense)
    return _none(x, "no trustworthy reference: " + "; ".join(notes), source=attempts[-1][0], success=False)


def _parameters(problem: Problem):
    """(constants, free trainable parameters): the conditions beyond the state size fix the free ones."""
    trainable = problem.trainable_parameters
    size = sum(problem.orders[u] for u in problem.unknowns)
    extra = len(problem.conditions) - size
    unknown = [p for p in trainable if p.true_value is None]
    if len(unknown) > max(extra, 0):
        names = ", ".join(p.name for p in unknown)
        raise _Failure(f"no reference: the trainable parameter{'s' if len(unknown) > 1 else ''} {names} "
                       f"{'have' if len(unknown) > 1 else 'has'} no known true value; give it as exact: {{{unknown[0].name}: VALUE}}")
    if extra < 0:
        raise _Failure(f"no reference: {len(problem.conditions)} condition{'s' if len(problem.conditions) != 1 else ''} "
                       f"cannot determine a solution of order {size}; the data help the network, but not scipy's solvers")
    free = unknown + [p for p in trainable if p.true_value is not None][: extra - len(unknown)]
    if len(free) != extra:
        raise _Failure(f"no reference: {len(problem.conditions)} conditions for a solution of order {size} "
                       f"and {len(trainable)} trainable parameters")
    constants = known_constants(problem)
    for p in free:
        constants.pop(p.name, None)
    return constants, free


def _fixed_guess(problem: Problem, constants) -> Dict[Tuple[str, int], List[Tuple[float, float]]]:
    """{(u, order): [(point, value), ...]} from conditions of the form u^(order)(point) = constant."""
    guess: Dict[Tuple[str, int], List[Tuple[float, float]]] = {}
    for condition in problem.conditions:
        fixed = condition.fixed
        if fixed is None:
            continue
        value = ex.substitute(fixed.value, constants)
        if isinstance(value, ex.Number) and np.isfinite(value.value):
            guess.setdefault((fixed.unknown, fixed.order), []).append((fixed.point, value.value))
    return guess
