"""The finite-difference reference of a steady problem u(x, y) on a rectangle, with ``scipy.sparse``.

Method, on a uniform grid of n intervals per variable (n = 16, 32, 64, ... doubled):

- every partial d^(a+b) u / dx^a dy^b is a sparse matrix, kron(D_a, D_b), with second-order
  1D differences (central inside, one-sided of second order at the ends, wrapped on a periodic
  variable); u_xy is kron(D_1, D_1);
- each node of each unknown owns one row: the unknown's equation (equations are paired with the
  unknowns whose highest derivatives they hold), or the condition of an edge it lies on (at a
  corner a condition without derivatives wins), or a point condition at its nearest node;
  periodic conditions are built into the wrapped differences and need no rows;
- the residual F(U) of those rows is the parsed equation or condition evaluated with
  :func:`pinn.expressions.evaluate` on the discrete partials, so nonlinear equations, variable
  coefficients and systems need nothing special; its Jacobian is sum_k diag(dE/dp_k) M_k,
  with M_k the matrix of partial p_k and dE/dp_k taken pointwise by a central difference in p_k;
- Newton's method with a line search solves F(U) = 0 (``scipy.sparse.linalg.splu``; the factor
  is reused while the steps shrink fast, so a linear problem costs one factorization);
- an unknown determined only up to a constant (every condition on a derivative, or periodic) is
  pinned by its point condition, with a Lagrange multiplier added to its equation rows so the
  discrete system stays square and solvable; without a point condition the reference fails;
- grids are doubled until two resolutions agree to ``tolerance``; with three levels whose
  differences fall like h^2, Richardson's (4 U_h/2 - U_h) / 3 is used and the accuracy is the
  relative L2 difference of the two finest extrapolations at their common nodes, else that of the
  two finest solutions; the result is interpolated onto the output grid by cubic splines.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.interpolate import RectBivariateSpline

from .problem import PDEProblem
from .reference_grid import GridReference
from .steady_system import Axis, Grid, Layout, System, Unsupported, plan, undetermined_unknowns

#: success only when the reported accuracy (relative L2 difference of the two finest resolutions) is below this.
ACCEPTABLE_ACCURACY = 1e-5
#: Intervals per variable of the coarsest grid; each further grid doubles them.
FIRST_INTERVALS = 16
#: Intervals per variable of the finest grid tried (513 x 513 nodes).
MAX_INTERVALS = 512
#: Largest number of unknown values (nodes times unknowns) a sparse factorization is asked for.
MAX_VALUES = 600_000
#: A grid is not started when the time so far plus this factor times the last grid's time exceeds max_seconds.
COST_GROWTH = 6.0
#: Newton's iterations per grid (factorizations and reused-factor steps together).
NEWTON_ITERATIONS = 40
#: Newton has converged when max|dU| <= STEP_TOLERANCE * max(1, max|U|).
STEP_TOLERANCE = 1e-12
#: The factor is refreshed when a step with a reused factor shrank by less than this ratio.
CHORD_CONTRACTION = 0.25
#: Observed order (log2 of the ratio of successive differences) from which Richardson extrapolation is trusted.
RICHARDSON_ORDER = 1.5


# ------------------------------------------------------------------ Newton


def _factor(J: sp.csc_matrix):
    """A sparse LU factorization of J; if J is exactly singular, of J + mu I with a small mu (a Levenberg step)."""
    try:
        return spla.splu(J)
    except RuntimeError:
        mu = 1e-8 * max(float(abs(J).sum(axis=1).max()), 1.0)
        return spla.splu((J + mu * sp.identity(J.shape[0], format="csc")).tocsc())


def _line_search(system: System, U: np.ndarray, step: np.ndarray, norm: float) -> Optional[Tuple[float, np.ndarray]]:
    """The first alpha in 1, 1/2, ... 1/1024 with ||F(U + alpha step)|| < (1 - 1e-4 alpha) ||F(U)||; None if none."""
    alpha = 1.0
    while alpha >= 1.0 / 1024:
        trial = U + alpha * step
        F = system.residual(trial)
        if np.all(np.isfinite(F)) and np.linalg.norm(F) < (1.0 - 1e-4 * alpha) * norm:
            return alpha, trial
        alpha /= 2.0
    return None


def newton(system: System, U: np.ndarray, deadline: float) -> Tuple[np.ndarray, Optional[str]]:
    """Solve F(U) = 0 from U by Newton's method (factor reused while steps shrink); (U, None) or (U, why it failed)."""
    factor, fresh, previous = None, False, np.inf
    for _ in range(NEWTON_ITERATIONS):
        if time.perf_counter() > deadline:
            return U, "ran out of time in Newton's iteration"
        F = system.residual(U)
        if not np.all(np.isfinite(F)):
            return U, "the residual is not finite on the grid (a division by zero or a logarithm of a non-positive value?)"
        if factor is None:
            J = system.jacobian(U)
            if not np.all(np.isfinite(J.data)):
                return U, "the Jacobian is not finite on the grid"
            factor, fresh = _factor(J), True
        step = -factor.solve(F)
        size = float(np.max(np.abs(step))) if step.size else 0.0
        if not np.isfinite(size):
            return U, "the linearized system is singular: the conditions do not determine the solution"
        if size <= STEP_TOLERANCE * max(1.0, float(np.max(np.abs(U)))):
            return U + step, None
        if not fresh and size > CHORD_CONTRACTION * previous:
            factor = None  # the reused factor is too stale: refactor at this U
            continue
        searched = _line_search(system, U, step, float(np.linalg.norm(F)))
        if searched is None:
            if fresh:
                return U, "Newton's iteration stalled (no step lowers the residual)"
            factor = None
            continue
        alpha, U = searched
        previous, fresh = alpha * size, False
    return U, f"Newton's iteration did not converge in {NEWTON_ITERATIONS} iterations"


# ------------------------------------------------------------------ levels, estimates, output


@dataclass(frozen=True, eq=False)
class Level:
    grid: Grid
    fields: Mapping[str, np.ndarray]   # unknown -> [n_first, n_second] nodal values
    seconds: float


@dataclass(frozen=True, eq=False)
class Estimate:
    grid: Grid                         # where ``fields`` live
    fields: Mapping[str, np.ndarray]
    accuracy: float
    richardson: bool
    compared: Tuple[Grid, Grid]


def relative_l2(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b||_2 / ||b||_2 (0 when both vanish)."""
    difference = float(np.linalg.norm(a - b))
    scale = max(float(np.linalg.norm(b)), float(np.linalg.norm(a)))
    return 0.0 if difference == 0.0 else difference / max(scale, 1e-300)


def _coarse(values: np.ndarray) -> np.ndarray:
    """A field on the doubled grid at the nodes of the grid it doubled."""
    return values[::2, ::2]


def _richardson(fine: Level, coarse: Level) -> Dict[str, np.ndarray]:
    """(4 U_h/2 - U_h) / 3 at the coarse nodes."""
    return {u: (4.0 * _coarse(fine.fields[u]) - coarse.fields[u]) / 3.0 for u in fine.fields}


def estimate(levels: Sequence[Level]) -> Estimate:
    """The best values and their accuracy from the finest levels (Richardson where the differences fall like h^2)."""
    fine, coarse = levels[-1], levels[-2]
    plain = {u: relative_l2(_coarse(fine.fields[u]), coarse.fields[u]) for u in fine.fields}
    plain_estimate = Estimate(fine.grid, fine.fields, max(plain.values()), False, (coarse.grid, fine.grid))
    if len(levels) < 3:
        return plain_estimate
    coarsest = levels[-3]
    before = {u: relative_l2(_coarse(coarse.fields[u]), coarsest.fields[u]) for u in fine.fields}
    orders = [math.log2(before[u] / plain[u]) if plain[u] > 0 and before[u] > 0 else np.inf for u in fine.fields]
    if min(orders) < RICHARDSON_ORDER:
        return plain_estimate
    extrapolated, extrapolated_before = _richardson(fine, coarse), _richardson(coarse, coarsest)
    accuracy = max(relative_l2(_coarse(extrapolated[u]), extrapolated_before[u]) for u in fine.fields)
    if accuracy >= plain_estimate.accuracy:
        return plain_estimate
    return Estimate(coarse.grid, extrapolated, accuracy, True, (coarse.grid, fine.grid))


def _extended(axis: Axis, values: np.ndarray, along: int) -> Tuple[np.ndarray, np.ndarray]:
    """Nodes and values with 3 wrapped nodes added on each side of a periodic axis (so splines see the period)."""
    if not axis.periodic:
        return axis.nodes, values
    nodes = axis.low + axis.h * np.arange(-3, axis.size + 3)
    index = np.arange(-3, axis.size + 3) % axis.size
    return nodes, np.take(values, index, axis=along)


def interpolate(grid: Grid, values: np.ndarray, targets: Tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Nodal values [n1, n2] at the target grid (cubic spline through the nodes; exact at nodes)."""
    first, values = _extended(grid.axes[0], values, 0)
    second, values = _extended(grid.axes[1], values, 1)
    spline = RectBivariateSpline(first, second, values, kx=3, ky=3, s=0)
    return spline(np.asarray(targets[0], dtype=float), np.asarray(targets[1], dtype=float))


# ------------------------------------------------------------------ the reference


def _grid(problem: PDEProblem, layout: Layout, intervals: int) -> Grid:
    return Grid(tuple(Axis(v, i.low, i.high, intervals, p)
                      for v, i, p in zip(problem.variables, problem.domain.intervals, layout.periodic)))


def _nodes_text(grid: Grid) -> str:
    return "x".join(str(n) for n in grid.shape)


def _failure(problem: PDEProblem, grid, message: str, start: float, label: str = "finite differences") -> GridReference:
    shape = (len(grid[0]), len(grid[1]))
    return GridReference(label, {u: np.full(shape, np.nan) for u in problem.unknowns}, math.inf, False, message,
                         time.perf_counter() - start)


def _solve_level(problem: PDEProblem, layout: Layout, grid: Grid, previous: Optional[Level], deadline: float):
    """One grid's solution from the previous grid's (interpolated) or zeros; (Level, None) or (None, why not)."""
    start = time.perf_counter()
    system = System(problem, layout, grid)
    if previous is None:
        U = np.zeros(system.size)
    else:
        targets = (grid.axes[0].nodes, grid.axes[1].nodes)
        U = system.vector({u: interpolate(previous.grid, previous.fields[u], targets) for u in problem.unknowns})
    U, failure = newton(system, U, deadline)
    if failure is not None:
        return None, f"on the {_nodes_text(grid)} grid: {failure}"
    return Level(grid, system.fields(U), time.perf_counter() - start), None


def _pins(problem: PDEProblem, layout: Layout) -> Optional[str]:
    """Pin each unknown fixed only up to a constant by its first point condition; the failure message if one has none."""
    without_points = Layout(layout.periodic, layout.pairing, layout.edges, {u: [] for u in problem.unknowns})
    system = System(problem, without_points, _grid(problem, layout, FIRST_INTERVALS))
    for u in undetermined_unknowns(system):
        if not layout.points[u]:
            return (f"{u} is determined only up to a constant (every condition on it is on a derivative, or periodic): "
                    f"add a point condition such as {u}(" + ", ".join(f"{i.low:g}" for i in problem.domain.intervals) + ") = 0")
        layout.pinned[u] = layout.points[u][0]
    return None


def finite_differences(problem: PDEProblem, grid, *, tolerance: float = 1e-7, max_seconds: float = 120.0) -> GridReference:
    """The steady problem's solution on ``grid`` = (array for variables[0], array for variables[1]), by second-order
    finite differences on doubled grids until two resolutions agree to ``tolerance`` (or time or size run out);
    success when the agreement (``accuracy``) is below :data:`ACCEPTABLE_ACCURACY`."""
    start = time.perf_counter()
    deadline = start + max_seconds
    if problem.kind != "steady":
        return _failure(problem, grid, f"the finite-difference reference is for steady problems; this one is {problem.kind}", start)
    if problem.trainable_parameters:
        return _failure(problem, grid, "the problem has trainable parameters, whose values are not known", start)
    try:
        layout = plan(problem)
        failure = _pins(problem, layout)
    except Unsupported as error:
        failure = str(error)
    if failure is not None:
        return _failure(problem, grid, failure, start)

    levels: List[Level] = []
    stop = f"the finest grid allowed ({MAX_INTERVALS + 1} nodes per variable) was reached"
    intervals = FIRST_INTERVALS
    while intervals <= MAX_INTERVALS:
        level_grid = _grid(problem, layout, intervals)
        if level_grid.count * len(problem.unknowns) > MAX_VALUES:
            stop = f"the next grid ({_nodes_text(level_grid)}) holds more than {MAX_VALUES:,} values"
            break
        if levels and time.perf_counter() - start + COST_GROWTH * levels[-1].seconds > max_seconds:
            stop = f"the next grid ({_nodes_text(level_grid)}) would take longer than max_seconds = {max_seconds:g} allows"
            break
        level, failure = _solve_level(problem, layout, level_grid, levels[-1] if levels else None, deadline)
        if level is None:
            if len(levels) < 2:
                return _failure(problem, grid, failure, start)
            stop = failure
            break
        levels.append(level)
        if len(levels) >= 3 and estimate(levels).accuracy <= tolerance:
            stop = f"they agree to the tolerance {tolerance:g}"
            break
        intervals *= 2
    if len(levels) < 2:
        return _failure(problem, grid, f"fewer than two grids were solved: {stop}", start)
    return _reference(problem, grid, estimate(levels), stop, start)


def _reference(problem: PDEProblem, grid, best: Estimate, stop: str, start: float) -> GridReference:
    coarse, fine = best.compared
    label = (f"finite differences: 2nd order, {_nodes_text(coarse)} and {_nodes_text(fine)}"
             + (", Richardson" if best.richardson else ""))
    values = {u: interpolate(best.grid, best.fields[u], grid) for u in problem.unknowns}
    finite = all(np.all(np.isfinite(v)) for v in values.values())
    what = "Richardson extrapolations" if best.richardson else "solutions"
    agreement = f"the {what} on {_nodes_text(coarse)} and {_nodes_text(fine)} nodes differ by {best.accuracy:.1e} (relative L2)"
    success = finite and best.accuracy <= ACCEPTABLE_ACCURACY
    if not finite:
        message = "the solution is not finite on the output grid"
    elif success:
        message = f"{agreement}; stopped because {stop}"
    else:
        message = f"{agreement}, more than the {ACCEPTABLE_ACCURACY:g} required; stopped because {stop}"
    return GridReference(label, values, float(best.accuracy), bool(success), message, time.perf_counter() - start)

