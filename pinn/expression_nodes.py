"""The trees of the expression language (pinn.expressions): frozen nodes, walking and printing.

Nodes carry the span of the text they were parsed from (not compared); :func:`walk`
visits a tree iteratively and :func:`to_text` prints it back as parseable text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Tuple

Span = Tuple[int, int]

# --------------------------------------------------------------------------- nodes


@dataclass(frozen=True)
class Number:
    value: float
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Name:
    name: str
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Unary:
    operator: str  # "-"
    operand: "Node"
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Binary:
    operator: str  # one of + - * / ^
    left: "Node"
    right: "Node"
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Call:
    function: str  # canonical name, a key of the function tables
    arguments: Tuple["Node", ...]
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Derivative:
    """d^order unknown / d variable^order over the whole domain (order >= 1)."""

    unknown: str
    order: int
    span: Span = field(default=(0, 0), compare=False)
    variable: Optional[str] = field(default=None, compare=False)  # as written in diff(y, x)


@dataclass(frozen=True)
class PointValue:
    """The order-th derivative of an unknown at one point: ``y(0)``, ``y''(pi)``."""

    unknown: str
    order: int
    point: "Node"
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Partial:
    """A partial derivative over the whole rectangle: d^|a| unknown / d v1^a1 d v2^a2, ``orders`` = a aligned with
    the problem's ``variables`` (two-variable problems; ``u_xt``, ``diff(u, x, t)``)."""

    unknown: str
    orders: Tuple[int, ...]
    variables: Tuple[str, ...]
    span: Span = field(default=(0, 0), compare=False)
    written: str = field(default="", compare=False)  # the name as written (u_x), for a parameter that looks like one


@dataclass(frozen=True)
class FieldValue:
    """An unknown or a partial derivative on a line or at a point of the rectangle: ``u(x, 0)``, ``u_x(1, t)``.

    ``arguments`` are aligned with ``variables``: a number (after folding) fixes that variable, the variable's own
    name leaves it free.
    """

    unknown: str
    orders: Tuple[int, ...]
    variables: Tuple[str, ...]
    arguments: Tuple["Node", ...]
    span: Span = field(default=(0, 0), compare=False)

    @property
    def fixed(self) -> Tuple[Optional[float], ...]:
        """Per variable: the number it is held at, or None where it is free (arguments folded to numbers first)."""
        out = []
        for variable, argument in zip(self.variables, self.arguments):
            if isinstance(argument, Number):
                out.append(float(argument.value))
            elif isinstance(argument, Name) and argument.name == variable:
                out.append(None)
            else:
                raise ValueError(f"argument {to_text(argument)} of {to_text(self)} is neither a number nor {variable}")
        return tuple(out)


Node = Any  # Number | Name | Unary | Binary | Call | Derivative | PointValue | Partial | FieldValue


def partial_text(unknown: str, orders: Tuple[int, ...], variables: Tuple[str, ...]) -> str:
    """``u_xxt`` when every variable is one letter, else ``diff(u, x, 2, t)``; the unknown itself for no derivative."""
    if not any(orders):
        return unknown
    if all(len(v) == 1 for v in variables):
        return unknown + "_" + "".join(v * n for v, n in zip(variables, orders))
    parts = []
    for v, n in zip(variables, orders):
        if n:
            parts.append(v if n == 1 else f"{v}, {n}")
    return f"diff({unknown}, {', '.join(parts)})"


@dataclass(frozen=True)
class Equation:
    """``left = right``; its residual is ``left - right``."""

    left: Node
    right: Node
    source: str = field(default="", compare=False)

    @property
    def residual(self) -> Node:
        return Binary("-", self.left, self.right, (0, len(self.source)))


# ------------------------------------------------------------- walking, printing


def _children(node: Node) -> Tuple[Node, ...]:
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, (Binary, Equation)):
        return (node.left, node.right)
    if isinstance(node, Call):
        return tuple(node.arguments)
    if isinstance(node, PointValue):
        return (node.point,)
    if isinstance(node, FieldValue):
        return tuple(node.arguments)
    return ()


def walk(node: Node) -> Iterator[Node]:
    """Every node of the tree, parents before children (point expressions included), iteratively."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(_children(current)))


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "^": 4}


def additive_terms(node: Node) -> Tuple[Node, ...]:
    """The terms t_i of node = t_1 +- t_2 +- ...: the top-level sums and differences split, signs dropped.

    A residual's scale is sum |t_i|: ``y'' + exp(y)`` has the terms ``y''`` and ``exp(y)``.
    """
    if isinstance(node, Binary) and node.operator in "+-":
        return additive_terms(node.left) + additive_terms(node.right)
    if isinstance(node, Unary) and node.operator == "-":
        return additive_terms(node.operand)
    return (node,)


def to_text(node: Node) -> str:
    """Print a tree back as parseable text (fully determined by precedence)."""
    if isinstance(node, Equation):
        return f"{to_text(node.left)} = {to_text(node.right)}"
    if isinstance(node, Number):
        value = node.value
        if not math.isfinite(value):
            return repr(value)  # only substitute() makes these; shown, not parseable
        return str(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Derivative):
        return node.unknown + "'" * node.order
    if isinstance(node, PointValue):
        return f"{node.unknown}{chr(39) * node.order}({to_text(node.point)})"
    if isinstance(node, Partial):
        return partial_text(node.unknown, node.orders, node.variables)
    if isinstance(node, FieldValue):
        head = partial_text(node.unknown, node.orders, node.variables)
        if head.startswith("diff("):
            raise ValueError(f"cannot print {head} at a point: name the variables with one letter each")
        return f"{head}({', '.join(to_text(a) for a in node.arguments)})"
    if isinstance(node, Call):
        return f"{node.function}({', '.join(to_text(a) for a in node.arguments)})"
    if isinstance(node, Unary):
        inner = to_text(node.operand)
        if _precedence(node.operand) < _PRECEDENCE["^"]:
            inner = f"({inner})"
        return f"-{inner}"
    if isinstance(node, Binary):
        mine = _PRECEDENCE[node.operator]
        left, right = to_text(node.left), to_text(node.right)
        if node.operator == "^":
            if _precedence(node.left) <= mine:
                left = f"({left})"
            if _precedence(node.right) < mine and not isinstance(node.right, Unary):
                right = f"({right})"
        else:
            if _precedence(node.left) < mine:
                left = f"({left})"
            if _precedence(node.right) <= mine:
                right = f"({right})"
        return f"{left} {node.operator} {right}"
    raise TypeError(f"not an expression node: {node!r}")


def _precedence(node: Node) -> int:
    if isinstance(node, Binary):
        return _PRECEDENCE[node.operator]
    if isinstance(node, Unary) or (isinstance(node, Number) and math.copysign(1.0, node.value) < 0):
        return _PRECEDENCE["neg"]  # a negative number (from substitute) prints with a leading '-'
    return 10
