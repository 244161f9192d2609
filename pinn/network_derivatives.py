"""Derivatives of any trained network with one scalar input: ``pinn.derivatives``.

The answer to "I took the second derivative of my Keras net with nested
GradientTapes and got 0": the derivatives are right, the network is the
problem.  A network whose activations are piecewise linear (relu and kin) is
itself piecewise linear in its input, so its second and higher derivatives are
zero almost everywhere and its first derivative is a staircase.  This module
computes the derivatives exactly (nested tapes inside ``tf.function``) and
warns, naming the layers, when that is what they will show.
"""

from __future__ import annotations

import warnings
import weakref
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import tensorflow as tf

from .residuals import derivatives as _nested_tape_derivatives

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


def _compiled_derivatives(model, order: int, dtype) -> Callable:
    per_model = _compiled.setdefault(model, {})
    key = (order, dtype)
    if key not in per_model:
        def function(x):
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
    rounding: nested ``tf.GradientTape``s inside ``tf.function``, one per order.
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
