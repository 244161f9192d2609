"""Problems without a unique answer (or that cannot train) are refused at load: pinn.wellposed.

Each refusal names the field, the reason and the fix; legitimate problems
(periodic, Robin, multi-point, inverse, data fits) still load.  No TensorFlow.
"""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import pytest

from pinn import memory_estimate, wellposed  # memory_cap looks machine_memory up in pinn.memory_estimate
from pinn.errors import ProblemError
from pinn.problem_file import load_problem, problem_from_text
from conftest import one_variable

REPO = Path(__file__).resolve().parent.parent
PROBLEMS = one_variable(sorted((REPO / "problems").glob("*.yaml")))


def problem(text: str, overrides=()):
    return problem_from_text(textwrap.dedent(text), overrides)


def refused(text: str, overrides=()) -> ProblemError:
    with pytest.raises(ProblemError) as info:
        problem(text, overrides)
    return info.value


def second_order(*conditions: str, extra: str = "", equation: str = "y'' = 2") -> str:
    lines = "\n".join(f"  - \"{c}\"" for c in conditions)
    return f"domain: [0, 1]\nequations:\n  - \"{equation}\"\nconditions:\n{lines}\n{extra}"


def third_order(*conditions: str, extra: str = "") -> str:
    return second_order(*conditions, extra=extra, equation="y''' = 0")


QUADRATIC = second_order("y(0) = 0", "y(1) = 1")


# ------------------------------------------------------------------ 1. contradictions


@pytest.mark.parametrize("text, location, words", [
    (second_order("y(0) = 1", "y(0) = 2"), "conditions[1]", ["contradicts conditions[0]", "y(0)", "to 1", "to 2"]),
    (third_order("y(0) = 0", "y'(0) = 1", "y'(0) = 2"), "conditions[2]", ["contradicts conditions[1]", "y'(0)"]),
    (second_order("1 = y(0)", "y(0) = 3"), "conditions[1]", ["contradicts conditions[0]"]),  # either side
    (second_order("y(0) = a", "y(0) = 2", extra="parameters: {a: 1}\n"), "conditions[1]", ["contradicts", "to 1", "to 2"]),
    (second_order("2*y(0) = 3", "y(0) = 1"), "conditions[1]", ["contradicts conditions[0]"]),  # not in the built-in form
    (third_order("y(0) = 0", "y(1) = 0", "y(0) + y(1) = 1"), "conditions[2]", ["contradicts conditions[0] and conditions[1]"]),
    (second_order("y(0) = y(1)", "y(1) - y(0) = 1"), "conditions[1]", ["contradicts conditions[0]"]),
])
def test_contradicting_conditions_are_refused(text, location, words):
    error = refused(text)
    assert error.location == location
    for word in words:
        assert word in error.message, error.message
    assert "remove" in error.fix.lower()
    assert error.source is not None  # the condition's text is shown


def test_contradiction_through_a_trainable_offset_is_refused():
    error = refused(second_order("y(0) = k", "y(0) = k + 1", extra="parameters: {k: {initial: 1, trainable: true}}\n"
                                 "data: {x: [0.5], y: [0.3]}\n"))
    assert error.location == "conditions[1]" and "contradicts" in error.message and "differ by" in error.message


# ------------------------------------------------------------------ 2. repeats and identities


@pytest.mark.parametrize("text, location, words", [
    (second_order("y(1) = 0", "y(1) = 0"), "conditions[1]", ["repeats conditions[0]", "'y(1) = 0'", "one condition short"]),
    (second_order("y(0) = 2", "y(0) = a", extra="parameters: {a: 2}\n"), "conditions[1]", ["repeats conditions[0]"]),
    (second_order("y(1) = 0", "2*y(1) = 0"), "conditions[1]", ["says the same as conditions[0]"]),
    (second_order("y(0) = y(1)", "y(1) = y(0)"), "conditions[1]", ["says the same as conditions[0]"]),
    (third_order("y(0) = 0", "y(1) = 0", "y(0) + y(1) = 0"), "conditions[2]", ["follows from conditions[0] and conditions[1]"]),
])
def test_repeated_conditions_are_refused(text, location, words):
    error = refused(text)
    assert error.location == location
    for word in words:
        assert word in error.message, error.message


def test_a_nonlinear_dependence_is_refused():
    error = refused(second_order("y(0) = 1", "y(0)^2 = 1"))
    assert error.location == "conditions[1]" and "not independent of conditions[0]" in error.message


@pytest.mark.parametrize("condition", ["y(1) = y(1)", "0*y(1) = 0", "y(0) - y(0) = 0", "y'(0) + 1 = y'(0) + 1"])
def test_a_condition_that_always_holds_is_refused(condition):
    error = refused(second_order("y(0) = 0", condition))
    assert error.location == "conditions[1]"
    assert "holds whatever the unknowns are" in error.message
    assert "y(0) = y(1)" in error.fix  # says what a periodic condition looks like
    assert error.source == condition


def test_a_condition_that_never_holds_is_refused():
    error = refused(second_order("0*y(1) = 1", "y(0) = 0"))
    assert error.location == "conditions[0]"
    assert "can never hold" in error.message and "-1" in error.message


# ------------------------------------------------------------------ 3. equations without unknowns


@pytest.mark.parametrize("equation", ["0 = 0", "x = 1", "sin(pi) = 0"])
def test_an_equation_without_an_unknown_is_refused(equation):
    error = refused(f"domain: [0, 1]\nunknowns: [y]\nequations: ['{equation}']\n")
    assert error.location == "equations[0]"
    assert "does not involve any unknown" in error.message
    assert error.source == equation


def test_an_equation_without_an_unknown_beside_a_real_one_is_refused():
    error = refused("domain: [0, 1]\nunknowns: [y, z]\nequations: [\"y'' = 2\", 'x = 1']\nconditions: ['y(0) = 0', 'y(1) = 1']\n")
    assert error.location == "equations[1]" and "does not involve any unknown" in error.message


@pytest.mark.parametrize("equation, conditions", [
    ("y - y = 0", []),
    ("0*y'' = 1", ["y(0) = 0", "y(1) = 1"]),
    ("y'' - y'' + 2 = 0", ["y(0) = 0", "y(1) = 1"]),
])
def test_an_equation_that_does_not_depend_on_the_unknowns_is_refused(equation, conditions):
    text = f"domain: [0, 1]\nunknowns: [y]\nequations: [\"{equation}\"]\n"
    if conditions:
        text += "conditions: [" + ", ".join(f"'{c}'" for c in conditions) + "]\n"
    error = refused(text)
    assert error.location == "equations[0]"
    assert "does not depend on the unknowns" in error.message
    assert "cancel" in error.fix


def test_an_unknown_that_no_equation_involves_is_refused():
    error = refused("domain: [0, 1]\nunknowns: [y, z]\nequations: [\"y'' = 2\", \"y' = 2*x\"]\nconditions: ['y(0) = 0', 'y(1) = 1']\n")
    assert error.location == "equations" and "'z'" in error.message


def test_a_tiny_but_real_coefficient_is_not_mistaken_for_none():
    problem("domain: [0, 1]\nequations: [\"1e-15*y' = 1\"]\nconditions: ['y(0) = 0']\n")


# ------------------------------------------------------------------ 4. loss weights


def test_all_weights_zero_is_refused():
    error = refused(QUADRATIC + "training: {weights: {equations: 0, conditions: 0, data: 0}}\n")
    assert error.location == "training.weights" and "nothing to train" in error.message


def test_zero_weight_on_the_equations_is_refused():
    error = refused(QUADRATIC + "training: {constraints: soft, weights: {equations: 0}}\n")
    assert error.location == "training.weights.equations" and "ignores them" in error.message


def test_zero_weight_on_penalised_conditions_is_refused():
    error = refused(QUADRATIC + "training: {constraints: soft, weights: {conditions: 0}}\n")
    assert error.location == "training.weights.conditions"
    assert "conditions[0], conditions[1]" in error.message


def test_zero_weight_on_conditions_built_into_the_output_is_harmless():
    problem(QUADRATIC + "training: {weights: {conditions: 0}}\n")  # both are built in: the weight is unused


def test_zero_weight_on_data_a_fit_needs_is_refused():
    text = "domain: [0, 1]\nunknowns: [y]\ndata: {x: [0, 0.5, 1], y: [0, 1, 0]}\n"
    error = refused(text + "training: {weights: {data: 0}, smoothness: {weight: 1}}\n")
    assert error.location == "training.weights.data"
    error = refused(text + "training: {weights: {data: 0}}\n")
    assert error.location == "training.weights"


def test_zero_weight_on_data_an_inverse_problem_needs_is_refused():
    error = refused(REPO.joinpath("problems", "inverse_decay.yaml").read_text().replace("{file: inverse_decay.csv}",
                    "{t: [0, 1, 2], u: [1, 0.5, 0.25]}") + "training: {weights: {data: 0}}\n")
    assert error.location == "training.weights.data" and "trainable" in error.message


@pytest.mark.parametrize("value, words", [("-1", "negative"), (".inf", "not a finite number"), (".nan", "not a finite number")])
def test_negative_or_nonfinite_weights_are_refused(value, words):  # (refused where the weights are read, before this module)
    error = refused(QUADRATIC + f"training: {{weights: {{equations: {value}}}}}\n")
    assert error.location == "training.weights.equations" and words in error.message


# ------------------------------------------------------------------ 5. domain scale


def test_a_domain_so_wide_that_the_loss_underflows_is_refused():
    error = refused("domain: [0, 1e200]\nequations: [\"y'' = 2\"]\nconditions: ['y(0) = 0', 'y(1e200) = 1']\n")
    assert error.location == "domain"
    assert "too wide" in error.message and "1e+400" in error.message and "1e150" in error.message
    assert "t = T*s" in error.fix and "y''/T^2" in error.fix


def test_a_first_order_equation_on_a_huge_domain_is_refused_too():
    error = refused("domain: [0, 1e160]\nequations: [\"y' = 1e-160\"]\nconditions: ['y(0) = 0']\n")
    assert error.location == "domain" and "1e+160" in error.message


def test_float32_has_a_narrower_range():
    text = "domain: [0, 1e8]\nequations: [\"y'' = 0\"]\nconditions: ['y(0) = 0', 'y(1e8) = 1']\n"
    problem(text)  # 1e16 is fine in float64
    error = refused(text + "training: {dtype: float32}\n")
    assert error.location == "domain" and "float32" in error.message and "1e15" in error.message
    assert "float64" in error.fix


def test_a_domain_so_narrow_that_derivatives_overflow_is_refused():
    error = refused("domain: [0, 1e-8]\nequations: [\"y'' = 0\"]\nconditions: ['y(0) = 0', 'y(1e-8) = 1']\n"
                    "training: {dtype: float32}\n")
    assert error.location == "domain" and "too narrow" in error.message and "overflow" in error.message


def test_wide_but_representable_domains_load():
    problem("domain: [0, 1e70]\nequations: [\"y'' = 0\"]\nconditions: ['y(0) = 0', 'y(1e70) = 1']\n")  # 1e140
    problem("variable: t\ndomain: [1000, 1600]\nequations: [\"T' = -0.005*(T - 300)\"]\nconditions: ['T(1000) = 350']\n")


@pytest.mark.parametrize("domain, words", [("[1, 1]", "zero width"), ("[1, 0]", "reversed")])
def test_a_domain_of_zero_or_negative_length_is_refused(domain, words):  # (refused where the domain is read)
    error = refused(QUADRATIC.replace("[0, 1]", domain).replace("y(1) = 1", "y(0) = 1"))
    assert error.location == "domain" and words in error.message


# ------------------------------------------------------------------ 6. collocation points


@pytest.mark.parametrize("points", [1, 2, 3])
def test_too_few_collocation_points_are_refused(points):
    error = refused(QUADRATIC + f"training: {{points: {points}}}\n")
    assert error.location == "training.points"
    assert "at least 4 points" in error.message and "plus 2" in error.message
    assert "128" in error.fix


def test_the_minimum_grows_with_the_conditions():
    text = third_order("y(0) = 1", "y'(0) = -1", "y''(0) = 1")
    assert "at least 5 points" in refused(text + "training: {points: 4}\n").message
    problem(text + "training: {points: 5}\n")
    assert wellposed.minimum_points(0) == 4 and wellposed.minimum_points(2) == 4 and wellposed.minimum_points(6) == 8


def test_a_plain_fit_takes_few_collocation_points():
    problem("domain: [0, 1]\nunknowns: [y]\ndata: {x: [0, 0.5, 1], y: [0, 1, 0]}\ntraining: {points: 1}\n")
    error = refused("domain: [0, 1]\nunknowns: [y]\ndata: {x: [0, 0.5, 1], y: [0, 1, 0]}\n"
                    "training: {points: 1, smoothness: {weight: 1}}\n")
    assert error.location == "training.points" and "smoothness" in error.message


# ------------------------------------------------------------------ 7. memory


WIDE_AND_DEEP = "[" + ", ".join(["4096"] * 64) + "]"


def test_a_network_too_big_for_memory_is_refused_by_its_estimate():
    error = refused(QUADRATIC + f"network: {{hidden: {WIDE_AND_DEEP}}}\n")
    assert error.location == "network.hidden"
    assert "GiB of memory" in error.message and "1,057,234,945 weights" in error.message and "16.0 GiB" in error.message
    assert "fewer or narrower hidden layers" in error.fix and wellposed.MEMORY_ENV in error.fix


def test_too_many_points_for_a_wide_network_are_refused_at_the_points():
    error = refused(QUADRATIC + "network: {hidden: [512, 512, 512, 512]}\ntraining: {points: 100000}\n")
    assert error.location == "training.points" and "activations at the training points" in error.message


def test_too_many_output_points_for_a_third_order_problem_are_refused():
    error = refused(third_order("y(0) = 1", "y'(0) = -1", "y''(0) = 1") + "output: {points: 1000000}\n")
    assert error.location == "output.points"


def test_the_default_network_and_every_shipped_problem_stay_far_below_the_cap():
    default = wellposed.memory_estimate(problem(QUADRATIC))
    assert default.weights == 4353
    assert default.total < 1.1 * 2**30  # the fixed 1 GiB of TensorFlow and compiled graphs, and little else
    for path in PROBLEMS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # seed_relu_fit's piecewise-linear warning
            estimate = wellposed.memory_estimate(load_problem(path))
        assert estimate.total < 0.1 * wellposed.MEMORY_CAP, path.name


def test_the_estimate_grows_as_measured():
    """The factors measured with peak RSS (see memory_estimate): orders 1-3 of nested tapes, weights, dtype."""
    base = problem(QUADRATIC + "network: {hidden: [256, 256]}\ntraining: {points: 20000}\noutput: {points: 2}\n")
    estimate = wellposed.memory_estimate(base)
    assert 1.7 * 2**30 < estimate.total < 2.3 * 2**30  # measured 1.94 GiB (peak RSS, L-BFGS phase)
    assert estimate.field() == "training.points"
    single = problem(QUADRATIC + "network: {hidden: [256, 256]}\ntraining: {points: 20000, dtype: float32}\noutput: {points: 2}\n")
    assert wellposed.memory_estimate(single).total < estimate.total


def test_the_cap_is_the_machines_memory_if_smaller(monkeypatch):
    monkeypatch.delenv(wellposed.MEMORY_ENV, raising=False)
    monkeypatch.setattr(memory_estimate, "machine_memory", lambda: 4 * 2**30)
    cap, why = wellposed.memory_cap()
    assert cap == pytest.approx(0.9 * 4 * 2**30) and "this machine" in why
    monkeypatch.setattr(memory_estimate, "machine_memory", lambda: 256 * 2**30)
    assert wellposed.memory_cap()[0] == wellposed.MEMORY_CAP
    monkeypatch.setattr(memory_estimate, "machine_memory", lambda: None)
    assert wellposed.memory_cap()[0] == wellposed.MEMORY_CAP


def test_the_environment_sets_the_cap(monkeypatch):
    monkeypatch.setenv(wellposed.MEMORY_ENV, "4000")
    problem(QUADRATIC + f"network: {{hidden: {WIDE_AND_DEEP}}}\n")  # allowed: the estimate is about 1,030 GiB
    monkeypatch.setenv(wellposed.MEMORY_ENV, "0.5")
    error = refused(QUADRATIC)
    assert "set by " + wellposed.MEMORY_ENV in error.message


# ------------------------------------------------------------------ what must still load


@pytest.mark.parametrize("path", PROBLEMS, ids=[p.stem for p in PROBLEMS])
def test_every_shipped_problem_loads(path, recwarn):
    load_problem(path)


LEGITIMATE = {
    "periodic": second_order("y(0) = y(1)", "y'(0) = y'(1)", equation="y'' - y = -2*cos(2*pi*x)"),
    "robin": second_order("y(0) = 0", "y'(1) + 2*y(1) = 0", equation="y'' + y = x"),
    "multi-point": second_order("y(0) + y(1) = 1", "y(0.5) = 0.2"),
    "parameter-in-condition": second_order("y(0) = a", "y(1) = a + 1", extra="parameters: {a: 2}\n"),
    "nonlinear-condition": second_order("y(0)^2 = 1", "y(1) = 0"),
    "initial-value": second_order("y(0) = 0", "y'(0) = 1"),
    # a trainable parameter fixed by a condition at the same point as another: together they determine it
    "trainable-same-point": second_order("y(0) = 1", "y(0) = k", "y(1) = 2", extra="parameters: {k: {initial: 0.5, trainable: true}}\n"),
    "trainable-value": second_order("y(0) = k", "y'(0) = 0", "y(1) = 2", extra="parameters: {k: {initial: 0.5, trainable: true}}\n"),
    "plain-fit": "domain: [0, 1]\nunknowns: [y]\ndata: {x: [0, 0.5, 1], y: [0, 1, 0]}\n",
    "inverse-from-data": "domain: [0, 3]\nvariable: t\nparameters: {k: {initial: 1, trainable: true}}\nequations: [\"u' = -k*u\"]\n"
                         "data: {t: [0, 1, 2], u: [1, 0.5, 0.25]}\n",
    "undefined-for-some-values": "domain: [0, 1]\nequations: [\"y' = sqrt(y)\"]\nconditions: ['y(0) = 1']\n",
    "system": "domain: [0, 1]\nunknowns: [y, z]\nequations: [\"y' = z\", \"z' = -y\"]\nconditions: ['y(0) = 0', 'z(0) = 1']\n",
    "algebraic": "domain: [0, 1]\nunknowns: [y, z]\nequations: [\"y'' = 2\", 'z = y^2']\nconditions: ['y(0) = 0', 'y(1) = 1']\n",
}


@pytest.mark.parametrize("text", list(LEGITIMATE.values()), ids=list(LEGITIMATE))
def test_legitimate_problems_still_load(text):
    problem(text)


def test_the_verdict_does_not_depend_on_the_order_of_loading():
    first = str(refused(second_order("y(1) = 0", "y(1) = 0")))
    problem(QUADRATIC)
    assert str(refused(second_order("y(1) = 0", "y(1) = 0"))) == first
