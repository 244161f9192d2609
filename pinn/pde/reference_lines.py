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
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np
import scipy.linalg  # noqa: F401  (loaded before the BLAS thread limit, which reaches only the libraries loaded by then)
import scipy.sparse as sparse
from scipy.integrate import solve_ivp

from .. import expressions as ex
from .lines_problem import Evolution, Refused, near, read_evolution
from .lines_space import DIFFERENCE_ACCURACY, Chebyshev, FiniteDifferences, Fourier
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


class _OutOfTime(Exception):
    """Raised inside the right-hand side when the time allowed has run out."""


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
                index = 0 if near(at, self.evolution.low) else self.grid.points - 1
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

