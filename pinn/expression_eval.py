"""Evaluating expression trees (pinn.expressions): the function tables, evaluate, rewrite and constant folding.

One :func:`evaluate` serves every backend through a table of functions keyed by
the same names: numpy's table is :data:`NUMPY_FUNCTIONS`, TensorFlow's comes from
:func:`tensorflow_functions`, which imports TensorFlow only when called.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable, Dict, Mapping, Optional

import numpy as np

from .errors import did_you_mean
from .expression_nodes import (Binary, Call, Derivative, Equation, FieldValue, Name, Node, Number, Partial, PointValue, Unary,
                               _children, to_text)

# ----------------------------------------------------------------------- functions

#: Canonical function names and their numpy implementations (one argument each).
NUMPY_FUNCTIONS: Dict[str, Callable] = {
    "sin": np.sin, "cos": np.cos, "tan": np.tan,
    "exp": np.exp, "log": np.log, "log10": np.log10, "log2": np.log2,
    "sqrt": np.sqrt, "abs": np.abs,
    "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh,
    "arcsin": np.arcsin, "arccos": np.arccos, "arctan": np.arctan,
    "arcsinh": np.arcsinh, "arccosh": np.arccosh, "arctanh": np.arctanh,
    "erf": None,  # filled below from scipy.special, imported lazily there
    "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
}

#: Other spellings accepted for the canonical names.
FUNCTION_ALIASES: Dict[str, str] = {
    "asin": "arcsin", "acos": "arccos", "atan": "arctan",
    "asinh": "arcsinh", "acosh": "arccosh", "atanh": "arctanh", "ln": "log",
}

#: Named constants.
CONSTANTS: Dict[str, float] = {"pi": math.pi, "e": math.e}


def _numpy_erf(v):
    from scipy.special import erf

    return erf(v)


NUMPY_FUNCTIONS["erf"] = _numpy_erf


def tensorflow_functions() -> Dict[str, Callable]:
    """The TensorFlow table, with the same keys as :data:`NUMPY_FUNCTIONS`."""
    import tensorflow as tf

    return {
        "sin": tf.sin, "cos": tf.cos, "tan": tf.tan,
        "exp": tf.exp, "log": tf.math.log,
        "log10": lambda v: tf.math.log(v) / math.log(10.0),
        "log2": lambda v: tf.math.log(v) / math.log(2.0),
        "sqrt": tf.sqrt, "abs": tf.abs,
        "sinh": tf.sinh, "cosh": tf.cosh, "tanh": tf.tanh,
        "arcsin": tf.asin, "arccos": tf.acos, "arctan": tf.atan,
        "arcsinh": tf.asinh, "arccosh": tf.acosh, "arctanh": tf.atanh,
        "erf": tf.math.erf, "sigmoid": tf.sigmoid,
    }


def canonical_function(name: str) -> Optional[str]:
    """The table key for ``name`` (resolving aliases), or None if not a function."""
    name = FUNCTION_ALIASES.get(name, name)
    return name if name in NUMPY_FUNCTIONS else None


FUNCTION_NAMES = tuple(sorted(set(NUMPY_FUNCTIONS) | set(FUNCTION_ALIASES)))

#: Functions the language lacks but writes with its own: (name, number of arguments) -> the rewrite,
#: {a} {b} the arguments as written, {A} {B} the same in parentheses unless a name or a number.
FUNCTION_REWRITES: Dict[tuple, str] = {
    ("cot", 1): "1/tan({a})", ("cotan", 1): "1/tan({a})", ("sec", 1): "1/cos({a})", ("csc", 1): "1/sin({a})",
    ("cosec", 1): "1/sin({a})", ("coth", 1): "1/tanh({a})", ("sech", 1): "1/cosh({a})", ("csch", 1): "1/sinh({a})",
    ("arccot", 1): "pi/2 - atan({a})", ("acot", 1): "pi/2 - atan({a})", ("arcsec", 1): "acos(1/{A})",
    ("asec", 1): "acos(1/{A})", ("arccsc", 1): "asin(1/{A})", ("acsc", 1): "asin(1/{A})",
    ("exp2", 1): "2^{A}", ("expm1", 1): "exp({a}) - 1", ("log1p", 1): "log(1 + {a})", ("square", 1): "{A}^2",
    ("cbrt", 1): "{A}^(1/3) (for {a} >= 0)", ("logistic", 1): "sigmoid({a})", ("expit", 1): "sigmoid({a})",
    ("pow", 2): "{A}^{B}", ("power", 2): "{A}^{B}", ("hypot", 2): "sqrt({A}^2 + {B}^2)",
    ("max", 2): "({a} + {b} + abs({a} - {b}))/2", ("min", 2): "({a} + {b} - abs({a} - {b}))/2",
    ("log", 2): "log({a})/log({B})",  # numpy's and sympy's log(x, base)
}


def function_rewrite(name: str, arguments) -> Optional[str]:
    """How to write ``name(arguments)`` (trees) with the language's own functions, or None."""
    template = FUNCTION_REWRITES.get((name, len(arguments)))
    if template is None:
        return None
    texts = [to_text(argument) for argument in arguments]
    wrapped = [t if isinstance(a, (Name, Number)) else f"({t})" for a, t in zip(arguments, texts)]
    return template.format(**dict(zip("ab", texts)), **dict(zip("AB", wrapped)))


def unknown_function_fix(name: str, arguments) -> str:
    """The fix for a call of ``name``, not a function of the language: its rewrite if it has one, else the list."""
    rewrite = function_rewrite(name, arguments)
    if rewrite is not None:
        return f"The language has no {name}; write {rewrite}."
    return f"Known functions: {', '.join(FUNCTION_NAMES)}.{did_you_mean(name, FUNCTION_NAMES)}"


def rewrite(node: Node, rule: Callable[[Node], Optional[Node]]) -> Node:
    """The tree with every node for which ``rule`` returns a replacement replaced
    (top-down; a replaced node's children are not visited), the rest rebuilt around them."""
    replaced = rule(node)
    if replaced is not None:
        return replaced
    if isinstance(node, Unary):
        return replace(node, operand=rewrite(node.operand, rule))
    if isinstance(node, Binary):
        return replace(node, left=rewrite(node.left, rule), right=rewrite(node.right, rule))
    if isinstance(node, Call):
        return replace(node, arguments=tuple(rewrite(a, rule) for a in node.arguments))
    if isinstance(node, PointValue):
        return replace(node, point=rewrite(node.point, rule))
    if isinstance(node, FieldValue):
        return replace(node, arguments=tuple(rewrite(a, rule) for a in node.arguments))
    if isinstance(node, Equation):
        return replace(node, left=rewrite(node.left, rule), right=rewrite(node.right, rule))
    return node


def substitute(node: Node, values: Mapping[str, float]) -> Node:
    """Replace names found in ``values`` by numbers and fold constant subtrees."""
    if isinstance(node, Name):
        if node.name in values:
            return Number(float(values[node.name]), node.span)
        return node
    if isinstance(node, Unary):
        operand = substitute(node.operand, values)
        if isinstance(operand, Number):
            return Number(-operand.value, node.span)
        return replace(node, operand=operand)
    if isinstance(node, Binary):
        left, right = substitute(node.left, values), substitute(node.right, values)
        if isinstance(left, Number) and isinstance(right, Number):
            with np.errstate(all="ignore"):
                value = float(_BINARY[node.operator](np.float64(left.value), np.float64(right.value)))
            return Number(value, node.span)
        return replace(node, left=left, right=right)
    if isinstance(node, Call):
        arguments = tuple(substitute(a, values) for a in node.arguments)
        if all(isinstance(a, Number) for a in arguments):
            with np.errstate(all="ignore"):
                value = float(NUMPY_FUNCTIONS[node.function](*(np.float64(a.value) for a in arguments)))
            return Number(value, node.span)
        return replace(node, arguments=arguments)
    if isinstance(node, PointValue):
        return replace(node, point=substitute(node.point, values))
    if isinstance(node, FieldValue):  # a free argument (the variable's own name) is never in ``values``
        return replace(node, arguments=tuple(a if isinstance(a, Name) and a.name == v else substitute(a, values)
                                             for v, a in zip(node.variables, node.arguments)))
    if isinstance(node, Equation):
        return replace(node, left=substitute(node.left, values), right=substitute(node.right, values))
    return node


def _scalars(*values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _power(base, exponent):
    """base^exponent, by repeated products for small whole exponents (exact and cheap to differentiate).

    Two plain numbers are combined as float64 (nan or inf, never ZeroDivisionError,
    OverflowError or a complex number), as arrays would be.
    """
    if isinstance(exponent, (int, float)) and exponent in (1, 2, 3, 4):
        result = base
        for _ in range(int(exponent) - 1):
            result = result * base
        return result
    if _scalars(base, exponent):
        with np.errstate(all="ignore"):
            return float(np.float64(base) ** np.float64(exponent))
    return base ** exponent


def _divide(a, b):
    """a / b; two plain numbers as float64, so 1/0 is inf rather than ZeroDivisionError."""
    if _scalars(a, b):
        with np.errstate(all="ignore"):
            return float(np.float64(a) / np.float64(b))
    return a / b


_BINARY: Dict[str, Callable] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _divide,
    "^": _power,
}


def evaluate(node: Node, scope: Mapping[Any, Any], functions: Mapping[str, Callable] = NUMPY_FUNCTIONS):
    """Value of ``node`` with names, derivatives and point values looked up in ``scope``.

    Keys of ``scope``: a name (``"x"``, ``"k"``); ``(unknown, order)`` for a
    derivative; ``(unknown, order, point)`` for a point value whose point has
    been folded to a number.  Numbers stay Python floats, so the result takes
    the dtype of the arrays or tensors in ``scope``.
    """
    if isinstance(node, Number):
        return node.value
    if isinstance(node, Name):
        if node.name in scope:
            return scope[node.name]
        if node.name in CONSTANTS:
            return CONSTANTS[node.name]
        raise KeyError(node.name)
    if isinstance(node, Derivative):
        return scope[(node.unknown, node.order)]
    if isinstance(node, PointValue):
        if not isinstance(node.point, Number):
            raise ValueError(f"point of {to_text(node)} is not a number; substitute constants first")
        return scope[(node.unknown, node.order, node.point.value)]
    if isinstance(node, Partial):
        return scope[(node.unknown, node.orders)]
    if isinstance(node, FieldValue):
        return scope[(node.unknown, node.orders, node.fixed)]
    if isinstance(node, Unary):
        return -evaluate(node.operand, scope, functions)
    if isinstance(node, Binary):
        return _BINARY[node.operator](evaluate(node.left, scope, functions), evaluate(node.right, scope, functions))
    if isinstance(node, Call):
        return functions[node.function](*(evaluate(a, scope, functions) for a in node.arguments))
    if isinstance(node, Equation):
        return evaluate(node.left, scope, functions) - evaluate(node.right, scope, functions)
    raise TypeError(f"not an expression node: {node!r}")


def _negate(value):
    return -value


def nonfinite_constant(node: Node, constants: Mapping[str, float] = CONSTANTS) -> Optional[Node]:
    """The innermost sub-expression free of variables (numbers and ``constants`` only)
    whose value is not finite (``1/0``, ``0/0``, ``exp(1000)``), or None; iterative.

    Only constant parts are judged: ``sin(x)/x`` is not finite at x = 0 alone and passes.
    """
    constants = {**CONSTANTS, **constants}
    values: Dict[int, Optional[float]] = {}
    stack = [(node, False)]
    while stack:
        current, ready = stack.pop()
        children = _children(current)
        if not ready:
            stack.append((current, True))
            stack.extend((child, False) for child in reversed(children))
            continue
        inputs = [values[id(child)] for child in children]
        value = None
        if isinstance(current, Number):
            value = float(current.value)
        elif isinstance(current, Name):
            value = constants.get(current.name)
        elif isinstance(current, (Unary, Binary, Call)) and all(v is not None for v in inputs):
            if isinstance(current, Unary):
                operation = _negate
            elif isinstance(current, Binary):
                operation = _BINARY[current.operator]
            else:
                operation = NUMPY_FUNCTIONS.get(current.function)  # None for a function only derivatives use
            if operation is not None:
                with np.errstate(all="ignore"):
                    value = float(operation(*(np.float64(v) for v in inputs)))
        if value is not None and not math.isfinite(value):
            return current
        values[id(current)] = value
    return None


def constant_value(node: Node) -> float:
    """The number a constant expression stands for (names must already be substituted)."""
    folded = substitute(node, CONSTANTS)
    if not isinstance(folded, Number):
        raise ValueError("not a constant expression")
    return folded.value
