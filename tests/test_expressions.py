"""The expression language: parser (accepted and refused text), printer, evaluator, tables.

Oracles are hand-written trees and values computed with the ``math`` module,
so a fault in numpy's table cannot hide behind itself.  The last part feeds
code-injection payloads everywhere user text enters and checks that nothing
ran: no file appeared, no global was set.
"""

from __future__ import annotations

import builtins
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from pinn import expressions as ex
from pinn.errors import ExpressionError, ProblemError
from pinn.expressions import (
    Binary, Call, Derivative, Equation, Name, Number, PointValue, Unary,
    evaluate, parse_equation, parse_expression, substitute, to_text,
)
from pinn.problem_file import load_problem

REPO = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------- tree builders


def N(value):
    return Number(float(value))


def V(name):
    return Name(name)


def B(operator, left, right):
    return Binary(operator, _node(left), _node(right))


def U(operand):
    return Unary("-", _node(operand))


def C(function, *arguments):
    return Call(function, tuple(_node(a) for a in arguments))


def D(unknown, order):
    return Derivative(unknown, order)


def P(unknown, order, point):
    return PointValue(unknown, order, _node(point))


def E(left, right):
    return Equation(_node(left), _node(right))


def _node(value):
    if isinstance(value, (int, float)):
        return N(value)
    if isinstance(value, str):
        return V(value)
    return value


# ------------------------------------------------------------ accepted: trees

ACCEPTED_TREES = [
    # numbers
    ("2", N(2)),
    ("1.5e-3", N(0.0015)),
    ("1.5E+3", N(1500)),
    ("2e3", N(2000)),
    (".5", N(0.5)),
    ("5.", N(5)),
    ("007", N(7)),
    # names, constants
    ("x", V("x")),
    ("omega_1", V("omega_1")),
    ("pi", V("pi")),
    ("e", V("e")),
    ("  x  ", V("x")),
    # the four operations and both spellings of the power
    ("x + 1", B("+", "x", 1)),
    ("x - 1", B("-", "x", 1)),
    ("x * y", B("*", "x", "y")),
    ("x / y", B("/", "x", "y")),
    ("x ** 2", B("^", "x", 2)),
    ("x ^ 2", B("^", "x", 2)),
    ("x^2", B("^", "x", 2)),
    # precedence and associativity
    ("1 + 2 * 3", B("+", 1, B("*", 2, 3))),
    ("(1 + 2) * 3", B("*", B("+", 1, 2), 3)),
    ("a - b - c", B("-", B("-", "a", "b"), "c")),
    ("a - (b - c)", B("-", "a", B("-", "b", "c"))),
    ("a / b / c", B("/", B("/", "a", "b"), "c")),
    ("a * b / c", B("/", B("*", "a", "b"), "c")),
    ("a + b * c ^ d", B("+", "a", B("*", "b", B("^", "c", "d")))),
    ("2 ^ 3 ^ 2", B("^", 2, B("^", 3, 2))),
    ("2 ** 3 ** 2", B("^", 2, B("^", 3, 2))),
    ("2 ^ 3 ** 2", B("^", 2, B("^", 3, 2))),
    ("(2 ^ 3) ^ 2", B("^", B("^", 2, 3), 2)),
    ("x * y ^ 2", B("*", "x", B("^", "y", 2))),
    # unary minus binds looser than the power
    ("-x", U("x")),
    ("-x^2", U(B("^", "x", 2))),
    ("-x**2", U(B("^", "x", 2))),
    ("(-x)^2", B("^", U("x"), 2)),
    ("-2^2", U(B("^", 2, 2))),
    ("2^-1", B("^", 2, U(1))),
    ("2**-1", B("^", 2, U(1))),
    ("x^-y^2", B("^", "x", U(B("^", "y", 2)))),
    ("--x", U(U("x"))),
    ("+x", V("x")),
    ("-(x + 1)", U(B("+", "x", 1))),
    ("2 * -x", B("*", 2, U("x"))),
    ("a - -b", B("-", "a", U("b"))),
    ("-a * b", B("*", U("a"), "b")),
    # functions and aliases (every one is checked numerically below)
    ("sin(x)", C("sin", "x")),
    ("asin(x)", C("arcsin", "x")),
    ("acos(x)", C("arccos", "x")),
    ("atan(x)", C("arctan", "x")),
    ("ln(x)", C("log", "x")),
    ("exp(-x^2)", C("exp", U(B("^", "x", 2)))),
    ("sin(x)^2", B("^", C("sin", "x"), 2)),
    ("sqrt(abs(x))", C("sqrt", C("abs", "x"))),
    # derivatives
    ("y'", D("y", 1)),
    ("y''", D("y", 2)),
    ("y'''", D("y", 3)),
    ("y''''", D("y", 4)),
    ("y" + "'" * 20, D("y", 20)),
    ("u1'", D("u1", 1)),
    ("diff(y, x)", D("y", 1)),
    ("diff(y, x, 2)", D("y", 2)),
    ("diff(y, x, 3)", D("y", 3)),
    ("diff(y,t,3)", D("y", 3)),
    ("y'' + k*y'", B("+", D("y", 2), B("*", "k", D("y", 1)))),
    ("y'^2", B("^", D("y", 1), 2)),
    # point values
    ("y(0)", P("y", 0, 0)),
    ("y(1)", P("y", 0, 1)),
    ("y'(pi/2)", P("y", 1, B("/", "pi", 2))),
    ("y''(-1)", P("y", 2, U(1))),
    ("y'(0) + 2*y(0)", B("+", P("y", 1, 0), B("*", 2, P("y", 0, 0)))),
]


@pytest.mark.parametrize("text, tree", ACCEPTED_TREES, ids=[t for t, _ in ACCEPTED_TREES])
def test_parse_expression_gives_the_tree(text, tree):
    assert parse_expression(text) == tree


def test_diff_records_the_variable_it_was_written_with():
    node = parse_expression("diff(y, t, 3)")
    assert (node.unknown, node.order, node.variable) == ("y", 3, "t")
    assert parse_expression("y'''").variable is None


def test_spans_point_at_the_text():
    node = parse_expression("2*k + sin(x)")
    assert node.span == (0, 12)
    assert node.left.right.span == (2, 3)  # k
    assert node.right.span == (6, 12)  # sin(x)
    assert parse_expression("(x + 1)").span == (0, 7)


ACCEPTED_EQUATIONS = [
    ("y'' = 2", E(D("y", 2), 2)),
    ("y' = -k*y", E(D("y", 1), B("*", U("k"), "y"))),
    ("diff(y, x, 2) + y = 0", E(B("+", D("y", 2), "y"), 0)),
    ("u' = alpha*u - beta*u*v", E(D("u", 1), B("-", B("*", "alpha", "u"), B("*", B("*", "beta", "u"), "v")))),
    ("y(0) = 1", E(P("y", 0, 0), 1)),
    ("y'(pi/2) = 0", E(P("y", 1, B("/", "pi", 2)), 0)),
    ("y(0) = y(1)", E(P("y", 0, 0), P("y", 0, 1))),
    ("y'(1) + 2*y(1) = 0", E(B("+", P("y", 1, 1), B("*", 2, P("y", 0, 1))), 0)),
    ("1 = y(0)", E(1, P("y", 0, 0))),
]


@pytest.mark.parametrize("text, equation", ACCEPTED_EQUATIONS, ids=[t for t, _ in ACCEPTED_EQUATIONS])
def test_parse_equation_gives_both_sides(text, equation):
    parsed = parse_equation(text)
    assert parsed == equation
    assert parsed.source == text
    assert parsed.residual == B("-", equation.left, equation.right)


# ----------------------------------------------------------- accepted: values

ACCEPTED_VALUES = [
    ("2", {}, 2.0),
    ("1.5e-3", {}, 0.0015),
    (".5", {}, 0.5),
    ("1 + 2 * 3", {}, 7.0),
    ("(1 + 2) * 3", {}, 9.0),
    ("10 - 4 - 3", {}, 3.0),
    ("8 / 4 / 2", {}, 1.0),
    ("2 ^ 3 ^ 2", {}, 512.0),
    ("2 ** 3 ** 2", {}, 512.0),
    ("(2 ^ 3) ^ 2", {}, 64.0),
    ("-x^2", {"x": 3.0}, -9.0),
    ("-x**2", {"x": 3.0}, -9.0),
    ("(-x)^2", {"x": 3.0}, 9.0),
    ("2^-1", {}, 0.5),
    ("-2^-2", {}, -0.25),
    ("2^-x^2", {"x": 1.0}, 0.5),
    ("--x", {"x": 4.0}, 4.0),
    ("2 * -x", {"x": 4.0}, -8.0),
    ("x^0.5", {"x": 9.0}, 3.0),
    ("x^2 + 2*x + 1", {"x": 2.0}, 9.0),
    ("pi", {}, math.pi),
    ("e", {}, math.e),
    ("2*pi", {}, 2 * math.pi),
    ("e^2", {}, math.e**2),
    ("sin(pi/6)", {}, 0.5),
    ("k*x", {"k": 2.5, "x": 2.0}, 5.0),
    ("y'' + y", {("y", 2): -1.0, "y": 1.0}, 0.0),
    ("diff(y, x, 2) * 2", {("y", 2): 3.0}, 6.0),
    ("y''' - 1", {("y", 3): 4.0}, 3.0),
]


@pytest.mark.parametrize("text, scope, value", ACCEPTED_VALUES, ids=[t for t, _, _ in ACCEPTED_VALUES])
def test_numpy_evaluation(text, scope, value):
    assert evaluate(parse_expression(text), scope) == pytest.approx(value, rel=1e-15, abs=1e-15)


def test_evaluation_of_an_equation_is_its_residual():
    equation = parse_equation("y'' = -k*y")
    assert evaluate(equation, {("y", 2): 1.0, "k": 2.0, "y": 3.0}) == 7.0


def test_point_values_are_looked_up_after_folding_the_point():
    node = substitute(parse_expression("y'(pi/2) + 2*y(0)"), ex.CONSTANTS)
    assert node.left.point == N(math.pi / 2)
    assert evaluate(node, {("y", 1, math.pi / 2): 5.0, ("y", 0, 0.0): 1.0}) == 7.0
    with pytest.raises(ValueError):
        evaluate(parse_expression("y(pi)"), {("y", 0, math.pi): 1.0})  # not folded yet


def test_evaluation_over_arrays_keeps_their_shape_and_dtype():
    x = np.linspace(0.0, 1.0, 5, dtype=np.float32)
    value = evaluate(parse_expression("x^2 + sin(x)"), {"x": x})
    assert value.shape == (5,) and value.dtype == np.float32
    np.testing.assert_allclose(value, x**2 + np.sin(x), rtol=1e-6)


def test_unknown_names_raise_key_error_in_evaluate():
    with pytest.raises(KeyError):
        evaluate(parse_expression("k*x"), {"x": 1.0})


# ------------------------------------------------------- the function tables

#: name (or alias) -> (argument, value from the math module)
FUNCTION_VALUES = {
    "sin": (0.3, math.sin(0.3)), "cos": (0.3, math.cos(0.3)), "tan": (0.3, math.tan(0.3)),
    "exp": (0.3, math.exp(0.3)), "log": (0.3, math.log(0.3)), "ln": (0.3, math.log(0.3)),
    "log10": (0.3, math.log10(0.3)), "log2": (0.3, math.log2(0.3)),
    "sqrt": (0.3, math.sqrt(0.3)), "abs": (-0.3, 0.3),
    "sinh": (0.3, math.sinh(0.3)), "cosh": (0.3, math.cosh(0.3)), "tanh": (0.3, math.tanh(0.3)),
    "arcsin": (0.3, math.asin(0.3)), "asin": (0.3, math.asin(0.3)),
    "arccos": (0.3, math.acos(0.3)), "acos": (0.3, math.acos(0.3)),
    "arctan": (0.3, math.atan(0.3)), "atan": (0.3, math.atan(0.3)),
    "arcsinh": (0.3, math.asinh(0.3)), "asinh": (0.3, math.asinh(0.3)),
    "arccosh": (1.7, math.acosh(1.7)), "acosh": (1.7, math.acosh(1.7)),
    "arctanh": (0.3, math.atanh(0.3)), "atanh": (0.3, math.atanh(0.3)),
    "erf": (0.3, math.erf(0.3)),
    "sigmoid": (0.3, 1.0 / (1.0 + math.exp(-0.3))),
}


def test_every_function_and_alias_is_covered_here():
    assert set(FUNCTION_VALUES) == set(ex.FUNCTION_NAMES)
    assert set(ex.FUNCTION_ALIASES.values()) <= set(ex.NUMPY_FUNCTIONS)


@pytest.mark.parametrize("name", sorted(FUNCTION_VALUES))
def test_every_function_parses_and_evaluates(name):
    argument, value = FUNCTION_VALUES[name]
    node = parse_expression(f"{name}(x)")
    assert node == C(ex.canonical_function(name), "x")
    assert float(evaluate(node, {"x": argument})) == pytest.approx(value, rel=1e-14)
    folded = substitute(parse_expression(f"{name}({argument!r})"), {})  # constant folding uses the same table
    assert isinstance(folded, Number) and folded.value == pytest.approx(value, rel=1e-14)


#: Functions the language lacks, with a rewrite (ex.FUNCTION_REWRITES): arguments and the value by the math module.
REWRITTEN_VALUES = {
    ("cot", 1): ((0.3,), 1 / math.tan(0.3)), ("cotan", 1): ((0.3,), 1 / math.tan(0.3)),
    ("sec", 1): ((0.3,), 1 / math.cos(0.3)), ("csc", 1): ((0.3,), 1 / math.sin(0.3)),
    ("cosec", 1): ((0.3,), 1 / math.sin(0.3)), ("coth", 1): ((0.3,), 1 / math.tanh(0.3)),
    ("sech", 1): ((0.3,), 1 / math.cosh(0.3)), ("csch", 1): ((0.3,), 1 / math.sinh(0.3)),
    ("arccot", 1): ((0.3,), math.atan(1 / 0.3)), ("acot", 1): ((-0.3,), math.pi - math.atan(1 / 0.3)),  # range (0, pi)
    ("arcsec", 1): ((1.7,), math.acos(1 / 1.7)), ("asec", 1): ((1.7,), math.acos(1 / 1.7)),
    ("arccsc", 1): ((1.7,), math.asin(1 / 1.7)), ("acsc", 1): ((1.7,), math.asin(1 / 1.7)),
    ("exp2", 1): ((0.3,), 2 ** 0.3), ("expm1", 1): ((0.3,), math.expm1(0.3)), ("log1p", 1): ((0.3,), math.log1p(0.3)),
    ("square", 1): ((-0.3,), 0.09), ("cbrt", 1): ((0.3,), 0.3 ** (1 / 3)),
    ("logistic", 1): ((0.3,), 1 / (1 + math.exp(-0.3))), ("expit", 1): ((0.3,), 1 / (1 + math.exp(-0.3))),
    ("pow", 2): ((0.3, -1.5), 0.3 ** -1.5), ("power", 2): ((0.3, 2.5), 0.3 ** 2.5),
    ("hypot", 2): ((0.3, -0.4), 0.5), ("max", 2): ((0.3, -0.4), 0.3), ("min", 2): ((0.3, -0.4), -0.4),
    ("log", 2): ((0.3, 2.0), math.log(0.3, 2)),
}


def test_every_rewrite_is_covered_here():
    assert set(REWRITTEN_VALUES) == set(ex.FUNCTION_REWRITES)
    # a rewrite is offered only for what the language lacks (log with two arguments aside)
    assert not {name for name, count in ex.FUNCTION_REWRITES if count == 1} & set(ex.FUNCTION_NAMES)


@pytest.mark.parametrize("name, count", sorted(REWRITTEN_VALUES))
def test_every_rewrite_parses_and_has_the_functions_value(name, count):
    arguments, value = REWRITTEN_VALUES[(name, count)]
    written = [parse_expression("2*x"), parse_expression("y")][:count]  # a compound argument: parenthesised where needed
    text = ex.function_rewrite(name, written).split(" (for ")[0]  # cbrt's note on its domain
    scope = {"x": arguments[0] / 2, "y": arguments[-1]}
    assert float(evaluate(parse_expression(text), scope)) == pytest.approx(value, rel=1e-13), text


def test_rewrites_parenthesise_compound_arguments():
    assert ex.function_rewrite("sec", [parse_expression("2*x")]) == "1/cos(2 * x)"
    assert ex.function_rewrite("square", [parse_expression("x + 1")]) == "(x + 1)^2"
    assert ex.function_rewrite("pow", [parse_expression("x"), parse_expression("-1")]) == "x^(-1)"
    assert ex.function_rewrite("cot", [parse_expression("x"), parse_expression("y")]) is None  # no two-argument cot


def test_documented_functions_are_all_in_the_table():
    for name in "sin cos tan exp log sqrt abs tanh sinh cosh arcsin arccos arctan asin acos atan".split():
        assert ex.canonical_function(name) is not None, name


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


def test_numpy_and_tensorflow_tables_have_the_same_keys(tf):
    assert set(ex.tensorflow_functions()) == set(ex.NUMPY_FUNCTIONS)


@pytest.mark.parametrize("name", sorted(ex.NUMPY_FUNCTIONS))
def test_numpy_and_tensorflow_agree(tf, name):
    argument = 1.7 if name == "arccosh" else 0.3
    node = parse_expression(f"{name}(x)")
    via_numpy = evaluate(node, {"x": np.float64(argument)})
    via_tf = evaluate(node, {"x": tf.constant(argument, dtype=tf.float64)}, ex.tensorflow_functions())
    assert via_tf.dtype == tf.float64
    assert abs(float(via_tf.numpy()) - float(via_numpy)) <= 1e-12  # both float64; same function


def test_tensorflow_evaluation_of_an_equation(tf):
    x = tf.constant([0.0, 0.5, 1.0], dtype=tf.float64)
    residual = evaluate(parse_equation("y'' = -k*y + exp(-x^2)"), {("y", 2): x, "y": x, "k": 2.0, "x": x},
                        ex.tensorflow_functions())
    np.testing.assert_allclose(residual.numpy(), x.numpy() + 2 * x.numpy() - np.exp(-x.numpy() ** 2), rtol=1e-14)


def test_importing_expressions_does_not_import_tensorflow():
    code = "import sys, pinn.expressions; sys.exit(1 if 'tensorflow' in sys.modules else 0)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------ refused

#: text, the column the error points at, a piece of the message
def _chains_in_parentheses(levels: int, length: int) -> str:
    """((...)*x*...*x)*x*...*x: little nesting as written, but a deep tree (left-associated chains)."""
    text = "x"
    for _ in range(levels):
        text = "(" + text + ")*" + "*".join(["x"] * (length - 1))
    return text


REFUSED_EXPRESSIONS = [
    ("'hello'", 0, "strings"),
    ('"hello"', 0, "strings"),
    ("x + 'a'", 4, "strings"),
    ('y"', 1, "strings"),
    ("y '", 2, "strings"),
    ("x.y", 1, "attribute"),
    ("x.__class__", 1, "attribute"),
    ("np.sin(x)", 2, "attribute"),
    ("a[0]", 1, "subscript"),
    ("x[1:2]", 1, "subscript"),
    ("lambda: 1", 6, "lambda"),
    ("lambda x: x", 8, "lambda"),
    ("__import__", 0, "double underscores"),
    ("__import__(x)", 0, "double underscores"),
    ("__import__('os')", 11, "strings"),
    ("__class__", 0, "double underscores"),
    ("2*__builtins__", 2, "double underscores"),
    ("x__", 0, "double underscores"),
    ("foo(1, 2)", 0, "not a known function"),
    ("open(x, w)", 0, "not a known function"),
    ("f(x, y, z)", 0, "not a known function"),
    ("sin(1, 2)", 0, "one argument"),
    ("exp(x, x)", 0, "one argument"),
    ("sin", 0, "needs an argument"),
    ("2*exp + 1", 2, "needs an argument"),
    ("sin'(x)", 0, "primes on the function"),
    ("exp()", 4, "unexpected ')'"),
    ("2x", 0, "directly followed"),
    ("3.5y", 0, "directly followed"),
    ("2 x", 2, "no operator"),
    ("x y", 2, "no operator"),
    ("(x", 2, "')'"),
    ("((x + 1)", 8, "')'"),
    ("sin(x", 5, "')'"),
    ("x)", 1, "unmatched ')'"),
    ("(x))", 3, "unmatched ')'"),
    ("", 0, "empty"),
    ("   ", 0, "empty"),
    ("x = 1", 2, "'=' is not allowed here"),
    ("a = b = c", 2, "'=' is not allowed here"),
    ("= x", 0, "missing before '='"),
    ("x ^", 3, "ends too early"),
    ("x +", 3, "ends too early"),
    ("* x", 0, "unexpected '*'"),
    ("x % 2", 2, "'%'"),
    ("x; y", 1, "';'"),
    ("x & y", 2, "'&'"),
    ("x | y", 2, "'|'"),
    ("x < 1", 2, "comparisons"),
    ("x >= 1", 2, "comparisons"),
    ("!x", 0, "'!'"),
    ("{x}", 0, "braces"),
    ("x @ y", 2, "'@'"),
    ("x # note", 2, "'#'"),
    ("x \\ y", 2, "'\\'"),
    ("é", 0, "unexpected character"),
    ("`x`", 0, "unexpected character"),
    ("$x", 0, "unexpected character"),
    ("1e400", 0, "too large"),
    ("y" + "'" * 21, 0, "beyond the limit of 20"),
    ("diff(y)", 0, "2 or 3 arguments"),
    ("diff(y, x, 2, 1)", 0, "2 or 3 arguments"),
    ("diff(2, x)", 5, "first argument"),
    ("diff(y, 2)", 8, "second argument"),
    ("diff(y, x, 0)", 11, "whole number"),
    ("diff(y, x, 1.5)", 11, "whole number"),
    ("diff(y, x, n)", 11, "whole number"),
    ("diff(y, x, 21)", 11, "beyond the limit"),
    ("diff'(y, x)", 0, "cannot carry primes"),
    ("diff", 0, "needs an argument"),
    ("(" * 150 + "x" + ")" * 150, 100, "nested too deeply"),
    ("-" * 500 + "x", 100, "nested too deeply"),
    (_chains_in_parentheses(15, 20), 0, "nested too deeply"),  # 15 levels as written, but 285 deep as a tree
    ("x" * (ex.MAX_LENGTH + 1), ex.MAX_LENGTH, "beyond the limit of 10,000"),
    ("\uff12", 0, "unexpected character '\uff12' (U+FF12)"),
    ("\u0662 + 1", 0, "(U+0662)"),
    ("x \u2212 1", 2, "looks like '-'"),
    ("y\u2032", 1, "looks like \"'\""),
    ("\u03c9 * x", 0, "(U+03C9)"),
]


@pytest.mark.parametrize("text, column, message", REFUSED_EXPRESSIONS, ids=[repr(t)[:40] for t, _, _ in REFUSED_EXPRESSIONS])
def test_parse_expression_refuses(text, column, message):
    with pytest.raises(ExpressionError) as caught:
        parse_expression(text)
    error = caught.value
    assert message in error.message
    assert error.span[0] == column
    assert error.span[1] > error.span[0]
    assert error.fix, "every refusal says how to fix it"


REFUSED_EQUATIONS = [
    ("", 0, "empty"),
    ("y''", 0, "needs '='"),
    ("y'' 2", 4, "no operator"),
    ("a = b = c", 6, "only allowed once"),
    ("y'' == 2", 5, "only allowed once"),
    ("= y", 0, "missing before '='"),
    ("y'' =", 5, "ends too early"),
    ("y'' = 2)", 7, "unmatched ')'"),
    ("(y'' = 2", 5, "')'"),
    ('y" = 2', 1, "strings"),
    ("y'' = 'a'", 6, "strings"),
    ("y'' = x.y", 7, "attribute"),
    ("y'' = y[0]", 7, "subscript"),
    ("y'' = lambda: 0", 12, "lambda"),
    ("y'' = __import__(y)", 6, "double underscores"),
    ("y'' = foo(y, 1)", 6, "not a known function"),
    ("y'' = sin(y, 2)", 6, "one argument"),
    ("y'' = 2x", 6, "directly followed"),
    ("y'' = -k*y; print(1)", 10, "';'"),
]


@pytest.mark.parametrize("text, column, message", REFUSED_EQUATIONS, ids=[repr(t) for t, _, _ in REFUSED_EQUATIONS])
def test_parse_equation_refuses(text, column, message):
    with pytest.raises(ExpressionError) as caught:
        parse_equation(text)
    assert message in caught.value.message
    assert caught.value.span[0] == column
    assert caught.value.fix


@pytest.mark.parametrize("value", [None, 3, 2.5, ["x"], b"x"])
def test_non_text_is_refused(value):
    with pytest.raises(ExpressionError, match="as text"):
        parse_expression(value)


def test_nesting_just_under_the_limit_is_accepted():
    depth = ex.MAX_DEPTH - 1
    assert parse_expression("(" * depth + "x" + ")" * depth) == V("x")
    assert evaluate(parse_expression("+".join(["x"] * 50)), {"x": 1.0}) == 50.0
    assert evaluate(parse_expression("sin(" * depth + "x" + ")" * depth), {"x": 0.0}) == 0.0


def tree_depth(node) -> int:
    """Depth of a tree, iteratively (the trees here are deep on purpose)."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ex._children(current))
    return deepest


@pytest.mark.parametrize("operator, count", [("+", 5_000), ("*", 5_000), ("-", 3_000), ("/", 3_000)])
def test_flat_chains_are_not_nesting_and_become_balanced_trees(operator, count):
    text = operator.join(["x"] * count)
    tree = parse_expression(text)
    assert tree_depth(tree) <= math.ceil(math.log2(count)) + 1  # x+x+...+x is flat, not nested: a shallow tree
    x = 1.0001
    expected = {"+": count * x, "*": x ** count, "-": x * (2 - count), "/": x ** (2 - count)}[operator]
    np.testing.assert_allclose(evaluate(tree, {"x": np.array([x])}), [expected], rtol=1e-9)


def test_balanced_chains_keep_the_value_and_the_spans():
    rng = np.random.default_rng(0)
    operators = rng.choice(["+", "-"], size=199)
    values = [float(v) for v in rng.uniform(0, 1, size=200)]
    text = repr(values[0]) + "".join(f" {o} {v!r}" for o, v in zip(operators, values[1:]))
    expected = values[0] + sum(v if o == "+" else -v for o, v in zip(operators, values[1:]))
    tree = parse_expression(text)
    assert math.isclose(evaluate(tree, {}), expected, rel_tol=1e-12, abs_tol=1e-12)
    assert tree.span == (0, len(text))
    for node in ex.walk(tree):  # every node spans whole tokens of the text
        assert node.span[0] == 0 or text[node.span[0] - 1] == " "
    factors = [float(v) for v in rng.uniform(0.5, 2, size=100)]
    operators = rng.choice(["*", "/"], size=99)
    text = repr(factors[0]) + "".join(f" {o} {v!r}" for o, v in zip(operators, factors[1:]))
    expected = math.prod([factors[0]] + [v if o == "*" else 1 / v for o, v in zip(operators, factors[1:])])
    assert math.isclose(evaluate(parse_expression(text), {}), expected, rel_tol=1e-12)


def test_chains_up_to_the_balancing_length_keep_their_left_to_right_shape():
    text = "-".join("abcdefghij")
    assert to_text(parse_expression(text)) == " - ".join("abcdefghij")
    assert parse_expression("x - y - z") == B("-", B("-", "x", "y"), "z")


def test_a_10000_term_chain_built_by_the_parser_stays_shallow():
    terms = [Number(1.0, (2 * i, 2 * i + 1)) for i in range(10_000)]
    tree = ex._chain(terms, ["+"] * 9_999, "+", "-")
    assert tree_depth(tree) == 15
    assert evaluate(tree, {}) == 10_000.0 and len(list(ex.walk(tree))) == 19_999
    assert to_text(tree).count("1") == 10_000


@pytest.mark.parametrize("text, expected", [
    ("y^(0/0)", math.nan), ("y^(1/0)", math.inf), ("1/0", math.inf), ("-1/0", -math.inf), ("0/0", math.nan),
    ("10^400", math.inf), ("(-8)^(1/3)", math.nan), ("y^(-1/0)", 0.0), ("0^(-1)", math.inf),
])
def test_plain_numbers_follow_ieee_arithmetic_never_raise(text, expected):
    value = evaluate(parse_expression(text), {"y": 2.0})
    assert isinstance(value, float)
    assert (math.isnan(value) and math.isnan(expected)) or value == expected


@pytest.mark.parametrize("text, constants, part", [
    ("x + 1/0", {}, "1/0"),
    ("x^(0/0)", {}, "(0/0)"),
    ("sin(x) + exp(1000)", {}, "exp(1000)"),
    ("y'' + k/0*y", {"k": 1.0}, "k/0"),
    ("y(1/0) = 1", {}, "1/0"),
    ("1/(1/0)", {}, "(1/0)"),  # the innermost part that is not finite, even if the whole is
    ("log(-1) + 0/0", {}, "log(-1)"),  # the first, left to right
    ("sin(x)/x", {}, None),  # not finite at x = 0 only: not constant, not refused
    ("x/(x - x)", {}, None),
    ("y'' + k/0*y", {}, None),  # k is not a constant (a trainable parameter): judged at run time
    ("2*pi + e", {}, None),
])
def test_nonfinite_constant_finds_the_offending_part(text, constants, part):
    node = parse_equation(text) if "=" in text else parse_expression(text)
    found = ex.nonfinite_constant(node, constants)
    assert (text[found.span[0]:found.span[1]] if found is not None else None) == part


# --------------------------------------------------------------- round trips

ROUND_TRIPS = [
    "2", "1.5e-3", ".5", "1e20", "1.5e-300", "0.1", "x", "pi", "-x", "--x", "-(-x)",
    "x + y", "x - y - z", "x - (y - z)", "x - (y + z)", "x / (y * z)", "x / y / z", "x * (y / z)",
    "(x + 1) * (x - 1)", "-(x + 1)", "-x * y", "-(x * y)", "x * -y", "x - -y",
    "x ^ 2", "-x ^ 2", "(-x) ^ 2", "x ^ -1", "2 ^ 3 ^ 2", "(2 ^ 3) ^ 2", "x ^ (y + 1)", "x ^ -y ^ 2",
    "(x ^ y) ^ -z", "-(x ^ y) ^ z", "(x * y) ^ 2", "x ^ (1 / 2)", "(x / y) ^ (a - b)",
    "sin(x) ^ 2", "exp(-x ^ 2 / 2) / sqrt(2 * pi)", "asin(x) + ln(x)", "abs(-x)", "erf(x) * sigmoid(x)",
    "y'", "y''", "y'''", "diff(y, x, 3)", "y'' + 2 * z * y' + w ^ 2 * y",
    "y(0)", "y'(pi / 2)", "y''(-1)", "y'(1) + 2 * y(1)", "y(0) - y(1)",
    "y'' = -y", "y' = -k * y", "u' = alpha * u - beta * u * v", "y(0) = y(1)", "y'(0) + 2 * y(0) = 0",
    "diff(y, x, 2) + y = sin(x)", "1 = y(0)", "-y'' = (1 + x) ^ -2",
]


@pytest.mark.parametrize("text", ROUND_TRIPS)
def test_to_text_round_trips(text):
    parse = parse_equation if "=" in text else parse_expression
    tree = parse(text)
    printed = to_text(tree)
    assert parse(printed) == tree
    assert to_text(parse(printed)) == printed  # printing is a fixed point


def test_to_text_of_substituted_negative_numbers_keeps_the_meaning():
    # substitute() makes negative numbers; as a power's base they need parentheses
    for text, values in [("a ^ x", {"a": -2.0}), ("a ^ 2 * x", {"a": -3.0}), ("-a", {"a": -1.0}), ("x - a", {"a": -4.0})]:
        tree = substitute(parse_expression(text), values)
        reparsed = parse_expression(to_text(tree))
        assert evaluate(reparsed, {"x": 2.0}) == evaluate(tree, {"x": 2.0}), (text, to_text(tree))


def test_to_text_does_not_crash_on_non_finite_numbers():
    tree = substitute(parse_expression("x + a / b"), {"a": 1.0, "b": 0.0})
    assert to_text(tree) == "x + inf"


# ----------------------------------------------------------------- substitute


def test_substitute_folds_constant_subtrees():
    assert substitute(parse_expression("2*a + 1"), {"a": 3.0}) == N(7)
    assert substitute(parse_expression("-a^2"), {"a": 3.0}) == N(-9)
    assert substitute(parse_expression("sin(pi/2)"), ex.CONSTANTS) == N(1)
    assert substitute(parse_expression("2^-1"), {}) == N(0.5)
    folded = substitute(parse_expression("a*x + b*c"), {"a": 2.0, "b": 3.0, "c": 4.0})
    assert folded == B("+", B("*", 2, "x"), 12)
    kept = substitute(parse_expression("k*y'' + x"), {"a": 1.0})
    assert kept == parse_expression("k*y'' + x")


def test_substitute_folds_the_points_of_point_values_and_equations():
    folded = substitute(parse_equation("y'(pi/2) = 2*a"), {**ex.CONSTANTS, "a": 1.5})
    assert folded == E(P("y", 1, math.pi / 2), 3)


def test_substitute_uses_ieee_arithmetic_for_constants():
    assert substitute(parse_expression("1/0"), {}).value == math.inf
    assert math.isnan(substitute(parse_expression("(-8)^(1/3)"), {}).value)


def test_constant_value():
    assert ex.constant_value(parse_expression("2*pi")) == 2 * math.pi
    assert ex.constant_value(parse_expression("e^0")) == 1.0
    with pytest.raises(ValueError):
        ex.constant_value(parse_expression("2*x"))


def test_walk_visits_parents_before_children_and_point_expressions():
    nodes = list(ex.walk(parse_equation("y'(a) = sin(x)")))
    assert [type(n).__name__ for n in nodes] == ["Equation", "PointValue", "Name", "Call", "Name"]


def test_trees_are_frozen():
    tree = parse_expression("x + 1")
    with pytest.raises(AttributeError):
        tree.operator = "-"


# ------------------------------------------------------------ injection canary

#: Text that, if it ever reached eval/exec, would create ./CANARY or set a global.
PAYLOADS = [
    "__import__('pathlib').Path('CANARY').touch()",
    "__import__('os').system('touch CANARY')",
    "open('CANARY', 'w').write('x')",
    "open(\"CANARY\", \"w\")",
    "exec(\"open('CANARY','w')\")",
    "eval(\"open('CANARY','w')\")",
    "exec(compile('open(1)', 'CANARY', 'exec'))",
    "globals().update(CANARY_SET=1)",
    "globals()['CANARY_SET'] = 1",
    "setattr(__builtins__, 'CANARY_SET', 1)",
    "(lambda: open('CANARY', 'w'))()",
    "[c for c in ().__class__.__bases__[0].__subclasses__()]",
    "getattr(__import__('os'), 'system')('touch CANARY')",
    "import os; os.system('touch CANARY')",
    "1 if open('CANARY', 'w') else 0",
    "y'' = __import__('os').system('touch CANARY')",
    "exec(CANARY)",
    "open(CANARY, w)",
    "__import__(os)",
    "y(0) = exec(CANARY)",
]

#: Payloads that are syntax errors for the parser itself (the rest are caught by the loader).
PARSER_PAYLOADS = [p for p in PAYLOADS if p not in ("exec(CANARY)", "y(0) = exec(CANARY)")]


@pytest.fixture
def canary(tmp_path, monkeypatch):
    """Run in an empty folder; afterwards check no side effect of executing a payload."""
    monkeypatch.chdir(tmp_path)
    before = set(globals())
    yield tmp_path
    assert not (tmp_path / "CANARY").exists(), "a payload was executed"
    assert not any(p.name == "CANARY" for p in Path.cwd().iterdir())
    assert "CANARY_SET" not in globals() and set(globals()) == before
    assert not hasattr(builtins, "CANARY_SET")


@pytest.mark.parametrize("payload", PARSER_PAYLOADS)
def test_canary_parse_expression(canary, payload):
    with pytest.raises(ExpressionError):
        parse_expression(payload)


@pytest.mark.parametrize("payload", PARSER_PAYLOADS)
def test_canary_parse_equation(canary, payload):
    with pytest.raises(ExpressionError):
        parse_equation(payload)


def test_canary_parsed_calls_are_inert_trees(canary):
    # exec(CANARY) parses as a point value of an unknown called exec: a tree, never a call
    tree = parse_expression("exec(CANARY)")
    assert tree == P("exec", 0, "CANARY")
    with pytest.raises(KeyError):
        evaluate(substitute(tree, {"CANARY": 1.0}), {})


BASE = {
    "domain": [0, 1],
    "parameters": {"k": 1},
    "equations": ["y' = -k*y"],
    "conditions": ["y(0) = 1"],
    "exact": {"y": "exp(-k*x)"},
}


def _with(path, value):
    document = yaml.safe_load(yaml.safe_dump(BASE))
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return document


FIELDS = {
    "equation": ("equations", 0),
    "condition": ("conditions", 0),
    "parameter": ("parameters", "k"),
    "domain_end": ("domain", 1),
    "exact": ("exact", "y"),
    "data": ("data",),
}


@pytest.mark.parametrize("field", sorted(FIELDS))
@pytest.mark.parametrize("payload", PAYLOADS)
def test_canary_in_problem_files(canary, field, payload):
    value = {"x": [0, payload], "y": [1, 1]} if field == "data" else payload
    path = canary / "bad.yaml"
    path.write_text(yaml.safe_dump(_with(FIELDS[field], value)), encoding="utf-8")
    with pytest.raises(ProblemError) as caught:
        load_problem(path)
    assert str(path) in str(caught.value)
    assert sorted(p.name for p in canary.iterdir()) == ["bad.yaml"]


@pytest.mark.parametrize("key", ["equations.0", "conditions.0", "parameters.k", "domain.1", "exact.y"])
@pytest.mark.parametrize("payload", PAYLOADS + ["!!python/object/apply:os.system ['touch CANARY']"])
def test_canary_in_overrides(canary, key, payload):
    path = canary / "good.yaml"
    path.write_text(yaml.safe_dump(BASE), encoding="utf-8")
    with pytest.raises(ProblemError) as caught:
        load_problem(path, [f"{key}={payload}"])
    assert str(path) in str(caught.value)
    assert sorted(p.name for p in canary.iterdir()) == ["good.yaml"]


@pytest.mark.parametrize("text", [
    "equations: !!python/object/apply:os.system ['touch CANARY']\n",
    "domain: [0, 1]\nequations: [!!python/object/apply:os.system ['touch CANARY']]\n",
    "domain: !!python/name:builtins.exec ''\n",
    "!!python/object/new:type ['CANARY', [], {}]\n",
])
def test_canary_yaml_tags_are_not_constructed(canary, text):
    path = canary / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProblemError, match="not valid YAML"):
        load_problem(path)


def test_the_language_modules_have_no_eval():
    import re

    paths = sorted((REPO / "pinn").glob("expression*.py"))
    assert len(paths) == 4  # expressions, expression_nodes, expression_tokens, expression_eval
    for path in paths:
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"(?<![\w.])(eval|exec|compile|__import__|getattr)\(", source), path
        assert not re.search(r"^\s*(import|from)\s+(ast|sympy)\b", source, re.MULTILINE), path


def test_an_expression_error_passes_through_a_context_manager_unchanged():
    import contextlib

    @contextlib.contextmanager
    def around():
        yield

    with pytest.raises(ExpressionError, match="empty"):  # not FrozenInstanceError on __traceback__
        with around():
            parse_expression("")
