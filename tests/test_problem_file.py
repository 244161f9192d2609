"""Problem files: what loads (and into what), and what is refused (and how it says so).

Every refusal must name the file, the place in it, what is wrong and how to
fix it; for a fault inside an expression, a caret under the offending column.
"""

from __future__ import annotations

import dataclasses
import math
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from pinn.errors import ProblemError
from pinn.problem import AdamSpec, LbfgsSpec, NetworkSpec, OutputSpec, Problem, TrainingSpec
from pinn.problem_file import (
    LIMITS, apply_overrides, load_problem, parse_override, problem_from_dict, problem_from_text,
)

from conftest import one_variable

REPO = Path(__file__).resolve().parent.parent
PROBLEMS = one_variable(sorted((REPO / "problems").glob("*.yaml")))


def write(tmp_path: Path, text: str, name: str = "problem.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, overrides=(), name: str = "problem.yaml") -> Problem:
    return load_problem(write(tmp_path, text, name), overrides)


# ------------------------------------------------------------------ examples


def test_quadratic_loads():
    problem = load_problem(REPO / "problems" / "quadratic.yaml")
    assert problem.name == "quadratic"
    assert problem.kind == "bvp"
    assert problem.variable == "x"
    assert problem.domain == (0.0, 1.0)
    assert problem.unknowns == ("y",)
    assert dict(problem.orders) == {"y": 2}
    assert problem.max_order == 2
    assert problem.parameters == ()
    assert [e.source for e in problem.equations] == ["y'' = 2"]
    assert [c.source for c in problem.conditions] == ["y(0) = 0", "y(1) = 1"]
    assert [c.points for c in problem.conditions] == [(0.0,), (1.0,)]
    assert [c.location for c in problem.conditions] == ["conditions[0]", "conditions[1]"]
    assert set(problem.exact) == {"y"}
    assert problem.exact["y"].source == "x^2"
    assert problem.exact["y"].location == "exact.y"
    assert problem.data is None
    # defaults filled
    assert problem.network == NetworkSpec()
    assert problem.training == TrainingSpec()
    assert problem.output == OutputSpec()
    assert problem.reference == "auto"
    assert problem.file == str(REPO / "problems" / "quadratic.yaml")
    assert "y'' = 2" in problem.as_run


@pytest.mark.parametrize("path", PROBLEMS, ids=[p.stem for p in PROBLEMS])
def test_every_shipped_problem_loads(path):
    problem = load_problem(path)
    assert problem.name == path.stem
    assert problem.kind in ("ivp", "bvp", "fit")
    if problem.kind == "fit":  # a plain fit to data has no equations
        assert not problem.equations and problem.data is not None
    else:
        assert len(problem.equations) == len(problem.unknowns)


# The two examples of the problem-format page, copied as written there.
FORMAT_PAGE_WHOLE_EXAMPLE = """\
# problems/quadratic.yaml
name: quadratic                      # optional; default: the file's stem
description: y'' = 2 on [0, 1] with y(0) = 0, y(1) = 1; exact y = x^2
variable: x                          # optional; default x (t is common for IVPs)
domain: [0, 1]                       # numbers or expressions: [0, 2*pi]
unknowns: [y]                        # optional; inferred from the equations
parameters:                          # optional named constants
  a: 2
equations:
  - y'' = a
conditions:
  - y(0) = 0
  - y(1) = 1
exact:                               # optional closed form, used for errors
  y: x^2
network:                             # optional; sensible defaults
  hidden: [32, 32, 32]
  activation: tanh
training:                            # optional; sensible defaults
  points: 128
  sampler: grid                      # grid | sobol | random
  constraints: auto                  # auto | hard | soft: conditions built into the output where possible
  adam: {steps: 3000, learning_rate: 1.0e-3}
  lbfgs: {steps: 1000}
  dtype: float64
  seed: 0
reference: auto                      # auto | ivp | bvp | none
output:
  points: 501
"""

FORMAT_PAGE_LOTKA_VOLTERRA = """\
variable: t
domain: [0, 5]
parameters: {alpha: 1.0, beta: 0.1, gamma: 1.5, delta: 0.075}
equations:
  - u' = alpha*u - beta*u*v
  - v' = delta*u*v - gamma*v
conditions:
  - u(0) = 10
  - v(0) = 5
"""


def test_format_page_whole_example_loads(tmp_path):
    problem = load(tmp_path, FORMAT_PAGE_WHOLE_EXAMPLE, name="example.yaml")
    assert problem.name == "quadratic"
    assert problem.description == "y'' = 2 on [0, 1] with y(0) = 0, y(1) = 1; exact y = x^2"
    assert (problem.variable, problem.domain, problem.unknowns) == ("x", (0.0, 1.0), ("y",))
    assert problem.parameter("a").value == 2.0 and not problem.parameter("a").trainable
    assert problem.constants["a"] == 2.0
    assert dict(problem.orders) == {"y": 2}
    assert problem.kind == "bvp"
    assert problem.network == NetworkSpec(hidden=(32, 32, 32), activation="tanh")
    training = problem.training
    assert (training.points, training.sampler, training.constraints, training.dtype, training.seed) == (128, "grid", "auto", "float64", 0)
    assert training.adam == AdamSpec(steps=3000, learning_rate=1e-3)
    assert training.lbfgs == LbfgsSpec(steps=1000)
    assert problem.reference == "auto"
    assert problem.output.points == 501


def test_format_page_lotka_volterra_loads(tmp_path):
    problem = load(tmp_path, FORMAT_PAGE_LOTKA_VOLTERRA, name="lv.yaml")
    assert problem.name == "lv"  # the file's stem
    assert problem.variable == "t"
    assert problem.domain == (0.0, 5.0)
    assert problem.unknowns == ("u", "v")  # inferred, in order of appearance
    assert dict(problem.orders) == {"u": 1, "v": 1}
    assert problem.kind == "ivp"
    assert {p.name: p.value for p in problem.parameters} == {"alpha": 1.0, "beta": 0.1, "gamma": 1.5, "delta": 0.075}
    assert problem.exact == {}


def test_defaults(tmp_path):
    problem = load(tmp_path, """\
        domain: [0, 1]
        equations: ["y' = -y"]
        conditions: ["y(0) = 1"]
        """, name="minimal.yaml")
    assert problem.name == "minimal"
    assert problem.description == ""
    assert problem.variable == "x"
    assert problem.parameters == ()
    assert problem.exact == {}
    assert problem.data is None
    assert problem.network == NetworkSpec()
    assert problem.training == TrainingSpec()
    assert problem.output == OutputSpec()
    assert problem.reference == "auto"
    assert problem.kind == "ivp"


def test_problem_is_frozen():
    problem = load_problem(REPO / "problems" / "quadratic.yaml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.name = "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.training.seed = 3


def test_text_dict_and_file_give_the_same_problem(tmp_path):
    text = (REPO / "problems" / "harmonic.yaml").read_text(encoding="utf-8")
    from_file = load_problem(REPO / "problems" / "harmonic.yaml")
    from_text = problem_from_text(text, name="harmonic")
    from_dict = problem_from_dict(yaml.safe_load(text), default_name="harmonic")
    for problem in (from_text, from_dict):
        assert problem.equations == from_file.equations
        assert problem.conditions == from_file.conditions
        assert problem.domain == from_file.domain
        assert problem.file is None


def test_loading_again_gives_the_same_problem():
    # (load time is measured in benchmarks/, not asserted here: machines differ)
    first = load_problem(REPO / "problems" / "lotka_volterra.yaml")
    for _ in range(20):
        again = load_problem(REPO / "problems" / "lotka_volterra.yaml")
        assert again.as_run == first.as_run
        assert again.domain == first.domain and again.unknowns == first.unknowns
        assert [e.source for e in again.equations] == [e.source for e in first.equations]


# ------------------------------------------------------------------ overrides

QUADRATIC = REPO / "problems" / "quadratic.yaml"
DECAY = REPO / "problems" / "decay.yaml"


def test_override_a_nested_number():
    problem = load_problem(QUADRATIC, ["training.adam.steps=500"])
    assert problem.training.adam.steps == 500
    assert problem.training.adam.learning_rate == 1e-3  # siblings kept
    assert "steps: 500" in problem.as_run


def test_overrides_as_pairs_and_mapping():
    assert load_problem(QUADRATIC, [("training.seed", 7)]).training.seed == 7
    assert load_problem(QUADRATIC, {"training.seed": 8, "output.points": 11}).output.points == 11


def test_override_with_a_list_value():
    problem = load_problem(QUADRATIC, ["network.hidden=[8, 16]", "domain=[0, 2*pi]"])
    assert problem.network.hidden == (8, 16)
    assert problem.domain == (0.0, 2 * math.pi)


def test_override_list_items_by_index():
    problem = load_problem(QUADRATIC, ["equations.0=y'' = 6*x", "conditions.1=y(1) = 2", "domain.1=2"])
    assert problem.equations[0].source == "y'' = 6*x"
    assert problem.conditions[1].source == "y(1) = 2"
    assert problem.domain == (0.0, 2.0)


def test_override_adds_missing_sections():
    problem = load_problem(QUADRATIC, ["parameters.a=3", "equations.0=y'' = a", "training.lbfgs.steps=0"])
    assert problem.parameter("a").value == 3.0
    assert problem.training.lbfgs.steps == 0


@pytest.mark.parametrize("overrides, fix", [
    (["parameters.kk=2"], "Did you mean 'k'? Set one the file declares: k."),  # decay declares k
    (["parameters.rate=2"], "Set one the file declares: k."),
], ids=["misspelt", "unrelated"])
def test_override_of_a_parameter_neither_declared_nor_used_is_refused(overrides, fix):
    # it would change nothing: a sweep over a misspelt key would run identical copies
    with pytest.raises(ProblemError) as caught:
        load_problem(DECAY, overrides)
    error = caught.value
    name = overrides[0].split("=")[0].split(".")[1]
    assert error.location == f"--set parameters.{name}" and error.file == str(DECAY)
    assert f"there is no parameter '{name}': the file declares k, and no expression uses '{name}'" in error.message
    assert error.fix == fix


def test_override_of_a_parameter_in_a_file_without_parameters_is_refused():
    with pytest.raises(ProblemError, match="the file declares no parameters, and no expression uses 'a'"):
        load_problem(QUADRATIC, ["parameters.a=3"])


def test_looking_for_a_parameters_uses_reads_each_shared_yaml_node_once():
    # a list that holds itself (&a [*a]) is refused as before, not walked forever
    text = "domain: [0, 1]\nequations: &a [\"y'' = 2\", *a]\nconditions: ['y(0) = 0', 'y(1) = 1']\n"
    with pytest.raises(ProblemError, match="no expression uses 'zz'"):
        problem_from_text(text, ["parameters.zz=1"])


def test_override_may_declare_a_parameter_an_expression_uses():
    # the file uses lam but does not declare it: --set supplies the declaration (before or after the equation's --set)
    assert load_problem(QUADRATIC, ["equations.0=y'' = lam", "parameters.lam=2"]).parameter("lam").value == 2.0
    assert load_problem(DECAY, ["parameters.k=3"]).parameter("k").value == 3.0


def test_later_overrides_win():
    assert load_problem(QUADRATIC, ["training.seed=1", "training.seed=2"]).training.seed == 2


def test_apply_overrides_does_not_change_its_input():
    document = {"training": {"adam": {"steps": 10}}, "equations": ["y' = 1"]}
    changed = apply_overrides(document, ["training.adam.steps=20", "equations.0=y' = 2"])
    assert changed == {"training": {"adam": {"steps": 20}}, "equations": ["y' = 2"]}
    assert document == {"training": {"adam": {"steps": 10}}, "equations": ["y' = 1"]}


@pytest.mark.parametrize("text, key, value", [
    ("training.adam.steps=500", "training.adam.steps", 500),
    ("training.adam.learning_rate=1e-3", "training.adam.learning_rate", 1e-3),
    ("network.hidden=[8, 8]", "network.hidden", [8, 8]),
    ("equations.0=y'' = 2", "equations.0", "y'' = 2"),
    ("training.jit_compile=false", "training.jit_compile", False),
    ("description=", "description", ""),
    (" training.seed = 3", "training.seed", 3),
    ("name=a: b: c", "name", "a: b: c"),  # not YAML: kept as text
    ("domain=" + "[" * 1200, "domain", "[" * 1200),  # too deep for YAML: kept as text (and refused later)
])
def test_parse_override(text, key, value):
    assert parse_override(text) == (key, value)


@pytest.mark.parametrize("text", ["training.adam.steps", "=5", "training..steps=5", ".seed=1"])
def test_parse_override_refuses(text):
    with pytest.raises(ProblemError) as caught:
        parse_override(text)
    assert caught.value.location == "--set"
    assert "training.adam.steps=500" in caught.value.fix


#: override, expected location, a piece of the message, a piece of the fix
BAD_OVERRIDES = [
    ("trainin.adam.steps=5", "--set trainin.adam.steps", "no field 'trainin'", "Did you mean 'training'?"),
    ("training.adam.stepz=5", "--set training.adam.stepz", "unknown key 'stepz'", "Did you mean 'steps'?"),
    ("equations.5=y'' = 1", "--set equations.5", "not an index", "0, 1"),
    ("equations.first=y'' = 1", "--set equations.first", "not an index", "0, 1"),
    ("domain.0.x=1", "--set domain.0.x", "not a mapping", "--set domain.0="),
    ("training.adam.steps=-1", "--set training.adam.steps", "at least 0", ">= 0"),
    ("training.seed=abc", "--set training.seed", "whole number", "whole number"),
    ("equations.0=y'' = k", "--set equations.0", "unknown name 'k'", "parameters"),
    ("domain=[1, 0]", "--set domain", "reversed", "start < end"),
    ("network.activation=relu", "--set network.activation", "second derivative is zero", "tanh"),
    ("training.adam={steps: -1}", "training.adam.steps (from --set training.adam)", "at least 0", ">= 0"),
]


@pytest.mark.parametrize("override, location, message, fix", BAD_OVERRIDES, ids=[o for o, *_ in BAD_OVERRIDES])
def test_bad_overrides_are_refused(override, location, message, fix):
    with pytest.raises(ProblemError) as caught:
        load_problem(QUADRATIC, [override])
    error = caught.value
    assert error.file == str(QUADRATIC)
    assert error.location == location
    assert message in error.message
    assert fix in error.fix
    assert str(QUADRATIC) in str(error) and location in str(error) and error.fix in str(error)


@pytest.mark.parametrize("key", ["training.points", "output.points", "training.adam.steps", "training.lbfgs.steps", "training.lbfgs.history"])
def test_limits_are_named_in_the_message(key):
    limit = LIMITS[key]
    assert load_problem(QUADRATIC, [(key, limit)])  # the limit itself is allowed
    with pytest.raises(ProblemError) as caught:
        load_problem(QUADRATIC, [(key, limit + 1)])
    assert caught.value.location == f"--set {key}"
    assert f"beyond the limit of {limit:,}" in caught.value.message


def test_bad_override_value_points_at_its_own_text():
    with pytest.raises(ProblemError) as caught:
        load_problem(QUADRATIC, ["equations.0=y'' = 2*k"])
    assert caught.value.source == "y'' = 2*k"
    assert caught.value.span == (8, 9)


# ------------------------------------------------------------- what loads


def test_unknowns_inferred_in_order_of_appearance(tmp_path):
    problem = load(tmp_path, """\
        domain: [0, 1]
        equations: ["w' = v", "v' = -w"]
        conditions: ["w(0) = 0", "v(0) = 1"]
        """)
    assert problem.unknowns == ("w", "v")


def test_unknowns_given_keep_their_order(tmp_path):
    problem = load(tmp_path, """\
        domain: [0, 1]
        unknowns: [v, w]
        equations: ["w' = v", "v' = -w"]
        conditions: ["w(0) = 0", "v(0) = 1"]
        """)
    assert problem.unknowns == ("v", "w")
    assert dict(problem.orders) == {"v": 1, "w": 1}


def test_a_single_unknown_may_be_written_without_brackets(tmp_path):
    assert load(tmp_path, "domain: [0, 1]\nunknowns: y\nequations: [\"y' = y\"]\nconditions: ['y(0) = 1']\n").unknowns == ("y",)


def test_an_unknown_without_derivatives_must_be_given(tmp_path):
    problem = load(tmp_path, """\
        domain: [0, 1]
        unknowns: [y, z]
        equations: ["y' = z", "z = x^2"]
        conditions: ["y(0) = 0"]
        """)
    assert dict(problem.orders) == {"y": 1, "z": 0}


def test_diff_notation_and_primes_mean_the_same(tmp_path):
    primes = load(tmp_path, "domain: [0, 1]\nequations: [\"y'' + y = 0\"]\nconditions: ['y(0) = 0', 'y(1) = 1']\n")
    diff = load(tmp_path, "domain: [0, 1]\nequations: ['diff(y, x, 2) + y = 0']\nconditions: ['y(0) = 0', 'y(1) = 1']\n")
    assert primes.equations[0].equation == diff.equations[0].equation
    assert dict(diff.orders) == {"y": 2}


def test_higher_order_equation(tmp_path):
    problem = load(tmp_path, """\
        domain: [0, 1]
        equations: ["y'''' = 24"]
        conditions: ["y(0) = 0", "y'(0) = 0", "y(1) = 1", "y'(1) = 4"]
        """)
    assert dict(problem.orders) == {"y": 4}
    assert problem.kind == "bvp"


def test_trainable_parameters(tmp_path):
    problem = load(tmp_path, """\
        variable: t
        domain: [0, 1]
        parameters:
          k: {initial: 1.0, trainable: true}
          c: 2
        equations: ["u' = -k*u*c"]
        conditions: ["u(0) = 1"]
        data: {t: [0, 0.5, 1], u: [1, 0.6, 0.37]}
        exact: {k: 0.5, u: exp(-k*c*t)}
        """)
    (k,) = problem.trainable_parameters
    assert (k.name, k.value, k.trainable, k.true_value) == ("k", 1.0, True, 0.5)
    assert "k" not in problem.constants and problem.constants["c"] == 2.0
    assert problem.exact["u"].source == "exp(-k*c*t)"


def test_a_trainable_parameter_may_be_fixed_by_an_extra_condition(tmp_path):
    problem = load(tmp_path, """\
        domain: [0, 1]
        parameters: {k: {initial: 1.0, trainable: true, exact: 2.0}}
        equations: ["y' = k*y"]
        conditions: ["y(0) = 1", "y(1) = exp(2)"]
        """)
    assert problem.parameter("k").true_value == 2.0
    assert problem.kind == "bvp"


def test_parameters_defined_by_each_other_in_any_order(tmp_path):
    problem = load(tmp_path, """\
        domain: [0, L]
        parameters:
          omega: 2*pi/L
          L: 2*c
          c: half + 1/2
          half: 1/2
        equations: ["y'' = -omega^2*y"]
        conditions: ["y(0) = 0", "y'(0) = omega"]
        """)
    values = {p.name: p.value for p in problem.parameters}
    assert values == pytest.approx({"half": 0.5, "c": 1.0, "L": 2.0, "omega": math.pi})
    assert [p.name for p in problem.parameters] == ["omega", "L", "c", "half"]  # as written
    assert problem.domain == (0.0, 2.0)


def test_parameter_named_by_a_value_mapping(tmp_path):
    problem = load(tmp_path, "domain: [0, 1]\nparameters: {k: {value: 3}}\nequations: [\"y' = k\"]\nconditions: ['y(0) = 0']\n")
    assert problem.parameter("k").value == 3.0 and not problem.parameter("k").trainable


@pytest.mark.parametrize("domain, expected", [
    ("[0, 2*pi]", (0.0, 2 * math.pi)),
    ("[-pi, pi/2]", (-math.pi, math.pi / 2)),
    ("[1e-3, 1.5e1]", (1e-3, 15.0)),
    ("['-1', 'e']", (-1.0, math.e)),
    ("[0, 2*a]", (0.0, 3.0)),
])
def test_domain_ends_may_be_expressions(tmp_path, domain, expected):
    problem = load(tmp_path, f"domain: {domain}\nparameters: {{a: 1.5}}\nequations: [\"y' = 1\"]\nconditions: ['y({expected[0]!r}) = 0']\n")
    assert tuple(problem.domain) == pytest.approx(expected, rel=1e-15)


def test_condition_points_may_be_expressions(tmp_path):
    problem = load(tmp_path, """\
        domain: [0, pi]
        parameters: {h: pi/2}
        equations: ["y'' = -y"]
        conditions: ["y(h) = 1", "y'(pi/2) = 0"]
        """)
    assert [c.points for c in problem.conditions] == [(math.pi / 2,), (math.pi / 2,)]
    assert problem.kind == "ivp"
    assert problem.conditions[1].fixed.order == 1


def test_data_inline(tmp_path):
    problem = load(tmp_path, """\
        variable: t
        domain: [0, 1]
        equations: ["u' = -u"]
        conditions: ["u(0) = 1"]
        data: {t: [0, 0.5, 1], u: [1, null, 0.37]}
        """)
    assert problem.data.source == "inline"
    assert len(problem.data) == 3
    np.testing.assert_array_equal(problem.data.variable, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(problem.data.values["u"], [1.0, np.nan, 0.37])


def test_data_from_a_csv_beside_the_file_with_empty_cells_missing(tmp_path):
    (tmp_path / "observations.csv").write_text("t,u,v\n0,10,5\n0.5,,4.5\n1.0,8,\n", encoding="utf-8")
    problem = load(tmp_path, FORMAT_PAGE_LOTKA_VOLTERRA + "data: {file: observations.csv}\n")
    assert problem.data.source == str(tmp_path / "observations.csv")
    np.testing.assert_array_equal(problem.data.variable, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(problem.data.values["u"], [10.0, np.nan, 8.0])
    np.testing.assert_array_equal(problem.data.values["v"], [5.0, 4.5, np.nan])


def test_data_csv_with_a_column_for_some_unknowns_only_and_an_extra_column(tmp_path):
    (tmp_path / "obs.csv").write_text("t,u,note\n0,10,1\n1,8,2\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="note"):
        problem = load(tmp_path, FORMAT_PAGE_LOTKA_VOLTERRA + "data: {file: obs.csv}\n")
    assert set(problem.data.values) == {"u"}


def test_a_plain_fit(tmp_path):
    problem = load(tmp_path, "variable: t\ndomain: [0, 1]\ndata: {t: [0, 0.5, 1], u: [0, 0.25, 1]}\n")
    assert problem.kind == "fit"
    assert problem.unknowns == ("u",)
    assert problem.equations == () and problem.conditions == ()


@pytest.mark.parametrize("equations, conditions, kind", [
    (["y' = -y"], ["y(0) = 1"], "ivp"),
    (["y'' + y = 0"], ["y(0) = 1", "y'(0) = 0"], "ivp"),
    (["y'' + y = 0"], ["y(1) = 1", "y'(1) = 0"], "ivp"),  # one point, not necessarily the start
    (["u' = v", "v' = -u"], ["u(0) = 1", "v(0) = 0"], "ivp"),
    (["y'' = 2"], ["y(0) = 0", "y(1) = 1"], "bvp"),
    (["y'' = 2"], ["y'(0) = 0", "y(1) = 1"], "bvp"),
    (["u' = v", "v' = -u"], ["u(0) = 1", "v(1) = 0"], "bvp"),
    (["y''' = 0"], ["y(0) = 0", "y(0.5) = 1", "y(1) = 0"], "bvp"),
])
def test_ivp_or_bvp(tmp_path, equations, conditions, kind):
    problem = problem_from_dict({"domain": [0, 1], "equations": equations, "conditions": conditions})
    assert problem.kind == kind


def test_robin_condition_is_accepted(tmp_path):
    problem = load(tmp_path, """\
        domain: [0, 1]
        equations: ["y'' = y"]
        conditions: ["y(0) = 1", "y'(1) + 2*y(1) = 0"]
        """)
    robin = problem.conditions[1]
    assert robin.points == (1.0,)
    assert robin.fixed is None  # not of the form y(p) = value
    assert problem.conditions[0].fixed.value.value == 1.0
    assert problem.kind == "bvp"


def test_periodic_conditions_are_accepted(tmp_path):
    problem = load(tmp_path, """\
        domain: [0, 2*pi]
        equations: ["y'' + y = sin(2*x)"]
        conditions: ["y(0) = y(2*pi)", "y'(0) = y'(2*pi)"]
        """)
    assert [c.points for c in problem.conditions] == [(0.0, 2 * math.pi)] * 2
    assert all(c.fixed is None for c in problem.conditions)
    assert problem.kind == "bvp"


def test_conditions_on_both_sides_and_with_parameters(tmp_path):
    problem = load(tmp_path, """\
        domain: [0, 1]
        parameters: {a: 3}
        equations: ["y'' = 2"]
        conditions: ["0 = y(0)", "y(1) = a - 2"]
        """)
    first, second = problem.conditions
    assert (first.fixed.unknown, first.fixed.order, first.fixed.point) == ("y", 0, 0.0)
    assert second.fixed.point == 1.0


def test_first_order_relu_only_warns(tmp_path):
    path = write(tmp_path, "domain: [0, 1]\nequations: [\"y' = y\"]\nconditions: ['y(0) = 1']\nnetwork: {activation: relu}\n")
    with pytest.warns(UserWarning, match="piecewise linear") as record:
        problem = load_problem(path)
    assert problem.network.activation == "relu"
    assert str(path) in str(record[0].message)


def test_smooth_activations_do_not_warn(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        problem = load(tmp_path, "domain: [0, 1]\nequations: [\"y'' = y\"]\nconditions: ['y(0) = 1', 'y(1) = 0']\nnetwork: {activation: Sin}\n")
    assert problem.network.activation == "sin"


def test_yaml_reads_only_true_false_as_booleans_and_1e_3_as_a_number(tmp_path):
    problem = load(tmp_path, """\
        domain: [0, 1]
        parameters: {on: 1e-3, no: 2}
        equations: ["y' = on*no"]
        conditions: ["y(0) = 1"]
        training: {adam: {learning_rate: 1e-3}}
        """)
    assert problem.parameter("on").value == 1e-3
    assert problem.parameter("no").value == 2.0
    assert problem.training.adam.learning_rate == 1e-3


# ------------------------------------------------------------------ refusals

OK_HEAD = "domain: [0, 1]\n"
QUAD = OK_HEAD + "equations: [\"y'' = 2\"]\nconditions: ['y(0) = 0', 'y(1) = 1']\n"


def quad(**replace):
    """The quadratic problem as YAML text, with some top-level fields replaced or added."""
    document = {"domain": "[0, 1]", "equations": "[\"y'' = 2\"]", "conditions": "['y(0) = 0', 'y(1) = 1']"}
    document.update(replace)
    return "".join(f"{key}: {value}\n" for key, value in document.items() if value is not None)


#: (id, YAML text, {other file: text}, location, piece of message, piece of fix, caret span or None)
REFUSALS = [
    # the file itself
    ("malformed-yaml", "domain: [0, 1\nequations:\n  - y'' = 2\n", {}, "line 2, column 10", "not valid YAML", "indentation", None),
    ("bad-indentation", "domain: [0, 1]\nequations:\n  - y'' = 2\n conditions: []\n", {}, "line 4, column 2", "not valid YAML", "indentation", None),
    ("not-a-mapping", "- y'' = 2\n- y(0) = 1\n", {}, None, "must be a mapping", "field names", None),
    ("a-scalar", "y'' = 2\n", {}, None, "must be a mapping", "field names", None),
    ("empty", "", {}, None, "empty", "equations:", None),
    ("comments-only", "# nothing yet\n", {}, None, "empty", "equations:", None),
    ("python-tag", "domain: !!python/object/apply:os.getcwd []\n", {}, "line 1, column 9", "not valid YAML", "indentation", None),
    # keys
    ("unknown-top-key", QUAD + "equatoins: []\n", {}, "equatoins", "unknown key 'equatoins'", "Did you mean 'equations'?", None),
    ("unknown-top-key-2", QUAD + "paramters: {a: 1}\n", {}, "paramters", "unknown key", "Did you mean 'parameters'?", None),
    ("unknown-nested-key", QUAD + "training: {adam: {stpes: 10}}\n", {}, "training.adam.stpes", "unknown key 'stpes'", "Did you mean 'steps'?", None),
    ("unknown-network-key", QUAD + "network: {activations: tanh}\n", {}, "network.activations", "unknown key", "Did you mean 'activation'?", None),
    ("unknown-output-key", QUAD + "output: {point: 5}\n", {}, "output.point", "unknown key", "Did you mean 'points'?", None),
    ("unknown-parameter-key", quad(parameters="{k: {intial: 1, trainable: true}}"), {}, "parameters.k.intial", "unknown key", "Did you mean 'initial'?", None),
    ("training-not-mapping", QUAD + "training: 5\n", {}, "training", "expected a mapping", "training", None),
    ("parameters-not-mapping", quad(parameters="[a, b]"), {}, "parameters", "expected a mapping", "parameters: {k: 0.5", None),
    # equations
    ("missing-equations", OK_HEAD + "conditions: ['y(0) = 0']\n", {}, "equations", "no equations", "equations:", None),
    ("equations-not-list", quad(equations="{y: 2}"), {}, "equations", "expected a list of equations", "- ", None),
    ("equation-not-text", quad(equations="[true]"), {}, "equations[0]", "expected an expression", "quote", None),
    ("equation-without-equals", quad(equations="[\"y''\"]"), {}, "equations[0]", "needs '='", "left = right", (0, 3)),
    ("undefined-name", quad(equations="[\"y'' = k*y\"]"), {}, "equations[0]", "unknown name 'k'", "Add k under parameters", (6, 7)),
    ("undefined-name-second", quad(equations="[\"y'' = 2\", \"z' = q\"]", unknowns="[y, z]",
                                   conditions="['y(0) = 0', 'y(1) = 1', 'z(0) = 0']"), {}, "equations[1]", "unknown name 'q'", "parameters", (5, 6)),
    ("misspelt-parameter", quad(parameters="{alpha: 1}", equations="[\"y'' = alph*y\"]"), {}, "equations[0]", "unknown name 'alph'", "Did you mean 'alpha'?", (6, 10)),
    ("variable-not-declared", quad(equations="[\"y'' = t\"]"), {}, "equations[0]", "unknown name 't'", "variable: t", (6, 7)),
    ("variable-is-t-but-x-used", quad(variable="t", equations="[\"y'' = x\"]"), {}, "equations[0]", "unknown name 'x'", "variable: x", (6, 7)),
    ("unknown-function", quad(equations="[\"y'' = foo(y)\"]"), {}, "equations[0]", "'foo' is not a known function", "Known functions", (6, 12)),
    ("unknown-function-two-args", quad(equations="[\"y'' = foo(y, 2)\"]"), {}, "equations[0]", "not a known function", "Known functions", (6, 15)),
    ("misspelt-function", quad(equations="[\"y'' = sinn(x)\"]"), {}, "equations[0]", "not a known function", "Did you mean 'sin'?", (6, 13)),
    ("wrong-arity", quad(equations="[\"y'' = sin(x, 2)\"]"), {}, "equations[0]", "one argument", "single argument", (6, 15)),
    ("attribute", quad(equations="[\"y'' = y.real\"]"), {}, "equations[0]", "attribute access", "listed functions", (7, 8)),
    ("dunder-attribute", quad(equations="[\"y'' = y.__class__\"]"), {}, "equations[0]", "attribute access", "listed functions", (7, 8)),
    ("subscript", quad(equations="[\"y'' = y[0]\"]"), {}, "equations[0]", "subscripts", "y1, y2", (7, 8)),
    ("single-quoted-string", quad(equations="[\"y'' = 'abc'\"]"), {}, "equations[0]", "strings", "y''", (6, 7)),
    ("double-quoted-string", quad(equations='["y\'\' = \\"abc\\""]'), {}, "equations[0]", "strings", "Remove the quotes", (6, 7)),
    ("double-quote-for-prime", quad(equations="['y\" = 2']"), {}, "equations[0]", "strings", "y''", (1, 2)),
    ("lambda", quad(equations="[\"y'' = lambda: 0\"]"), {}, "equations[0]", "lambdas", "plain expression", (12, 13)),
    ("dunder-name", quad(equations="[\"y'' = __import__(y)\"]"), {}, "equations[0]", "double underscores", "plain name", (6, 16)),
    ("implicit-multiplication", quad(equations="[\"y'' = 2x\"]"), {}, "equations[0]", "directly followed", "2*x", (6, 8)),
    ("unbalanced", quad(equations="[\"y'' = (2\"]"), {}, "equations[0]", "expected ')'", "missing ')'", (8, 9)),
    ("double-equals", quad(equations="[\"y'' = 2 = 3\"]"), {}, "equations[0]", "only allowed once", "left = right", (8, 9)),
    ("point-in-equation", quad(equations="[\"y'' = y(0)\"]"), {}, "equations[0]", "allowed in conditions only", "conditions:", (6, 10)),
    ("derivative-point-in-equation", quad(equations="[\"y'' = y'(1)\"]"), {}, "equations[0]", "allowed in conditions only", "conditions:", (6, 11)),
    ("derivative-of-variable", quad(equations="[\"y'' = x'\"]"), {}, "equations[0]", "'x' is the variable", "Differentiate an unknown", (6, 8)),
    ("derivative-of-parameter", quad(parameters="{k: 1}", equations="[\"y'' = k'\"]"), {}, "equations[0]", "'k' is a parameter", "Differentiate an unknown", (6, 8)),
    ("diff-wrong-variable", quad(equations="['diff(y, t, 2) = 2']"), {}, "equations[0]", "with respect to 't'", "variable: t", (0, 13)),
    ("order-beyond-limit", quad(equations="[\"y" + "'" * 21 + " = 2\"]"), {}, "equations[0]", "beyond the limit of 20", "first-order system", (0, 22)),
    ("equation-count", quad(equations="[\"y'' = 2\", \"y' = 1\"]"), {}, "equations", "2 equations for 1 unknown", "one equation per unknown", None),
    ("equation-count-given-unknowns", quad(unknowns="[y, z]"), {}, "equations", "1 equation for 2 unknowns", "one equation per unknown", None),
    ("nothing-differentiated", quad(equations="['y = x^2']"), {}, "unknowns", "cannot be inferred", "unknowns: [y]", None),
    # conditions
    ("too-few-conditions", quad(conditions="['y(0) = 0']"), {}, "conditions", "too few conditions: 1 given", "Add 1 more", None),
    ("no-conditions", quad(conditions=None), {}, "conditions", "too few conditions: 0 given", "Add 2 more", None),
    ("too-many-conditions", quad(conditions="['y(0) = 0', 'y(1) = 1', 'y(0.5) = 0.25']"), {}, "conditions", "too many conditions: 3 given", "Remove the extra", None),
    ("condition-outside-domain", quad(conditions="['y(0) = 0', 'y(2) = 1']"), {}, "conditions[1]", "outside the domain [0, 1]", "inside the domain", (2, 3)),
    ("condition-before-domain", quad(conditions="['y(-0.5) = 0', 'y(1) = 1']"), {}, "conditions[0]", "outside the domain", "inside the domain", (2, 6)),
    ("condition-at-infinity", quad(conditions="['y(1/0) = 0', 'y(1) = 1']"), {}, "conditions[0]", "outside the domain", "inside the domain", (2, 5)),
    ("condition-without-point", quad(conditions="['y = 0', 'y(1) = 1']"), {}, "conditions[0]", "needs a point", "y(0)", (0, 1)),
    ("condition-derivative-without-point", quad(conditions="[\"y' = 0\", 'y(1) = 1']"), {}, "conditions[0]", "needs a point", "y'(0)", (0, 2)),
    ("condition-point-not-constant", quad(conditions="['y(x) = 0', 'y(1) = 1']"), {}, "conditions[0]", "must be a constant", "y(pi/2)", (2, 3)),
    ("condition-of-non-unknown", quad(conditions="['z(0) = 0', 'y(1) = 1']"), {}, "conditions[0]", "neither an unknown", "Unknowns: y", (0, 4)),
    ("condition-with-variable", quad(conditions="['y(0) = x', 'y(1) = 1']"), {}, "conditions[0]", "the variable 'x'", "y(0) = 1", (7, 8)),
    ("condition-undefined-name", quad(conditions="['y(0) = c', 'y(1) = 1']"), {}, "conditions[0]", "unknown name 'c'", "parameters", (7, 8)),
    ("condition-no-unknown", quad(conditions="['0 = 1', 'y(1) = 1']"), {}, "conditions[0]", "must involve an unknown", "y(0) = 1", None),
    ("conditions-not-list", quad(conditions="{y: 1}"), {}, "conditions", "expected a list of conditions", "- y(0) = 1", None),
    ("hard-with-periodic", quad(conditions="['y(0) = y(1)', \"y'(0) = 1\"]", training="{constraints: hard}"), {}, "conditions[0]",
     "cannot be built into", "constraints: auto", None),
    # domain
    ("domain-missing", quad(domain=None), {}, "domain", "missing", "[0, 2*pi]", None),
    ("domain-one-end", quad(domain="[0]"), {}, "domain", "expected two ends", "start < end", None),
    ("domain-not-list", quad(domain="0 to 1"), {}, "domain", "expected two ends", "start < end", None),
    ("domain-reversed", quad(domain="[1, 0]"), {}, "domain", "reversed", "start < end", None),
    ("domain-zero-width", quad(domain="[1, 1]"), {}, "domain", "zero width", "start < end", None),
    ("domain-zero-width-expressions", quad(domain="[pi, 4*arctan(1)]"), {}, "domain", "zero width", "start < end", None),
    ("domain-infinite", quad(domain="[0, .inf]"), {}, "domain[1]", "not a finite number", "finite", None),
    ("domain-minus-infinite", quad(domain="[-.inf, 0]"), {}, "domain[0]", "not a finite number", "finite", None),
    ("domain-nan", quad(domain="[0, .nan]"), {}, "domain[1]", "not a finite number", "finite", None),
    ("domain-overflow", quad(domain="[0, 1e400]"), {}, "domain[1]", "not a finite number", "finite", None),
    ("domain-division-by-zero", quad(domain="[0, 1/0]"), {}, "domain[1]", "not a finite number", "finite", None),
    ("domain-uses-variable", quad(domain="[0, 2*x]"), {}, "domain[1]", "'x' is not a constant", "fixed parameters", (2, 3)),
    ("domain-uses-trainable", quad(domain="[0, k]", parameters="{k: {initial: 1, trainable: true}}"), {}, "domain[1]", "trainable", "fixed parameters", (0, 1)),
    ("domain-bad-text", quad(domain="[0, 'pi pi']"), {}, "domain[1]", "no operator", "2*x", (3, 5)),
    # parameters
    ("parameter-infinite", quad(parameters="{k: .inf}"), {}, "parameters.k", "not a finite number", "finite", None),
    ("parameter-nan", quad(parameters="{k: .nan}"), {}, "parameters.k", "not a finite number", "finite", None),
    ("parameter-overflow", quad(parameters="{k: 1e400}"), {}, "parameters.k", "not a finite number", "finite", None),
    ("parameter-division-by-zero", quad(parameters="{k: 1/0}"), {}, "parameters.k", "not finite", "division by zero", None),
    ("parameter-undefined-name", quad(parameters="{a: 2*b}"), {}, "parameters.a", "unknown name 'b'", "other parameters", (2, 3)),
    ("parameter-cycle", quad(parameters="{a: 2*b, b: a + 1}"), {}, "parameters.a", "cycle", "a number", None),
    ("parameter-uses-variable", quad(parameters="{a: 2*x}"), {}, "parameters.a", "unknown name 'x'", "other parameters", (2, 3)),
    ("parameter-not-a-number", quad(parameters="{a: [1, 2]}"), {}, "parameters.a", "expected a number", "omega: 2*pi", None),
    ("parameter-is-a-function-name", quad(parameters="{sin: 1}"), {}, "parameters.sin", "function name", "another name", None),
    ("parameter-is-a-constant-name", quad(parameters="{pi: 3}"), {}, "parameters.pi", "the constant", "another name", None),
    ("parameter-dunder", quad(parameters="{__class__: 3}"), {}, "parameters.__class__", "not a valid name", "letters", None),
    ("parameter-is-the-variable", quad(parameters="{x: 3}"), {}, "parameters.x", "is the variable", "Rename", None),
    ("trainable-undetermined", quad(parameters="{k: {initial: 1, trainable: true}}", equations="[\"y'' = k\"]"), {}, "parameters",
     "nothing determines the trainable parameter k", "data:", None),
    ("trainable-not-boolean", quad(parameters="{k: {initial: 1, trainable: yes}}"), {}, "parameters.k.trainable", "true or false", "true or false", None),
    ("variable-is-a-constant", quad(variable="e"), {}, "variable", "the constant", "another name", None),
    # exact
    ("exact-undefined-name", quad(exact="{y: x^n}"), {}, "exact.y", "unknown name 'n'", "parameters", (2, 3)),
    ("exact-of-nothing", quad(exact="{z: x^2}"), {}, "exact.z", "not an unknown or a parameter", "Give closed forms of: y", None),
    ("exact-with-derivative", quad(exact="{y: \"y'\"}"), {}, "exact.y", "variable and parameters only", "x^2", (0, 2)),
    ("exact-point-value", quad(exact="{y: 'y(0)*x'}"), {}, "exact.y", "variable and parameters only", "x^2", (0, 4)),
    ("exact-unknown-function", quad(exact="{y: 'gamma(x)'}"), {}, "exact.y", "'gamma' is not a known function", "Known functions", (0, 8)),
    ("exact-misspelt-function", quad(exact="{y: 'exq(x)'}"), {}, "exact.y", "'exq' is not a known function", "Did you mean 'exp'?", (0, 6)),
    ("parameter-unknown-function", quad(parameters="{a: 'gamma(2)'}"), {}, "parameters.a", "'gamma' is not a known function", "Known functions", (0, 8)),
    ("domain-unknown-function", quad(domain="[0, 'gamma(2)']"), {}, "domain[1]", "'gamma' is not a known function", "Known functions", (0, 8)),
    ("exact-trainable-without-true-value", quad(parameters="{k: {initial: 1, trainable: true}}",
                                                conditions="['y(0) = 0', 'y(1) = 1', \"y'(0) = 0\"]", exact="{y: k*x^2}"), {},
     "exact.y", "'k' is trainable", "exact: {k: ...}", (0, 1)),
    # numbers and limits
    ("negative-steps", QUAD + "training: {adam: {steps: -5}}\n", {}, "training.adam.steps", "-5 is too small", ">= 0", None),
    ("negative-lbfgs-steps", QUAD + "training: {lbfgs: {steps: -1}}\n", {}, "training.lbfgs.steps", "too small", ">= 0", None),
    ("fractional-steps", QUAD + "training: {adam: {steps: 10.5}}\n", {}, "training.adam.steps", "whole number", "whole number", None),
    ("steps-beyond-limit", QUAD + "training: {adam: {steps: 100000000}}\n", {}, "training.adam.steps", "beyond the limit of 10,000,000", "at most", None),
    ("points-beyond-limit", QUAD + "training: {points: 1000000}\n", {}, "training.points", "beyond the limit of 100,000", "at most 100,000", None),
    ("zero-points", QUAD + "training: {points: 0}\n", {}, "training.points", "too small", ">= 1", None),
    ("output-points-beyond-limit", QUAD + "output: {points: 2000000}\n", {}, "output.points", "beyond the limit of 1,000,000", "at most", None),
    ("too-wide", QUAD + "network: {hidden: [10000]}\n", {}, "network.hidden[0]", "beyond the limit of 4,096", "at most", None),
    ("zero-width-layer", QUAD + "network: {hidden: [32, 0]}\n", {}, "network.hidden[1]", "too small", ">= 1", None),
    ("no-layers", QUAD + "network: {hidden: []}\n", {}, "network.hidden", "layer widths", "hidden: [32, 32, 32]", None),
    ("negative-learning-rate", QUAD + "training: {adam: {learning_rate: -0.1}}\n", {}, "training.adam.learning_rate", "must be positive", "greater than 0", None),
    ("huge-learning-rate", QUAD + "training: {adam: {learning_rate: 100}}\n", {}, "training.adam.learning_rate", "far too large", "1e-3", None),
    ("negative-seed", QUAD + "training: {seed: -1}\n", {}, "training.seed", "too small", ">= 0", None),
    ("negative-weight", QUAD + "training: {weights: {data: -1}}\n", {}, "training.weights.data", "negative", ">= 0", None),
    ("jit-not-boolean", QUAD + "training: {jit_compile: 'no'}\n", {}, "training.jit_compile", "true or false", "true or false", None),
    # choices
    ("unknown-activation", QUAD + "network: {activation: relux}\n", {}, "network.activation", "'relux' is not one of", "Did you mean 'relu'?", None),
    ("relu-second-order", QUAD + "network: {activation: relu}\n", {}, "network.activation", "second derivative is zero", "tanh", None),
    ("linear-second-order", QUAD + "network: {activation: linear}\n", {}, "network.activation", "second derivative is zero", "tanh", None),
    ("relu-second-order-condition", quad(equations="[\"y' = y\"]", conditions="[\"y''(0) = 1\"]", network="{activation: relu}"), {},
     "network.activation", "second derivative is zero", "tanh", None),
    ("unknown-sampler", QUAD + "training: {sampler: sobal}\n", {}, "training.sampler", "not one of", "Did you mean 'sobol'?", None),
    ("unknown-dtype", QUAD + "training: {dtype: float16}\n", {}, "training.dtype", "not one of", "float64", None),
    ("unknown-constraints", QUAD + "training: {constraints: strict}\n", {}, "training.constraints", "not one of", "auto", None),
    ("unknown-reference", QUAD + "reference: scipy\n", {}, "reference", "not one of", "ivp", None),
    ("unknown-schedule", QUAD + "training: {adam: {schedule: cosin}}\n", {}, "training.adam.schedule", "not one of", "Did you mean 'cosine'?", None),
    # name
    ("name-with-slash", QUAD + "name: ../escape\n", {}, "name", "cannot name a run folder", "letters", None),
    ("description-not-text", QUAD + "description: [1, 2]\n", {}, "description", "expected text", "text", None),
    # data
    ("data-file-missing", QUAD + "data: {file: nowhere.csv}\n", {}, "data.file", "does not exist", "beside the problem file", None),
    ("data-file-no-named-columns", QUAD + "data: {file: obs.csv}\n", {"obs.csv": "a,b\n1,2\n"}, "data.file", "has no column named x or y",
     "Name the columns x, y", None),
    ("data-file-no-unknown-column", QUAD + "data: {file: obs.csv}\n", {"obs.csv": "x,z\n0,1\n"}, "data.file (obs.csv)", "no column names an unknown",
     "column named y", None),
    ("data-file-no-variable-column", QUAD + "data: {file: obs.csv}\n", {"obs.csv": "y\n1\n"}, "data.file (obs.csv)", "no column for the variable 'x'",
     "column named x", None),
    ("data-file-non-numeric", QUAD + "data: {file: obs.csv}\n", {"obs.csv": "x,y\n0,0\n0.5,abc\n"}, "data.file", "line 3, column 'y': 'abc' is not a number",
     "Every cell must be a number", None),
    ("data-file-empty", QUAD + "data: {file: obs.csv}\n", {"obs.csv": ""}, "data.file", "is empty", "header row", None),
    ("data-file-header-only", QUAD + "data: {file: obs.csv}\n", {"obs.csv": "x,y\n"}, "data.file (obs.csv)", "no observations", "at least one row", None),
    ("data-file-missing-variable-value", QUAD + "data: {file: obs.csv}\n", {"obs.csv": "x,y\n0,0\n,1\n"}, "data.file (obs.csv)",
     "missing or non-finite", "value of x", None),
    ("data-file-outside-domain", QUAD + "data: {file: obs.csv}\n", {"obs.csv": "x,y\n0,0\n3,9\n"}, "data.file (obs.csv)",
     "outside the domain", "Widen the domain", None),
    ("data-inline-non-numeric", QUAD + "data: {x: [0, 1], y: [0, abc]}\n", {}, "data.y", "every entry must be a number", "list of numbers", None),
    ("data-inline-lengths", QUAD + "data: {x: [0, 1], y: [0]}\n", {}, "data", "different lengths", "one value per observation", None),
    ("data-inline-unknown-column", QUAD + "data: {x: [0, 1], z: [0, 1]}\n", {}, "data.z", "unknown key", "x, y", None),
    ("data-inline-infinite", QUAD + "data: {x: [0, 1], y: [0, .inf]}\n", {}, "data.y", "every entry must be a number", "list of numbers", None),
    ("data-not-mapping", QUAD + "data: [1, 2]\n", {}, "data", "expected a mapping", "file: observations.csv", None),
    ("fit-with-conditions", OK_HEAD + "conditions: ['y(0) = 0']\ndata: {x: [0, 1], y: [0, 1]}\n", {}, "conditions",
     "takes no conditions", "Remove conditions", None),
    ("fit-from-file-without-unknowns", OK_HEAD + "data: {file: obs.csv}\n", {"obs.csv": "x,y\n0,1\n"}, "unknowns", "from a file alone", "unknowns: [y]", None),
    # values PyYAML's constructors refuse: the line, not a traceback
    ("yaml-bad-date", QUAD + "description: !!timestamp 2024-02-30\n", {}, "line 4, column 14", "cannot be read as a date", "quote it", None),
    ("yaml-float-tag-on-text", QUAD + "description: !!float abc\n", {}, "line 4, column 14", "'abc' cannot be read as a number", "quote it", None),
    ("yaml-int-tag-on-nothing", QUAD + "description: !!int ''\n", {}, "line 4, column 14", "cannot be read as a whole number", "quote it", None),
    ("yaml-5000-digits", QUAD + "output: {points: " + "9" * 5000 + "}\n", {}, "line 4, column 18", "5,000 digits", "below 1e308", None),
    ("yaml-merge-of-a-scalar", QUAD + "training:\n  <<: 5\n", {}, "line 5, column 7", "merging", "<<: *name", None),
    # whole numbers too large for a float
    ("parameter-400-digits", quad(parameters="{k: " + "9" * 400 + "}"), {}, "parameters.k", "about 400 digits is too large", "below 1e308", None),
    ("true-value-400-digits", quad(parameters="{k: {value: 1, exact: " + "9" * 400 + "}}"), {}, "parameters.k.exact", "too large", "below 1e308", None),
    ("domain-400-digits", quad(domain="[0, " + "9" * 400 + "]"), {}, "domain[1]", "too large", "below 1e308", None),
    ("data-400-digits", QUAD + "data: {x: [0, 1], y: [0, " + "9" * 400 + "]}\n", {}, "data.y", "too large", "list of numbers", None),
    ("learning-rate-400-digits", QUAD + "training: {adam: {learning_rate: " + "9" * 400 + "}}\n", {}, "training.adam.learning_rate",
     "too large", "below 1e308", None),
    ("weight-400-digits", QUAD + "training: {weights: {data: " + "9" * 400 + "}}\n", {}, "training.weights.data", "too large", "below 1e308", None),
    ("seed-400-digits", QUAD + "training: {seed: " + "9" * 400 + "}\n", {}, "training.seed", "about 400 digits is beyond the limit", "at most", None),
    # constant parts that are not finite: refused at load, caret under the part
    ("equation-power-nan", quad(equations="[\"y'' = y^(0/0)\"]"), {}, "equations[0]", "'(0/0)' is not a number (nan)", "0/0", (8, 13)),
    ("equation-power-inf", quad(equations="[\"y'' = y^(1/0)\"]"), {}, "equations[0]", "'(1/0)' is infinite", "division by zero", (8, 13)),
    ("equation-overflow", quad(equations="[\"y'' = 1e200*1e200*y\"]"), {}, "equations[0]", "'1e200*1e200' is infinite", "overflow", (6, 17)),
    ("equation-constant-over-zero", quad(parameters="{k: 0}", equations="[\"y'' = y + 1/k\"]"), {}, "equations[0]", "'1/k' is infinite",
     "division by zero", (10, 13)),
    ("condition-value-inf", quad(conditions="['y(0) = 1/0', 'y(1) = 1']"), {}, "conditions[0]", "'1/0' is infinite", "division by zero", (7, 10)),
    ("condition-log-of-negative", quad(conditions="['y(0) = log(-1)', 'y(1) = 1']"), {}, "conditions[0]", "'log(-1)' is not a number (nan)",
     "logarithm", (7, 14)),
    ("exact-inf", quad(exact="{y: 1/0}"), {}, "exact.y", "'1/0' is infinite", "division by zero", (0, 3)),
    ("exact-nan-exponent", quad(exact="{y: x^(0/0)}"), {}, "exact.y", "'(0/0)' is not a number (nan)", "0/0", (2, 7)),
    ("exact-overflow-through-a-parameter", quad(parameters="{a: 800}", exact="{y: x*exp(a)}"), {}, "exact.y", "'exp(a)' is infinite",
     "overflow", (2, 8)),
    ("parameter-nan-with-caret", quad(parameters="{k: '2*(0/0)'}"), {}, "parameters.k", "not finite", "division by zero", (2, 7)),
    # expressions: size and characters
    ("expression-too-long", quad(equations="[\"y'' = " + "y+" * 6000 + "y\"]"), {}, "equations[0]", "beyond the limit of 10,000", "Shorten it", None),
    ("fullwidth-digit", quad(equations="[\"y'' = \uff12\"]"), {}, "equations[0]", "unexpected character '\uff12' (U+FF12)", "0-9", (6, 7)),
    ("arabic-indic-digit", quad(equations="[\"y'' = 2*\u0662\"]"), {}, "equations[0]", "(U+0662)", "0-9", (8, 9)),
    ("unicode-minus", quad(equations="[\"y'' = \u2212y\"]"), {}, "equations[0]", "looks like '-'", "plain ASCII", (6, 7)),
    ("greek-parameter-name", quad(parameters="{\u03c9: 1}"), {}, "parameters.\u03c9", "not a valid name", "letters", None),
    # names: they become folder names
    ("name-with-newline", QUAD + "name: \"a\\nb\"\n", {}, "name", "control character", "plain name", None),
    ("name-with-nul", QUAD + "name: \"a\\0b\"\n", {}, "name", "control character", "plain name", None),
    ("name-with-backslash", QUAD + "name: 'a\\b'\n", {}, "name", "path separator", "plain name", None),
    ("name-too-long", QUAD + "name: " + "n" * 101 + "\n", {}, "name", "longer than 100 characters", "at most 100", None),
    # data files: inside the problem's folder, rectangular, not echoed
    ("data-file-absolute", QUAD + "data: {file: /etc/passwd}\n", {}, "data.file", "absolute path", "problem file's folder", None),
    ("data-file-home", QUAD + "data: {file: ~/obs.csv}\n", {}, "data.file", "absolute path", "problem file's folder", None),
    ("data-file-up", QUAD + "data: {file: ../obs.csv}\n", {}, "data.file", "goes up out of the problem file's folder", "problem file's folder", None),
    ("data-file-up-inside", QUAD + "data: {file: sub/../../obs.csv}\n", {}, "data.file", "goes up out", "problem file's folder", None),
    ("data-file-ragged-short", QUAD + "data: {file: obs.csv}\n", {"obs.csv": "x,y\n0,0\n\n0.5\n"}, "data.file",
     "line 4 has 1 cell, but the header has 2 columns", "one cell per column", None),
    ("data-file-ragged-long", QUAD + "data: {file: obs.csv}\n", {"obs.csv": "x,y\n0,0\n0.5,1,2\n"}, "data.file", "line 3 has 3 cells",
     "one cell per column", None),
    ("data-file-column-twice", QUAD + "data: {file: obs.csv}\n", {"obs.csv": "x,y,y\n0,0,1\n"}, "data.file", "'y' appears twice", "one column", None),
    ("data-file-unicode-digit", QUAD + "data: {file: obs.csv}\n", {"obs.csv": "x,y\n0,\uff12\n"}, "data.file", "line 2, column 'y'",
     "must be a number", None),
    ("data-file-first-line-not-a-header", QUAD + "data: {file: obs.csv}\n", {"obs.csv": "root:" + "s" * 100 + "\n1,2\n"}, "data.file",
     "its first line is not a header of column names (it starts '" + ("root:" + "s" * 100)[:37] + "...')", "Name the columns", None),
]


@pytest.mark.filterwarnings("ignore:.*ignoring columns:UserWarning")
@pytest.mark.parametrize("text, files, location, message, fix, span",
                         [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_refusals(tmp_path, text, files, location, message, fix, span):
    for name, content in files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProblemError) as caught:
        load_problem(path)
    error = caught.value
    rendered = str(error)
    # the file, the place, what is wrong, how to fix it
    assert error.file == str(path)
    assert rendered.startswith(str(path))
    if location is None:
        assert error.location is None
    else:
        location = location.replace("(obs.csv)", f"({tmp_path / 'obs.csv'})")  # the CSV is shown by its path
        assert error.location == location
        assert f"{path}: {location}: " in rendered
    assert message in error.message, error.message
    assert error.fix and fix in error.fix, error.fix
    assert error.fix in rendered
    # a caret under the offending columns of the expression
    if span is not None:
        assert error.span == span
        assert caret_under(rendered) == (error.source, span)


def caret_under(rendered: str):
    """The source line and the (start, end) columns the ^^^ line marks, in a rendered error."""
    lines = rendered.splitlines()
    for index, line in enumerate(lines):
        if line.strip() and set(line.strip()) == {"^"}:
            start = len(line) - len(line.lstrip()) - 4
            return lines[index - 1][4:], (start, start + len(line.strip()))
    return None


def test_deeply_nested_yaml_is_refused_not_crashed(tmp_path):
    path = write(tmp_path, "domain: " + "[" * 1200 + "]" * 1200 + "\n")
    with pytest.raises(ProblemError, match="nested too deeply"):
        load_problem(path)


def test_refusal_ids_are_unique():
    ids = [r[0] for r in REFUSALS]
    assert len(ids) == len(set(ids))


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(ProblemError, match="no such file") as caught:
        load_problem(tmp_path / "nowhere.yaml")
    assert str(tmp_path / "nowhere.yaml") in str(caught.value)


def test_a_folder_is_refused(tmp_path):
    with pytest.raises(ProblemError, match="not a file"):
        load_problem(tmp_path)


def test_a_file_not_in_utf8_is_refused(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes("description: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ProblemError, match="UTF-8"):
        load_problem(path)


def test_errors_without_a_file_render_without_one():
    with pytest.raises(ProblemError) as caught:
        problem_from_text(quad(equations="[\"y'' = k\"]"))
    assert caught.value.file is None
    assert str(caught.value).startswith("equations[0]: unknown name 'k'")


def test_rendered_error_layout(tmp_path):
    path = write(tmp_path, quad(equations="[\"y'' = -k*y\"]"), "decay.yaml")
    with pytest.raises(ProblemError) as caught:
        load_problem(path)
    assert str(caught.value).splitlines() == [
        f"{path}: equations[0]: unknown name 'k'",
        "    y'' = -k*y",
        "           ^",
        "  Add k under parameters if it is a constant, or an equation for k if it is an unknown function "
        "(one equation per unknown, e.g. k' = ...); or use one of: x, y, pi, e.",
    ]


def test_a_system_missing_an_equation_is_told_both_fixes(tmp_path):
    # v is an unknown of the system (it has a condition) whose equation is missing: "add v under parameters" alone misleads
    path = write(tmp_path, "variable: t\ndomain: [0, 5]\nequations:\n  - u' = u - u*v\nconditions:\n  - u(0) = 10\n"
                 "  - v(0) = 5\n", "lotka.yaml")
    with pytest.raises(ProblemError) as caught:
        load_problem(path)
    error = caught.value
    assert error.location == "equations[0]" and error.message == "unknown name 'v'"
    assert "Add v under parameters if it is a constant" in error.fix
    assert "or an equation for v if it is an unknown function (one equation per unknown, e.g. v' = ...)" in error.fix


@pytest.mark.parametrize("fields, location, fix", [
    ({"equations": "[\"y'' = cot(x)\"]"}, "equations[0]", "The language has no cot; write 1/tan(x)."),
    ({"equations": "[\"y'' = 2*sec(2*x)\"]"}, "equations[0]", "The language has no sec; write 1/cos(2 * x)."),
    ({"conditions": "['y(0) = csc(1)', 'y(1) = 1']"}, "conditions[0]", "The language has no csc; write 1/sin(1). Unknowns: y."),
    ({"exact": "{y: coth(x)}"}, "exact.y", "The language has no coth; write 1/tanh(x)."),
    ({"parameters": "{k: cot(1)}", "equations": "[\"y'' = k\"]"}, "parameters.k", "The language has no cot; write 1/tan(1)."),
    ({"equations": "[\"y'' = max(x, 0.5)\"]"}, "equations[0]", "The language has no max; write (x + 0.5 + abs(x - 0.5))/2."),
    ({"equations": "[\"y'' = log(x + 1, 2)\"]"}, "equations[0]", "Write log(x + 1)/log(2)."),
], ids=["cot", "sec-compound", "csc-in-condition", "coth-in-exact", "cot-in-parameter", "max", "log-base"])
def test_a_missing_function_the_language_can_write_is_offered_its_rewrite(fields, location, fix):
    # cot(x) used to be told "Did you mean 'cos'?"
    with pytest.raises(ProblemError) as caught:
        problem_from_text(quad(**fields))
    assert caught.value.location == location and caught.value.fix == fix


def test_a_missing_function_without_a_rewrite_is_told_the_known_ones():
    with pytest.raises(ProblemError) as caught:
        problem_from_text(quad(equations="[\"y'' = cosh(x) + coss(x)\"]"))
    assert caught.value.fix.startswith("Known functions: abs, acos") and caught.value.fix.endswith("Did you mean 'cos'?")


def test_an_unknown_name_outside_equations_is_a_missing_parameter():
    # in exact: (or a condition) no equation is missing: only a parameter can be
    with pytest.raises(ProblemError) as caught:
        problem_from_text(quad(exact="{y: c*x^2}"))
    assert caught.value.fix == "Add c under parameters, or use one of: x, pi, e."


# ------------------------------------------------------------ nothing lost, nothing crashes


def test_a_date_like_name_or_description_is_text():
    problem = problem_from_text(QUAD + "name: 2024-02-30\ndescription: 2024-01-05\n")
    assert problem.name == "2024-02-30" and problem.description == "2024-01-05"


def test_merge_keys_are_read_and_the_own_keys_win():
    problem = problem_from_text(QUAD.replace("y'' = 2", "y'' = k*m") + textwrap.dedent("""\
        parameters:
          k: &base {value: 1.0, exact: 1.0}
          m: {<<: *base, value: 2.0}
        """))
    values = {p.name: (p.value, p.true_value) for p in problem.parameters}
    assert values == {"k": (1.0, 1.0), "m": (2.0, 1.0)}


def test_merge_keys_do_not_hide_a_key_given_twice():
    with pytest.raises(ProblemError, match="appears twice"):
        problem_from_text(QUAD + "parameters:\n  k: &base {value: 1.0}\n  m: {<<: *base, value: 2.0, value: 3.0}\n")


def test_a_set_value_yaml_cannot_construct_is_kept_as_text():
    problem = problem_from_text(QUAD, ["description=!!float abc", "name=2024-02-30"])
    assert problem.description == "!!float abc" and problem.name == "2024-02-30"


def test_a_removable_singularity_in_the_exact_solution_still_loads():
    problem = problem_from_text(QUAD + "exact: {y: sin(x)/x + 0*log(x)}\n")
    assert problem.exact["y"].source == "sin(x)/x + 0*log(x)"


def test_a_long_flat_sum_loads_evaluates_and_differentiates():
    import pinn.calculus as calculus
    import pinn.expressions as ex

    terms = 4_000  # within the 10,000-character limit of an expression
    problem = problem_from_text(QUAD.replace("y'' = 2", "y'' = " + "+".join(["1"] * terms) + " - " + "-".join(["y"] * 40)))
    residual = problem.equations[0].equation.residual  # y'' - (4000 - 40 y)
    value = ex.evaluate(residual, {"y": np.array([0.5, 2.0]), ("y", 2): np.zeros(2)})
    np.testing.assert_allclose(value, [-terms + 40 * 0.5, -terms + 40 * 2.0])
    assert ex.evaluate(calculus.differentiate(residual, "y"), {"y": 1.0, ("y", 2): 0.0}, calculus.CALCULUS_FUNCTIONS) == 40.0


def test_an_error_quotes_a_window_of_a_long_source():
    source = "y'' = " + "y+" * 4_000 + "sinn(y)"
    with pytest.raises(ProblemError) as caught:
        problem_from_text(QUAD.replace("y'' = 2", source))
    rendered = str(caught.value)
    assert len(rendered) < 600
    shown, caret = rendered.splitlines()[1:3]
    assert shown.startswith("    ...") and "sinn(y)" in shown
    assert shown[caret.index("^"):].startswith("sinn(y)")


def test_a_problem_text_over_the_limit_is_refused_before_parsing():
    from pinn.problem_file import MAX_PROBLEM_BYTES

    with pytest.raises(ProblemError, match="beyond the limit of 1,000,000"):
        problem_from_text("description: " + "x" * MAX_PROBLEM_BYTES + "\n" + QUAD)


def test_csv_rows_are_counted_while_streaming(tmp_path, monkeypatch):
    monkeypatch.setitem(LIMITS, "data.rows", 3)
    (tmp_path / "obs.csv").write_text("x,y\n0,0\n0.1,0\n0.2,0\n0.3,0\n0.4,not a number\n", encoding="utf-8")
    with pytest.raises(ProblemError, match="more than 3 rows") as caught:  # stopped before the bad cell below the limit
        load(tmp_path, QUAD + "data: {file: obs.csv}\n")
    assert "Subsample" in caught.value.fix


def test_a_data_file_in_a_folder_below_the_problem_loads(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "obs.csv").write_text("x,y\n0,0\n1,1\n", encoding="utf-8")
    problem = load(tmp_path, QUAD + "data: {file: data/obs.csv}\n")
    assert problem.data.source == str(tmp_path / "data" / "obs.csv")


@pytest.mark.parametrize("data, files", [
    ("{x: [0, 0.5, 0.5, 1], y: [0, 0.2, 0.3, 1]}", {}),
    ("{file: obs.csv}", {"obs.csv": "x,y\n0,0\n0.5,0.2\n1,1\n0.5,0.3\n"}),
], ids=["inline", "csv"])
def test_observations_that_disagree_at_one_point_are_warned_about(tmp_path, data, files):
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.warns(UserWarning, match=r"1 value of x has observations of y that disagree \(e\.g\. x = 0\.5: 0\.2 and 0\.3\)"):
        load(tmp_path, QUAD + f"data: {data}\n")


def test_repeated_observations_that_agree_or_are_missing_pass_quietly(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(tmp_path, QUAD + "data: {x: [0, 0.5, 0.5, 0.5, 1], y: [0, 0.2, 0.2, null, 1]}\n")
