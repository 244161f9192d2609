"""The network and the trial solution built on it.

:class:`MLP` maps the variable, scaled from the domain [a, b] to [-1, 1], through
dense layers with a smooth activation to one raw output per unknown.
:class:`TrialSolution` turns those raw outputs into the unknowns,
u(x) = P(x) + s * D(x) * N(x) (see :mod:`pinn.constraints`), and holds the
problem's trainable parameters, so that one list of variables is trained.
"""

from __future__ import annotations

import math
from typing import Callable, Dict, Mapping, Optional, Sequence, Union

import numpy as np
import tensorflow as tf

from . import expressions as ex
from .constraints import BuiltIn
from .problem import ACTIVATIONS


def _mish(v):
    return v * tf.tanh(tf.nn.softplus(v))


#: Activation functions by the names a problem file uses (same keys as problem.ACTIVATIONS).
ACTIVATION_FUNCTIONS: Dict[str, Callable] = {
    "tanh": tf.tanh,
    "sin": tf.sin,
    "cos": tf.cos,
    "silu": tf.nn.silu,
    "swish": tf.nn.silu,
    "gelu": lambda v: tf.nn.gelu(v, approximate=False),
    "softplus": tf.nn.softplus,
    "sigmoid": tf.sigmoid,
    "elu": tf.nn.elu,
    "selu": tf.nn.selu,
    "mish": _mish,
    "gaussian": lambda v: tf.exp(-v * v),
    "relu": tf.nn.relu,
    "relu6": tf.nn.relu6,
    "leaky_relu": tf.nn.leaky_relu,
    "hard_tanh": lambda v: tf.clip_by_value(v, -1.0, 1.0),
    "hard_sigmoid": lambda v: tf.clip_by_value(0.2 * v + 0.5, 0.0, 1.0),
    "linear": tf.identity,
}
assert set(ACTIVATION_FUNCTIONS) == set(ACTIVATIONS)


class MLP(tf.Module):
    """N(x) = W_L s(... s(W_1 xhat + b_1) ...) + b_L with xhat = 2 (x - a) / (b - a) - 1.

    Glorot-normal weights from ``seed`` (numpy, so the same seed gives the same
    network on any device), zero biases.  Input ``x`` has shape [N, 1], output [N, outputs].

    With a sequence of K seeds it is K independent networks with stacked
    weights (kernels [K, fan_in, fan_out], biases [K, 1, fan_out]; member k
    is initialised exactly as the single network with seed k): input
    [K, N, 1], output [K, N, outputs], ``tf.matmul`` batching over members.
    """

    def __init__(self, hidden: Sequence[int], outputs: int, activation: str, domain, dtype: tf.DType,
                 seed: Union[int, Sequence[int]]):
        super().__init__(name="mlp")
        widths = [1, *hidden, outputs]
        stacked = not isinstance(seed, (int, np.integer))
        seeds = [int(s) for s in seed] if stacked else [int(seed)]
        layers = [glorot_layers(widths, s) for s in seeds]
        #: the number of stacked members, or None for a single network
        self.members: Optional[int] = len(seeds) if stacked else None
        self.kernels = []
        self.biases = []
        for index, fan_out in enumerate(widths[1:]):
            kernel = np.stack([member[index] for member in layers]) if stacked else layers[0][index]
            bias = np.zeros((len(seeds), 1, fan_out) if stacked else fan_out)
            self.kernels.append(tf.Variable(kernel, dtype=dtype, name=f"kernel_{index}"))
            self.biases.append(tf.Variable(bias, dtype=dtype, name=f"bias_{index}"))
        self.activation_name = activation
        self.activation = ACTIVATION_FUNCTIONS[activation]
        low, high = domain
        self.center = (low + high) / 2.0
        self.half_width = (high - low) / 2.0

    def __call__(self, x):
        h = (x - self.center) / self.half_width
        last = len(self.kernels) - 1
        for index, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            h = tf.matmul(h, kernel) + bias
            if index < last:
                h = self.activation(h)
        return h


def glorot_layers(widths: Sequence[int], seed: int):
    """Glorot-normal kernels [fan_in, fan_out] for consecutive ``widths``, drawn in order from default_rng(seed)."""
    rng = np.random.default_rng(seed)
    return [rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), (fan_in, fan_out))
            for fan_in, fan_out in zip(widths[:-1], widths[1:])]


class TrialSolution(tf.Module):
    """The unknowns as functions of x: u_i(x) = P_i(x) + s_i D_i(x) N_i(x).

    Calling it on x of shape [N, 1] gives [N, len(unknowns)].  ``parameters``
    maps each trainable problem parameter to its variable.

    On a stacked network (K members, x [K, N, 1] -> [K, N, len(unknowns)]),
    ``scales`` and ``trainable`` may give one value per member (arrays [K]),
    and ``member_constants`` names the constants whose value differs between
    members (arrays [K]); all of them are held as [K, 1, 1] tensors, so each
    member sees its own values.  Constants shared by all members go in
    ``constants`` and are folded into numbers.
    """

    def __init__(
        self,
        network: MLP,
        unknowns: Sequence[str],
        built_in: Mapping[str, BuiltIn],
        scales: Mapping[str, float],
        length: float,
        constants: Mapping[str, float],
        trainable: Mapping[str, float],
        dtype: tf.DType,
        member_constants: Optional[Mapping[str, Sequence[float]]] = None,
    ):
        super().__init__(name="trial_solution")
        self.network = network
        self.unknowns = tuple(unknowns)
        self.built_in = dict(built_in)
        self.scales = {u: self._per_member(scales[u], dtype) for u in unknowns}
        if self.members is not None:
            self.scales = {u: tf.constant(s, dtype=dtype) for u, s in self.scales.items()}
        self.length = float(length)
        self.dtype = dtype
        self.parameters = {name: tf.Variable(self._per_member(value, dtype), dtype=dtype, name=f"parameter_{name}")
                           for name, value in trainable.items()}
        self.member_constants = {name: tf.constant(self._per_member(np.asarray(values, dtype=float), dtype), dtype=dtype)
                                 for name, values in (member_constants or {}).items()}
        self._values = {
            u: tuple(ex.substitute(v, constants) for v in form.values) for u, form in self.built_in.items()
        }
        self._functions = ex.tensorflow_functions()

    @property
    def members(self) -> Optional[int]:
        """K for a stacked model, None for a single one."""
        return self.network.members

    def _per_member(self, value, dtype):
        """A float for a single model; on a stacked one, a value or [K] values as a [K, 1, 1] array."""
        if self.members is None:
            return float(value)
        return np.broadcast_to(np.asarray(value, dtype=float), (self.members,)).reshape(-1, 1, 1)

    def _value(self, node):
        return ex.evaluate(node, {**self.parameters, **self.member_constants}, self._functions)

    def __call__(self, x):
        raw = self.network(x)
        columns = []
        for index, unknown in enumerate(self.unknowns):
            # the single model keeps its original slice: the same graph, so bit-identical single runs
            column = self.scales[unknown] * (raw[:, index : index + 1] if self.members is None else raw[..., index : index + 1])
            form = self.built_in.get(unknown)
            if form is not None:
                offset, factor = self._polynomial_and_factor(form, self._values[unknown], x)
                column = offset + factor * column
            columns.append(column)
        return columns[0] if len(columns) == 1 else tf.concat(columns, axis=-1)

    def _polynomial_and_factor(self, form: BuiltIn, values, x):
        """P(x) and D(x) of :mod:`pinn.constraints` for one unknown, each shaped like x ([N, 1] or [K, N, 1])."""
        if form.form == "taylor":
            point = form.points[0]
            shifted = x - point
            offset = tf.zeros_like(x)
            power = tf.ones_like(x)
            for order, value in sorted(zip(form.orders, values), key=lambda item: item[0]):
                offset = offset + self._value(value) * power / math.factorial(order)
                power = power * shifted
            factor = tf.ones_like(x)
            for _ in form.orders:
                factor = factor * (shifted / self.length)
            return offset, factor
        # Lagrange: values at distinct points
        offset = tf.zeros_like(x)
        for i, (p_i, value) in enumerate(zip(form.points, values)):
            basis = tf.ones_like(x)
            for j, p_j in enumerate(form.points):
                if j != i:
                    basis = basis * ((x - p_j) / (p_i - p_j))
            offset = offset + self._value(value) * basis
        factor = tf.ones_like(x)
        for p in form.points:
            factor = factor * ((x - p) / self.length)
        return offset, factor

    @property
    def weights(self):
        """Every trained variable: network weights, then problem parameters (fixed order)."""
        return [*self.network.kernels, *self.network.biases, *self.parameters.values()]


class WindowedModel(tf.Module):
    """Several trial solutions behind one: u(x) = u_k(x) for x in window k, [b_k, b_k+1) (the last one closed).

    ``pieces`` are the windows' :class:`TrialSolution` s, ``boundaries``
    b_0 < b_1 < ... < b_K (:mod:`pinn.windows`).  Calling it on x [N, 1] gives
    [N, len(unknowns)]; :func:`pinn.residuals.derivatives` takes each window's
    derivatives at its own points (:meth:`by_window`), as for one model.  It
    evaluates a trained solution; it is not trained itself.
    """

    def __init__(self, pieces: Sequence[TrialSolution], boundaries: Sequence[float]):
        super().__init__(name="windowed_model")
        if len(boundaries) != len(pieces) + 1:
            raise ValueError(f"{len(pieces)} windows need {len(pieces) + 1} boundaries, got {len(boundaries)}")
        self.pieces = list(pieces)
        self.boundaries = tuple(float(b) for b in boundaries)
        self.unknowns = self.pieces[0].unknowns
        self.dtype = self.pieces[0].dtype
        self.parameters: Dict[str, tf.Variable] = {}
        self.member_constants: Dict[str, tf.Tensor] = {}
        self.members = None
        self._inner = tf.constant(self.boundaries[1:-1], dtype=self.dtype)

    def window_index(self, x):
        """[N] int32: the window of each point of x [N, 1] (a boundary belongs to the window it starts)."""
        return tf.searchsorted(self._inner, x[:, 0], side="right", out_type=tf.int32)

    def by_window(self, x, evaluate: Callable) -> list:
        """evaluate(piece, its points) -> list of [n, U] tensors, for every window, stitched back in x's order."""
        index = self.window_index(x)
        count = len(self.pieces)
        positions = tf.dynamic_partition(tf.range(tf.shape(x)[0]), index, count)
        parts = tf.dynamic_partition(x, index, count)
        results = [evaluate(piece, part) for piece, part in zip(self.pieces, parts)]
        return [tf.dynamic_stitch(positions, [r[j] for r in results]) for j in range(len(results[0]))]

    def __call__(self, x):
        return self.by_window(x, lambda piece, part: [piece(part)])[0]

    @property
    def weights(self):
        """Every window's weights, window after window."""
        return [w for piece in self.pieces for w in piece.weights]
