"""Residuals of equations, conditions and data, and the loss built from them.

Derivatives come from :func:`derivatives`: nested ``tf.GradientTape``s up to
order :data:`pinn.taylor.NESTED_TAPE_MAX_ORDER` (3), Taylor mode
(:mod:`pinn.taylor`, O(n^2) in the order n) above it for pinn's own models; the
residual of ``left = right`` is ``left - right`` evaluated with the TensorFlow
function table.  Each equation, condition and the data misfit is one loss term:

    L_equation[i]  = mean over collocation points of r_i(x)^2
    L_condition[j] = r_j^2
    L_data         = mean over observations of ((u(x_k) - u_k) / s_u)^2
    L_smoothness   = mean over collocation points of (L^k / s_u * u^(k)(x))^2  (if asked)

and the total is the weighted sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from . import expressions as ex
from . import taylor
from .problem import Problem


def derivatives(function: Callable, x, order: int) -> List:
    """[f(x), f'(x), ..., f^(order)(x)] for a pointwise f from [N, 1] to [N, m]
    (or from [K, N, 1] to [K, N, m], K stacked members).

    Above order :data:`~pinn.taylor.NESTED_TAPE_MAX_ORDER`, a pinn MLP or
    TrialSolution goes through Taylor mode (:func:`pinn.taylor.derivatives`):
    nested tapes re-differentiate the whole graph of the order below at each
    order, so their cost grows exponentially (order 6 of the default network
    takes seconds to trace, order 8 minutes), Taylor mode's as the square of
    the order.  So does a model with :data:`~pinn.taylor.MANY_OUTPUTS` (4)
    outputs or more at every order: nested tapes take one gradient call per
    output column per order, Taylor mode all columns at once (a chain of 50
    equations trains 17x faster).  Everything else, and every order up to that
    threshold for fewer outputs (the numbers those problems always had, to the
    bit), uses :func:`nested_tape_derivatives`.  A
    :class:`~pinn.network.WindowedModel` (several windows) takes each point's
    derivatives from its own window's network.
    """
    if hasattr(function, "boundaries") and hasattr(function, "pieces"):
        return function.by_window(x, lambda piece, part: derivatives(piece, part, order))
    if order >= 1 and taylor.supports(function) and (order > taylor.NESTED_TAPE_MAX_ORDER or
                                                     taylor.outputs(function) >= taylor.MANY_OUTPUTS):
        return taylor.derivatives(function, x, order)
    return nested_tape_derivatives(function, x, order)


def nested_tape_derivatives(function: Callable, x, order: int) -> List:
    """[f(x), f'(x), ..., f^(order)(x)] for any pointwise f, by nested tapes (see :func:`derivatives`).

    One nested tape per order; each output column (last axis) is differentiated
    separately, which is exact because row i (row (k, i)) of f depends on x_i
    (x_ki) only.  Works inside ``tf.function`` and under an outer tape (for training).
    """
    if order == 0:
        return [function(x)]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        lower = nested_tape_derivatives(function, x, order - 1)
        top = lower[-1]
        columns = [top[..., i] for i in range(top.shape[-1])]
    gradients = [tape.gradient(column, x) for column in columns]
    del tape
    gradients = [tf.zeros_like(x) if g is None else g for g in gradients]
    return lower + [tf.concat(gradients, axis=-1)]


def collocation_points(domain: Tuple[float, float], count: int, sampler: str, rng: np.random.Generator) -> np.ndarray:
    """``count`` points in the domain, shape [count, 1]: a uniform grid (ends included),
    a scrambled Sobol sequence, or uniform random draws."""
    low, high = domain
    if sampler == "grid":
        unit = np.linspace(0.0, 1.0, count) if count > 1 else np.array([0.5])
    elif sampler == "sobol":
        from scipy.stats import qmc

        unit = qmc.Sobol(d=1, scramble=True, seed=rng).random(count)[:, 0]
    elif sampler == "random":
        unit = rng.random(count)
    else:
        raise ValueError(f"unknown sampler {sampler!r}")
    return (low + (high - low) * np.sort(unit)).reshape(-1, 1)


@dataclass(frozen=True)
class Term:
    """One loss term: its name in the history and the residual expression."""

    name: str
    residual: ex.Node


@dataclass(frozen=True, eq=False)
class Residuals:
    """The compiled loss of a problem: terms, condition points, data and weights."""

    variable: str
    unknowns: Tuple[str, ...]
    max_order: int
    equations: Tuple[Term, ...]
    conditions: Tuple[Term, ...]
    condition_points: np.ndarray  # [P, 1], the distinct points of penalised conditions
    data_x: Optional[np.ndarray]  # [M, 1]
    data_values: Optional[np.ndarray]  # [M, U] (0 where missing)
    data_mask: Optional[np.ndarray]  # [M, U] 1 where observed
    data_scales: Optional[np.ndarray]  # [U] ([K, 1, U] when the scales differ between stacked members)
    weights: np.ndarray  # one weight per term
    smoothness_order: int = 0  # 0: no smoothness term
    smoothness_scales: Optional[np.ndarray] = None  # [U], L^k / s_u ([K, 1, U] per stacked member)

    @property
    def term_names(self) -> Tuple[str, ...]:
        names = [t.name for t in self.equations] + [t.name for t in self.conditions]
        names += ["data"] if self.data_x is not None else []
        return tuple(names + (["smoothness"] if self.smoothness_order else []))

    def loss_terms(self, model, x):
        """The vector of loss terms (ordered as :attr:`term_names`) at collocation points x [N, 1].

        On a stacked model, x is [K, N, 1] (each member its own points) and the
        result [terms, K]: column k is member k's terms, computed from its rows only.
        """
        functions = ex.tensorflow_functions()
        dtype = x.dtype
        stacked = x.shape.rank == 3
        count = tf.shape(x)[-2]
        points = _for_members(tf.constant(self.condition_points, dtype=dtype), x)
        batch = tf.concat([x, points], axis=-2) if self.conditions else x
        values = derivatives(model, batch, self.max_order)
        scope = self._scope(model, x, values, count, self.condition_points[:, 0] if self.conditions else ())
        terms = []
        zeros = tf.zeros_like(scope[self.variable])
        for term in self.equations:
            residual = ex.evaluate(term.residual, scope, functions) + zeros
            terms.append(_mean_per_member(tf.square(residual), stacked))
        for term in self.conditions:
            residual = ex.evaluate(term.residual, scope, functions)
            square = tf.square(tf.cast(residual, dtype))
            terms.append(tf.reshape(square + tf.zeros_like(x[:, :1, 0]), [-1]) if stacked else square)
        if self.data_x is not None:
            predicted = model(_for_members(tf.constant(self.data_x, dtype=dtype), x))
            misfit = (predicted - tf.constant(self.data_values, dtype=dtype)) / tf.constant(self.data_scales, dtype=dtype)
            mask = tf.constant(self.data_mask, dtype=dtype)
            terms.append(_sum_per_member(mask * tf.square(misfit), stacked) / float(self.data_mask.sum()))
        if self.smoothness_order:
            scaled = _rows(values[self.smoothness_order], count, stacked) * tf.constant(self.smoothness_scales, dtype=dtype)
            terms.append(_mean_per_member(tf.square(scaled), stacked))
        return tf.stack(terms)

    def _scope(self, model, x, values, count, points) -> dict:
        """Names for the evaluator: parameters, the variable, (u, k) on the first
        ``count`` rows of ``values`` and (u, k, p) on the rows after them, one per point.

        Stacked (x [K, N, 1]): names are [K, N] over the collocation points and
        [K, 1] at a point, parameters and per-member constants [K, 1].
        """
        stacked = x.shape.rank == 3
        named = {**model.parameters, **getattr(model, "member_constants", {})}
        scope = {name: value[:, :, 0] for name, value in named.items()} if stacked else named
        scope[self.variable] = x[:, :, 0] if stacked else x[:, 0]
        for i, unknown in enumerate(self.unknowns):
            for order, value in enumerate(values):
                scope[(unknown, order)] = value[:, :count, i] if stacked else value[:count, i]
                for row, point in enumerate(points):
                    at_point = value[:, count + row, i : i + 1] if stacked else value[count + row, i]
                    scope[(unknown, order, float(point))] = at_point
            scope[unknown] = scope[(unknown, 0)]
        return scope

    def pointwise_rows(self, model, x):
        """The residuals of one point each, unweighted: [N, E + S] at x [N, 1] ([K, N, E + S] at stacked x [K, N, 1]).

        Column i < E is equation i's residual r_i(x); with a smoothness term,
        the S = U columns after them are L^k / s_u u^(k)(x), one per unknown.
        """
        functions = ex.tensorflow_functions()
        values = derivatives(model, x, self.max_order)
        scope = self._scope(model, x, values, tf.shape(x)[-2], ())
        zeros = tf.zeros_like(scope[self.variable])
        columns = [ex.evaluate(term.residual, scope, functions) + zeros for term in self.equations]
        rows = tf.stack(columns, axis=-1) if columns else tf.zeros_like(x[..., :0])
        if self.smoothness_order:
            rows = tf.concat([rows, values[self.smoothness_order] * tf.constant(self.smoothness_scales, dtype=x.dtype)], axis=-1)
        return rows

    def condition_rows(self, model, like):
        """Each penalised condition's residual, unweighted: [C], or [K, C] when ``like`` is a stacked x [K, N, 1]."""
        functions = ex.tensorflow_functions()
        dtype = like.dtype
        values = derivatives(model, _for_members(tf.constant(self.condition_points, dtype=dtype), like), self.max_order)
        scope = self._scope(model, like[..., :0, :], values, 0, self.condition_points[:, 0])
        zeros = tf.zeros_like(like[:, :1, 0]) if like.shape.rank == 3 else tf.zeros([], dtype)
        rows = [tf.cast(ex.evaluate(term.residual, scope, functions), dtype) + zeros for term in self.conditions]
        return tf.concat(rows, axis=-1) if like.shape.rank == 3 else tf.stack(rows)

    def data_rows(self, model, x, values, mask):
        """mask (u(x) - u_obs) / s_u at data points x [M, 1] ([K, M, 1] stacked): [M, U] ([K, M, U]), unweighted."""
        dtype = x.dtype
        misfit = (model(x) - values) / tf.constant(self.data_scales, dtype=dtype)
        return mask * misfit

    def row_weights(self, points: int) -> dict:
        """sqrt(w_t / count_t) by row kind, so that the sum of the squared weighted rows is the weighted loss."""
        names = self.term_names
        weights = dict(zip(names, self.weights))
        equations = [np.sqrt(weights[t.name] / points) for t in self.equations]
        if self.smoothness_order:
            equations += [np.sqrt(weights["smoothness"] / (points * len(self.unknowns)))] * len(self.unknowns)
        return {
            "points": np.array(equations, dtype=float),
            "conditions": np.array([np.sqrt(weights[t.name]) for t in self.conditions], dtype=float),
            "data": np.sqrt(weights["data"] / float(self.data_mask.sum())) if self.data_x is not None else 0.0,
        }

    def squared_residuals(self, model, x) -> np.ndarray:
        """sum over equations of r^2 at each point: [N] for x [N, 1], [K, N] for stacked members' x [K, N, 1]."""
        functions = ex.tensorflow_functions()
        scope = self._scope(model, x, derivatives(model, x, self.max_order), tf.shape(x)[-2], ())
        zeros = tf.zeros_like(scope[self.variable])
        total = zeros
        for term in self.equations:
            total += tf.square(ex.evaluate(term.residual, scope, functions) + zeros)
        return total.numpy()

    def equation_residuals(self, model, x) -> dict:
        """{equation name: residual array at the points x [N, 1]} (no conditions, no data)."""
        return {name: residual for name, (residual, _) in self.equation_parts(model, x).items()}

    def equation_parts(self, model, x) -> dict:
        """{equation name: (residual r [N], its scale sum_i |t_i| [N])} at x [N, 1], for r = t_1 +- t_2 +- ...

        The scale is what the residual is judged against: r small next to the
        terms that cancel in it (:func:`pinn.expressions.additive_terms`).
        """
        functions = ex.tensorflow_functions()
        scope = self._scope(model, x, derivatives(model, x, self.max_order), tf.shape(x)[0], ())
        zeros = tf.zeros_like(x[:, 0])
        parts = {}
        for term in self.equations:
            residual = ex.evaluate(term.residual, scope, functions) + zeros
            scale = sum((tf.abs(ex.evaluate(t, scope, functions) + zeros) for t in ex.additive_terms(term.residual)), zeros)
            parts[term.name] = (residual.numpy(), scale.numpy())
        return parts


def compile_residuals(problem: Problem, penalised, scales, constants=None) -> Residuals:
    """Residuals of ``problem`` with ``penalised`` conditions as penalty terms.

    Constants and fixed parameters (``constants``, by default all of the
    problem's) are folded into numbers here, so the compiled step carries only
    the trainable parameters (and, for stacked members, the constants left out
    of ``constants``) as names.  ``scales`` maps each unknown to its output
    scale, or to one scale per stacked member (an array [K]).
    """
    constants = problem.constants if constants is None else constants
    equations = tuple(
        Term(f"equation[{i}]", ex.substitute(e.residual, constants)) for i, e in enumerate(problem.equations)
    )
    conditions = tuple(
        Term(f"condition[{problem.conditions.index(c)}]", ex.substitute(c.residual, constants)) for c in penalised
    )
    points = sorted({p for c in penalised for p in c.points})
    data_x = data_values = data_mask = data_scales = None
    if problem.data is not None:
        data = problem.data
        data_x = data.variable.reshape(-1, 1).astype(float)
        columns = [data.values.get(u, np.full(len(data), np.nan)) for u in problem.unknowns]
        stacked = np.stack(columns, axis=1)
        data_mask = np.isfinite(stacked).astype(float)
        data_values = np.where(np.isfinite(stacked), stacked, 0.0)
        data_scales = _scales_by_unknown(scales, problem.unknowns)
    w = problem.training.weights
    weights = [w.equations] * len(equations) + [w.conditions] * len(conditions) + ([w.data] if data_x is not None else [])
    smoothness = problem.training.smoothness
    smoothness_order, smoothness_scales = 0, None
    if smoothness.weight > 0:
        smoothness_order = smoothness.order
        smoothness_scales = problem.length**smoothness.order / _scales_by_unknown(scales, problem.unknowns)
        weights.append(smoothness.weight)
    return Residuals(
        variable=problem.variable,
        unknowns=problem.unknowns,
        max_order=max(problem.max_order, smoothness_order),
        equations=equations,
        conditions=conditions,
        condition_points=np.array(points, dtype=float).reshape(-1, 1),
        data_x=data_x,
        data_values=data_values,
        data_mask=data_mask,
        data_scales=data_scales,
        weights=np.array(weights, dtype=float),
        smoothness_order=smoothness_order,
        smoothness_scales=smoothness_scales,
    )


def _scales_by_unknown(scales, unknowns) -> np.ndarray:
    """[U] from one scale per unknown; [K, 1, U] from one array [K] per unknown (stacked members)."""
    stacked = np.array([scales[u] for u in unknowns], dtype=float)
    return stacked if stacked.ndim == 1 else stacked.T[:, None, :]


def _rows(value, count, stacked: bool):
    """The first ``count`` rows (collocation points) of ``value``, per member when stacked."""
    return value[:, :count] if stacked else value[:count]


def _mean_per_member(values, stacked: bool):
    """Mean over everything but the member axis: a scalar, or [K] when stacked."""
    return tf.reduce_mean(values, axis=list(range(1, values.shape.rank))) if stacked else tf.reduce_mean(values)


def _sum_per_member(values, stacked: bool):
    """Sum over everything but the member axis: a scalar, or [K] when stacked."""
    return tf.reduce_sum(values, axis=list(range(1, values.shape.rank))) if stacked else tf.reduce_sum(values)


def _for_members(points, x):
    """``points`` [P, 1] as they are for a single x [N, 1]; repeated to [K, P, 1] for a stacked x [K, N, 1]."""
    if x.shape.rank != 3:
        return points
    return tf.broadcast_to(points[None], tf.concat([tf.shape(x)[:1], tf.shape(points)], axis=0))
