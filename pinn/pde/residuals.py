"""Residuals in two variables: partial derivatives by nested tapes, each computed once, and the loss terms.

    L_equation[i]  = mean over interior points of r_i(X)^2
    L_condition[j] = mean over the points of its line (or its one point) of r_j^2
    L_data         = mean over observations of ((u(X_k) - u_k) / s_u)^2

Partial derivatives come from :func:`field_partials`: one tape per order, and
one gradient per (parent, unknown) gives both children at once (d/dv1 and d/dv2
of a column are the two columns of its gradient with respect to X [N, 2]), so
u_x and u_t cost one gradient, u_xx and u_xt another.

Everything here takes points X [N, 2] for one model and X [K, N, 2] for K stacked members (a vectorised sweep,
:mod:`pinn.vectorized`): row (k, i) depends on X[k, i] and member k's weights only, so the gradient of a summed
column with respect to X gives each member its own partials.  Lines and observations are therefore repeated per
member ([K, M, 2]) before they are differentiated, never shared.  Loss terms are [T] for one model and [T, K] for
members (means over the point axis only); parameters that differ between members are [K, 1] in the scope.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np
import tensorflow as tf

from .. import expressions as ex
from .problem import PDEProblem

MultiIndex = Tuple[int, int]
#: Points along each line a penalised condition holds on.
LINE_POINTS = 128


def closure(needed: Iterable[MultiIndex]) -> List[MultiIndex]:
    """The multi-indices ``needed`` and every parent they are reached through (parent: one off the second index if
    it is > 0, else off the first), sorted by order."""
    out = set()
    for index in needed:
        a, b = index
        while True:
            out.add((a, b))
            if b > 0:
                b -= 1
            elif a > 0:
                a -= 1
            else:
                break
    return sorted(out, key=lambda k: (sum(k), k))


def _parent(index: MultiIndex) -> Tuple[MultiIndex, int]:
    """(parent, direction): index = parent + e_direction."""
    a, b = index
    return ((a, b - 1), 1) if b > 0 else ((a - 1, b), 0)


def field_partials(function, points, needed: Iterable[MultiIndex]) -> Dict[MultiIndex, tf.Tensor]:
    """{multi-index: [N, m]} for a pointwise f from X [N, 2] to [N, m]: d^(a+b) f / dv1^a dv2^b, by nested tapes
    ([K, N, m] from stacked members' X [K, N, 2])."""
    wanted = closure(list(needed) + [(0, 0)])
    top = max(sum(k) for k in wanted)
    return _partials_to(function, points, wanted, top)


def _partials_to(function, points, wanted: List[MultiIndex], order: int) -> Dict[MultiIndex, tf.Tensor]:
    if order == 0:
        return {(0, 0): function(points)}
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(points)
        lower = _partials_to(function, points, wanted, order - 1)
        parents = sorted({_parent(k)[0] for k in wanted if sum(k) == order})
        columns = {p: [lower[p][..., i] for i in range(lower[p].shape[-1])] for p in parents}
    gradients = {p: [tape.gradient(c, points) for c in columns[p]] for p in parents}
    del tape
    out = dict(lower)
    for p in parents:
        grads = [tf.zeros_like(points) if g is None else g for g in gradients[p]]
        for direction in (0, 1):
            child = (p[0] + (direction == 0), p[1] + (direction == 1))
            if child in wanted:
                out[child] = tf.stack([g[..., direction] for g in grads], axis=-1)
    return out


class FieldResiduals:
    """The loss of a problem in two variables for a :class:`~pinn.pde.network.FieldTrial`.

    ``taken`` are the indices of the conditions built into the output; the others are penalised, each on its
    line: ``LINE_POINTS`` points along it (for a periodic condition, the same free coordinates on both lines).
    """

    def __init__(self, problem: PDEProblem, taken: Sequence[int], scales: Sequence[float], dtype):
        self.problem = problem
        self.unknowns = problem.unknowns
        self.dtype = dtype
        self.equations = tuple(e.residual for e in problem.equations)
        self.equation_needed = sorted({o for _, o in problem.partials})
        self.conditions = tuple((j, c) for j, c in enumerate(problem.conditions) if j not in set(taken))
        self.constants = problem.constants
        self.scales = np.asarray(scales, dtype=float)
        self.lines = [self._lines(c) for _, c in self.conditions]
        data = problem.data
        self.data_x = None if data is None else data.points
        if data is not None:
            self.data_values = np.stack([data.values.get(u, np.full(len(data), np.nan)) for u in self.unknowns], axis=1)
            self.data_mask = np.isfinite(self.data_values).astype(float)
            self.data_values = np.nan_to_num(self.data_values)
        weights = problem.training.weights
        self.weights = np.array([weights.equations] * len(self.equations) + [weights.conditions] * len(self.conditions)
                                + ([weights.data] if data is not None else []), dtype=float)

    @property
    def term_names(self) -> Tuple[str, ...]:
        return tuple([f"equation[{i}]" for i in range(len(self.equations))] + [f"condition[{j}]" for j, _ in self.conditions]
                     + (["data"] if self.data_x is not None else []))

    def _lines(self, condition) -> List[Tuple[tuple, np.ndarray, List[MultiIndex]]]:
        """[(fixed, points [M, 2], multi-indices needed there)] for each distinct place the condition's values sit."""
        places: Dict[tuple, set] = {}
        for node in condition.field_values:
            places.setdefault(node.fixed, set()).add(tuple(node.orders))
        out = []
        for fixed, needed in places.items():
            held = {v: f for v, f in zip(self.problem.variables, fixed) if f is not None}
            out.append((fixed, self.problem.domain.line(held, LINE_POINTS), sorted(needed)))
        return out

    def _parameters(self, model) -> dict:
        """The constants, then the model's trainable parameters and per-member constants ([K, 1] when stacked)."""
        scope = dict(self.constants)
        scope.update(model.parameters)
        scope.update(getattr(model, "member_constants", {}))
        return scope

    def _for_members(self, model, array: np.ndarray):
        """``array`` [M, 2] as a tensor, repeated per member ([K, M, 2]) on a stacked model."""
        points = tf.constant(array, dtype=self.dtype)
        members = getattr(model, "members", None)
        return points if members is None else tf.broadcast_to(points[None], [members, *array.shape])

    def _scope(self, model, points, values: Dict[MultiIndex, tf.Tensor]) -> dict:
        scope = self._parameters(model)
        for i, v in enumerate(self.problem.variables):
            scope[v] = points[..., i]
        for k, u in enumerate(self.unknowns):
            for index, array in values.items():
                scope[(u, index)] = array[..., k]
            scope[u] = values[(0, 0)][..., k]
        return scope

    def equation_values(self, model, points) -> List[tf.Tensor]:
        """[r_i(X)] at points X [N, 2], each [N] ([K, N] at stacked X [K, N, 2])."""
        values = field_partials(model, points, self.equation_needed)
        scope = self._scope(model, points, values)
        functions = ex.tensorflow_functions()
        return [ex.evaluate(r, scope, functions) + 0.0 * points[..., 0] for r in self.equations]

    def condition_values(self, model) -> List[tf.Tensor]:
        """[r_j] on each penalised condition's line (or point): [M] each, [K, M] on a stacked model."""
        functions = ex.tensorflow_functions()
        out = []
        for (_, condition), lines in zip(self.conditions, self.lines):
            scope = self._parameters(model)
            free = None
            for fixed, line, needed in lines:
                points = self._for_members(model, line)
                values = field_partials(model, points, needed)
                for k, u in enumerate(self.unknowns):
                    for index in needed:
                        scope[(u, index, fixed)] = values[index][..., k]
                free = points
            for i, v in enumerate(self.problem.variables):
                scope[v] = free[..., i]
            out.append(ex.evaluate(condition.residual, scope, functions) + 0.0 * free[..., 0])
        return out

    def data_misfit(self, model):
        """The data term: a scalar, [K] on a stacked model."""
        points = self._for_members(model, self.data_x)
        scales = tf.constant(self.scales, dtype=self.dtype)
        misfit = (model(points) - tf.constant(self.data_values, dtype=self.dtype)) / scales
        mask = tf.constant(self.data_mask, dtype=self.dtype)
        return tf.reduce_sum(mask * misfit * misfit, axis=[-2, -1]) / tf.maximum(tf.reduce_sum(mask), 1.0)

    def loss_terms(self, model, points):
        """The loss terms (ordered as :attr:`term_names`): [T] at X [N, 2], [T, K] at stacked X [K, N, 2]."""
        terms = [tf.reduce_mean(r * r, axis=-1) for r in self.equation_values(model, points)]
        terms += [tf.reduce_mean(r * r, axis=-1) for r in self.condition_values(model)]
        if self.data_x is not None:
            terms.append(self.data_misfit(model))
        return tf.stack(terms)

    # rows for the Gauss-Newton phase (pinn.levenberg_marquardt): sum of squared weighted rows = the weighted loss

    def pointwise_rows(self, model, points):
        """[N, E]: each equation's residual at each point, unweighted ([K, N, E] stacked)."""
        return tf.stack(self.equation_values(model, points), axis=-1)

    def condition_rows(self, model, like):
        """[C]: every penalised condition's residual at every point of its line, unweighted, one after another
        ([K, C] on a stacked model)."""
        return tf.concat(self.condition_values(model), axis=-1)

    def data_rows(self, model, x, values, mask):
        """mask (u(X) - u_obs) / s_u at observation points X [M, 2]: [M, U], unweighted ([K, M, U] at [K, M, 2])."""
        return mask * (model(x) - values) / tf.constant(self.scales, dtype=x.dtype)

    def row_weights(self, points: int) -> dict:
        """sqrt(w_t / count_t) by row, so that the sum of the squared weighted rows is the weighted loss."""
        weights = dict(zip(self.term_names, self.weights))
        conditions = []
        for (j, _), lines in zip(self.conditions, self.lines):
            count = len(lines[0][1])
            conditions += [np.sqrt(weights[f"condition[{j}]"] / count)] * count
        return {
            "points": np.array([np.sqrt(weights[f"equation[{i}]"] / points) for i in range(len(self.equations))], dtype=float),
            "conditions": np.array(conditions, dtype=float),
            "data": np.sqrt(weights["data"] / float(self.data_mask.sum())) if self.data_x is not None else 0.0,
        }

    def squared_residuals(self, model, points) -> np.ndarray:
        """sum_i r_i(X)^2 at each point [N] (numpy; [K, N] at stacked X [K, N, 2])."""
        values = self.equation_values(model, tf.convert_to_tensor(points, dtype=self.dtype))
        return np.sum([np.asarray(r) ** 2 for r in values], axis=0)
