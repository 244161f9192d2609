"""Derivatives of any trained network with one scalar input: ``pinn.derivatives``.

The answer to "I took the second derivative of my Keras net with nested
GradientTapes and got 0": the derivatives are right, the network is the
problem.  A network whose activations are piecewise linear (relu and kin) is
itself piecewise linear in its input, so its second and higher derivatives are
zero almost everywhere and its first derivative is a staircase.  This module
computes the derivatives exactly (inside ``tf.function``) and warns, naming
the layers, when that is what they will show.

Up to order 3 (:data:`pinn.taylor.NESTED_TAPE_MAX_ORDER`) the derivatives come
from nested ``tf.GradientTape``s, one per order, for any model.  Above it,
pinn's own models and Keras ``Sequential`` stacks of ``Dense``/``Activation``
layers with a smooth (or piecewise-linear) activation pinn has a Taylor rule
for (tanh, sigmoid, softplus, silu/swish, gelu, elu, selu, mish, exponential,
sin, cos, relu) go through Taylor mode (:mod:`pinn.taylor`), whose cost grows
as the square of the order; other models (Lambda layers, other layer kinds)
keep nested tapes, whose cost grows exponentially (order 6 takes seconds,
order 8 minutes for a 64-64 network).
"""

from __future__ import annotations

import warnings
import weakref
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import tensorflow as tf

from . import taylor
from .residuals import nested_tape_derivatives as _nested_tape_derivatives

#: Activation names (Keras function names and layer classes) that are piecewise linear.
#: (hard_silu is piecewise quadratic, so it is not here.)
PIECEWISE_LINEAR = {
    "relu", "relu6", "leaky_relu", "hard_sigmoid", "hard_tanh", "soft_shrink", "hard_shrink", "sparse_sigmoid",
    "ReLU", "LeakyReLU", "PReLU", "ThresholdedReLU",
}
_NEUTRAL = {"linear", None}

_compiled: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


from .errors import PiecewiseLinearWarning  # noqa: E402  (re-exported for users)
from .problem import PIECEWISE_LINEAR_ACTIVATIONS  # noqa: E402


def _layers(model) -> List:
    """Every layer, descending into nested models."""
    found = []
    for layer in getattr(model, "layers", []):
        found.append(layer)
        if getattr(layer, "layers", None):
            found.extend(_layers(layer))
    return found


def piecewise_linear_layers(model) -> Tuple[List[str], List[str]]:
    """(layers with a piecewise-linear activation, layers with a smooth one), by name."""
    network = getattr(model, "network", model)  # a pinn TrialSolution holds its MLP
    name = getattr(network, "activation_name", None)
    if name is not None:  # a pinn MLP
        return ([f"{network.name} ({name})"], []) if name in PIECEWISE_LINEAR_ACTIVATIONS else ([], [f"{network.name} ({name})"])
    piecewise, smooth = [], []
    for layer in _layers(model):
        kind = type(layer).__name__
        if kind in PIECEWISE_LINEAR:
            piecewise.append(f"{layer.name} ({kind})")
            continue
        activation = getattr(layer, "activation", None)
        name = getattr(activation, "__name__", None) if activation is not None else None
        if kind == "Activation":
            name = getattr(layer.activation, "__name__", None)
        if name in PIECEWISE_LINEAR:
            piecewise.append(f"{layer.name} ({name})")
        elif name not in _NEUTRAL:
            smooth.append(f"{layer.name} ({name})")
    return piecewise, smooth


def _warn(model, order: int) -> None:
    piecewise, smooth = piecewise_linear_layers(model)
    if not piecewise or order < 1:
        return
    layers = ", ".join(piecewise)
    if smooth:
        what = ("derivatives mix smooth parts with kinks from these layers; the second derivative misses the curvature "
                "those layers contribute")
    else:
        what = ("the network is piecewise linear in its input, so its first derivative is piecewise constant and "
                "every higher derivative is zero almost everywhere")
    warnings.warn(
        f"layers {layers} have piecewise-linear activations: {what}. This is the network, not the differentiation. "
        "Use a smooth activation (tanh, sin, silu/swish, gelu, softplus) for derivatives, and put the equation in the "
        "loss (a physics-informed problem) where you know it.",
        PiecewiseLinearWarning, stacklevel=4)  # the caller of pinn.derivatives


def _dtype(model):
    """The dtype the model computes in: its first weight's, else its input's, else its declared one."""
    weights = getattr(model, "weights", None)
    if weights:
        return tf.as_dtype(weights[0].dtype)
    for layer in _layers(model):  # an unbuilt Sequential: the layers' own dtype policy
        dtype = getattr(layer, "compute_dtype", None)
        if dtype:
            return tf.as_dtype(dtype)
    inputs = getattr(model, "inputs", None)
    if inputs:
        return tf.as_dtype(inputs[0].dtype)
    return tf.as_dtype(getattr(model, "compute_dtype", None) or getattr(model, "dtype", None) or tf.float32)


#: Keras activation functions (by ``__name__``) with a Taylor rule in :mod:`pinn.taylor`.
_KERAS_TAYLOR_ACTIVATIONS = {
    "tanh": "tanh", "sigmoid": "sigmoid", "softplus": "softplus", "silu": "silu", "swish": "silu", "gelu": "gelu",
    "elu": "elu", "selu": "selu", "mish": "mish", "exponential": "exponential", "sin": "sin", "cos": "cos", "relu": "relu",
}


def dense_chain(model):
    """The steps of :func:`pinn.taylor.chain_series` for a Keras Sequential model of Dense and Activation layers
    whose activations have a Taylor rule and which computes in its weights' dtype; None for any other model."""
    if type(model).__name__ != "Sequential" or not getattr(model, "layers", None):
        return None
    steps = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind not in ("Dense", "Activation") or getattr(layer, "compute_dtype", None) != getattr(layer, "variable_dtype", None):
            return None
        if kind == "Dense":
            if not layer.built:
                return None
            steps.append(("dense", layer.kernel, layer.bias if layer.use_bias else None))
        name = getattr(layer.activation, "__name__", None)
        if name == "linear":
            continue
        if name not in _KERAS_TAYLOR_ACTIVATIONS:
            return None
        steps.append(("activation", _KERAS_TAYLOR_ACTIVATIONS[name], layer.activation))
    first = next((step for step in steps if step[0] == "dense"), None)
    return steps if first is not None and first[1].shape[0] == 1 else None


def _compiled_derivatives(model, order: int, dtype) -> Callable:
    per_model = _compiled.setdefault(model, {})
    key = (order, dtype)
    if key not in per_model:
        steps = dense_chain(model) if order > taylor.NESTED_TAPE_MAX_ORDER else None
        held = weakref.ref(model)  # the cache is keyed weakly by the model: its entry must not keep the model alive

        def function(x):
            model = held()
            if order > taylor.NESTED_TAPE_MAX_ORDER and taylor.supports(model):  # a pinn model: Taylor mode
                return taylor.derivatives(model, x, order)
            if steps is not None:  # a plain stack of Dense layers: Taylor mode too
                return taylor.as_derivatives(taylor.chain_series(steps, x, order))
            return _nested_tape_derivatives(lambda z: _as_matrix(model(z)), x, order)

        per_model[key] = tf.function(function, input_signature=[tf.TensorSpec([None, 1], dtype)], reduce_retracing=True)
    return per_model[key]


def _as_matrix(y):
    """The output as [N, k] with a static k, whatever its shape per point."""
    y = tf.convert_to_tensor(y)
    width = int(np.prod(y.shape[1:])) if y.shape.rank > 1 else 1
    return tf.reshape(y, [-1, width])


def derivatives(model, x, order: int = 2) -> List[np.ndarray]:
    """[y, y', ..., y^(order)] of a one-input network at the points ``x``.

    ``model`` is a Keras model (or any callable on a [N, 1] tensor) with one
    scalar input, or a :class:`pinn.Solution` (then the trained trial
    solution, whose conditions are built in).  ``x`` is any array of N
    points (shape [N] or [N, 1]).  Each returned array is shaped like the
    model's output at ``x`` ([N, k], or [N] for a flat output).  Exact up to
    rounding: nested ``tf.GradientTape``s inside ``tf.function``, one per
    order, or above order 3 Taylor mode where the model allows it (see above).
    Warns (PiecewiseLinearWarning) when layers are piecewise linear.
    """
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 0:
        raise ValueError(f"order must be a whole number >= 0, got {order!r}")
    if hasattr(model, "model") and hasattr(model, "problem"):  # a pinn Solution
        model = model.model
    _warn(model, int(order))
    dtype = _dtype(model)
    points = np.asarray(x, dtype=dtype.as_numpy_dtype)
    flat = points.reshape(-1, 1)
    if points.ndim > 2 or (points.ndim == 2 and points.shape[1] != 1):
        raise ValueError(f"x must hold scalar points, shape [N] or [N, 1]; got {points.shape}")
    values = _compiled_derivatives(model, int(order), dtype)(tf.constant(flat))
    output_shape = tuple(tf.convert_to_tensor(model(tf.constant(flat[:1]))).shape[1:])
    return [v.numpy().reshape((len(flat), *output_shape)) for v in values]
