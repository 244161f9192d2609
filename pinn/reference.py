"""Reference solutions to check a network against: closed forms, or scipy's solvers.

``reference_solution(problem, x)`` returns a :class:`Reference` holding each
unknown and its derivatives up to the order the equations use, on ``x``:

* ``exact``: the problem's ``exact:`` expressions, differentiated symbolically;
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
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from . import calculus
from . import expressions as ex
from .odesystem import FirstOrderSystem, HighestDerivativeError
from .problem import Problem

SOURCES = ("exact", "ivp", "bvp", "shooting", "none")
RTOL, ATOL = 1e-10, 1e-12  # solve_ivp tolerances of the reference itself
SHOOTING_RTOL, SHOOTING_ATOL = 1e-9, 1e-11  # looser, while root searches the initial state
BVP_TOLERANCE = 1e-8
BVP_MAX_NODES = 200_000
STIFFNESS_LIMIT = 1e3  # max(-Re eig(J)) * length beyond which an implicit method is used at once
EVALUATION_BUDGET = {"DOP853": 50_000, "Radau": 30_000, "LSODA": 30_000}  # right-hand side calls per method
CONDITION_TOLERANCE = 1e-6  # |condition residual| / (1 + |values at the point|)
EQUATION_TOLERANCE = 1e-5  # |interpolant slope - equation| / local scale at fresh points: catches wrong solutions, not 1e-8 noise
_FRESH_FRACTIONS = (0.381966, 0.763932)  # of each mesh interval: away from nodes and solve_bvp's collocation midpoints


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


def _none(x, message: str, source: str = "none", success: bool = True, method: str = "") -> Reference:
    return Reference(source, x, {}, success, message, method=method)


class _Failure(Exception):
    """A numerical failure, turned into a Reference with success False."""


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
                              reference.parameters, tuple(closed.values), reference.method, evaluator)
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

    def evaluator(points):
        points = np.asarray(points, dtype=float).reshape(-1)
        with np.errstate(all="ignore"):
            return {u: np.stack([np.broadcast_to(np.asarray(ex.evaluate(node, {problem.variable: points}, calculus.CALCULUS_FUNCTIONS), dtype=float),
                                                 points.shape) for node in nodes]) for u, nodes in rows.items()}

    message = f"closed form from exact: for {', '.join(rows)}"
    complaint = _check_exact(problem, constants, evaluator)
    if complaint:
        warnings.warn(f"{problem.file or problem.name}: exact: {complaint}", stacklevel=2)
        message += f"; warning: {complaint}"
    parameters = {p.name: p.true_value for p in problem.trainable_parameters if p.true_value is not None}
    return Reference("exact", x, evaluator(x), True, message, parameters, tuple(rows), "symbolic", evaluator)


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


# ---------------------------------------------------------------- dense solutions


class _Dense:
    """A solution's state as a function of x, with the highest derivatives solved on demand."""

    def __init__(self, system: FirstOrderSystem, p, pieces: Sequence[Tuple[float, float, Callable, Callable]], nodes: np.ndarray):
        self.system, self.p = system, np.asarray(p, dtype=float)
        self.pieces = pieces  # (low, high, state(x) -> [size, k], slope(x) -> (d state/dx [size, k], local step [k]))
        self.nodes = np.unique(nodes)  # the solver's mesh, for fresh points between its nodes

    def _split(self, x, which):
        """Evaluate each point with the piece whose range holds it (the nearest one outside all)."""
        x = np.asarray(x, dtype=float).reshape(-1)
        distance = np.stack([np.maximum(low - x, 0) + np.maximum(x - high, 0) for low, high, _, _ in self.pieces])
        owner = np.argmin(distance, axis=0)
        out = None
        for index, (_, _, state, slope) in enumerate(self.pieces):
            mask = owner == index
            if not mask.any():
                continue
            result = state(x[mask]) if which == "state" else slope(x[mask])
            parts = result if isinstance(result, tuple) else (result,)
            if out is None:
                out = [np.empty(part.shape[:-1] + x.shape) for part in parts]
            for target, part in zip(out, parts):
                target[..., mask] = part
        if out is None:  # no points
            out = [np.zeros((self.system.size, 0)), np.zeros(0)]
        return out if which == "slope" else out[0]

    def state(self, x) -> np.ndarray:
        return self._split(x, "state")

    def slope(self, x):
        return tuple(self._split(x, "slope"))

    def highest(self, x, state) -> np.ndarray:
        guess = None
        if not self.system.linear:
            slope, _ = self.slope(x)
            guess = np.zeros((len(self.system.unknowns), np.size(x)))
            for i, u in enumerate(self.system.unknowns):
                if self.system.orders[u]:
                    guess[i] = slope[self.system.offsets[u] + self.system.orders[u] - 1]
        return self.system.highest(x, state, self.p, guess)

    def __call__(self, x) -> Dict[str, np.ndarray]:
        x = np.asarray(x, dtype=float).reshape(-1)
        state = self.state(x)
        return self.system.derivatives(state, self.highest(x, state))


def _verify(system: FirstOrderSystem, dense: _Dense) -> str:
    """Check the conditions and the equations at fresh points; raise _Failure, or describe the check."""
    at_points = {point: {u: v[:, 0] for u, v in dense([point]).items()} for point in system.condition_points}
    residuals = system.condition_residuals(at_points, dense.p)
    worst_condition = float(np.max(np.abs(residuals))) if residuals.size else 0.0
    if not worst_condition <= CONDITION_TOLERANCE * system.residual_scale(at_points):
        index = int(np.nanargmax(np.where(np.isfinite(residuals), np.abs(residuals), np.inf)))
        raise _Failure(f"the solution misses conditions[{index}] {system.condition_sources[index]!r} (residual {residuals[index]:.3g})")
    nodes = dense.nodes
    fresh = np.concatenate([nodes[:-1] + fraction * np.diff(nodes) for fraction in _FRESH_FRACTIONS])
    if fresh.size > 400:
        fresh = fresh[np.linspace(0, fresh.size - 1, 400).astype(int)]
    state = dense.state(fresh)
    slope, step = dense.slope(fresh)
    with np.errstate(all="ignore"):
        equation, _ = system.rhs(fresh, state, dense.p, dense.highest(fresh, state))
        length = system.domain[1] - system.domain[0]
        scale = (np.max(np.abs(equation), axis=1, keepdims=True) + np.max(np.abs(state), axis=1, keepdims=True) / length
                 + np.abs(state) / step)
        error = np.abs(slope - equation) / (scale + 1e-300)
    worst = float(np.max(error)) if error.size else 0.0
    if not np.all(np.isfinite(state)) or not worst <= EQUATION_TOLERANCE:
        where = fresh[np.nanargmax(np.where(np.isfinite(error), error, np.inf).max(axis=0))] if error.size else np.nan
        raise _Failure(f"the solution does not satisfy the equations at {system.variable} = {where:.6g} (relative residual {worst:.3g})")
    return (f"checked: conditions met to {worst_condition:.1e}, equations to {worst:.1e} (relative) at {fresh.size} fresh points")


# ---------------------------------------------------------------- initial values


def _initial_state(system: FirstOrderSystem, x0: float, guess, p0) -> Tuple[np.ndarray, np.ndarray]:
    """(state, free parameters) at x0 meeting every condition (all sit at x0)."""
    from scipy.optimize import root

    size = system.size

    def residual(theta):
        state, p = theta[:size, None], theta[size:]
        z = system.highest([x0], state, p)
        values = {u: v[:, 0] for u, v in system.derivatives(state, z).items()}
        return system.condition_residuals({point: values for point in system.condition_points}, p)

    theta0 = np.concatenate([_state_guess(system, guess, [x0])[:, 0], p0])
    try:
        with np.errstate(all="ignore"):
            result = root(residual, theta0, method="hybr", options={"xtol": 1e-14})
            final = residual(result.x)
    except HighestDerivativeError as error:
        raise _Failure(f"cannot start at {system.variable} = {x0:g}: {error}") from None
    if not np.all(np.abs(final) <= 1e-10 * (1 + np.max(np.abs(result.x), initial=0))):
        raise _Failure(f"the conditions at {system.variable} = {x0:g} could not be solved for the initial state ({result.message})")
    return result.x[:size], result.x[size:]


def _state_guess(system: FirstOrderSystem, guess, x: np.ndarray) -> np.ndarray:
    """[size, len(x)]: lines through fixed values u(a), u(b); constants from one; zeros otherwise."""
    x = np.asarray(x, dtype=float)
    state = np.zeros((system.size, x.size))
    for u in system.unknowns:
        start = system.offsets[u]
        for order in range(system.orders[u]):
            known = guess.get((u, order), [])
            if len(known) >= 2:
                (a, ya), (b, yb) = known[0], known[-1]
                slope = (yb - ya) / (b - a) if b != a else 0.0
                state[start + order] = ya + slope * (x - a)
                if order + 1 < system.orders[u] and not guess.get((u, order + 1)):
                    state[start + order + 1] = slope
            elif len(known) == 1:
                state[start + order] = known[0][1]
    return state


# ---------------------------------------------------------------- solve_ivp


class _BudgetExceeded(Exception):
    pass


def _integrate(system: FirstOrderSystem, x0: float, x1: float, state0, p, rtol=RTOL, atol=ATOL):
    """solve_ivp from x0 to x1, DOP853 unless stiff: (OdeSolution, method, steps, notes on methods that failed)."""
    from scipy.integrate import solve_ivp

    warm = {"z": None}

    def make(budget):
        calls = {"count": 0}

        def fun(t, y):
            calls["count"] += 1
            if calls["count"] > budget:
                raise _BudgetExceeded()
            columns = y.reshape(system.size, -1)
            slope, z = system.rhs(np.full(columns.shape[1], t), columns, p, warm["z"])
            warm["z"] = z[:, -1:]
            return slope.reshape(y.shape)

        return fun

    stiff = _stiffness(make(10**9), x0, np.asarray(state0, dtype=float)) * abs(x1 - x0) > STIFFNESS_LIMIT
    methods = ("Radau", "LSODA") if stiff else ("DOP853", "Radau", "LSODA")
    notes, failed_at = [], []
    for method in methods:
        warm["z"] = None
        try:
            result = solve_ivp(make(EVALUATION_BUDGET[method]), (x0, x1), np.asarray(state0, dtype=float), method=method,
                               rtol=rtol, atol=atol, dense_output=True, vectorized=method != "DOP853")
        except _BudgetExceeded:
            notes.append(f"{method} took more than {EVALUATION_BUDGET[method]:,} evaluations (stiff?)")
            continue
        if result.status == 0:
            return result.sol, method + (" (stiff)" if stiff else ""), len(result.t) - 1, notes
        notes.append(f"{method} failed at {system.variable} = {result.t[-1]:.6g}: {result.message}")
        failed_at.append(result.t[-1])
        last = result.y[:, -1]
        if not np.all(np.abs(last) <= 1e8 * (1 + np.max(np.abs(state0), initial=0))):
            notes.append(f"the solution grows without bound near {system.variable} = {result.t[-1]:.6g}")
            break
        if len(failed_at) >= 2 and abs(failed_at[-1] - failed_at[-2]) <= 1e-6 * abs(x1 - x0):
            notes.append(f"two methods stop at the same point: the solution is probably singular near {system.variable} = {failed_at[-1]:.6g}")
            break
    raise _Failure("solve_ivp failed: " + "; ".join(notes))


def _stiffness(fun, x0, state0) -> float:
    """max(-Re eig(J)) of the first-order system at the start, J by finite differences."""
    try:
        with np.errstate(all="ignore"):
            f0 = fun(x0, state0)
            jacobian = np.empty((state0.size, state0.size))
            for j in range(state0.size):
                h = 1e-7 * (1 + abs(state0[j]))
                shifted = state0.copy()
                shifted[j] += h
                jacobian[:, j] = (fun(x0, shifted) - f0) / h
            eigenvalues = np.linalg.eigvals(jacobian)
    except (HighestDerivativeError, np.linalg.LinAlgError, ValueError):
        return 0.0
    finite = eigenvalues[np.isfinite(eigenvalues)]
    return float(max(0.0, np.max(-finite.real, initial=0.0)))


def _ivp_piece(sol, low, high):
    nodes = np.sort(sol.ts)

    def state(x):
        return sol(x).reshape(-1, np.size(x))

    def slope(x):
        x = np.asarray(x, dtype=float)
        index = np.clip(np.searchsorted(nodes, x) - 1, 0, len(nodes) - 2)
        step = np.maximum(nodes[index + 1] - nodes[index], 1e-300)
        h = step / 64  # all four points inside the step's own polynomial
        fd = (-state(x + 2 * h) + 8 * state(x + h) - 8 * state(x - h) + state(x - 2 * h)) / (12 * h)
        return fd, step

    return (low, high, state, slope), nodes


def _ivp(system: FirstOrderSystem, x0: float, guess, p0):
    state0, p = _initial_state(system, x0, guess, p0)
    low, high = system.domain
    pieces, nodes, steps, methods, notes = [], [], 0, [], []
    for end in (high, low):
        if abs(end - x0) <= 1e-12 * (high - low):
            continue
        sol, method, count, note = _integrate(system, x0, end, state0, p)
        piece, mesh = _ivp_piece(sol, min(x0, end), max(x0, end))
        pieces.append(piece)
        nodes.append(mesh)
        steps += count
        methods.append(method)
        notes += note
    method = "/".join(sorted(set(methods)))
    where = f"from {system.variable} = {x0:g}" + (" in both directions" if len(pieces) == 2 else "")
    how = "; ".join(notes + [f"solve_ivp ({method}, rtol {RTOL:g}, atol {ATOL:g}) {where}: {steps} steps"])
    return _Dense(system, p, pieces, np.concatenate(nodes)), method, how


# ---------------------------------------------------------------- solve_bvp


def _bvp(system: FirstOrderSystem, guess, p0):
    from scipy.integrate import solve_bvp

    low, high = system.domain
    ends = {point: (low if abs(point - low) <= abs(point - high) else high) for point in system.condition_points}
    free = len(p0) > 0

    warm = {}

    def fun(x, y, p=()):
        guess = None
        if not system.linear and warm:  # start Newton from the last solution, moved to this mesh
            guess = np.stack([np.interp(x, warm["x"], z) for z in warm["z"]])
        slope, z = system.rhs(x, y, p, guess)
        warm.update(x=np.array(x), z=z)
        return slope

    def bc(ya, yb, p=()):
        values = {}
        for end, state in ((low, ya), (high, yb)):
            if end in ends.values():
                z = system.highest([end], state[:, None], p)
                values[end] = {u: v[:, 0] for u, v in system.derivatives(state[:, None], z).items()}
        return system.condition_residuals({point: values[end] for point, end in ends.items()}, p)

    mesh = np.linspace(low, high, 65)
    try:
        with np.errstate(all="ignore"):
            result = solve_bvp(fun, bc, mesh, _state_guess(system, guess, mesh), p=p0 if free else None,
                               tol=BVP_TOLERANCE, max_nodes=BVP_MAX_NODES, bc_tol=1e-10)
    except HighestDerivativeError as error:
        raise _Failure(str(error)) from None
    if result.status != 0:
        raise _Failure(f"solve_bvp failed: {result.message}")
    sol = result.sol

    def state(x):
        return sol(np.asarray(x, dtype=float)).reshape(system.size, -1)

    def slope(x):
        x = np.asarray(x, dtype=float)
        index = np.clip(np.searchsorted(result.x, x) - 1, 0, len(result.x) - 2)
        return sol(x, 1).reshape(system.size, -1), np.diff(result.x)[index]

    p = result.p if free else np.zeros(0)
    how = (f"solve_bvp (tol {BVP_TOLERANCE:g}) on {len(result.x)} nodes, "
           f"max relative residual {np.max(result.rms_residuals):.1e}")
    return _Dense(system, p, [(low, high, state, slope)], result.x), "solve_bvp", how


# ---------------------------------------------------------------- shooting


def _shooting(system: FirstOrderSystem, guess, p0):
    """Root-find the state at the left end (and free parameters) so that all conditions hold."""
    from scipy.optimize import root

    low, high = system.domain
    size = system.size

    def residual(theta, rtol=SHOOTING_RTOL, atol=SHOOTING_ATOL):
        state0, p = theta[:size], theta[size:]
        try:
            sol, *_ = _integrate(system, low, high, state0, p, rtol, atol)
            dense = _Dense(system, p, [_ivp_piece(sol, low, high)[0]], np.array([low, high]))
            values = {point: {u: v[:, 0] for u, v in dense([point]).items()} for point in system.condition_points}
            return system.condition_residuals(values, p)
        except (_Failure, HighestDerivativeError, ValueError):
            return np.full(len(system.conditions), 1e10)

    starts = [np.concatenate([_state_guess(system, guess, [low])[:, 0], p0]), np.zeros(size + len(p0)), np.ones(size + len(p0))]
    tried = []
    for theta0 in starts:
        if any(np.array_equal(theta0, t) for t in tried):
            continue
        tried.append(theta0)
        with np.errstate(all="ignore"):
            result = root(residual, theta0, method="hybr")
            final = residual(result.x, RTOL, ATOL)
        if np.all(np.abs(final) <= 1e-7 * (1 + np.max(np.abs(result.x), initial=0))):
            state0, p = result.x[:size], result.x[size:]
            sol, method, steps, notes = _integrate(system, low, high, state0, p)
            piece, nodes = _ivp_piece(sol, low, high)
            how = "; ".join(notes + [f"shooting from {system.variable} = {low:g} (scipy.optimize.root), "
                                     f"solve_ivp ({method}, rtol {RTOL:g}): {steps} steps"])
            return _Dense(system, p, [piece], nodes), method, how
    raise _Failure(f"shooting found no initial state meeting all conditions from {len(tried)} starting guesses")
