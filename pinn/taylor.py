"""Taylor-mode derivatives of pinn's network and trial solution: order n at O(n^2) cost.

Nested ``tf.GradientTape``s (:func:`pinn.residuals.nested_tape_derivatives`)
differentiate the graph of the order below at each order, so the graph, its
tracing time and its cost grow exponentially with the order (order 8 of the
default network did not finish tracing in minutes).  Here every hidden
quantity h(x) is carried as its truncated Taylor series in x,

    [h, h', h''/2!, ..., h^(n)/n!]        (coefficient k: h^(k)(x) / k!)

and pushed through the layers once:

* the input scaling xhat = (x - c) / w has the series [xhat, 1/w, 0, ...];
* a dense layer acts on each coefficient (the bias on the first only);
* an activation s(u) follows its ODE: for tanh, y' = (1 - y^2) u', so with
  z = 1 - y^2 the coefficients come from the Cauchy-product recurrence
  y_k = (1/k) sum_{j=1..k} j u_j z_{k-j},  z_k = [k = 0] - sum_j y_j y_{k-j};
  sigmoid (z = y - y^2), exp (z = y), sin and cos (a coupled pair),
  softplus (z = sigmoid(u)), gelu (z = the normal density, an exp), silu,
  mish and gaussian (products and compositions of those) likewise; elu and
  selu are exp on one side and linear on the other, and the piecewise-linear
  activations pass the coefficients through (or zero them) where linear;
* the trial solution u = P + s D N (:mod:`pinn.constraints`) multiplies the
  series of its polynomials P and D, built by the same steps as
  :meth:`pinn.network.TrialSolution._polynomial_and_factor`, with the
  network's series (Cauchy products).

Each order then costs O(n) more products per layer, and derivative k is
k! times coefficient k.  Everything is ordinary TensorFlow operations, so an
outer tape differentiates the result with respect to the weights (training),
inside or outside ``tf.function``.  Coefficient 0 is computed by exactly the
operations of the model's own call, so it equals ``model(x)``.

:func:`pinn.residuals.derivatives` (training, ``Solution.evaluate``) uses this
above :data:`NESTED_TAPE_MAX_ORDER` and nested tapes up to it, so that
low-order problems keep the numbers they always had; :func:`derivatives` here
always uses it.  :func:`chain_series` does the same for a plain Keras stack of
Dense layers (``pinn.derivatives``, :mod:`pinn.network_derivatives`).
"""

from __future__ import annotations

import math
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from .network import ACTIVATION_FUNCTIONS, MLP, TrialSolution

#: Highest order still taken by nested tapes in :func:`pinn.residuals.derivatives`:
#: every shipped problem needs at most 3, and those keep their bit-for-bit
#: numbers.  From order 4 on Taylor mode is used (cheaper from there on; see
#: benchmarks/derivative_orders.py).
NESTED_TAPE_MAX_ORDER = 3
#: From this many outputs on, Taylor mode at every order: nested tapes differentiate each output
#: column separately (one gradient call per column per order), Taylor mode takes all columns in one
#: pass.  Measured (200 Adam steps, XLA off, 2 loaded cores): 2 outputs 12.2 -> 7.6 s, 8 outputs
#: 22.7 -> 4.9 s, 50 outputs 313 -> 18 s; one output of order 2 is faster by tapes (3.7 against
#: 7.3 s).  Problems with fewer outputs keep their bit-for-bit numbers.
MANY_OUTPUTS = 4

Series = List[Optional[tf.Tensor]]  # coefficient k, or None where it is exactly 0

#: The entry points are plain Python over TensorFlow operations (every branch is on None or on
#: Python numbers), so tf.function's AutoGraph has nothing to convert: skipping it saves its
#: one-off conversion of this module, about a second of the first trace in a process.
_plain_python = tf.autograph.experimental.do_not_convert


# ------------------------------------------------------------------ series arithmetic


def _sum(terms):
    terms = [t for t in terms if t is not None]
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else tf.add_n(terms)


def _times(a, b):
    return None if a is None or b is None else a * b


def _plus(a, b):
    if a is None:
        return b
    return a if b is None else a + b


def _scaled(a, factor):
    return None if a is None else a * factor


def _cauchy(a: Series, b: Series, k: int):
    """Coefficient k of the product of two series: sum_j a_j b_{k-j}."""
    return _sum(_times(a[j], b[k - j]) for j in range(k + 1))


def _square(a: Series, k: int):
    """Coefficient k of a^2 (half the products of :func:`_cauchy`)."""
    if k == 0:
        return a[0] * a[0]
    twice = _sum(_times(a[j], a[k - j]) for j in range((k + 1) // 2))
    twice = None if twice is None else 2.0 * twice
    middle = _times(a[k // 2], a[k // 2]) if k % 2 == 0 else None
    return _plus(twice, middle)


def _weighted(u: Series) -> Series:
    """[0, 1 u_1, 2 u_2, ...]: the coefficients of t u'(t) (for u(x + t)), as the chain rule's recurrences need them."""
    return [None] + [_scaled(u[j], float(j)) for j in range(1, len(u))]


def _chain(weighted_u: Series, z: Series, k: int):
    """Coefficient k >= 1 of y where y' = z u': (1/k) sum_{j=1..k} j u_j z_{k-j}."""
    total = _sum(_times(weighted_u[j], z[k - j]) for j in range(1, k + 1))
    return None if total is None else total * (1.0 / k)


def _product(a: Series, b: Series, first) -> Series:
    """The series of a*b, its coefficient 0 given (the activation's own value)."""
    return [first] + [_cauchy(a, b, k) for k in range(1, len(a))]


def _select(mask, a, b):
    """Coefficient-wise where(mask, a, b), None standing for zeros."""
    if a is None and b is None:
        return None
    if a is None:
        a = tf.zeros_like(b)
    if b is None:
        b = tf.zeros_like(a)
    return tf.where(mask, a, b)


# ------------------------------------------------------------------ activations: s(u) as a series


def _tanh(u: Series, first=None) -> Series:
    y = [tf.tanh(u[0]) if first is None else first]
    z = [1.0 - y[0] * y[0]]  # tanh' = 1 - tanh^2
    du = _weighted(u)
    for k in range(1, len(u)):
        y.append(_chain(du, z, k))
        if k < len(u) - 1:
            square = _square(y, k)
            z.append(None if square is None else -square)
    return y


def _sigmoid(u: Series, first=None) -> Series:
    y = [tf.sigmoid(u[0]) if first is None else first]
    z = [y[0] * (1.0 - y[0])]  # sigmoid' = y - y^2
    du = _weighted(u)
    for k in range(1, len(u)):
        y.append(_chain(du, z, k))
        if k < len(u) - 1:
            square = _square(y, k)
            z.append(_plus(y[k], None if square is None else -square))
    return y


def _exp(u: Series, first=None) -> Series:
    y = [tf.exp(u[0]) if first is None else first]
    du = _weighted(u)
    for k in range(1, len(u)):
        y.append(_chain(du, y, k))  # exp' = exp
    return y


def _sin_cos(u: Series):
    s, c = [tf.sin(u[0])], [tf.cos(u[0])]
    du = _weighted(u)
    for k in range(1, len(u)):
        s.append(_chain(du, c, k))  # sin' = cos
        minus_c = _chain(du, s, k)  # cos' = -sin (uses s_0..s_{k-1} only)
        c.append(None if minus_c is None else -minus_c)
    return s, c


def _softplus(u: Series, first=None) -> Series:
    sigma = _sigmoid(u[:-1]) if len(u) > 1 else []  # softplus' = sigmoid
    du = _weighted(u)
    return [tf.nn.softplus(u[0]) if first is None else first] + [_chain(du, sigma, k) for k in range(1, len(u))]


#: tf.nn.gelu(approximate=False) computes 0.5 u erfc(-c u) with c = 1/sqrt(2) cast from a float32 constant,
#: so in float64 it is gelu with c = float32(1/sqrt(2)) (relative difference ~1e-8); the rule follows what it computes.
_GELU_C = float(np.float32(0.7071067811865476))


def _gelu(u: Series) -> Series:
    """u Phi(u), Phi(u) = erfc(-c u) / 2, Phi' = (c / sqrt(pi)) exp(-c^2 u^2)."""
    n = len(u) - 1
    if n == 0:
        return [ACTIVATION_FUNCTIONS["gelu"](u[0])]
    exponent = [_scaled(_square(u, k), -_GELU_C * _GELU_C) for k in range(n)]
    density = [_scaled(c, _GELU_C / math.sqrt(math.pi)) for c in _exp(exponent)]
    du = _weighted(u)
    cumulative = [0.5 * tf.math.erfc(-u[0] * _GELU_C)] + [_chain(du, density, k) for k in range(1, n + 1)]
    return _product(u, cumulative, ACTIVATION_FUNCTIONS["gelu"](u[0]))


def _silu(u: Series) -> Series:
    return _product(u, _sigmoid(u), tf.nn.silu(u[0]))


def _mish(u: Series) -> Series:
    return _product(u, _tanh(_softplus(u)), ACTIVATION_FUNCTIONS["mish"](u[0]))


def _gaussian(u: Series) -> Series:
    return _exp([-u[0] * u[0]] + [_scaled(_square(u, k), -1.0) for k in range(1, len(u))])


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _elu(u: Series, alpha: float = 1.0, scale: float = 1.0, first=None) -> Series:
    """u where u > 0, alpha (e^u - 1) elsewhere, times scale: coefficients of u or of alpha e^u."""
    negative = u[0] < 0  # as tf.nn.elu's gradient: the linear side from 0 on
    e = _exp([tf.minimum(u[0], 0.0)] + list(u[1:]))  # exp of the negative side only: no inf (and NaN gradient) where unused
    y = [tf.nn.elu(u[0]) if first is None else first]
    for k in range(1, len(u)):
        y.append(_scaled(_select(negative, _scaled(e[k], alpha), u[k]), scale))
    return y


def _piecewise_linear(slope_inside: float, slope_outside: float, inside: Callable) -> Callable:
    def rule(u: Series, first) -> Series:
        mask = inside(u[0])
        def slope(c):
            if c is None:
                return None
            return tf.where(mask, c * slope_inside if slope_inside != 1.0 else c, c * slope_outside if slope_outside else tf.zeros_like(c))
        return [first] + [slope(c) for c in u[1:]]

    return rule


#: Taylor rule per activation name: (series of u, the activation's value at u_0) -> series of s(u).
RULES: Dict[str, Callable[[Series, tf.Tensor], Series]] = {
    "tanh": lambda u, first: _tanh(u, first),
    "sin": lambda u, first: [first] + _sin_cos(u)[0][1:],
    "cos": lambda u, first: [first] + _sin_cos(u)[1][1:],
    "sigmoid": lambda u, first: _sigmoid(u, first),
    "softplus": lambda u, first: _softplus(u, first),
    "silu": lambda u, first: [first] + _silu(u)[1:],
    "swish": lambda u, first: [first] + _silu(u)[1:],
    "gelu": lambda u, first: [first] + _gelu(u)[1:],
    "mish": lambda u, first: [first] + _mish(u)[1:],
    "gaussian": lambda u, first: [first] + _gaussian(u)[1:],
    "elu": lambda u, first: _elu(u, first=first),
    "selu": lambda u, first: _elu(u, _SELU_ALPHA, _SELU_SCALE, first=first),
    "relu": _piecewise_linear(1.0, 0.0, lambda v: v > 0),
    "relu6": _piecewise_linear(1.0, 0.0, lambda v: (v > 0) & (v < 6)),
    "leaky_relu": _piecewise_linear(1.0, float(np.float32(0.2)), lambda v: v > 0),  # tf.nn.leaky_relu's alpha, a float32 attribute
    "hard_tanh": _piecewise_linear(1.0, 0.0, lambda v: (v > -1) & (v < 1)),
    "hard_sigmoid": _piecewise_linear(0.2, 0.0, lambda v: (0.2 * v + 0.5 > 0) & (0.2 * v + 0.5 < 1)),
    "linear": lambda u, first: [first] + list(u[1:]),
}
assert set(RULES) == set(ACTIVATION_FUNCTIONS)


# ------------------------------------------------------------------ the network and the trial solution


def outputs(model) -> int:
    """The number of outputs of a pinn MLP or TrialSolution (the width of its last layer)."""
    network = model.network if isinstance(model, TrialSolution) else model
    return int(network.kernels[-1].shape[-1])


def supports(model) -> bool:
    """Whether :func:`series` can take ``model``: a pinn MLP or TrialSolution with a Taylor rule for its activation."""
    network = model.network if isinstance(model, TrialSolution) else model
    return isinstance(network, MLP) and network.activation_name in RULES


@_plain_python
def network_series(network: MLP, x, order: int) -> Series:
    """The series of the MLP's raw output at x ([N, 1], or [K, N, 1] stacked): order + 1 coefficients."""
    rule = RULES[network.activation_name]
    h: Series = [(x - network.center) / network.half_width]
    if order >= 1:
        h.append(tf.ones_like(x) * (1.0 / network.half_width))
    h += [None] * (order + 1 - len(h))
    last = len(network.kernels) - 1
    for index, (kernel, bias) in enumerate(zip(network.kernels, network.biases)):
        h = [tf.matmul(h[0], kernel) + bias] + [None if c is None else tf.matmul(c, kernel) for c in h[1:]]
        if index < last:
            h = rule(h, network.activation(h[0]))
    return h


def _shifted(x, point, order: int) -> Series:
    """The series of x - point."""
    return ([x - point, tf.ones_like(x)] + [None] * (order - 1))[: order + 1]


def _polynomial_and_factor(model: TrialSolution, form, values, x, order: int):
    """The series of P and D for one unknown: the steps of TrialSolution._polynomial_and_factor on series."""
    def times(a: Series, b: Series) -> Series:
        return [a[0] * b[0]] + [_cauchy(a, b, k) for k in range(1, order + 1)]

    def zeros():
        return [tf.zeros_like(x)] + [None] * order

    def ones():
        return [tf.ones_like(x)] + [None] * order

    if form.form == "taylor":
        point = form.points[0]
        shifted = _shifted(x, point, order)
        offset, power = zeros(), ones()
        for power_order, value in sorted(zip(form.orders, values), key=lambda item: item[0]):
            coefficient = model._value(value)
            offset = [offset[0] + coefficient * power[0] / math.factorial(power_order)] + [
                _plus(o, None if p is None else coefficient * p / math.factorial(power_order))
                for o, p in zip(offset[1:], power[1:])]
            power = times(power, shifted)
        factor = ones()
        scaled = [None if c is None else c / model.length for c in shifted]
        for _ in form.orders:
            factor = times(factor, scaled)
        return offset, factor
    offset = zeros()
    for i, (p_i, value) in enumerate(zip(form.points, values)):
        basis = ones()
        for j, p_j in enumerate(form.points):
            if j != i:
                basis = times(basis, [None if c is None else c / (p_i - p_j) for c in _shifted(x, p_j, order)])
        coefficient = model._value(value)
        offset = [offset[0] + coefficient * basis[0]] + [
            _plus(o, None if b is None else coefficient * b) for o, b in zip(offset[1:], basis[1:])]
    factor = ones()
    for p in form.points:
        factor = times(factor, [None if c is None else c / model.length for c in _shifted(x, p, order)])
    return offset, factor


@_plain_python
def series(model, x, order: int) -> Series:
    """The series [u, u', u''/2!, ..., u^(order)/order!] of a pinn MLP or TrialSolution at x (coefficients [.., N, outputs])."""
    if isinstance(model, MLP):
        return network_series(model, x, order)
    raw = network_series(model.network, x, order)
    stacked = model.members is not None
    columns = []
    for index, unknown in enumerate(model.unknowns):
        scale = model.scales[unknown]
        # the same slice as TrialSolution.__call__, so coefficient 0 is its value to the bit
        column = [None if c is None else scale * (c[..., index : index + 1] if stacked else c[:, index : index + 1]) for c in raw]
        form = model.built_in.get(unknown)
        if form is not None:
            offset, factor = _polynomial_and_factor(model, form, model._values[unknown], x, order)
            column = [offset[0] + factor[0] * column[0]] + [_plus(offset[k], _cauchy(factor, column, k)) for k in range(1, order + 1)]
        columns.append(column)
    if len(columns) == 1:
        return columns[0]
    merged = []
    for k in range(order + 1):
        parts = [c[k] for c in columns]
        if all(p is None for p in parts):
            merged.append(None)
        else:
            like = next(p for p in parts if p is not None)
            merged.append(tf.concat([tf.zeros_like(like) if p is None else p for p in parts], axis=-1))
    return merged


#: Taylor rules for activations outside pinn's table that plain Keras layers may use.
EXTRA_RULES: Dict[str, Callable[[Series, tf.Tensor], Series]] = {"exponential": lambda u, first: _exp(u, first)}


@_plain_python
def chain_series(steps: Sequence, x, order: int) -> Series:
    """The series of a chain of ``("dense", kernel, bias or None)`` and ``("activation", name, function)`` steps
    applied to x [N, 1] (a plain Keras stack of Dense layers, see :mod:`pinn.network_derivatives`)."""
    h: Series = [x, tf.ones_like(x)] + [None] * (order - 1) if order else [x]
    for step in steps:
        if step[0] == "dense":
            _, kernel, bias = step
            value = tf.matmul(h[0], kernel)
            h = [value if bias is None else value + bias] + [None if c is None else tf.matmul(c, kernel) for c in h[1:]]
        else:
            _, name, function = step
            h = {**RULES, **EXTRA_RULES}[name](h, function(h[0]))
    return h


@_plain_python
def as_derivatives(coefficients: Series) -> List[tf.Tensor]:
    """Derivative k = k! coefficient k, zeros where the coefficient is exactly 0."""
    first = coefficients[0]
    out = [first]
    for k, c in enumerate(coefficients[1:], start=1):
        if c is None:
            out.append(tf.zeros_like(first))
        else:
            out.append(c if k == 1 else c * float(math.factorial(k)))
    return out


@_plain_python
def derivatives(model, x, order: int) -> List[tf.Tensor]:
    """[u, u', ..., u^(order)] of a pinn MLP or TrialSolution at x by Taylor mode: the same shapes
    and meaning as :func:`pinn.residuals.nested_tape_derivatives` (every entry a tensor, zeros where exactly 0)."""
    if not supports(model):
        raise TypeError(f"Taylor mode needs a pinn MLP or TrialSolution with a known activation, not {type(model).__name__}")
    network = model.network if isinstance(model, TrialSolution) else model
    width = max([int(k.shape[-1]) for k in network.kernels] + [1])
    chunk = max(1024, EAGER_CHUNK_VALUES // ((order + 1) * width))
    if tf.executing_eagerly() and x.shape.rank == 2 and x.shape[0] > chunk:
        # eagerly, every coefficient of every layer is held at once: keep that to ~EAGER_CHUNK_VALUES numbers a list
        pieces = [as_derivatives(series(model, x[start : start + chunk], order)) for start in range(0, x.shape[0], chunk)]
        return [tf.concat(orders, axis=0) for orders in zip(*pieces)]
    return as_derivatives(series(model, x, order))


#: Eager evaluation (pinn.Solution.evaluate) splits the points so that one layer's coefficients hold about this many numbers.
EAGER_CHUNK_VALUES = 2**22
