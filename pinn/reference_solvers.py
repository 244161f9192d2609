"""The numerical references: scipy's solve_ivp, solve_bvp and shooting on a :class:`~pinn.odesystem.FirstOrderSystem`.

:func:`pinn.reference.numerical_reference` chooses among :func:`_ivp` (all
conditions at one point), :func:`_bvp` (conditions at the domain ends) and
:func:`_shooting` (anything else, and when ``solve_bvp`` fails).  Each
returns a :class:`_Dense` solution, which :func:`_verify` checks against
every condition and against the equations at fresh points; failures raise
:class:`_Failure`.  numpy and scipy only; no TensorFlow.
"""

from __future__ import annotations

from typing import Callable, Dict, Sequence, Tuple

import numpy as np

from .odesystem import FirstOrderSystem, HighestDerivativeError

RTOL, ATOL = 1e-10, 1e-12  # solve_ivp tolerances of the reference itself
SHOOTING_RTOL, SHOOTING_ATOL = 1e-9, 1e-11  # looser, while root searches the initial state
BVP_TOLERANCE = 1e-8
BVP_MAX_NODES = 200_000
STIFFNESS_LIMIT = 1e3  # max(-Re eig(J)) * length beyond which an implicit method is used at once
EVALUATION_BUDGET = {"DOP853": 50_000, "Radau": 30_000, "LSODA": 30_000}  # right-hand side calls per method
CONDITION_TOLERANCE = 1e-6  # |condition residual| / (1 + |values at the point|)
EQUATION_TOLERANCE = 1e-5  # |interpolant slope - equation| / local scale at fresh points: catches wrong solutions, not 1e-8 noise
_FRESH_FRACTIONS = (0.381966, 0.763932)  # of each mesh interval: away from nodes and solve_bvp's collocation midpoints


class _Failure(Exception):
    """A numerical failure, turned into a Reference with success False."""


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

    stiff = _stiffness_near_start(make(10**9), x0, x1, np.asarray(state0, dtype=float)) * abs(x1 - x0) > STIFFNESS_LIMIT
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


def _stiffness_near_start(fun, x0, x1, state0) -> float:
    """The larger :func:`_stiffness` at the start and one explicit Euler step of 1/1000 of the interval later.

    A stiff system can look mild at its start: Robertson's chemistry at
    (1, 0, 0) has eigenvalues (-0.04, 0, 0), and -1e4 a moment later, so
    DOP853 would spend its whole budget before Radau is tried.
    """
    at_start = _stiffness(fun, x0, state0)
    step = 1e-3 * (x1 - x0)
    try:
        with np.errstate(all="ignore"):
            later = state0 + step * np.asarray(fun(x0, state0), dtype=float)
    except (HighestDerivativeError, ValueError):
        return at_start
    return max(at_start, _stiffness(fun, x0 + step, later)) if np.all(np.isfinite(later)) else at_start


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
