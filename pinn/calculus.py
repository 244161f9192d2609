"""Symbolic differentiation of expression trees (numpy only, no TensorFlow).

``differentiate(node, variable)`` is the partial derivative d node / d variable
by the chain rule: every other name, derivative and point value is held
constant.  Results are folded as they are built (0 + a = a, 1 * a = a, numbers
combined), so repeated differentiation stays small.  The derivative of ``abs``
uses ``sign``, which is not in the problem-file language: evaluate results with
:data:`CALCULUS_FUNCTIONS` (the numpy table plus ``sign``).
"""

from __future__ import annotations

import math
from typing import Callable, Dict

import numpy as np

from . import expressions as ex
from .expressions import Binary, Call, Derivative, Name, Number, PointValue, Unary

#: The numpy function table plus the functions derivatives may introduce.
CALCULUS_FUNCTIONS: Dict[str, Callable] = {**ex.NUMPY_FUNCTIONS, "sign": np.sign}

ZERO, ONE, TWO = Number(0.0), Number(1.0), Number(2.0)


# ------------------------------------------------------------ folding builders


def _is(node, value: float) -> bool:
    return isinstance(node, Number) and node.value == value


def add(a, b):
    if _is(a, 0):
        return b
    if _is(b, 0):
        return a
    if isinstance(a, Number) and isinstance(b, Number):
        return Number(a.value + b.value)
    return Binary("+", a, b)


def subtract(a, b):
    if _is(b, 0):
        return a
    if _is(a, 0):
        return negate(b)
    if isinstance(a, Number) and isinstance(b, Number):
        return Number(a.value - b.value)
    return Binary("-", a, b)


def negate(a):
    if isinstance(a, Number):
        return Number(-a.value)
    if isinstance(a, Unary) and a.operator == "-":
        return a.operand
    return Unary("-", a)


def multiply(a, b):
    if _is(a, 0) or _is(b, 0):
        return ZERO
    if _is(a, 1):
        return b
    if _is(b, 1):
        return a
    if _is(a, -1):
        return negate(b)
    if _is(b, -1):
        return negate(a)
    if isinstance(a, Number) and isinstance(b, Number):
        return Number(a.value * b.value)
    return Binary("*", a, b)


def divide(a, b):
    if _is(a, 0):
        return ZERO
    if _is(b, 1):
        return a
    if isinstance(a, Number) and isinstance(b, Number) and b.value != 0:
        return Number(a.value / b.value)
    return Binary("/", a, b)


def power(a, b):
    if _is(b, 0):
        return ONE
    if _is(b, 1):
        return a
    if isinstance(a, Number) and isinstance(b, Number):
        with np.errstate(all="ignore"):
            return Number(float(np.float64(a.value) ** b.value))
    return Binary("^", a, b)


def call(function: str, argument):
    return Call(function, (argument,))


# ------------------------------------------------------------ derivative table


def _sqrt_one_minus_square(a):
    return call("sqrt", subtract(ONE, power(a, TWO)))


#: d f(a) / d a for every function of the numpy table, as a tree in ``a``.
_OUTER: Dict[str, Callable] = {
    "sin": lambda a: call("cos", a),
    "cos": lambda a: negate(call("sin", a)),
    "tan": lambda a: add(ONE, power(call("tan", a), TWO)),
    "exp": lambda a: call("exp", a),
    "log": lambda a: divide(ONE, a),
    "log10": lambda a: divide(ONE, multiply(a, Number(math.log(10.0)))),
    "log2": lambda a: divide(ONE, multiply(a, Number(math.log(2.0)))),
    "sqrt": lambda a: divide(Number(0.5), call("sqrt", a)),
    "abs": lambda a: call("sign", a),
    "sign": lambda a: ZERO,
    "tanh": lambda a: subtract(ONE, power(call("tanh", a), TWO)),
    "sinh": lambda a: call("cosh", a),
    "cosh": lambda a: call("sinh", a),
    "arcsin": lambda a: divide(ONE, _sqrt_one_minus_square(a)),
    "arccos": lambda a: negate(divide(ONE, _sqrt_one_minus_square(a))),
    "arctan": lambda a: divide(ONE, add(ONE, power(a, TWO))),
    "arcsinh": lambda a: divide(ONE, call("sqrt", add(power(a, TWO), ONE))),
    "arccosh": lambda a: divide(ONE, multiply(call("sqrt", subtract(a, ONE)), call("sqrt", add(a, ONE)))),
    "arctanh": lambda a: divide(ONE, subtract(ONE, power(a, TWO))),
    "erf": lambda a: multiply(Number(2.0 / math.sqrt(math.pi)), call("exp", negate(power(a, TWO)))),
    "sigmoid": lambda a: multiply(call("sigmoid", a), subtract(ONE, call("sigmoid", a))),
}


def differentiate(node, variable: str):
    """d node / d variable (partial: other names, derivatives and point values are constants).

    ``node`` is an expression tree of :mod:`pinn.expressions`; the result is a
    tree too, evaluable with :data:`CALCULUS_FUNCTIONS`.
    """
    if isinstance(node, Number):
        return ZERO
    if isinstance(node, Name):
        return ONE if node.name == variable else ZERO
    if isinstance(node, (Derivative, PointValue)):
        return ZERO
    if isinstance(node, Unary):
        return negate(differentiate(node.operand, variable))
    if isinstance(node, Binary):
        left, right = node.left, node.right
        d_left, d_right = differentiate(left, variable), differentiate(right, variable)
        if node.operator == "+":
            return add(d_left, d_right)
        if node.operator == "-":
            return subtract(d_left, d_right)
        if node.operator == "*":
            return add(multiply(d_left, right), multiply(left, d_right))
        if node.operator == "/":
            return subtract(divide(d_left, right), divide(multiply(left, d_right), power(right, TWO)))
        if node.operator == "^":
            return _differentiate_power(left, right, d_left, d_right)
    if isinstance(node, Call):
        (argument,) = node.arguments
        if node.function not in _OUTER:
            raise ValueError(f"no derivative rule for the function {node.function!r}; add one to pinn.calculus")
        return multiply(_OUTER[node.function](argument), differentiate(argument, variable))
    raise TypeError(f"cannot differentiate {node!r}")


def _differentiate_power(base, exponent, d_base, d_exponent):
    """d(b^e) = e b^(e-1) db for a constant e; b^e (de log b + e db / b) otherwise."""
    if _is(d_exponent, 0):
        if isinstance(exponent, Number):
            lowered = power(base, Number(exponent.value - 1.0))
        else:
            lowered = power(base, subtract(exponent, ONE))
        return multiply(multiply(exponent, lowered), d_base)
    if _is(d_base, 0):
        return multiply(multiply(power(base, exponent), call("log", base)), d_exponent)
    inner = add(multiply(d_exponent, call("log", base)), divide(multiply(exponent, d_base), base))
    return multiply(power(base, exponent), inner)


def derivatives(node, variable: str, order: int):
    """[node, d node, ..., d^order node] with respect to ``variable``."""
    result = [node]
    for _ in range(order):
        result.append(differentiate(result[-1], variable))
    return result


def depends_on(node, names) -> bool:
    """Whether any of ``names`` occurs as a name in ``node``."""
    names = set(names)
    return any(isinstance(n, Name) and n.name in names for n in ex.walk(node))
