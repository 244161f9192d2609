"""Fuzzing the parser and the loader: whatever the text, only our own errors come out.

The parser may raise :class:`ExpressionError` and nothing else; an expression
it accepts evaluates (numpy, errors ignored) without an exception.  The loader
(:func:`problem_from_text`, YAML built from random fields, random values and
random expressions, plus ``--set`` overrides) may raise :class:`ProblemError`
and nothing else.  500 cases per property by default (derandomised, so a run
is repeatable); 10,000 random ones under ``-m slow``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pinn import expressions as ex  # noqa: E402
from pinn.errors import ExpressionError, ProblemError  # noqa: E402
from pinn.problem_file import problem_from_text  # noqa: E402

QUICK = settings(max_examples=500, deadline=None, database=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SLOW = settings(max_examples=10_000, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ---------------------------------------------------------------- expressions

#: Pieces of the language and of its near misses, glued into random text.
PIECES = [
    "x", "y", "z", "t", "k", "u", "pi", "e", "sin", "cos", "exp", "log", "sqrt", "abs", "asin", "erf", "sigmoid", "diff",
    "y'", "y''", "u'", "foo", "__import__", "_", "y_x",
    "0", "1", "2", "2.5", ".5", "1e-3", "1e308", "1e400", "9" * 400, "0/0", "1/0",
    "+", "-", "*", "/", "^", "**", "(", ")", ",", "=", "'", "''", " ", "  ",
    ".", "[", "]", "{", "}", ":", ";", "#", "!", "@", "\"", "\\", "\n", "\t", "\x00",
    "\uff12", "\u0662", "\u2212", "\u00d7", "\u2032", "\u00e9", "\u03c0", "\u200b", "\u00a0",
]
expression_text = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=30).map("".join),
    st.text(max_size=40),
    st.text(alphabet="xy'()+-*/^=0123456789.,e ", max_size=60),
)


def _scope_for(node):
    """Values for every name, derivative and point value in ``node``: arrays of 3 points."""
    scope = {}
    for inner in ex.walk(node):
        if isinstance(inner, ex.Name) and inner.name not in ex.CONSTANTS:
            scope[inner.name] = np.array([-1.0, 0.0, 2.0])
        elif isinstance(inner, ex.Derivative):
            scope[(inner.unknown, inner.order)] = np.array([0.5, 1.0, -3.0])
        elif isinstance(inner, ex.PointValue) and isinstance(inner.point, ex.Number):
            scope[(inner.unknown, inner.order, inner.point.value)] = 0.25
    return scope


def check_parser(text: str) -> None:
    for parse in (ex.parse_expression, ex.parse_equation):
        try:
            node = parse(text)
        except ExpressionError as error:
            assert error.message and error.fix and error.span[1] > error.span[0], error
            continue
        folded = ex.rewrite(node, lambda n: ex.replace(n, point=ex.substitute(n.point, ex.CONSTANTS))
                            if isinstance(n, ex.PointValue) else None)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ex.evaluate(folded, _scope_for(folded))
        ex.nonfinite_constant(node)
        printed = ex.to_text(node)
        try:
            parse(printed)
        except ExpressionError as error:  # only a limit may refuse the printed form (parentheses added)
            assert "nested too deeply" in error.message or "beyond the limit" in error.message, (printed, error)


@QUICK
@given(expression_text)
def test_the_parser_raises_only_expression_errors(text):
    check_parser(text)


@pytest.mark.slow
@SLOW
@given(expression_text)
def test_the_parser_raises_only_expression_errors_long_run(text):
    check_parser(text)


# ------------------------------------------------------------------ the loader

names = st.one_of(st.sampled_from(["x", "t", "y", "u", "v", "k", "a", "pi", "sin", "diff", "_", "y1"]), st.text(max_size=8))
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10, max_value=10), st.integers(min_value=-10 ** 400, max_value=10 ** 400),
    st.floats(allow_nan=True, allow_infinity=True), expression_text, st.sampled_from(["tanh", "relu", "grid", "auto", "hard", "float64"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(names, inner, max_size=4)),
                      max_leaves=12)
equations = st.lists(st.one_of(st.sampled_from(["y'' = 2", "y' = -k*y", "u' = u*v", "y'' = -y^(0/0)", "y(0) = 0"]), expression_text),
                     max_size=3)
conditions = st.lists(st.one_of(st.sampled_from(["y(0) = 0", "y(1) = 1", "y'(0) = 1/0", "y(0) = y(1)", "u(0) = 1"]), expression_text),
                      max_size=3)

FIELDS = {
    "name": values, "description": values, "variable": names, "unknowns": st.one_of(st.lists(names, max_size=3), values),
    "domain": st.one_of(st.lists(st.one_of(st.integers(-10 ** 400, 10 ** 400), st.floats(), expression_text), max_size=3), values),
    "parameters": st.one_of(st.dictionaries(names, st.one_of(scalars, st.fixed_dictionaries(
        {}, optional={"initial": scalars, "value": scalars, "trainable": scalars, "exact": scalars})), max_size=3), values),
    "equations": st.one_of(equations, values), "conditions": st.one_of(conditions, values),
    "exact": st.one_of(st.dictionaries(names, st.one_of(expression_text, scalars), max_size=2), values),
    "data": st.one_of(st.dictionaries(names, st.lists(scalars, max_size=4), max_size=3), st.fixed_dictionaries({"file": values}), values),
    "network": st.one_of(st.fixed_dictionaries({}, optional={"hidden": values, "activation": values}), values),
    "training": st.one_of(st.dictionaries(st.sampled_from(["points", "sampler", "adam", "lbfgs", "seed", "weights", "dtype",
                                                           "constraints", "smoothness", "jit_compile", "resample_every"]),
                                          values, max_size=4), values),
    "reference": values, "output": values,
}
BASE = {"domain": [0, 1], "equations": ["y'' = 2"], "conditions": ["y(0) = 0", "y(1) = 1"]}

documents = st.fixed_dictionaries({}, optional=FIELDS).map(lambda fields: {**BASE, **fields})
overrides = st.lists(st.one_of(
    st.tuples(st.sampled_from(list(FIELDS) + ["training.adam.steps", "equations.0", "parameters.k", "nosuch.field"]),
              st.one_of(expression_text, st.sampled_from(["2024-02-30", "!!float abc", "!!int ''", "[1, 2", "*a", "<<: 1"])))
    .map(lambda pair: f"{pair[0]}={pair[1]}"),
    st.text(max_size=20),
), max_size=2)
yaml_text = st.one_of(
    documents.map(lambda document: yaml.safe_dump(document, allow_unicode=True)),
    st.tuples(documents.map(lambda document: yaml.safe_dump(document)), st.integers(0, 400), st.sampled_from(
        ["!!float abc", "!!int ''", "!!timestamp 2024-02-30", "&a", "*a", "<<: *a\n", ": :", "- -", "\t", "'", "{", "]", "%", "!!python/none"]))
    .map(lambda parts: parts[0][:parts[1]] + parts[2] + parts[0][parts[1]:]),
    st.text(max_size=80),
)


def check_loader(text: str, sets) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            problem_from_text(text, sets)
        except ProblemError as error:
            rendered = str(error)
            assert error.message and "Traceback" not in rendered
            assert len(rendered) < 6_000, rendered[:200]


@QUICK
@given(yaml_text, overrides)
def test_the_loader_raises_only_problem_errors(text, sets):
    check_loader(text, sets)


@pytest.mark.slow
@SLOW
@given(yaml_text, overrides)
def test_the_loader_raises_only_problem_errors_long_run(text, sets):
    check_loader(text, sets)
