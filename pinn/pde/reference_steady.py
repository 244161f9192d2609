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

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.interpolate import RectBivariateSpline

from .. import expressions as ex
from .problem import PDECondition, PDEProblem
from .reference_grid import GridReference

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
#: Order of accuracy of the one-sided differences at the ends (order + this many points): above the interior's 2,
#: so the error keeps the even expansion h^2, h^4 of the central differences and Richardson's step gains two orders.
ONE_SIDED_ACCURACY = 4
#: Newton's iterations per grid (factorizations and reused-factor steps together).
NEWTON_ITERATIONS = 40
#: Newton has converged when max|dU| <= STEP_TOLERANCE * max(1, max|U|).
STEP_TOLERANCE = 1e-12
#: The factor is refreshed when a step with a reused factor shrank by less than this ratio.
CHORD_CONTRACTION = 0.25
#: Relative step of the central difference dE/dp in each partial p: DERIVATIVE_STEP * max(1, |p|).
DERIVATIVE_STEP = 1e-6
#: Observed order (log2 of the ratio of successive differences) from which Richardson extrapolation is trusted.
RICHARDSON_ORDER = 1.5
#: An unknown is undetermined up to a constant when |J 1_u| <= SINGULAR_RATIO * max row sum of |J|.
SINGULAR_RATIO = 1e-9
#: Where a condition's number counts as an end of the interval: |value - end| <= EDGE_SLACK * length.
EDGE_SLACK = 1e-9

Key = object  # "u", ("u", orders) or ("u", orders, fixed): the scope keys of pinn.expressions.evaluate


class Unsupported(Exception):
    """A problem this reference cannot discretize; the message says why."""


# ------------------------------------------------------------------ 1D differences and the grid


def stencil_weights(offsets: Sequence[float], order: int) -> np.ndarray:
    """Weights w on unit spacing with sum_k w_k f(o_k) = f^(order)(0) exactly for polynomials of degree < len(offsets)."""
    offsets = np.asarray(offsets, dtype=float)
    powers = np.arange(len(offsets))
    factorials = np.array([math.factorial(int(p)) for p in powers], dtype=float)
    vandermonde = offsets[None, :] ** powers[:, None] / factorials[:, None]
    return np.linalg.solve(vandermonde, (powers == order).astype(float))


@dataclass(frozen=True)
class Axis:
    """One variable's uniform nodes: low + h k, k = 0..n (k = 0..n-1 when periodic: the end is the start)."""

    name: str
    low: float
    high: float
    intervals: int
    periodic: bool

    @property
    def h(self) -> float:
        return (self.high - self.low) / self.intervals

    @property
    def size(self) -> int:
        return self.intervals if self.periodic else self.intervals + 1

    @property
    def nodes(self) -> np.ndarray:
        return self.low + self.h * np.arange(self.size)

    def derivative(self, order: int) -> sp.csr_matrix:
        """d^order/dv^order on the nodes, second order: central stencils, one-sided of order+2 points at the ends."""
        n = self.size
        if order == 0:
            return sp.identity(n, format="csr")
        half = (order + 1) // 2
        central = np.arange(-half, half + 1)
        rows, columns, values, weights = [], [], [], {}
        for i in range(n):
            if self.periodic or (i - half >= 0 and i + half <= n - 1):
                offsets = central
            else:
                width = order + ONE_SIDED_ACCURACY
                first = min(max(i - half, 0), n - width)
                offsets = np.arange(first, first + width) - i
            pattern = tuple(int(o) for o in offsets)
            if pattern not in weights:
                weights[pattern] = stencil_weights(pattern, order) / self.h ** order
            rows.extend([i] * len(pattern))
            columns.extend(((i + offsets) % n).tolist() if self.periodic else (i + offsets).tolist())
            values.extend(weights[pattern].tolist())
        return sp.csr_matrix((values, (rows, columns)), shape=(n, n))

    def interpolation(self, value: float) -> Tuple[np.ndarray, np.ndarray]:
        """(node indices, weights) of the value at ``value``: the node itself, else cubic Lagrange on the 4 nearest."""
        s = (value - self.low) / self.h
        nearest = int(round(s))
        if abs(s - nearest) <= 1e-9:
            return np.array([nearest % self.size if self.periodic else min(max(nearest, 0), self.size - 1)]), np.ones(1)
        first = int(math.floor(s)) - 1
        if not self.periodic:
            first = min(max(first, 0), self.size - 4)
        offsets = np.arange(first, first + 4)
        weights = np.array([np.prod([(s - o) / (k - o) for o in offsets if o != k]) for k in offsets])
        return (offsets % self.size if self.periodic else offsets), weights


@dataclass(frozen=True, eq=False)
class Grid:
    """The rectangle's nodes, flattened with the first variable slowest (index = i * n_second + j)."""

    axes: Tuple[Axis, Axis]
    _operators: Dict[Tuple[int, int], sp.csr_matrix] = field(default_factory=dict, repr=False)

    @property
    def shape(self) -> Tuple[int, int]:
        return (self.axes[0].size, self.axes[1].size)

    @property
    def count(self) -> int:
        return self.shape[0] * self.shape[1]

    def coordinates(self) -> Dict[str, np.ndarray]:
        a, b = np.meshgrid(self.axes[0].nodes, self.axes[1].nodes, indexing="ij")
        return {self.axes[0].name: a.ravel(), self.axes[1].name: b.ravel()}

    def operator(self, orders: Tuple[int, int]) -> sp.csr_matrix:
        """The partial of multi-index ``orders`` on the flattened nodes: kron(D_a, D_b)."""
        orders = tuple(int(o) for o in orders)
        if orders not in self._operators:
            self._operators[orders] = sp.kron(self.axes[0].derivative(orders[0]), self.axes[1].derivative(orders[1]), format="csr")
        return self._operators[orders]

    def edge(self, axis: int, side: int) -> np.ndarray:
        """Flat indices of the nodes where variable ``axis`` is at its low (side 0) or high (side 1) end."""
        index = np.arange(self.count).reshape(self.shape)
        at = 0 if side == 0 else self.shape[axis] - 1
        return (index[at, :] if axis == 0 else index[:, at]).copy()

    def nearest(self, point: Tuple[float, float]) -> int:
        i, j = (int(np.argmin(np.abs(a.nodes - p))) for a, p in zip(self.axes, point))
        return i * self.shape[1] + j

    def point_row(self, point: Tuple[float, float]) -> sp.csr_matrix:
        """A row [1, count] whose product with nodal values is their (tensor cubic) interpolant at ``point``."""
        (first, wf), (second, ws) = (a.interpolation(p) for a, p in zip(self.axes, point))
        columns = (first[:, None] * self.shape[1] + second[None, :]).ravel()
        values = (wf[:, None] * ws[None, :]).ravel()
        return sp.csr_matrix((values, (np.zeros_like(columns), columns)), shape=(1, self.count))


# ------------------------------------------------------------------ which node owns which row


@dataclass
class Layout:
    """The grid-independent plan: periodic variables, per unknown its edge conditions, point conditions, pins."""

    periodic: Tuple[bool, bool]
    pairing: Dict[str, int]                                   # unknown -> index of the equation on its nodes
    edges: Dict[str, Dict[Tuple[int, int], PDECondition]]     # unknown -> {(axis, side): condition}
    points: Dict[str, List[PDECondition]]                     # unknown -> point conditions on its nearest node
    pinned: Dict[str, PDECondition] = field(default_factory=dict)  # unknown -> point condition with a multiplier


def _unknowns_in(node: ex.Node, unknowns: Sequence[str]) -> List[str]:
    used = set()
    for inner in ex.walk(node):
        if isinstance(inner, (ex.Partial, ex.FieldValue)):
            used.add(inner.unknown)
        elif isinstance(inner, ex.Name) and inner.name in unknowns:
            used.add(inner.name)
    return [u for u in unknowns if u in used]


def _is_dirichlet(condition: PDECondition) -> bool:
    return all(not any(n.orders) for n in condition.field_values)


def _side(problem: PDEProblem, condition: PDECondition, value: float) -> int:
    interval = problem.domain.interval(condition.fixed)
    slack = EDGE_SLACK * interval.length
    if abs(value - interval.low) <= slack:
        return 0
    if abs(value - interval.high) <= slack:
        return 1
    raise Unsupported(f"the condition '{condition.source}' holds {condition.fixed} = {value:g}, inside the rectangle; "
                      "the finite-difference reference takes conditions on the edges and at points only")


def _pairing(problem: PDEProblem) -> Dict[str, int]:
    """Equation per unknown: the assignment maximizing, summed, the highest total order of the unknown in its equation."""
    unknowns = problem.unknowns
    score = np.full((len(problem.equations), len(unknowns)), -1)
    for e, equation in enumerate(problem.equations):
        for inner in ex.walk(equation.residual):
            if isinstance(inner, ex.Partial) and inner.unknown in unknowns:
                k = unknowns.index(inner.unknown)
                score[e, k] = max(score[e, k], sum(inner.orders))
            elif isinstance(inner, ex.Name) and inner.name in unknowns:
                k = unknowns.index(inner.name)
                score[e, k] = max(score[e, k], 0)
    best = tuple(range(len(unknowns)))
    if len(unknowns) <= 6:
        best_score = sum(score[best[k], k] for k in range(len(unknowns)))
        for permutation in itertools.permutations(range(len(unknowns))):
            total = sum(score[permutation[k], k] for k in range(len(unknowns)))
            if total > best_score:
                best, best_score = permutation, total
    return {u: best[k] for k, u in enumerate(unknowns)}


def plan(problem: PDEProblem) -> Layout:
    """Assign every condition to an unknown and an edge (or a point); raises :class:`Unsupported` with the reason."""
    variables, unknowns = problem.variables, problem.unknowns
    periodic = [False, False]
    for condition in problem.conditions:
        if condition.periodic:
            axis = variables.index(condition.fixed)
            if sorted(_side(problem, condition, v) for v in condition.at) != [0, 1]:
                raise Unsupported(f"the periodic condition '{condition.source}' does not relate the two ends of {condition.fixed}")
            periodic[axis] = True
    edges: Dict[str, Dict[Tuple[int, int], PDECondition]] = {u: {} for u in unknowns}
    points: Dict[str, List[PDECondition]] = {u: [] for u in unknowns}
    for condition in problem.conditions:
        owners = _unknowns_in(condition.residual, unknowns)
        if condition.kind == "point" or condition.fixed is None:
            points[owners[0]].append(condition)
            continue
        axis = variables.index(condition.fixed)
        if periodic[axis]:
            if not condition.periodic:
                raise Unsupported(f"{condition.fixed} is periodic (a condition relates its ends), so the condition "
                                  f"'{condition.source}' on one end cannot be discretized with it")
            continue
        if condition.periodic:
            continue
        place = (axis, _side(problem, condition, condition.at[0]))
        owner = next((u for u in owners if place not in edges[u]), None)
        if owner is None:
            raise Unsupported(f"the condition '{condition.source}' is a second one for {' and '.join(owners)} on the edge "
                              f"{condition.fixed} = {condition.at[0]:g}; the finite-difference reference takes one condition per "
                              "edge and unknown (equations of order 2 at most in each variable)")
        edges[owner][place] = condition
    return Layout(tuple(periodic), _pairing(problem), edges, points)


# ------------------------------------------------------------------ the discrete system


@dataclass(frozen=True, eq=False)
class RowBlock:
    """Rows that share one residual tree: F[rows] = E(scope), scope[key] = operators[key] @ U, plus a multiplier."""

    residual: ex.Node
    rows: np.ndarray
    operators: Mapping[Key, sp.csr_matrix]
    coordinates: Mapping[str, np.ndarray]
    multiplier: Optional[int] = None   # the column of U added to every row (a Lagrange multiplier)


def _keys(node: ex.Node, unknowns: Sequence[str]) -> List[Key]:
    keys = []
    for inner in ex.walk(node):
        if isinstance(inner, ex.Partial):
            key = (inner.unknown, tuple(inner.orders))
        elif isinstance(inner, ex.FieldValue):
            key = (inner.unknown, tuple(inner.orders), inner.fixed)
        elif isinstance(inner, ex.Name) and inner.name in unknowns:
            key = inner.name
        else:
            continue
        if key not in keys:
            keys.append(key)
    return keys


class System:
    """F(U) = 0 on one grid: U holds each unknown's nodal values (in the order of ``unknowns``), then the multipliers."""

    def __init__(self, problem: PDEProblem, layout: Layout, grid: Grid):
        self.problem, self.layout, self.grid = problem, layout, grid
        self.unknowns = problem.unknowns
        self.constants = problem.constants
        self.pins = [u for u in self.unknowns if u in layout.pinned]
        self.size = len(self.unknowns) * grid.count + len(self.pins)
        self._fields: Dict[Tuple[str, Tuple[int, int]], sp.csr_matrix] = {}
        self.blocks = [block for u in self.unknowns for block in self._blocks_of(u)]

    def field(self, unknown: str, orders: Tuple[int, int]) -> sp.csr_matrix:
        """[count, size]: the partial ``orders`` of ``unknown`` at every node, from U."""
        key = (unknown, tuple(orders))
        if key not in self._fields:
            local = self.grid.operator(orders).tocoo()
            offset = self.unknowns.index(unknown) * self.grid.count
            self._fields[key] = sp.csr_matrix((local.data, (local.row, local.col + offset)), shape=(self.grid.count, self.size))
        return self._fields[key]

    def _operator(self, key: Key) -> sp.csr_matrix:
        if isinstance(key, str):
            return self.field(key, (0, 0))
        return self.field(key[0], key[1])

    def _block(self, node: ex.Node, nodes: np.ndarray, rows: np.ndarray, multiplier=None, point=None) -> RowBlock:
        coordinates = self.grid.coordinates()
        if point is not None:
            select = self.grid.point_row(point)
            coordinates = {name: np.array([p]) for name, p in zip(self.problem.variables, point)}
        else:
            coordinates = {name: values[nodes] for name, values in coordinates.items()}
        operators = {}
        for key in _keys(node, self.unknowns):
            matrix = self._operator(key)
            operators[key] = (select @ matrix).tocsr() if point is not None else matrix[nodes]
        return RowBlock(node, rows, operators, coordinates, multiplier)

    def _roles(self, unknown: str) -> Tuple[np.ndarray, List[Tuple[PDECondition, Optional[Tuple[float, float]]]]]:
        """Per node: -1 (the equation) or the index of the condition owning its row; the conditions, with points."""
        roles = np.full(self.grid.count, -1)
        owners: List[Tuple[PDECondition, Optional[Tuple[float, float]]]] = []
        placed = sorted(self.layout.edges[unknown].items(), key=lambda item: (_is_dirichlet(item[1]), item[0]))
        for (axis, side), condition in placed:  # Dirichlet edges last, so they own the corners
            roles[self.grid.edge(axis, side)] = len(owners)
            owners.append((condition, None))
        for condition in self.layout.points[unknown]:
            if self.layout.pinned.get(unknown) is condition:
                continue
            roles[self.grid.nearest(condition.at)] = len(owners)
            owners.append((condition, tuple(condition.at)))
        return roles, owners

    def _blocks_of(self, unknown: str) -> List[RowBlock]:
        k = self.unknowns.index(unknown)
        offset = k * self.grid.count
        roles, owners = self._roles(unknown)
        multiplier = None
        if unknown in self.layout.pinned:
            multiplier = len(self.unknowns) * self.grid.count + self.pins.index(unknown)
        equation = self.problem.equations[self.layout.pairing[unknown]].residual
        inside = np.flatnonzero(roles == -1)
        blocks = [self._block(equation, inside, offset + inside, multiplier=multiplier)]
        for index, (condition, point) in enumerate(owners):
            nodes = np.flatnonzero(roles == index)
            if len(nodes):
                blocks.append(self._block(condition.residual, nodes, offset + nodes, point=point))
        if multiplier is not None:
            pin = self.layout.pinned[unknown]
            blocks.append(self._block(pin.residual, np.zeros(1, dtype=int), np.array([multiplier]), point=tuple(pin.at)))
        return blocks

    # -------------------------------------------------------------- F(U) and its Jacobian

    def _scope(self, block: RowBlock, values: Mapping[Key, np.ndarray]) -> dict:
        scope = dict(self.constants)
        scope.update(block.coordinates)
        scope.update(values)
        return scope

    def _evaluate(self, block: RowBlock, values: Mapping[Key, np.ndarray]) -> np.ndarray:
        with np.errstate(all="ignore"):
            result = ex.evaluate(block.residual, self._scope(block, values))
        return np.broadcast_to(np.asarray(result, dtype=float), (len(block.rows),))

    def residual(self, U: np.ndarray) -> np.ndarray:
        """F(U): every block's residual tree on its rows (plus the multiplier on its unknown's equation rows)."""
        F = np.empty(self.size)
        for block in self.blocks:
            values = {key: matrix @ U for key, matrix in block.operators.items()}
            F[block.rows] = self._evaluate(block, values) + (U[block.multiplier] if block.multiplier is not None else 0.0)
        return F

    def jacobian(self, U: np.ndarray) -> sp.csc_matrix:
        """dF/dU = sum over blocks and keys of diag(dE/dp_key) operators[key] (dE/dp by a central difference in p)."""
        rows, columns, data = [], [], []
        for block in self.blocks:
            values = {key: matrix @ U for key, matrix in block.operators.items()}
            for key, matrix in block.operators.items():
                step = DERIVATIVE_STEP * np.maximum(1.0, np.abs(values[key]))
                up = self._evaluate(block, {**values, key: values[key] + step})
                down = self._evaluate(block, {**values, key: values[key] - step})
                part = (sp.diags((up - down) / (2.0 * step)) @ matrix).tocoo()
                rows.append(block.rows[part.row])
                columns.append(part.col)
                data.append(part.data)
            if block.multiplier is not None:
                rows.append(block.rows)
                columns.append(np.full(len(block.rows), block.multiplier))
                data.append(np.ones(len(block.rows)))
        return sp.csc_matrix((np.concatenate(data), (np.concatenate(rows), np.concatenate(columns))), shape=(self.size, self.size))

    # -------------------------------------------------------------- between U and fields

    def fields(self, U: np.ndarray) -> Dict[str, np.ndarray]:
        count = self.grid.count
        return {u: U[k * count:(k + 1) * count].reshape(self.grid.shape) for k, u in enumerate(self.unknowns)}

    def vector(self, fields: Mapping[str, np.ndarray]) -> np.ndarray:
        U = np.zeros(self.size)
        count = self.grid.count
        for k, u in enumerate(self.unknowns):
            U[k * count:(k + 1) * count] = np.asarray(fields[u]).ravel()
        return U


def undetermined_unknowns(system: System) -> List[str]:
    """The unknowns to which a constant can be added without changing F (J 1_u = 0 at a generic state)."""
    rng = np.random.default_rng(0)
    U = 0.5 + rng.random(system.size)
    J = system.jacobian(U)
    if not np.all(np.isfinite(J.data)):
        return []
    scale = max(float(abs(J).sum(axis=1).max()), 1e-300)
    count = system.grid.count
    out = []
    for k, u in enumerate(system.unknowns):
        ones = np.zeros(system.size)
        ones[k * count:(k + 1) * count] = 1.0
        if np.max(np.abs(J @ ones)) <= SINGULAR_RATIO * scale:
            out.append(u)
    return out


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
