"""The network in two variables and the trial solution u = G + s D N built on it.

:class:`FieldMLP` maps the point (v1, v2), each variable scaled from its interval to
[-1, 1], through dense layers to one raw output per unknown.  :class:`FieldTrial`
turns the raw outputs into the unknowns, u_k = G_k + s_k D_k N_k, where G_k meets
the hard conditions and D_k vanishes where they hold (:func:`hard_conditions`):

- an initial value u(x, t0) = g(x) (first order in t):            G = g(x),            D = tau
- with two Dirichlet ends u(a, t) = ga(t), u(b, t) = gb(t) too:     G = g(x) + (1-s)(ga(t)-ga(t0)) + s(gb(t)-gb(t0)),
                                                                   D = tau * 4 s (1 - s)
- an initial value and rate, u and u_t at t0 (second order in t):  G = g(x) + (t - t0) h(x),  D = tau^2
- with two Dirichlet ends too:  G adds (1-s)(ga(t)-ga(t0)-(t-t0)ga'(t0)) + s(same for gb),  D = tau^2 * 4 s (1 - s)
- a steady field with Dirichlet data on all four edges:            G = the Coons patch of the edge data,
                                                                   D = 16 s(1-s) r(1-r)  (a product of edge factors)

with s, r the variables scaled to [0, 1] and tau = (t - t0) / T.  The product
of edge factors is the approximate distance function used: it is smooth, exact
on every edge, and of unit size at the centre; R-functions would give a true
distance near the corners but are not smooth there, and corners are where a
product of linear factors is already exact.  Every other condition is penalised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf

from .. import expressions as ex
from ..network import ACTIVATION_FUNCTIONS, glorot_layers
from .problem import PDECondition, PDEProblem

#: |g(a) - ga(t0)| / scale above which an initial value and a Dirichlet end disagree at the corner, so they are not
#: built in together (the penalty then finds the compromise the user's data allow).
CORNER_MISMATCH = 1e-10


class FieldMLP(tf.Module):
    """N(X) = W_L s(... s(W_1 Xhat + b_1) ...) + b_L, Xhat = (X - centre) / half-width per column; X [N, 2].

    With a sequence of K seeds it is K independent networks with stacked weights (kernels [K, fan_in, fan_out],
    biases [K, 1, fan_out]; member k initialised exactly as the single network with seed k): X [K, N, 2] ->
    [K, N, outputs], ``tf.matmul`` batching over members (as :class:`pinn.network.MLP`).
    """

    def __init__(self, hidden: Sequence[int], outputs: int, activation: str, domain, dtype: tf.DType,
                 seed: Union[int, Sequence[int]]):
        super().__init__(name="field_mlp")
        widths = [2, *hidden, outputs]
        stacked = not isinstance(seed, (int, np.integer))
        seeds = [int(s) for s in seed] if stacked else [int(seed)]
        members = [glorot_layers(widths, s) for s in seeds]
        #: the number of stacked members, or None for a single network
        self.members: Optional[int] = len(seeds) if stacked else None
        self.kernels, self.biases = [], []
        for i, fan_out in enumerate(widths[1:]):
            kernel = np.stack([m[i] for m in members]) if stacked else members[0][i]
            bias = np.zeros((len(seeds), 1, fan_out) if stacked else fan_out)
            self.kernels.append(tf.Variable(kernel, dtype=dtype, name=f"kernel_{i}"))
            self.biases.append(tf.Variable(bias, dtype=dtype, name=f"bias_{i}"))
        self.activation_name = activation
        self.activation = ACTIVATION_FUNCTIONS[activation]
        self.center = tf.constant(domain.center, dtype=dtype)
        self.half_width = tf.constant(domain.half_width, dtype=dtype)

    def __call__(self, points):
        h = (points - self.center) / self.half_width
        last = len(self.kernels) - 1
        for index, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            h = tf.matmul(h, kernel) + bias
            if index < last:
                h = self.activation(h)
        return h


@dataclass(frozen=True)
class HardForm:
    """How one unknown's hard conditions are built in: G and D as functions of the columns (v1, v2), and which
    conditions (their indices in problem.conditions) they take over."""

    offset: Callable  # G(v1, v2, functions) -> values
    factor: Callable  # D(v1, v2) -> values
    conditions: Tuple[int, ...]
    description: str


def hard_conditions(problem: PDEProblem) -> Dict[str, HardForm]:
    """The unknowns whose conditions are built into the output (training.constraints auto or hard), and how."""
    if problem.training.constraints == "soft":
        return {}
    forms = {}
    for u in problem.unknowns:
        form = _evolution_form(problem, u) if problem.kind == "evolution" else _steady_form(problem, u)
        if form is not None:
            forms[u] = form
    return forms


def _value_condition(problem: PDEProblem, condition: PDECondition, unknown: str, orders=(0, 0)) -> Optional[ex.Node]:
    """The right side g if the condition reads unknown^(orders)(line) = g with g free of unknowns (either way round)."""
    if condition.periodic:
        return None
    eq = condition.equation
    for side, other in ((eq.left, eq.right), (eq.right, eq.left)):
        if isinstance(side, ex.FieldValue) and side.unknown == unknown and tuple(side.orders) == tuple(orders):
            if not any(isinstance(n, (ex.FieldValue, ex.Partial)) for n in ex.walk(other)) and \
                    not any(isinstance(n, ex.Name) and n.name in [p.name for p in problem.trainable_parameters] for n in ex.walk(other)):
                return other
    return None


def _scaled(problem: PDEProblem, variable: str):
    interval = problem.domain.interval(variable)
    index = problem.variables.index(variable)
    return index, interval.low, interval.length


def _evolution_form(problem: PDEProblem, u: str) -> Optional[HardForm]:
    time = problem.time
    space = problem.space[0]
    t_index, t0, duration = _scaled(problem, time)
    x_index, a, width = _scaled(problem, space)
    t_order = problem.orders[u][t_index]
    rate_orders = tuple(1 if v == time else 0 for v in problem.variables)
    initial = [(i, c) for i, c in enumerate(problem.conditions) if c.kind == "initial"]
    value = next(((i, g) for i, c in initial if (g := _value_condition(problem, c, u)) is not None), None)
    if value is None or t_order not in (1, 2):
        return None
    constants = problem.constants
    taken = [value[0]]
    g = value[1]
    rate = None
    if t_order == 2:
        rate = next(((i, h) for i, c in initial if (h := _value_condition(problem, c, u, rate_orders)) is not None), None)
        if rate is None:
            return None
        taken.append(rate[0])
    b = a + width
    ends, slopes = _dirichlet_ends(problem, u, g, None if rate is None else rate[1], a, b, t0)
    pair = ends is not None

    def columns(v1, v2):
        return (v1, v2) if x_index == 0 else (v2, v1)

    def evaluate(node, x, t, functions):
        scope = dict(constants)
        scope.update({space: x, time: t})
        return ex.evaluate(node, scope, functions) + 0.0 * x

    def offset(v1, v2, functions):
        x, t = columns(v1, v2)
        out = evaluate(g, x, t, functions)
        if rate is not None:
            out = out + (t - t0) * evaluate(rate[1], x, t, functions)
        if pair:
            s = (x - a) / width
            start = t * 0.0 + t0
            for end, weight in ((a, 1 - s), (b, s)):
                change = evaluate(ends[end][1], x, t, functions) - evaluate(ends[end][1], x, start, functions)
                out = out + weight * (change - (t - t0) * slopes[end])
        return out

    def factor(v1, v2):
        x, t = columns(v1, v2)
        tau = (t - t0) / duration
        d = tau * tau if t_order == 2 else tau
        if pair:
            s = (x - a) / width
            d = d * 4.0 * s * (1.0 - s)
        return d

    if pair:
        taken += [ends[a][0], ends[b][0]]
    what = "the initial value" + (" and rate" if rate else "") + (f" and both ends in {space}" if pair else "")
    return HardForm(offset, factor, tuple(taken), what)


def _dirichlet_ends(problem: PDEProblem, u: str, g, h, a: float, b: float, t0: float):
    """(ends, slopes): u = ga(t) at x = a and u = gb(t) at x = b as {end: (condition index, g_end)}, and the ends'
    rates at t0 ({end: 0.0} for a first-order equation); (None, None) unless both ends are Dirichlet and agree with
    the initial value g (and the initial rate h, if any) at the corners."""
    space, time = problem.space[0], problem.time
    ends = {}
    for i, c in enumerate(problem.conditions):
        if c.kind == "boundary" and c.fixed == space and (e := _value_condition(problem, c, u)) is not None:
            ends.setdefault(c.at[0], (i, e))
    if not (a in ends and b in ends and _compatible(problem, g, ends, a, b, t0, space, time)):
        return None, None
    slopes = {a: 0.0, b: 0.0} if h is None else _end_slopes(problem, h, ends, a, b, t0, space, time)
    return (ends, slopes) if slopes is not None else (None, None)


def _compatible(problem, g, ends, a, b, t0, space, time) -> bool:
    """Whether g(a) = ga(t0) and g(b) = gb(t0): the initial value and the two ends agree at the corners."""
    scope = dict(problem.constants)
    for end in (a, b):
        scope.update({space: np.array([end]), time: np.array([t0])})
        first = float(np.asarray(ex.evaluate(g, scope) + 0.0 * scope[space])[0])
        second = float(np.asarray(ex.evaluate(ends[end][1], scope) + 0.0 * scope[space])[0])
        if abs(first - second) > CORNER_MISMATCH * max(1.0, abs(first), abs(second)):
            return False
    return True


def _end_slopes(problem, h, ends, a, b, t0, space, time) -> Optional[Dict[float, float]]:
    """The ends' rates ga'(t0), gb'(t0) (symbolic derivatives), or None unless they equal the initial rate h at a, b."""
    from ..calculus import CALCULUS_FUNCTIONS, differentiate

    slopes = {}
    scope = dict(problem.constants)
    for end in (a, b):
        scope.update({space: np.array([end]), time: np.array([t0])})
        slope = float(np.asarray(ex.evaluate(differentiate(ends[end][1], time), scope, CALCULUS_FUNCTIONS) + 0.0 * scope[space])[0])
        rate = float(np.asarray(ex.evaluate(h, scope) + 0.0 * scope[space])[0])
        if not (math.isfinite(slope) and abs(slope - rate) <= CORNER_MISMATCH * max(1.0, abs(slope), abs(rate))):
            return None
        slopes[end] = slope
    return slopes


def _steady_form(problem: PDEProblem, u: str) -> Optional[HardForm]:
    """All four edges Dirichlet for u: the Coons patch of the edge data and the product of edge factors."""
    (v1, v2), constants = problem.variables, problem.constants
    _, a, w1 = _scaled(problem, v1)
    _, c, w2 = _scaled(problem, v2)
    edges = {}
    for i, cond in enumerate(problem.conditions):
        if cond.kind == "boundary" and (g := _value_condition(problem, cond, u)) is not None:
            low = problem.domain.interval(cond.fixed).low
            high = problem.domain.interval(cond.fixed).high
            if cond.at[0] in (low, high):
                edges.setdefault((cond.fixed, cond.at[0]), (i, g))
    keys = [(v1, a), (v1, a + w1), (v2, c), (v2, c + w2)]
    if not all(k in edges for k in keys) or any(o[0] > 2 or o[1] > 2 for o in [problem.orders[u]]):
        return None
    left, right, bottom, top = (edges[k][1] for k in keys)
    if not _corners_agree(constants, v1, v2, (a, a + w1), (c, c + w2), left, right, bottom, top):
        return None

    def evaluate(node, p, q, functions):
        scope = dict(constants)
        scope.update({v1: p, v2: q})
        return ex.evaluate(node, scope, functions) + 0.0 * p

    def offset(p, q, functions):
        s, r = (p - a) / w1, (q - c) / w2
        at_a, at_b = p * 0.0 + a, p * 0.0 + a + w1
        at_c, at_d = q * 0.0 + c, q * 0.0 + c + w2
        edges_part = ((1 - s) * evaluate(left, at_a, q, functions) + s * evaluate(right, at_b, q, functions)
                      + (1 - r) * evaluate(bottom, p, at_c, functions) + r * evaluate(top, p, at_d, functions))
        corners = ((1 - s) * (1 - r) * evaluate(bottom, at_a, at_c, functions) + s * (1 - r) * evaluate(bottom, at_b, at_c, functions)
                   + (1 - s) * r * evaluate(top, at_a, at_d, functions) + s * r * evaluate(top, at_b, at_d, functions))
        return edges_part - corners

    def factor(p, q):
        s, r = (p - a) / w1, (q - c) / w2
        return 16.0 * s * (1.0 - s) * r * (1.0 - r)

    return HardForm(offset, factor, tuple(edges[k][0] for k in keys), "Dirichlet data on all four edges (Coons patch)")


def _corners_agree(constants, v1, v2, xs, ys, left, right, bottom, top) -> bool:
    """Whether the edge data meet at the four corners (else no Coons patch matches them all)."""
    def value(node, p, q):
        scope = dict(constants)
        scope.update({v1: np.array([p]), v2: np.array([q])})
        with np.errstate(all="ignore"):
            return float(np.asarray(ex.evaluate(node, scope) + 0.0 * scope[v1])[0])

    pairs = [((left, xs[0], ys[0]), (bottom, xs[0], ys[0])), ((right, xs[1], ys[0]), (bottom, xs[1], ys[0])),
             ((left, xs[0], ys[1]), (top, xs[0], ys[1])), ((right, xs[1], ys[1]), (top, xs[1], ys[1]))]
    for (n1, p1, q1), (n2, p2, q2) in pairs:
        first, second = value(n1, p1, q1), value(n2, p2, q2)
        if not abs(first - second) <= CORNER_MISMATCH * max(1.0, abs(first), abs(second)):
            return False
    return True


class FieldTrial(tf.Module):
    """The unknowns on the rectangle: u_k(X) = G_k(X) + s_k D_k(X) N_k(X) (G = 0, D = 1 where nothing is built in).

    Calling it on X [N, 2] gives [N, len(unknowns)]; ``parameters`` maps each trainable parameter to its variable.

    On a stacked network (K members, X [K, N, 2] -> [K, N, len(unknowns)]) each trainable parameter may start from
    one value per member, and ``member_constants`` names the fixed parameters whose value differs between members
    ([K] values each); both are held as [K, 1] tensors, so that each member sees its own values in the residuals
    (the hard forms and the scales are shared: :func:`pinn.vectorized.vectorize_problem_reason` refuses members
    whose conditions differ).
    """

    def __init__(self, network: FieldMLP, unknowns: Sequence[str], forms: Dict[str, HardForm], scales: Sequence[float],
                 parameters: Mapping[str, object], dtype: tf.DType, member_constants: Optional[Mapping[str, Sequence[float]]] = None):
        super().__init__(name="field_trial")
        self.network = network
        self.unknowns = tuple(unknowns)
        self.forms = dict(forms)
        self.scales = tf.constant(np.asarray(scales, dtype=float), dtype=dtype)
        self.parameters = {name: tf.Variable(self._per_member(value), dtype=dtype, name=name) for name, value in parameters.items()}
        self.member_constants = {name: tf.constant(self._per_member(values), dtype=dtype)
                                 for name, values in (member_constants or {}).items()}
        self.dtype = dtype

    @property
    def members(self) -> Optional[int]:
        """K for a stacked model, None for a single one."""
        return self.network.members

    def _per_member(self, value):
        """A float for a single model; on a stacked one, a value or [K] values as a [K, 1] array."""
        if self.members is None:
            return float(value)
        return np.broadcast_to(np.asarray(value, dtype=float), (self.members,)).reshape(-1, 1)

    @property
    def weights(self) -> List[tf.Variable]:
        """The trained variables: the network's, then the trainable parameters in their order."""
        return [*self.network.kernels, *self.network.biases, *self.parameters.values()]

    def __call__(self, points):
        raw = self.network(points) * self.scales
        if not self.forms:
            return raw
        functions = ex.tensorflow_functions()
        v1, v2 = points[..., 0], points[..., 1]
        columns = []
        for k, u in enumerate(self.unknowns):
            form = self.forms.get(u)
            if form is None:
                columns.append(raw[..., k])
            else:
                columns.append(form.offset(v1, v2, functions) + form.factor(v1, v2) * raw[..., k])
        return tf.stack(columns, axis=-1)


def output_scales(problem: PDEProblem) -> List[float]:
    """s_k: the largest |value| the conditions give u_k on a coarse sample of their lines (1 where none is known)."""
    scales = []
    for u in problem.unknowns:
        largest = 0.0
        for condition in problem.conditions:
            g = _value_condition(problem, condition, u)
            if g is None:
                continue
            line = problem.domain.line({condition.fixed: condition.at[0]} if condition.fixed else
                                       dict(zip(problem.variables, condition.at)), 64)
            scope = dict(problem.constants)
            scope.update({v: line[:, i] for i, v in enumerate(problem.variables)})
            with np.errstate(all="ignore"):
                values = np.asarray(ex.evaluate(g, scope) + 0.0 * line[:, 0], dtype=float)
            if np.all(np.isfinite(values)):
                largest = max(largest, float(np.max(np.abs(values))))
        scales.append(largest if largest > 0 and math.isfinite(largest) else 1.0)
    return scales
