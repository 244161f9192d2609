"""The method-of-lines reference of an evolution problem u(x, t): space discretised, time by scipy's ``solve_ivp``.

Each equation is solved for the highest time derivative of its unknown (u_t, or u_tt with the state (u, u_t));
space is Fourier pseudo-spectral when the conditions are periodic, Chebyshev collocation otherwise, and a fine
uniform 4th-order finite-difference grid when the spectral one does not converge (steep fronts).  Boundary
conditions fix the end values at every right-hand side (a small Newton solve).  The resolution is doubled until
two agree on the output grid; :data:`USEFUL_AGREEMENT` is the largest agreement still called a success.

    reference = method_of_lines(problem, (x_grid, t_grid))
    reference.values["u"]      # [len(x_grid), len(t_grid)] (axes in problem.variables order)
    reference.accuracy         # relative L2 difference of the two finest resolutions

:func:`burgers_cole_hopf` is the exact viscous Burgers solution for u(x, 0) = -sin(pi x), for tests and benchmarks.
"""

from __future__ import annotations

import math
import time as clock
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import scipy.linalg  # noqa: F401  (loaded before the BLAS thread limit, which reaches only the libraries loaded by then)
import scipy.sparse as sparse
from scipy.integrate import solve_ivp
from scipy.interpolate import make_interp_spline

from .. import expressions as ex
from .problem import PDECondition, PDEProblem
from .reference_grid import GridReference

#: The largest agreement of the two finest resolutions (relative L2 on the output grid) still called a success.
USEFUL_AGREEMENT = 1e-4
#: Chebyshev points tried in turn (dense differentiation matrices: 257 points at most).
CHEBYSHEV_POINTS = (17, 33, 65, 129, 257)
#: Fourier points tried in turn (uniform, the right end left out: it is the left one).
FOURIER_POINTS = (32, 64, 128, 256, 512, 1024, 2048)
#: Uniform finite-difference points tried in turn when the spectral grids do not converge.
DIFFERENCE_POINTS = (257, 513, 1025, 2049, 4097, 8193)
#: Order of accuracy of the finite-difference stencils.
DIFFERENCE_ACCURACY = 4
#: A spectral grid is given up for finite differences when two doublings in a row each shrink the disagreement by
#: less than this.
SPECTRAL_GAIN = 4.0
#: Above this (spectral radius of the Jacobian times the time span) the problem counts as stiff: BDF, else DOP853.
#: (BDF with a sparse Jacobian solved Burgers on 4097 points in 1.6 s where Radau took 36 s, equally accurate.)
STIFFNESS_LIMIT = 3000.0
#: The longest time step, as a fraction of the time span (scipy's error estimate alone let DOP853 take steps whose
#: dense output missed by 1e-5 at rtol 1e-10 on a single Fourier mode).
MAX_STEP_FRACTION = 1.0 / 32.0
#: The first time step, as a fraction of the time span (scipy's own first guess gave DOP853 a first step whose dense
#: output missed by 4e-7 where the step ends agreed to 1e-10).
FIRST_STEP_FRACTION = 1e-5
#: Every other resolution is integrated with rtol divided by this, so that two resolutions also differ by the time
#: integration's error (with one rtol for both, their agreement missed BDF's time error by a factor 100).
TIME_TOLERANCE_SPLIT = 10.0
#: Gauss-Hermite nodes of :func:`burgers_cole_hopf`.
HERMITE_NODES = 400


class Refused(Exception):
    """The problem is outside what the method of lines here handles; the message says why."""


class _OutOfTime(Exception):
    """Raised inside the right-hand side when the time allowed has run out."""


# ------------------------------------------------------------------ the problem, read for the method of lines


def _orders(space_axis: int, space: int, time: int) -> Tuple[int, int]:
    """The multi-index (aligned with the problem's variables) of d^space/dx^space d^time/dt^time."""
    orders = [0, 0]
    orders[space_axis] = space
    orders[1 - space_axis] = time
    return tuple(orders)


@dataclass(frozen=True)
class _Boundary:
    """A boundary condition at one end (``end`` 0 = low, 1 = high), its unknowns, and whether it is periodic."""

    condition: PDECondition
    end: int
    unknowns: Tuple[str, ...]


@dataclass(frozen=True)
class Evolution:
    """An evolution problem read for the method of lines: per unknown its time order, equation and space order."""

    problem: PDEProblem
    space: str
    time: str
    space_axis: int
    low: float
    high: float
    start: float
    unknowns: Tuple[str, ...]
    time_order: Mapping[str, int]        # 1 or 2
    space_order: Mapping[str, int]       # highest x-derivative in the equations
    equation: Mapping[str, ex.Node]      # the residual solved for that unknown's highest time derivative
    space_keys: Tuple[Tuple[str, int], ...]  # (unknown, x order) the equations use, values included
    initial: Mapping[Tuple[str, int], PDECondition]  # (unknown, time order 0 or 1) -> its initial condition
    boundaries: Tuple[_Boundary, ...]
    periodic: bool
    constants: Mapping[str, float]

    def key(self, unknown: str, space: int, time: int = 0) -> Tuple[str, Tuple[int, int]]:
        return unknown, _orders(self.space_axis, space, time)

    def target(self, unknown: str) -> Tuple[str, Tuple[int, int]]:
        """The key an equation is solved for: the unknown's highest time derivative."""
        return self.key(unknown, 0, self.time_order[unknown])


def read_evolution(problem: PDEProblem) -> Evolution:
    """Check that the method of lines applies and gather what it needs; :class:`Refused` says why not."""
    if problem.kind != "evolution" or problem.time is None:
        raise Refused("the method of lines is for evolution problems (a time variable with initial conditions only)")
    time = problem.time
    space = next(v for v in problem.variables if v != time)
    space_axis = problem.variables.index(space)
    time_axis = 1 - space_axis
    low, high = problem.domain.interval(space)
    start = problem.domain.interval(time).low
    partials = _equation_partials(problem)
    equation, time_order = _assign_equations(problem, partials, space_axis)
    space_order = {u: max([o[space_axis] for v, o in problem.partials if v == u] + [0]) for u in problem.unknowns}
    space_keys = tuple(sorted({(u, 0) for u in problem.unknowns} |
                              {(u, o[space_axis]) for v, o in problem.partials for u in [v] if o[time_axis] == 0}))
    evolution = Evolution(problem, space, time, space_axis, float(low), float(high), float(start), tuple(problem.unknowns),
                          time_order, space_order, equation, space_keys, {}, (), False, problem.constants)
    for u in problem.unknowns:
        _check_affine(evolution, u)
    initial = _initial_conditions(problem, evolution)
    boundaries, periodic = _boundary_conditions(problem, evolution)
    return Evolution(problem, space, time, space_axis, float(low), float(high), float(start), tuple(problem.unknowns),
                     time_order, space_order, equation, space_keys, initial, boundaries, periodic, problem.constants)


def _equation_partials(problem: PDEProblem) -> List[List[Tuple[str, Tuple[int, int]]]]:
    """Per equation, the (unknown, orders) of every partial derivative in it."""
    return [[(n.unknown, tuple(n.orders)) for n in ex.walk(eq.residual) if isinstance(n, ex.Partial)] for eq in problem.equations]


def _assign_equations(problem: PDEProblem, partials, space_axis: int):
    """Each equation to the one unknown it differentiates in time; refuse mixed derivatives and orders above 2."""
    time_axis = 1 - space_axis
    time, space = problem.variables[time_axis], problem.variables[space_axis]
    equation, time_order = {}, {}
    for eq, used in zip(problem.equations, partials):
        in_time = {(u, o[time_axis]) for u, o in used if o[time_axis] > 0}
        mixed = [(u, o) for u, o in used if o[time_axis] > 0 and o[space_axis] > 0]
        if mixed:
            raise Refused(f"'{eq.source}' has the mixed derivative {problem.partial_name(*mixed[0])}; the method of lines "
                          f"here takes equations solved for d{time} of an unknown with {space}-derivatives only")
        unknowns = sorted({u for u, _ in in_time})
        if len(unknowns) != 1:
            what = "no time derivative" if not unknowns else f"time derivatives of {', '.join(unknowns)}"
            raise Refused(f"'{eq.source}' has {what}; the method of lines needs each equation to give the time "
                          "derivative of one unknown")
        u = unknowns[0]
        if u in equation:
            raise Refused(f"two equations give the time derivative of {u}; each unknown needs its own equation")
        order = max(k for _, k in in_time)
        if order > 2:
            raise Refused(f"'{eq.source}' is of order {order} in {time}; the method of lines here takes orders 1 and 2")
        equation[u], time_order[u] = eq.residual, order
    missing = [u for u in problem.unknowns if u not in equation]
    if missing:
        raise Refused(f"no equation gives the time derivative of {', '.join(missing)}")
    return equation, time_order


def _check_affine(evolution: Evolution, unknown: str) -> None:
    """The residual must be affine in the unknown's highest time derivative, with a coefficient that is not zero."""
    rng = np.random.default_rng(0)
    scope = dict(evolution.constants)
    scope[evolution.space] = evolution.low + (evolution.high - evolution.low) * rng.random(7)
    scope[evolution.time] = evolution.start + rng.random(7)
    for u in evolution.unknowns:
        scope[u] = 0.5 + rng.random(7)
        for m in range(0, evolution.space_order[u] + 1):
            scope[evolution.key(u, m)] = 0.5 + rng.random(7)
        for k in range(1, evolution.time_order.get(u, 1) + 1):
            scope[evolution.key(u, 0, k)] = 0.5 + rng.random(7)
    target = evolution.target(unknown)
    residuals = []
    with np.errstate(all="ignore"):
        for value in (0.0, 1.0, 2.0):
            scope[target] = value
            residuals.append(np.asarray(ex.evaluate(evolution.equation[unknown], scope), dtype=float) + 0.0 * scope[evolution.space])
    r0, r1, r2 = residuals
    name = evolution.problem.partial_name(*target)
    if not all(np.all(np.isfinite(r)) for r in residuals):
        raise Refused(f"the equation for {name} is not finite at test values; cannot tell whether it can be solved for {name}")
    scale = np.abs(r0) + np.abs(r1) + np.abs(r2) + 1.0
    if np.any(np.abs(r2 - 2.0 * r1 + r0) > 1e-8 * scale):
        raise Refused(f"the equation is not linear in {name}, so it cannot be solved for {name} pointwise")
    if np.any(np.abs(r1 - r0) <= 1e-12 * scale):
        raise Refused(f"the coefficient of {name} in its equation vanishes, so it cannot be solved for {name}")


def _initial_conditions(problem: PDEProblem, evolution: Evolution) -> Dict[Tuple[str, int], PDECondition]:
    """(unknown, time order) -> the initial condition giving it; u and, for order 2, u_t, each exactly once."""
    found: Dict[Tuple[str, int], PDECondition] = {}
    for condition in problem.conditions:
        if condition.kind == "point":
            raise Refused(f"'{condition.source}' holds at a point; the method of lines takes conditions on lines only")
        if condition.kind != "initial":
            continue
        values = condition.field_values
        if any(v.orders[evolution.space_axis] > 0 for v in values):
            raise Refused(f"'{condition.source}' has a {evolution.space}-derivative at the start; write the initial "
                          "values themselves")
        targets = {(v.unknown, v.orders[1 - evolution.space_axis]) for v in values}
        if len(targets) != 1:
            raise Refused(f"'{condition.source}' relates several initial values; give each one its own condition")
        target = targets.pop()
        if target in found:
            raise Refused(f"two initial conditions give {target[0]}" + ("" if target[1] == 0 else f"'s time derivative"))
        found[target] = condition
    for u in evolution.unknowns:
        for k in range(evolution.time_order[u]):
            if (u, k) not in found:
                what = problem.partial_name(*evolution.key(u, 0, k)) if k else u
                raise Refused(f"no initial condition gives {what}({evolution.space}, {evolution.start:g})")
    extra = [c.source for (u, k), c in found.items() if k >= evolution.time_order[u]]
    if extra:
        raise Refused(f"'{extra[0]}' gives a time derivative the equation does not need at the start")
    return found


def _boundary_conditions(problem: PDEProblem, evolution: Evolution) -> Tuple[Tuple[_Boundary, ...], bool]:
    """The boundary conditions at each end, checked: all periodic, or none; at the ends only; no time derivatives."""
    boundaries = []
    periodic_count = 0
    for condition in problem.conditions:
        if condition.kind != "boundary":
            continue
        values = condition.field_values
        if any(v.orders[1 - evolution.space_axis] > 0 for v in values):
            raise Refused(f"'{condition.source}' has a time derivative on the boundary; the method of lines here takes "
                          "conditions on values and space derivatives")
        if condition.periodic:
            if not (_near(condition.at[0], evolution.low) and _near(condition.at[1], evolution.high)):
                raise Refused(f"'{condition.source}' relates two places that are not the ends of {evolution.space}")
            periodic_count += 1
            continue
        end = 0 if _near(condition.at[0], evolution.low) else 1 if _near(condition.at[0], evolution.high) else None
        if end is None:
            raise Refused(f"'{condition.source}' holds inside the interval; the method of lines takes conditions at "
                          f"{evolution.space} = {evolution.low:g} and {evolution.high:g}")
        unknowns = tuple(dict.fromkeys(v.unknown for v in values))
        boundaries.append(_Boundary(condition, end, unknowns))
    if periodic_count and boundaries:
        raise Refused(f"periodic conditions and '{boundaries[0].condition.source}' together; use either kind, not both")
    if not periodic_count:
        _check_boundary_counts(evolution, boundaries)
    return tuple(boundaries), periodic_count > 0


def _near(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-12 * max(1.0, abs(a), abs(b))


def _check_boundary_counts(evolution: Evolution, boundaries: Sequence[_Boundary]) -> None:
    """An unknown differentiated in space needs boundary conditions (how many is checked per grid, by _removed_points)."""
    for u in evolution.unknowns:
        count = sum(1 for b in boundaries if u in b.unknowns)
        needed = evolution.space_order[u]
        if needed and not count:
            raise Refused(f"{u} has {evolution.space}-derivatives up to order {needed} but no boundary conditions")


# ------------------------------------------------------------------ space discretisations


class Chebyshev:
    """Chebyshev collocation on [low, high]: points low + (high - low)(1 - cos(pi j / n)) / 2, ascending."""

    periodic = False
    name = "Chebyshev"

    def __init__(self, points: int, low: float, high: float):
        n = points - 1
        unit = -np.cos(np.pi * np.arange(points) / n)  # ascending on [-1, 1]
        self.nodes = low + (high - low) * (unit + 1.0) / 2.0
        self.points = points
        self.matrices = {1: _chebyshev_matrix(unit) * (2.0 / (high - low))}
        self.weights = np.where(np.arange(points) % 2 == 0, 1.0, -1.0)
        self.weights[[0, -1]] *= 0.5

    def matrix(self, order: int) -> np.ndarray:
        """D^order, the dense differentiation matrix of that order."""
        if order not in self.matrices:
            self.matrices[order] = self.matrix(order - 1) @ self.matrices[1]
        return self.matrices[order]

    def derivative(self, values: np.ndarray, order: int) -> np.ndarray:
        return values if order == 0 else self.matrix(order) @ values

    def row(self, index: int, order: int) -> np.ndarray:
        return np.eye(self.points)[index] if order == 0 else self.matrix(order)[index]

    def interpolate(self, values: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Barycentric interpolation of values [points, m] at x: sum w_j f_j/(x - x_j) / sum w_j/(x - x_j)."""
        difference = x[:, None] - self.nodes[None, :]
        exact = np.isclose(difference, 0.0, atol=1e-14 * (1.0 + np.abs(x[:, None])))
        difference[exact] = 1.0
        kernel = self.weights[None, :] / difference
        out = (kernel @ values) / kernel.sum(axis=1, keepdims=True)
        rows, cols = np.nonzero(exact)
        out[rows] = values[cols]
        return out

    def sparsity(self, reach: int) -> Optional[np.ndarray]:
        return None


def _chebyshev_matrix(unit: np.ndarray) -> np.ndarray:
    """The first-derivative matrix on Chebyshev points (Trefethen, Spectral Methods in MATLAB, cheb), any order of points."""
    n = len(unit) - 1
    c = np.ones(n + 1)
    c[[0, -1]] = 2.0
    c *= (-1.0) ** np.arange(n + 1)
    difference = unit[:, None] - unit[None, :]
    matrix = np.outer(c, 1.0 / c) / (difference + np.eye(n + 1))
    return matrix - np.diag(matrix.sum(axis=1))


class Fourier:
    """Fourier pseudo-spectral on the period [low, high): uniform points, derivatives by FFT."""

    periodic = True
    name = "Fourier"

    def __init__(self, points: int, low: float, high: float):
        self.points, self.low, self.period = points, low, high - low
        self.nodes = low + self.period * np.arange(points) / points
        self.wavenumbers = 2.0 * np.pi / self.period * np.arange(points // 2 + 1)

    def derivative(self, values: np.ndarray, order: int) -> np.ndarray:
        """d^order/dx^order by FFT: (i k)^order times the coefficients, the Nyquist mode dropped for odd orders."""
        if order == 0:
            return values
        factor = (1j * self.wavenumbers) ** order
        if order % 2 and self.points % 2 == 0:
            factor[-1] = 0.0
        return np.fft.irfft(factor * np.fft.rfft(values), n=self.points)

    def interpolate(self, values: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The trigonometric interpolant of values [points, m] at x (the Nyquist mode as a cosine)."""
        coefficients = np.fft.rfft(values, axis=0) / self.points
        factor = np.full(len(self.wavenumbers), 2.0)
        factor[0] = 1.0
        if self.points % 2 == 0:
            factor[-1] = 1.0
        out = np.empty((len(x), values.shape[1]))
        for start in range(0, len(x), 512):
            phase = np.exp(1j * np.outer(x[start:start + 512] - self.low, self.wavenumbers))
            out[start:start + 512] = np.real((phase * factor) @ coefficients)
        return out

    def sparsity(self, reach: int) -> Optional[np.ndarray]:
        return None


class FiniteDifferences:
    """Uniform finite differences of :data:`DIFFERENCE_ACCURACY`-th order: centred inside, one-sided near the ends
    (or wrapping round when periodic)."""

    name = "finite differences"

    def __init__(self, points: int, low: float, high: float, periodic: bool):
        self.points, self.periodic = points, periodic
        self.spacing = (high - low) / (points if periodic else points - 1)
        self.nodes = low + self.spacing * np.arange(points)
        self.low, self.high = low, high
        self.matrices: Dict[int, sparse.csr_matrix] = {}

    def matrix(self, order: int) -> sparse.csr_matrix:
        if order not in self.matrices:
            self.matrices[order] = _difference_matrix(self.points, order, self.spacing, self.periodic)
        return self.matrices[order]

    def derivative(self, values: np.ndarray, order: int) -> np.ndarray:
        return values if order == 0 else self.matrix(order) @ values

    def row(self, index: int, order: int) -> np.ndarray:
        return np.eye(self.points)[index] if order == 0 else self.matrix(order)[[index]].toarray()[0]

    def interpolate(self, values: np.ndarray, x: np.ndarray) -> np.ndarray:
        """A quintic interpolating spline through the points (periodic when the grid is)."""
        if self.periodic:
            nodes = np.append(self.nodes, self.high)
            spline = make_interp_spline(nodes, np.vstack([values, values[:1]]), k=5, bc_type="periodic")
            return spline(self.low + np.mod(x - self.low, self.high - self.low))
        return make_interp_spline(self.nodes, values, k=5)(x)

    def sparsity(self, reach: int) -> sparse.csr_matrix:
        """Which points' values each point's right-hand side may depend on: within ``reach`` (cyclically when periodic),
        and, with ends, the first and last 2 * reach points among themselves (the boundary conditions couple them)."""
        pattern = _band(self.points, reach, self.periodic).tolil()
        if not self.periodic:
            corner = min(2 * reach, self.points)
            pattern[:corner, :corner] = True
            pattern[-corner:, -corner:] = True
        return pattern.tocsr()


def _stencil_weights(offsets: np.ndarray, order: int) -> np.ndarray:
    """Weights w with sum_j w_j f(x + h offsets_j) = h^order f^(order)(x) + O(h^len): the Taylor (Vandermonde) system."""
    size = len(offsets)
    vandermonde = np.array([offsets ** k / math.factorial(k) for k in range(size)])
    rhs = np.zeros(size)
    rhs[order] = 1.0
    return np.linalg.solve(vandermonde, rhs)


def _difference_matrix(points: int, order: int, spacing: float, periodic: bool) -> sparse.csr_matrix:
    """The sparse d^order/dx^order matrix: centred stencils, one-sided ones of order + accuracy points near the ends."""
    half = (order + 1) // 2 + (DIFFERENCE_ACCURACY - 1) // 2
    centred = np.arange(-half, half + 1)
    centred_weights = _stencil_weights(centred.astype(float), order)
    rows, cols, data = [], [], []
    if periodic:
        for i in range(points):
            rows += [i] * len(centred)
            cols += list((i + centred) % points)
            data += list(centred_weights)
    else:
        size = order + DIFFERENCE_ACCURACY
        for i in range(points):
            if half <= i < points - half:
                stencil, weights = i + centred, centred_weights
            else:
                first = 0 if i < half else points - size
                stencil = np.arange(first, first + size)
                weights = _stencil_weights((stencil - i).astype(float), order)
            rows += [i] * len(stencil)
            cols += list(stencil)
            data += list(weights)
    matrix = sparse.csr_matrix((np.array(data) / spacing ** order, (rows, cols)), shape=(points, points))
    return matrix


def _band(points: int, reach: int, periodic: bool) -> sparse.csr_matrix:
    """The boolean pattern of points within ``reach`` of each other (cyclically when periodic)."""
    offsets = list(range(-reach, reach + 1))
    if periodic:
        offsets += [d - points for d in range(1, reach + 1)] + [points - d for d in range(1, reach + 1)]
    offsets = sorted({d for d in offsets if -points < d < points})
    return sparse.diags([np.ones(points - abs(d)) for d in offsets], offsets, shape=(points, points), format="csr").astype(bool)




# ------------------------------------------------------------------ the semi-discrete system


class LevelFailed(Exception):
    """One resolution could not be solved (the integrator failed, a boundary solve did not converge, ...)."""


class Lines:
    """The semi-discrete system of an evolution problem on one space grid: state = the values at the points the
    boundary conditions leave free (and u_t there for order 2 in time); the end values solved from the conditions."""

    def __init__(self, evolution: Evolution, grid, deadline: float = math.inf):
        self.evolution, self.grid, self.deadline = evolution, grid, deadline
        points = grid.points
        removed = _removed_points(evolution, points) if not grid.periodic else {u: () for u in evolution.unknowns}
        self.removed = {u: np.array(sorted(r), dtype=int) for u, r in removed.items()}
        self.free = {u: np.setdiff1d(np.arange(points), self.removed[u]) for u in evolution.unknowns}
        self.blocks = [(u, k) for u in evolution.unknowns for k in range(evolution.time_order[u])]
        sizes = [len(self.free[u]) for u, _ in self.blocks]
        starts = np.concatenate([[0], np.cumsum(sizes)])
        self.slices = {block: slice(int(a), int(b)) for block, a, b in zip(self.blocks, starts[:-1], starts[1:])}
        self.size = int(starts[-1])
        self.slots = [(u, int(i)) for u in evolution.unknowns for i in self.removed[u]]
        self.conditions = [b.condition for b in evolution.boundaries]
        self._boundary_rows()
        self.ends = np.zeros(len(self.slots))
        self.initial_ends = self.ends.copy()
        self.boundary_jacobian: Optional[np.ndarray] = None

    # ---------------------------------------------------------------- the boundary conditions

    def _boundary_rows(self) -> None:
        """Per field value in the conditions: its row split into free points and end slots (value = free . u + ends . z)."""
        self.rows = {}
        for condition in self.conditions:
            for value in condition.field_values:
                key = (value.unknown, tuple(value.orders), value.fixed)
                at = value.fixed[self.evolution.space_axis]
                index = 0 if _near(at, self.evolution.low) else self.grid.points - 1
                row = self.grid.row(index, value.orders[self.evolution.space_axis])
                on_ends = np.array([row[i] if u == value.unknown else 0.0 for u, i in self.slots])
                self.rows[key] = (value.unknown, row[self.free[value.unknown]], on_ends)

    def _boundary_residuals(self, t: float, known: Mapping, ends: np.ndarray) -> np.ndarray:
        scope = dict(self.evolution.constants)
        scope[self.evolution.time] = t
        for key, (_, _, on_ends) in self.rows.items():
            scope[key] = known[key] + on_ends @ ends
        return np.array([float(np.asarray(ex.evaluate(c.residual, scope))) for c in self.conditions])

    def _jacobian_of_ends(self, t: float, known: Mapping, ends: np.ndarray, residual: np.ndarray) -> np.ndarray:
        jacobian = np.empty((len(self.conditions), len(ends)))
        for j in range(len(ends)):
            step = 1e-7 * max(1.0, abs(ends[j]))
            moved = ends.copy()
            moved[j] += step
            jacobian[:, j] = (self._boundary_residuals(t, known, moved) - residual) / step
        return jacobian

    def solve_ends(self, t: float, fields: Mapping[str, np.ndarray]) -> np.ndarray:
        """The end values z with every boundary condition's residual zero: chord Newton, the Jacobian kept between calls."""
        known = {key: free @ fields[u] for key, (u, free, _) in self.rows.items()}
        ends = self.ends.copy()
        scale = 1.0 + max(np.max(np.abs(fields[u])) if len(fields[u]) else 0.0 for u in fields)
        for iteration in range(40):
            residual = self._boundary_residuals(t, known, ends)
            if not np.all(np.isfinite(residual)):
                raise LevelFailed(f"a boundary condition is not finite at {self.evolution.time} = {t:g}")
            if np.max(np.abs(residual), initial=0.0) <= 1e-14 * scale:
                break
            if self.boundary_jacobian is None or iteration in (4, 12):
                self.boundary_jacobian = self._jacobian_of_ends(t, known, ends, residual)
            try:
                step = np.linalg.solve(self.boundary_jacobian, residual)
            except np.linalg.LinAlgError:
                raise LevelFailed("the boundary conditions do not determine the end values (their Jacobian is singular)") from None
            ends = ends - step
            if np.max(np.abs(step)) <= 1e-15 * (1.0 + np.max(np.abs(ends))):
                break
        else:
            raise LevelFailed(f"the boundary conditions could not be solved at {self.evolution.time} = {t:g}")
        self.ends = ends
        return ends

    def full_fields(self, t: float, fields: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Each unknown at every point: the free values, and the end values from the boundary conditions."""
        full = {}
        for u in self.evolution.unknowns:
            full[u] = np.zeros(self.grid.points)
            full[u][self.free[u]] = fields[u]
        if self.slots:
            for (u, i), value in zip(self.slots, self.solve_ends(t, fields)):
                full[u][i] = value
        return full

    # ---------------------------------------------------------------- the right-hand side

    def unpack(self, y: np.ndarray, order: int = 0) -> Dict[str, np.ndarray]:
        return {u: y[self.slices[(u, k)]] for u, k in self.blocks if k == order}

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        """dy/dt: the equations solved for each unknown's highest time derivative at its free points."""
        if clock.perf_counter() > self.deadline:
            raise _OutOfTime()
        ev = self.evolution
        full = self.full_fields(t, self.unpack(y))
        scope = dict(ev.constants)
        scope[ev.space], scope[ev.time] = self.grid.nodes, t
        for u, m in ev.space_keys:
            scope[ev.key(u, m)] = self.grid.derivative(full[u], m)
        for u in ev.unknowns:
            scope[u] = full[u]
        for u, velocity in self.unpack(y, 1).items():
            everywhere = np.zeros(self.grid.points)
            everywhere[self.free[u]] = velocity
            scope[ev.key(u, 0, 1)] = everywhere
        out = np.empty_like(y)
        with np.errstate(all="ignore"):
            for u in ev.unknowns:
                target, order = ev.target(u), ev.time_order[u]
                scope[target] = 0.0
                r0 = ex.evaluate(ev.equation[u], scope)
                scope[target] = 1.0
                r1 = ex.evaluate(ev.equation[u], scope)
                highest = np.broadcast_to(-np.asarray(r0) / (np.asarray(r1) - np.asarray(r0)), (self.grid.points,))
                out[self.slices[(u, order - 1)]] = highest[self.free[u]]
                if order == 2:
                    out[self.slices[(u, 0)]] = y[self.slices[(u, 1)]]
        return out

    # ---------------------------------------------------------------- the start, the sparsity, the output

    def initial_state(self) -> Tuple[np.ndarray, float]:
        """y at the start from the initial conditions, and how far the initial values miss the boundary conditions."""
        ev = self.evolution
        y = np.empty(self.size)
        values = {}
        for (u, k), condition in ev.initial.items():
            values[(u, k)] = _solve_initial(ev, condition, self.grid.nodes)
            y[self.slices[(u, k)]] = values[(u, k)][self.free[u]]
        mismatch = 0.0
        if self.slots:
            given = np.array([values[(u, 0)][i] for u, i in self.slots])
            self.ends = given.copy()  # Newton starts from the initial values: the root nearest them, if several
            ends = self.solve_ends(ev.start, {u: values[(u, 0)][self.free[u]] for u in ev.unknowns})
            self.initial_ends = ends.copy()
            scale = max(1.0, max(np.max(np.abs(values[(u, 0)])) for u in ev.unknowns))
            mismatch = float(np.max(np.abs(given - ends)) / scale)
        return y, mismatch

    def sparsity(self) -> Optional[sparse.csr_matrix]:
        """The Jacobian's pattern for scipy's BDF (finite differences only; the spectral Jacobians are dense)."""
        reach = max(self.evolution.space_order.values(), default=0) + DIFFERENCE_ACCURACY
        pattern = self.grid.sparsity(reach)
        if pattern is None:
            return None
        blocks = [[pattern[self.free[u]][:, self.free[v]] for v, _ in self.blocks] for u, _ in self.blocks]
        return sparse.bmat(blocks, format="csr")

    def on_grid(self, times: np.ndarray, states: np.ndarray, x: np.ndarray) -> Dict[str, np.ndarray]:
        """{unknown: [len(x), len(times)]}: the full fields at each time, interpolated in space."""
        columns = {u: np.empty((self.grid.points, len(times))) for u in self.evolution.unknowns}
        self.ends = self.initial_ends.copy()  # the end values followed from the start, as the integration did
        for j, t in enumerate(times):
            for u, values in self.full_fields(float(t), self.unpack(states[:, j])).items():
                columns[u][:, j] = values
        return {u: self.grid.interpolate(values, x) for u, values in columns.items()}


def _removed_points(evolution: Evolution, points: int) -> Dict[str, List[int]]:
    """Per unknown, the points its boundary conditions fix: as many at each end as conditions there are assigned to it."""
    count = {u: [0, 0] for u in evolution.unknowns}
    coupled = []
    for boundary in evolution.boundaries:
        if len(boundary.unknowns) == 1:
            count[boundary.unknowns[0]][boundary.end] += 1
        else:
            coupled.append(boundary)
    for boundary in coupled:
        def room(u):
            order = evolution.space_order[u]
            return sum(count[u]) < order and count[u][boundary.end] < (order + 1) // 2
        chosen = next((u for u in boundary.unknowns if room(u)), None)
        chosen = chosen or next((u for u in boundary.unknowns if sum(count[u]) < evolution.space_order[u]), boundary.unknowns[0])
        count[chosen][boundary.end] += 1
    for u in evolution.unknowns:
        if sum(count[u]) != evolution.space_order[u]:
            raise Refused(f"{u} is differentiated {evolution.space_order[u]} times in {evolution.space} and has "
                          f"{sum(count[u])} boundary condition{'s' if sum(count[u]) != 1 else ''}; the method of lines "
                          f"needs as many conditions as the order")
    return {u: list(range(low)) + list(range(points - high, points)) for u, (low, high) in count.items()}


def _solve_initial(evolution: Evolution, condition: PDECondition, nodes: np.ndarray) -> np.ndarray:
    """The initial values a condition gives at the points: affine in its one field value v, v = -r(0) / (r(1) - r(0))."""
    value = condition.field_values[0]
    key = (value.unknown, tuple(value.orders), value.fixed)
    scope = dict(evolution.constants)
    scope[evolution.space], scope[evolution.time] = nodes, evolution.start
    residuals = []
    with np.errstate(all="ignore"):
        for trial in (0.0, 1.0, 2.0):
            scope[key] = trial
            residuals.append(np.broadcast_to(np.asarray(ex.evaluate(condition.residual, scope), dtype=float), nodes.shape))
    r0, r1, r2 = residuals
    if np.any(np.abs(r2 - 2 * r1 + r0) > 1e-8 * (np.abs(r0) + np.abs(r1) + np.abs(r2) + 1.0)) or np.any(r1 == r0):
        raise Refused(f"'{condition.source}' cannot be solved for the initial values (it is not linear in them)")
    initial = -r0 / (r1 - r0)
    if not np.all(np.isfinite(initial)):
        raise Refused(f"'{condition.source}' is not finite at some points")
    return np.array(initial, dtype=float)


# ------------------------------------------------------------------ one resolution in time


@dataclass(frozen=True, eq=False)
class Level:
    """One resolution solved: the grid, the integrator, the values on the output grid [len(x), len(t)], the cost."""

    grid: object
    method: str
    values: Mapping[str, np.ndarray]
    seconds: float
    mismatch: float  # how far the initial values miss the boundary conditions (relative)


def spectral_radius(rhs, t: float, y: np.ndarray, iterations: int = 30) -> float:
    """|lambda|max of the Jacobian of rhs at (t, y), by power iteration with finite-difference products J v."""
    rng = np.random.default_rng(1)
    vector = rng.standard_normal(len(y))
    vector /= np.linalg.norm(vector)
    base = rhs(t, y)
    step = 1e-7 * max(1.0, float(np.max(np.abs(y), initial=0.0)))
    radius = 0.0
    for _ in range(iterations):
        product = (rhs(t, y + step * vector) - base) / step
        norm = float(np.linalg.norm(product))
        if not np.isfinite(norm) or norm == 0.0:
            break
        radius, vector = norm, product / norm
    return radius


def solve_level(evolution: Evolution, grid, x: np.ndarray, t: np.ndarray, rtol: float, deadline: float) -> Level:
    """The fields on (x, t) at one space resolution: scipy's BDF if stiff, DOP853 if not, values at t's times."""
    started = clock.perf_counter()
    lines = Lines(evolution, grid, deadline)
    y0, mismatch = lines.initial_state()
    end = float(np.max(t))
    if end <= evolution.start:
        states, method = np.repeat(y0[:, None], len(t), axis=1), "none"
    else:
        scale = float(np.max(np.abs(y0), initial=0.0)) or 1.0
        stiffness = spectral_radius(lines.rhs, evolution.start, y0) * (end - evolution.start)
        method = "BDF" if stiffness > STIFFNESS_LIMIT else "DOP853"
        options = {}
        if method == "BDF" and lines.sparsity() is not None:
            options["jac_sparsity"] = lines.sparsity()
        with np.errstate(all="ignore"):
            solution = solve_ivp(lines.rhs, (evolution.start, end), y0, method=method, t_eval=t, rtol=rtol,
                                 atol=rtol * scale, max_step=MAX_STEP_FRACTION * (end - evolution.start),
                                 first_step=FIRST_STEP_FRACTION * (end - evolution.start), **options)
        if not solution.success or solution.y.shape[1] != len(t):
            raise LevelFailed(f"scipy {method} failed: {solution.message}")
        states = solution.y
    if not np.all(np.isfinite(states)):
        raise LevelFailed("the solution is not finite")
    values = lines.on_grid(t, states, x)
    return Level(grid, method, values, clock.perf_counter() - started, mismatch)


def relative_difference(fine: Mapping[str, np.ndarray], coarse: Mapping[str, np.ndarray]) -> float:
    """max over unknowns of ||fine - coarse|| / ||fine|| (L2 over the grid; the plain difference if fine is zero)."""
    worst = 0.0
    for u, values in fine.items():
        size = float(np.linalg.norm(values))
        difference = float(np.linalg.norm(values - coarse[u]))
        worst = max(worst, difference / size if size > 0 else difference)
    return worst


# ------------------------------------------------------------------ refinement


def _families(evolution: Evolution):
    """The grids to try in turn: (name, constructor(points), points, spectral)."""
    low, high = evolution.low, evolution.high
    if evolution.periodic:
        return [("Fourier", lambda n: Fourier(n, low, high), FOURIER_POINTS, True),
                ("finite differences", lambda n: FiniteDifferences(n, low, high, True), tuple(p - 1 for p in DIFFERENCE_POINTS), False)]
    return [("Chebyshev", lambda n: Chebyshev(n, low, high), CHEBYSHEV_POINTS, True),
            ("finite differences", lambda n: FiniteDifferences(n, low, high, False), DIFFERENCE_POINTS, False)]


@dataclass
class _Refinement:
    """What the refinement has found so far: the best agreeing pair of resolutions and the notes on the way."""

    best: Optional[Tuple[float, Level, Level]] = None   # (agreement, coarser, finer)
    notes: List[str] = field(default_factory=list)
    out_of_time: bool = False

    def offer(self, agreement: float, coarser: Level, finer: Level) -> None:
        if self.best is None or agreement <= self.best[0]:
            self.best = (agreement, coarser, finer)


def _refine_family(evolution, name, build, sizes, spectral, x, t, tolerance, rtol, deadline, found: _Refinement) -> bool:
    """Double one kind of grid until two agree to ``tolerance`` (True), or it stops converging, fails or runs out of time."""
    previous: Optional[Level] = None
    last = None
    slow = 0  # doublings in a row that gained less than SPECTRAL_GAIN
    for index, points in enumerate(sizes):
        remaining = deadline - clock.perf_counter()
        if previous is not None and previous.seconds * (6.0 if spectral else 2.5) > remaining:
            found.notes.append(f"{name} {points} points would not finish in the time left")
            found.out_of_time = True
            return False
        try:
            level = solve_level(evolution, build(points), x, t, rtol / TIME_TOLERANCE_SPLIT ** (index % 2), deadline)
        except _OutOfTime:
            found.notes.append(f"{name} {points} points ran out of time")
            found.out_of_time = True
            return False
        except (LevelFailed, np.linalg.LinAlgError, FloatingPointError, ValueError) as failure:
            found.notes.append(f"{name} {points} points failed ({failure})")
            return False
        if previous is not None:
            agreement = relative_difference(level.values, previous.values)
            found.offer(agreement, previous, level)
            if agreement <= tolerance:
                return True
            slow = slow + 1 if last is not None and agreement > last / SPECTRAL_GAIN else 0
            if spectral and slow >= 2:
                found.notes.append(f"{name} stopped converging at {points} points (agreement {agreement:.1e})")
                return agreement <= USEFUL_AGREEMENT
            last = agreement
        previous = level
    return False


def method_of_lines(problem: PDEProblem, grid, *, tolerance: float = 1e-7, max_seconds: float = 120.0) -> GridReference:
    """The reference of an evolution problem on ``grid`` = (array for variables[0], array for variables[1]).

    Spectral grids are doubled until two agree to ``tolerance`` (relative L2 on the grid), then uniform finite
    differences if the spectral ones stop converging; success when the best agreement is below
    :data:`USEFUL_AGREEMENT`.
    """
    started = clock.perf_counter()
    deadline = started + max_seconds
    first, second = (np.asarray(g, dtype=float).ravel() for g in grid)
    try:
        evolution = read_evolution(problem)
        if problem.trainable_parameters:
            raise Refused("the problem has trainable parameters; the reference needs every parameter's value")
        x, t = (first, second) if evolution.space_axis == 0 else (second, first)
        _check_grid(evolution, x, t)
    except Refused as refusal:
        return GridReference("method of lines", {}, math.inf, False, str(refusal), clock.perf_counter() - started)
    rtol = float(np.clip(tolerance * 1e-3, 1e-12, 1e-8))
    found = _Refinement()
    converged = False
    from threadpoolctl import threadpool_limits

    # BLAS threads left free spin against other work (measured: Radau's LU of 127 x 127 took 55 ms, not 1 ms, on 2
    # busy cores); the matrices here are far too small to gain from them
    with threadpool_limits(limits=1, user_api="blas"):
        for name, build, sizes, spectral in _families(evolution):
            try:
                converged = _refine_family(evolution, name, build, sizes, spectral, x, t, tolerance, rtol, deadline, found)
            except Refused as refusal:
                return GridReference("method of lines", {}, math.inf, False, str(refusal), clock.perf_counter() - started)
            if converged or found.out_of_time:
                break
    return _reference(evolution, found, converged, tolerance, clock.perf_counter() - started)


def _check_grid(evolution: Evolution, x: np.ndarray, t: np.ndarray) -> None:
    end = evolution.problem.domain.interval(evolution.time).high
    if len(t) == 0 or len(x) == 0:
        raise Refused("the output grid is empty")
    if np.min(t) < evolution.start - 1e-12 * max(1.0, abs(evolution.start)) or np.any(np.diff(t) < 0):
        raise Refused(f"the output times must be increasing from {evolution.time} = {evolution.start:g}")
    if np.max(t) > end + 1e-9 * max(1.0, abs(end)):
        raise Refused(f"the output times go past {evolution.time} = {end:g}")
    if np.min(x) < evolution.low - 1e-12 or np.max(x) > evolution.high + 1e-12:
        raise Refused(f"the output points leave [{evolution.low:g}, {evolution.high:g}]")


def _reference(evolution: Evolution, found: _Refinement, converged: bool, tolerance: float, seconds: float) -> GridReference:
    """The GridReference of the best pair: values of its finer grid, transposed to the problem's variable order."""
    notes = "; ".join(found.notes)
    if found.best is None:
        return GridReference("method of lines", {}, math.inf, False,
                             "no two resolutions could be compared" + (f": {notes}" if notes else ""), seconds)
    agreement, coarser, finer = found.best
    values = {u: (v if evolution.space_axis == 0 else v.T) for u, v in finer.values.items()}
    label = (f"method of lines: {finer.grid.name} {coarser.grid.points} and {finer.grid.points} points in "
             f"{evolution.space}, scipy {finer.method} in {evolution.time}")
    success = agreement <= USEFUL_AGREEMENT
    pair = f"{coarser.grid.points} and {finer.grid.points} {finer.grid.name} points agree to {agreement:.1e}"
    if converged:
        message = f"converged: {pair} (relative L2 on the grid, tolerance {tolerance:.0e})"
    elif success:
        message = f"{pair}, short of the tolerance {tolerance:.0e}" + (f" ({notes})" if notes else "")
    else:
        message = f"not converged: at best {pair}, above {USEFUL_AGREEMENT:.0e}" + (f" ({notes})" if notes else "")
    if finer.mismatch > 1e-6:
        message += f"; the initial values miss the boundary conditions by {finer.mismatch:.1e} (relative)"
    return GridReference(label, values, float(agreement), bool(success), message, seconds)


# ------------------------------------------------------------------ Burgers' exact solution


def burgers_cole_hopf(x, t, nu: float, nodes: int = HERMITE_NODES) -> np.ndarray:
    """Viscous Burgers u_t + u u_x = nu u_xx, u(x, 0) = -sin(pi x), by Cole-Hopf and Gauss-Hermite quadrature:
    u = -int sin(pi(x - e)) f(x - e) exp(-e^2 / 4 nu t) de / int f(x - e) exp(-e^2 / 4 nu t) de,
    f(y) = exp(-cos(pi y) / (2 pi nu)); x and t broadcast together (t = 0 gives -sin(pi x))."""
    from scipy.special import roots_hermite

    x, t = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(t, dtype=float))
    s, weights = roots_hermite(nodes)
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights)
    shift = np.sqrt(4.0 * nu * np.maximum(t, 0.0))[..., None] * s  # e = sqrt(4 nu t) s
    y = x[..., None] - shift
    exponent = log_weights - np.cos(np.pi * y) / (2.0 * np.pi * nu)
    weight = np.exp(exponent - np.max(exponent, axis=-1, keepdims=True))
    u = -np.sum(np.sin(np.pi * y) * weight, axis=-1) / np.sum(weight, axis=-1)
    return np.where(t > 0, u, -np.sin(np.pi * x))
