"""The discrete system of the finite-difference reference of a steady problem: the grid and its 1D differences
(:class:`Axis`, :class:`Grid`), which node of which unknown owns which row (:func:`plan`), and the residual F(U) with
its sparse Jacobian (:class:`System`).  The method is described in :mod:`pinn.pde.reference_steady`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import scipy.sparse as sp

from .. import expressions as ex
from .problem import PDECondition, PDEProblem


#: Order of accuracy of the one-sided differences at the ends (order + this many points): above the interior's 2,
#: so the error keeps the even expansion h^2, h^4 of the central differences and Richardson's step gains two orders.
ONE_SIDED_ACCURACY = 4
#: Relative step of the central difference dE/dp in each partial p: DERIVATIVE_STEP * max(1, |p|).
DERIVATIVE_STEP = 1e-6
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
