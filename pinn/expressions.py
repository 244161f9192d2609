"""The expression language of problem files: tokenizer, parser, trees, evaluator.

User text is parsed by hand into frozen nodes and never executed: there is no
``eval``, ``exec``, ``ast`` or sympy here.  One :func:`evaluate` serves every
backend through a table of functions keyed by the same names: numpy's table is
:data:`NUMPY_FUNCTIONS`, TensorFlow's comes from :func:`tensorflow_functions`,
which imports TensorFlow only when called.

Grammar (``^`` and ``**`` are both powers, right-associative, binding tighter
than unary minus, so ``-x^2 = -(x^2)``)::

    equation  := expr "=" expr
    expr      := term (("+" | "-") term)*
    term      := unary (("*" | "/") unary)*
    unary     := ("-" | "+") unary | power
    power     := primary (("^" | "**") unary)?
    primary   := NUMBER | "(" expr ")" | NAME PRIMES? ("(" expr ("," expr)* ")")?

``y'``, ``y''`` and ``diff(y, x, 2)`` are derivatives of an unknown; ``y(0)``
and ``y'(pi/2)`` are point values (allowed in conditions only, which the
problem loader checks).

Limits, all checked without recursion: an expression of at most
:data:`MAX_LENGTH` characters (before tokenizing), nesting as written (parentheses,
calls, signs, exponents) of at most :data:`MAX_DEPTH`; a flat chain ``a + b + ...``
is not nesting: past :data:`BALANCED_CHAIN` operands it becomes a balanced tree,
so every tree stays shallow (at most :data:`MAX_TREE_DEPTH`) for the recursive
evaluator and differentiator.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Tuple

import numpy as np

from .errors import ExpressionError, did_you_mean, one_of

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


Node = Any  # Number | Name | Unary | Binary | Call | Derivative | PointValue


@dataclass(frozen=True)
class Equation:
    """``left = right``; its residual is ``left - right``."""

    left: Node
    right: Node
    source: str = field(default="", compare=False)

    @property
    def residual(self) -> Node:
        return Binary("-", self.left, self.right, (0, len(self.source)))


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

# ----------------------------------------------------------------------- tokenizer

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<primes>'+)
  | (?P<operator>\*\*|[-+*/^(),=])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # number | name | primes | operator | end
    text: str
    start: int

    @property
    def span(self) -> Span:
        return (self.start, self.start + max(1, len(self.text)))


_EXPLAINED_CHARACTERS = {
    '"': ("strings are not part of the language", "Remove the quotes; write y'' for a second derivative."),
    "[": ("subscripts are not allowed", "Name each quantity separately (y1, y2) instead of indexing."),
    "]": ("subscripts are not allowed", "Name each quantity separately (y1, y2) instead of indexing."),
    ".": ("attribute access is not allowed", "Expressions contain numbers, names and the listed functions only."),
    ":": ("':' is not part of the language (no lambdas or slices)", "Write a plain expression such as 2*x + 1."),
    "{": ("braces are not part of the language", "Use parentheses ( ) for grouping."),
    "}": ("braces are not part of the language", "Use parentheses ( ) for grouping."),
    "<": ("comparisons are not allowed", "Write an equation as left = right."),
    ">": ("comparisons are not allowed", "Write an equation as left = right."),
    "!": ("'!' is not part of the language", "Write an equation as left = right."),
    "%": ("'%' is not part of the language", "Use + - * / and ^ only."),
    "@": ("'@' is not part of the language", "Use + - * / and ^ only."),
    "&": ("'&' is not part of the language", "Use + - * / and ^ only."),
    "|": ("'|' is not part of the language", "Use abs(...) for an absolute value."),
    ";": ("';' is not part of the language", "Write one expression per field."),
    "#": ("'#' is not part of the language", "Write comments in YAML outside the expression."),
    "\\": ("'\\' is not part of the language", "Write one expression per field."),
}


#: Non-ASCII characters that look like a character of the language, and that character.
_LOOKALIKES = {
    "\u2212": "-", "\u2013": "-", "\u2014": "-", "\u2010": "-", "\u2011": "-", "\ufe63": "-", "\uff0d": "-",
    "\u00d7": "*", "\u22c5": "*", "\u00b7": "*", "\u2217": "*", "\uff0a": "*",
    "\u00f7": "/", "\u2215": "/", "\uff0f": "/", "\uff0b": "+", "\uff1d": "=",
    "\u2032": "'", "\u2019": "'", "\u2018": "'", "\u02b9": "'", "\u2033": "''",
    "\uff08": "(", "\uff09": ")", "\uff0c": ",", "\u03c0": "pi",
}


def _unexpected_character(char: str) -> Tuple[str, str]:
    """Message and fix for a character outside the language, naming its code point."""
    if char in _EXPLAINED_CHARACTERS:
        return _EXPLAINED_CHARACTERS[char]
    shown = f"unexpected character {char!r} (U+{ord(char):04X})"
    if char in _LOOKALIKES:
        return f"{shown}, which looks like {_LOOKALIKES[char]!r}", f"Write {_LOOKALIKES[char]!r} instead (plain ASCII)."
    category = unicodedata.category(char)
    if category == "Nd" or char.isdigit():
        return shown, "Write digits as 0-9."
    if category.startswith("L"):
        return shown, "Names are made of ASCII letters, digits and underscores (a-z, A-Z, 0-9, _), e.g. omega."
    return shown, "Use numbers, names, + - * / ^, parentheses and primes."


#: Longest expression read, in characters; checked before tokenizing (a huge text never reaches the parser).
MAX_LENGTH = 10_000


def tokenize(text: str) -> Tuple[Token, ...]:
    """Split ``text`` into tokens, refusing any character outside the language."""
    if not isinstance(text, str):
        raise ExpressionError(f"expected an expression as text, got {type(text).__name__}", "Write the expression as text, e.g. 2*x + 1.")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is {len(text):,} characters long, beyond the limit of {MAX_LENGTH:,}",
                              "Shorten it: give constant parts names under parameters:, or split it into more equations.",
                              (MAX_LENGTH, MAX_LENGTH + 1))
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            message, fix = _unexpected_character(text[position])
            raise ExpressionError(message, fix, (position, position + 1))
        kind = match.lastgroup
        if kind != "space":
            token = Token(kind, match.group(), position)
            if kind == "primes" and (not tokens or tokens[-1].kind != "name" or tokens[-1].start + len(tokens[-1].text) != position):
                raise ExpressionError(
                    "strings are not part of the language; a prime ' must follow an unknown's name directly",
                    "Write y' or y'' for derivatives, with no space before the prime.",
                    token.span,
                )
            if kind in ("name", "number") and tokens and tokens[-1].kind == "number" and tokens[-1].start + len(tokens[-1].text) == position:
                raise ExpressionError(
                    f"a number directly followed by {token.text!r}",
                    f"Write the multiplication out: {tokens[-1].text}*{token.text}.",
                    (tokens[-1].start, position + len(token.text)),
                )
            tokens.append(token)
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tuple(tokens)


# -------------------------------------------------------------------------- parser

#: Highest derivative order an expression may use.  Orders above 3 are computed
#: in Taylor mode (pinn.taylor), whose cost grows as the square of the order:
#: with the default network, tracing plus 1000 Adam steps took 9-22 s at
#: order 8 and 38-80 s at order 20 on 2 shared cores (benchmarks/derivative_orders.py).
MAX_DERIVATIVE_ORDER = 20
#: Deepest nesting the user writes (parentheses, calls, unary signs, exponents);
#: keeps the recursive parser far from Python's recursion limit.
MAX_DEPTH = 100
#: Longer chains of + - (or * /) are built as balanced trees (same value up to
#: rounding), so a flat sum of thousands of terms is a tree of depth ~log2(n).
BALANCED_CHAIN = 32
#: Deepest tree accepted (nesting and chains together); keeps the recursive
#: evaluator, differentiator and printer far from Python's recursion limit.
MAX_TREE_DEPTH = 2 * MAX_DEPTH
_ORDER_FIX = (f"Use derivatives of order at most {MAX_DERIVATIVE_ORDER} (the highest that trains in reasonable time: "
              f"about a minute for 1000 Adam steps of the default network at order {MAX_DERIVATIVE_ORDER}), "
              "or rewrite the equation as a first-order system.")


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0

    # helpers
    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at(self, *texts: str) -> bool:
        token = self.current
        return token.kind == "operator" and token.text in texts

    def expect(self, text: str, what: str) -> Token:
        if not self.at(text):
            token = self.current
            found = "the end of the expression" if token.kind == "end" else repr(token.text)
            raise ExpressionError(f"expected {text!r} {what}, found {found}", f"Add the missing {text!r}.", token.span)
        return self.advance()

    def fail_unexpected(self) -> None:
        token = self.current
        if token.kind == "end":
            raise ExpressionError("the expression ends too early", "Complete the expression.", token.span)
        if token.text == "=":
            if any(t.kind == "operator" and t.text == "=" for t in self.tokens[: self.index]):
                raise ExpressionError("'=' is only allowed once, between the two sides of an equation", "Write one equation per entry: left = right.", token.span)
            raise ExpressionError("an expression is missing before '='", "Write something on each side: left = right.", token.span)
        if token.kind in ("name", "number"):
            raise ExpressionError(
                f"unexpected {token.text!r}: two terms with no operator between them",
                "Write the operator out, for example 2*x rather than 2 x.",
                token.span,
            )
        raise ExpressionError(f"unexpected {token.text!r}", "Put a number, a name or a parenthesised expression here, e.g. 2*x.", token.span)

    # grammar
    def expression(self) -> Node:
        operands, operators = [self.term()], []
        while self.at("+", "-"):
            operators.append(self.advance().text)
            operands.append(self.term())
        return _chain(operands, operators, "+", "-")

    def term(self) -> Node:
        operands, operators = [self.unary()], []
        while self.at("*", "/"):
            operators.append(self.advance().text)
            operands.append(self.unary())
        return _chain(operands, operators, "*", "/")

    def unary(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _too_deep(self.current.span)
        try:
            if self.at("-", "+"):
                token = self.advance()
                operand = self.unary()
                if token.text == "+":
                    return operand
                return Unary("-", operand, (token.start, operand.span[1]))
            return self.power()
        finally:
            self.depth -= 1

    def power(self) -> Node:
        base = self.primary()
        if self.at("^", "**"):
            self.advance()
            exponent = self.unary()
            return Binary("^", base, exponent, (base.span[0], exponent.span[1]))
        return base

    def primary(self) -> Node:
        token = self.current
        if token.kind == "number":
            self.advance()
            value = float(token.text)
            if not math.isfinite(value):
                raise ExpressionError(f"the number {token.text} is too large", "Use a number below 1e308 (rescale the problem if needed).", token.span)
            return Number(value, token.span)
        if self.at("("):
            self.advance()
            inner = self.expression()
            close = self.expect(")", "to close the parenthesis")
            return _respan(inner, (token.start, close.start + 1))
        if token.kind == "name":
            return self.named()
        self.fail_unexpected()

    def named(self) -> Node:
        token = self.advance()
        name = token.text
        if name.startswith("__") or name.endswith("__"):
            raise ExpressionError(f"the name {name!r} is not allowed (double underscores are reserved)",
                                  "Use a plain name such as k or omega.", token.span)
        order = 0
        end = token.start + len(name)
        if self.current.kind == "primes":
            primes = self.advance()
            order = len(primes.text)
            end = primes.start + order
        if order > MAX_DERIVATIVE_ORDER:
            raise ExpressionError(f"derivative of order {order} is beyond the limit of {MAX_DERIVATIVE_ORDER}", _ORDER_FIX, (token.start, end))
        function = canonical_function(name)
        if not self.at("("):
            if function is not None or name == "diff":
                raise ExpressionError(f"the function {name!r} needs an argument in parentheses", f"Write {name}(...).", (token.start, end))
            if order:
                return Derivative(name, order, (token.start, end))
            return Name(name, (token.start, end))
        self.advance()  # "("
        arguments = [self.expression()]
        while self.at(","):
            self.advance()
            arguments.append(self.expression())
        close = self.expect(")", f"to close the arguments of {name}")
        span = (token.start, close.start + 1)
        if name == "diff":
            if order:
                raise ExpressionError("diff(...) cannot carry primes", "Write diff(y, x, 2) or y''.", span)
            return _diff(arguments, span)
        if function is not None:
            if order:
                raise ExpressionError(f"primes on the function {name!r} are not allowed", "Primes mark derivatives of unknowns: y'.", span)
            if len(arguments) != 1:
                raise ExpressionError(f"{name} takes one argument, got {len(arguments)}", f"Write {name}(...) with a single argument.", span)
            return Call(function, tuple(arguments), span)
        if len(arguments) != 1:
            raise ExpressionError(
                f"{name}(...) with {len(arguments)} arguments: {name!r} is not a known function",
                f"Known functions: {', '.join(FUNCTION_NAMES)}.{did_you_mean(name, FUNCTION_NAMES)}",
                span,
            )
        return PointValue(name, order, arguments[0], span)


def _chain(operands, operators, plain: str, inverse: str) -> Node:
    """``a op b op c ...`` left-associated, or balanced when longer than BALANCED_CHAIN (iteratively).

    An entry is (inverted, node): its share of the chain is node, or -node (1/node)
    if inverted; two entries combine into one that keeps the left one's inversion.
    """
    if len(operands) <= BALANCED_CHAIN:
        node = operands[0]
        for operator, right in zip(operators, operands[1:]):
            node = Binary(operator, node, right, (node.span[0], right.span[1]))
        return node
    level = [(False, operands[0])] + [(operator == inverse, node) for operator, node in zip(operators, operands[1:])]
    while len(level) > 1:
        paired = [
            (left_inverted, Binary(plain if left_inverted == right_inverted else inverse, left, right, (left.span[0], right.span[1])))
            for (left_inverted, left), (right_inverted, right) in zip(level[0::2], level[1::2])
        ]
        level = paired + level[len(paired) * 2:]
    return level[0][1]


def _too_deep(span: Span) -> ExpressionError:
    return ExpressionError(f"the expression is nested too deeply (more than {MAX_DEPTH} levels)",
                           "Split it into shorter pieces, using parameters for constant parts.", span)


def _children(node: Node) -> Tuple[Node, ...]:
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, (Binary, Equation)):
        return (node.left, node.right)
    if isinstance(node, Call):
        return tuple(node.arguments)
    if isinstance(node, PointValue):
        return (node.point,)
    return ()


def _check_depth(node: Node, text: str) -> Node:
    """Refuse trees deeper than MAX_TREE_DEPTH (deep nesting full of operations), iteratively."""
    stack = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            raise ExpressionError(f"the expression is nested too deeply (its operations stack more than {MAX_TREE_DEPTH} levels deep)",
                                  "Split it into shorter pieces, using parameters for constant parts.", (0, max(1, len(text))))
        stack.extend((child, depth + 1) for child in _children(current))
    return node


def _respan(node: Node, span: Span) -> Node:
    return replace(node, span=span)


def _diff(arguments, span: Span) -> Derivative:
    fix = "Write diff(y, x) or diff(y, x, n) with an unknown y, the variable x and a whole number n >= 1."
    if len(arguments) not in (2, 3):
        raise ExpressionError(f"diff takes 2 or 3 arguments, got {len(arguments)}", fix, span)
    unknown, variable = arguments[0], arguments[1]
    if not isinstance(unknown, Name):
        raise ExpressionError("the first argument of diff must be the name of an unknown", fix, unknown.span)
    if not isinstance(variable, Name):
        raise ExpressionError("the second argument of diff must be the variable's name", fix, variable.span)
    order = 1
    if len(arguments) == 3:
        count = arguments[2]
        if not isinstance(count, Number) or count.value != int(count.value) or count.value < 1:
            raise ExpressionError("the order in diff(y, x, n) must be a whole number n >= 1", fix, count.span)
        order = int(count.value)
        if order > MAX_DERIVATIVE_ORDER:
            raise ExpressionError(f"derivative of order {order} is beyond the limit of {MAX_DERIVATIVE_ORDER}", _ORDER_FIX, count.span)
    return Derivative(unknown.name, order, span, variable=variable.name)


def parse_expression(text: str) -> Node:
    """Parse one expression (no ``=``) into a tree."""
    parser = _Parser(text)
    if parser.current.kind == "end":
        raise ExpressionError("the expression is empty", "Write an expression such as 2*x.", (0, 1))
    node = parser.expression()
    if parser.current.kind != "end":
        if parser.at("="):
            raise ExpressionError("'=' is not allowed here: this field takes an expression, not an equation",
                                  "Remove the '=' and what follows it.", parser.current.span)
        if parser.at(")"):
            raise ExpressionError("unmatched ')'", "Remove it or add the matching '('.", parser.current.span)
        parser.fail_unexpected()
    return _check_depth(node, text)


def parse_equation(text: str) -> Equation:
    """Parse ``left = right``."""
    parser = _Parser(text)
    if parser.current.kind == "end":
        raise ExpressionError("the equation is empty", "Write an equation such as y'' = 2.", (0, 1))
    left = parser.expression()
    if not parser.at("="):
        if parser.current.kind == "end":
            raise ExpressionError("an equation needs '=' between its two sides", "Write it as left = right, e.g. y' = -y.", (0, len(text)))
        if parser.at(")"):
            raise ExpressionError("unmatched ')'", "Remove it or add the matching '('.", parser.current.span)
        parser.fail_unexpected()
    parser.advance()
    right = parser.expression()
    if parser.current.kind != "end":
        if parser.at(")"):
            raise ExpressionError("unmatched ')'", "Remove it or add the matching '('.", parser.current.span)
        parser.fail_unexpected()
    _check_depth(left, text)
    _check_depth(right, text)
    return Equation(left, right, text)


# ---------------------------------------------------------------------- utilities


def walk(node: Node) -> Iterator[Node]:
    """Every node of the tree, parents before children (point expressions included), iteratively."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(_children(current)))


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "^": 4}


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
