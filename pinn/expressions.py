"""The expression language of problem files: tokenizer, parser, trees, evaluator.

This module holds the parser and is the import path for the whole language; the
trees live in :mod:`pinn.expression_nodes`, the tokenizer in :mod:`pinn.expression_tokens`
and the function tables and evaluator in :mod:`pinn.expression_eval` (their names
are re-exported here).

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
from dataclasses import replace  # noqa: F401  (ex.replace is used by callers)

import re
from typing import Optional, Tuple

from .errors import ExpressionError, did_you_mean

# The trees, the tokenizer and the evaluator live in their own modules; this module is
# the import path for all of them (names re-exported explicitly).
from .expression_eval import (  # noqa: F401
    _BINARY, CONSTANTS, FUNCTION_ALIASES, FUNCTION_NAMES, NUMPY_FUNCTIONS, _divide, _negate, _numpy_erf, _power,
    FUNCTION_REWRITES, _scalars, canonical_function, constant_value, evaluate, function_rewrite, nonfinite_constant, rewrite,
    substitute, tensorflow_functions, unknown_function_fix,
)
from .expression_nodes import (  # noqa: F401
    _PRECEDENCE, Binary, Call, Derivative, Equation, FieldValue, Name, Node, Number, Partial, PointValue, Span, Unary, _children,
    additive_terms, _precedence, partial_text, to_text, walk,
)
from .expression_tokens import (  # noqa: F401
    _EXPLAINED_CHARACTERS, _LOOKALIKES, _TOKEN, MAX_LENGTH, Token, _unexpected_character, tokenize,
)

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
    def __init__(self, text: str, variables: Optional[Tuple[str, ...]] = None):
        self.variables = tuple(variables) if variables and len(variables) > 1 else None  # two-variable mode
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
        if self.variables is not None:
            return self.named_in_two(token, name, order, end)
        function = canonical_function(name)
        if not self.at("("):
            if function is not None or name == "diff":
                raise ExpressionError(f"the function {name!r} needs an argument in parentheses", f"Write {name}(...).", (token.start, end))
            if order:
                return Derivative(name, order, (token.start, end))
            return Name(name, (token.start, end))
        arguments, span = self.call_arguments(token, name)
        if name == "diff":
            if order:
                raise ExpressionError("diff(...) cannot carry primes", "Write diff(y, x, 2) or y''.", span)
            return _diff(arguments, span)
        if function is not None:
            if order:
                raise ExpressionError(f"primes on the function {name!r} are not allowed", "Primes mark derivatives of unknowns: y'.", span)
            if len(arguments) != 1:
                rewrite = function_rewrite(name, arguments)  # log(x, 2): log(x)/log(2)
                raise ExpressionError(f"{name} takes one argument, got {len(arguments)}",
                                      f"Write {rewrite}." if rewrite else f"Write {name}(...) with a single argument.", span)
            return Call(function, tuple(arguments), span)
        if len(arguments) != 1:
            raise ExpressionError(f"{name}(...) with {len(arguments)} arguments: {name!r} is not a known function",
                                  unknown_function_fix(name, arguments), span)
        return PointValue(name, order, arguments[0], span)


    def call_arguments(self, token, name: str):
        """``( expr, expr, ... )`` after a name: the arguments and the span from the name to the closing parenthesis."""
        self.advance()  # "("
        arguments = [self.expression()]
        while self.at(","):
            self.advance()
            arguments.append(self.expression())
        close = self.expect(")", f"to close the arguments of {name}")
        return arguments, (token.start, close.start + 1)

    def named_in_two(self, token, name: str, primes: int, end: int) -> Node:
        """A name in a two-variable problem: ``u``, ``u_xt`` (a Partial), ``diff(u, x, t)``, ``u(x, 0)`` (a FieldValue)."""
        variables = self.variables
        if primes:
            raise ExpressionError(f"primes mark derivatives in one variable, but this problem has two ({', '.join(variables)})",
                                  f"Write the partial derivative as {subscript_example(name, variables)} or diff({name}, {variables[0]}).",
                                  (token.start, end))
        function = canonical_function(name)
        unknown, orders = split_subscript(name, variables)
        if not self.at("("):
            if function is not None or name == "diff":
                raise ExpressionError(f"the function {name!r} needs an argument in parentheses", f"Write {name}(...).", (token.start, end))
            if any(orders):
                return Partial(unknown, orders, variables, (token.start, end), written=name)
            return Name(name, (token.start, end))
        arguments, span = self.call_arguments(token, name)
        if name == "diff":
            return _partial_diff(arguments, variables, span)
        if function is not None:
            if len(arguments) != 1:
                rewrite = function_rewrite(name, arguments)
                raise ExpressionError(f"{name} takes one argument, got {len(arguments)}",
                                      f"Write {rewrite}." if rewrite else f"Write {name}(...) with a single argument.", span)
            return Call(function, tuple(arguments), span)
        if len(arguments) != len(variables):
            example = f"{name}({variables[0]}, 0)"
            raise ExpressionError(f"{name}(...) with {len(arguments)} argument{'s' if len(arguments) != 1 else ''}: in this problem an "
                                  f"unknown takes one per variable ({', '.join(variables)})",
                                  f"Write for example {example} (holds for every {variables[0]}) or {name}(0, {variables[1]}).", span)
        return FieldValue(unknown, orders, variables, tuple(arguments), span)


def split_subscript(name: str, variables: Tuple[str, ...]) -> Tuple[str, Tuple[int, ...]]:
    """``u_xxt`` -> (``u``, (2, 1)) for variables (x, t) of one letter each; any other name -> (name, (0, 0))."""
    none = (name, tuple(0 for _ in variables))
    if not all(len(v) == 1 for v in variables):
        return none
    match = re.fullmatch(r"(.+)_([A-Za-z]+)", name)
    if not match or not set(match.group(2)) <= set(variables):
        return none
    letters = match.group(2)
    return match.group(1), tuple(letters.count(v) for v in variables)


def subscript_example(name: str, variables: Tuple[str, ...]) -> str:
    return f"{name}_{variables[0]}" if all(len(v) == 1 for v in variables) else f"diff({name}, {variables[0]})"


def _partial_diff(arguments, variables: Tuple[str, ...], span: Span) -> Partial:
    """``diff(u, x)``, ``diff(u, x, 2)``, ``diff(u, x, t)``, ``diff(u, x, 2, t)``: each variable optionally followed by a count."""
    fix = (f"Write diff(u, {variables[0]}), diff(u, {variables[0]}, 2) or diff(u, {variables[0]}, {variables[1]}): an unknown, "
           f"then variables ({', '.join(variables)}), each optionally followed by a whole number of times.")
    if len(arguments) < 2:
        raise ExpressionError(f"diff takes an unknown and at least one variable, got {len(arguments)} argument(s)", fix, span)
    unknown = arguments[0]
    if not isinstance(unknown, Name):
        raise ExpressionError("the first argument of diff must be the name of an unknown", fix, unknown.span)
    orders = [0] * len(variables)
    last = None
    for argument in arguments[1:]:
        if isinstance(argument, Name):
            if argument.name not in variables:
                raise ExpressionError(f"diff by {argument.name!r}, which is not a variable of this problem ({', '.join(variables)})"
                                      f"{did_you_mean(argument.name, variables)}", fix, argument.span)
            last = variables.index(argument.name)
            orders[last] += 1
        elif isinstance(argument, Number) and last is not None and argument.value == int(argument.value) and argument.value >= 1:
            orders[last] += int(argument.value) - 1
            last = None
        else:
            raise ExpressionError(f"{to_text(argument)!r} in diff: expected a variable's name or a whole number >= 1 after one", fix,
                                  argument.span)
    if sum(orders) > MAX_DERIVATIVE_ORDER:
        raise ExpressionError(f"derivative of order {sum(orders)} is beyond the limit of {MAX_DERIVATIVE_ORDER}", _ORDER_FIX, span)
    return Partial(unknown.name, tuple(orders), variables, span)


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


def parse_expression(text: str, variables: Optional[Tuple[str, ...]] = None) -> Node:
    """Parse one expression (no ``=``) into a tree; ``variables`` (two names) for a problem on a rectangle."""
    parser = _Parser(text, variables)
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


def parse_equation(text: str, variables: Optional[Tuple[str, ...]] = None) -> Equation:
    """Parse ``left = right``; ``variables`` (two names) for a problem on a rectangle."""
    parser = _Parser(text, variables)
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


