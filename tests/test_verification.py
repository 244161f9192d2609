"""pinn.verification: the self-check of a solve.

First the judging (``verify``) on hand-made measurements, numpy only, no
training; then the pieces it is measured with (``additive_terms``,
``Interval.fresh``); then end to end: a deliberately starved run must fail
its check (status check_failed, exit 1, the report still written) and a good
solve must pass (verdict verified, exit 0).
"""

import contextlib
import io
import json

import numpy as np
import pytest

import pinn
import pinn.problem_file
from pinn.cli import main
from pinn.domain import Interval
from pinn.expressions import additive_terms, parse_expression, to_text
from pinn.reference import Reference
from pinn.problem import VerifySpec
from pinn.verification import (
    ADVICE, LONG_BVP_ADVICE, NOISE_FLOOR, Check, ConditionFigures, EquationFigures, Measurements, Verification, fresh_point_count, verify,
)

from conftest import problem_path

#: The default thresholds (verify: in a problem file overrides each).
GENERALISATION = VerifySpec().generalisation  # fresh/training RMS residual
CONDITION_TOLERANCE = VerifySpec().conditions  # relative residual of a condition
#: Short training of our own (conftest.SHORT loosens the checks, which is not wanted here).
QUICK = ("training.adam.steps=300", "training.lbfgs.steps=100", "training.jit_compile=false")

DECAY = problem_path("decay")  # u' = -k u, u(0) = 2 on [0, 3]: one equation, one condition, unknown u
X = np.linspace(0.0, 3.0, 31)
TRUTH = 2.0 * np.exp(-1.5 * X)


def decay(*overrides):
    return pinn.load_problem(DECAY, list(overrides))


def equation(fresh_rms=1e-7, scale=1.0, training_rms=1e-7, worst_at=0.5, name="equation[0]"):
    return EquationFigures(name, "u' = -k*u", fresh_rms, scale, training_rms, worst_at, 1025, 128)


def condition(residual=1e-10, scale=2.0, name="condition[0]"):
    return ConditionFigures(name, "u(0) = 2", residual, scale)


def measurements(equations=None, conditions=None):
    return Measurements(tuple([equation()] if equations is None else equations),
                        tuple([condition()] if conditions is None else conditions))


def reference(values=TRUTH, source="exact", success=True, method="symbolic", unknown="u"):
    """A reference on X, as pinn.reference makes one (evaluate at X returns its values)."""
    stored = {unknown: np.asarray(values, dtype=float).reshape(1, -1)} if success else {}
    return Reference(source, X, stored, success, "hand-made", method=method)


def solution_values(values=TRUTH):
    return {"u": np.asarray(values, dtype=float).reshape(1, -1)}


def by_kind(verification, kind):
    return [c for c in verification.checks if c.kind == kind]


def as_json(verification):
    """Verification.as_dict() through strict JSON (NaN or Infinity would raise)."""
    return json.loads(json.dumps(verification.as_dict(), allow_nan=False))


# ---------------------------------------------------------------- verify(), hand-made figures


def test_a_good_set_of_figures_passes_every_check():
    result = verify(decay(), measurements(), X, solution_values(TRUTH * (1 + 1e-6)), reference())
    assert isinstance(result, Verification) and all(isinstance(c, Check) for c in result.checks)
    # one equation (residual + generalisation), one condition, one unknown against the reference
    assert [c.kind for c in result.checks] == ["residual", "generalisation", "condition", "reference"]
    assert result.passed and result.verdict == "verified" and result.failed == ()
    assert result.reference == "exact"
    assert result.message == "The solution passed all 4 checks."
    document = as_json(result)
    assert document["verdict"] == "verified" and document["passed"] is True and document["against"] == "exact"
    assert [c["passed"] for c in document["checks"]] == [True] * 4
    assert document["checks"][3]["figure"] == pytest.approx(1e-6, rel=1e-6)


def test_a_relative_residual_above_verify_residual_fails_as_residual():
    figures = measurements([equation(fresh_rms=5e-3, scale=1.0, training_rms=5e-3)])
    result = verify(decay(), figures, X, solution_values(), reference())
    residual, = by_kind(result, "residual")
    assert not residual.passed and residual.figure == pytest.approx(5e-3) and residual.threshold == 1e-3
    assert residual.name == "equation[0] relative residual"
    assert "t = 0.5" in residual.detail and "1025 fresh points" in residual.detail  # where it is worst
    assert [c.kind for c in result.failed] == ["residual"]  # the ratio is 1: generalisation passes
    assert not result.passed and result.verdict == "failed"
    # the threshold is the problem's verify.residual
    assert verify(decay("verify.residual=1e-2"), figures, X, solution_values(), reference()).passed
    assert not verify(decay("verify.residual=1e-4"), measurements([equation(fresh_rms=5e-4)]), X, solution_values(),
                      reference()).passed


def test_a_failed_boundary_value_problem_adds_the_long_bvp_advice_and_an_initial_value_problem_does_not():
    bvp = pinn.load_problem(problem_path("boundary_layer"))  # eps y'' + y' = 0, y(0) = 0, y(1) = 1: unknown y
    failing = measurements([equation(fresh_rms=5e-2)], [])
    x, values = np.linspace(0, 1, 31), {"y": np.zeros((1, 31))}
    failed = verify(bvp, failing, x, values)
    assert not failed.passed and failed.message.endswith(LONG_BVP_ADVICE)
    assert "training.subdomains" in failed.message
    assert LONG_BVP_ADVICE not in verify(bvp, measurements([equation()], []), x, values).message  # passed: no advice
    assert LONG_BVP_ADVICE not in verify(decay(), failing, X, solution_values()).message  # an IVP: not this advice


def test_the_relative_residual_is_judged_against_the_scale_of_the_terms():
    # rms(r) = 1e-2 is small next to terms of size 1e2 (relative 1e-4) and large next to terms of size 1 (1e-2)
    assert verify(decay(), measurements([equation(1e-2, 1e2, 1e-2)]), X, solution_values(), None).passed
    assert not verify(decay(), measurements([equation(1e-2, 1.0, 1e-2)]), X, solution_values(), None).passed
    # 0 / 0: a residual that vanishes with its terms passes
    assert verify(decay(), measurements([equation(0.0, 0.0, 0.0)]), X, solution_values(), None).passed


def test_the_fresh_over_training_ratio_fails_above_generalisation_when_above_the_noise_floor():
    assert NOISE_FLOOR < 1e-3  # the band where the ratio alone decides exists under the default verify.residual
    # relative 1e-5 (above the noise floor, below verify.residual), ratio 1e3 > GENERALISATION
    result = verify(decay(), measurements([equation(fresh_rms=1e-5, training_rms=1e-8)]), X, solution_values(), None)
    assert [c.kind for c in result.failed] == ["generalisation"]
    ratio, = result.failed
    assert ratio.figure == pytest.approx(1e3) and ratio.threshold == GENERALISATION
    assert ratio.name == "equation[0] fresh/training residual"
    assert "1025 fresh points" in ratio.detail and "128 training points" in ratio.detail
    # at the threshold itself it passes
    at_limit = verify(decay(), measurements([equation(fresh_rms=1e-5, training_rms=1e-5 / GENERALISATION)]), X,
                      solution_values(), None)
    assert at_limit.passed, at_limit.message
    # a fit to the training points alone (zero residual there) is the starved run's signature: ratio inf, failed
    starved = verify(decay(), measurements([equation(fresh_rms=1e-5, training_rms=0.0)]), X, solution_values(), None)
    assert [c.kind for c in starved.failed] == ["generalisation"] and starved.failed[0].figure == float("inf")


def test_the_ratio_is_not_judged_at_round_off():
    # relative 1e-7 <= NOISE_FLOOR: a ratio of 1e5 between two round-off figures means nothing
    figures = measurements([equation(fresh_rms=1e-7, training_rms=1e-12)])
    result = verify(decay(), figures, X, solution_values(), None)
    assert result.passed, result.message
    ratio, = by_kind(result, "generalisation")
    assert ratio.passed and ratio.figure == pytest.approx(1e5) and "not judged" in ratio.detail
    # exactly at the noise floor is still round-off; just above it the ratio counts
    assert verify(decay(), measurements([equation(NOISE_FLOOR, 1.0, NOISE_FLOOR / 1e5)]), X, solution_values(), None).passed
    above = verify(decay(), measurements([equation(2 * NOISE_FLOOR, 1.0, 2 * NOISE_FLOOR / 1e5)]), X, solution_values(), None)
    assert [c.kind for c in above.failed] == ["generalisation"] and "not judged" not in above.failed[0].detail


@pytest.mark.parametrize("figures, kinds", [
    (measurements([equation(fresh_rms=float("nan"))]), ["residual", "generalisation"]),
    (measurements([equation(fresh_rms=float("inf"))]), ["residual", "generalisation"]),
    (measurements([equation(scale=float("nan"))]), ["residual"]),  # fresh and training RMS agree: ratio 1
    (measurements([equation(training_rms=float("nan"))]), []),  # relative 1e-7: the ratio is not judged ...
    (measurements([equation(fresh_rms=1e-5, training_rms=float("nan"))]), ["generalisation"]),  # ... here it is
    (measurements(conditions=[condition(residual=float("nan"))]), ["condition"]),
    (measurements(conditions=[condition(scale=float("inf"))]), ["condition"]),
], ids=["nan residual", "inf residual", "nan scale", "nan training, round-off", "nan training", "nan condition",
        "inf condition scale"])
def test_non_finite_figures_fail(figures, kinds):
    result = verify(decay(), figures, X, solution_values(), None)
    assert [c.kind for c in result.failed] == kinds
    for check in result.failed:
        assert check.figure == float("inf") and not check.passed
    document = as_json(result)  # non-finite figures are written as null, never as NaN
    assert [c["figure"] for c in document["checks"] if not c["passed"]] == [None] * len(kinds)


def test_non_finite_values_fail_the_reference_check():
    broken = TRUTH.copy()
    broken[5] = np.nan
    result = verify(decay(), measurements(), X, solution_values(broken), reference())
    assert [c.kind for c in result.failed] == ["reference"] and result.failed[0].figure == float("inf")
    assert as_json(result)["checks"][3]["figure"] is None


def test_a_condition_above_condition_tolerance_fails():
    assert CONDITION_TOLERANCE == 1e-4
    # |r| / scale = 1e-3 / 2 = 5e-4 > 1e-4; the sign of the residual does not matter
    for residual in (1e-3, -1e-3):
        result = verify(decay(), measurements(conditions=[condition(residual=residual, scale=2.0)]), X, solution_values(), None)
        check, = result.failed
        assert check.kind == "condition" and check.name == "condition[0] relative residual"
        assert check.figure == pytest.approx(5e-4) and check.threshold == CONDITION_TOLERANCE
        assert "u(0) = 2" in check.detail
    # 1e-4 * 2 / 2: at the tolerance it passes; a condition residual of 0 with scale 0 passes too
    assert verify(decay(), measurements(conditions=[condition(2e-4, 2.0)]), X, solution_values(), None).passed
    assert verify(decay(), measurements(conditions=[condition(0.0, 0.0)]), X, solution_values(), None).passed


def test_the_defaults_of_the_verify_section():
    assert VerifySpec() == VerifySpec(tolerance=1e-3, residual=1e-3, generalisation=10.0, conditions=1e-4, parameters=1e-3)
    assert decay().verify == VerifySpec()  # decay.yaml has no verify: section


def test_verify_generalisation_and_verify_conditions_set_their_thresholds():
    figures = measurements([equation(fresh_rms=1e-5, training_rms=1e-8)], [condition(residual=1e-3, scale=2.0)])
    strict = verify(decay(), figures, X, solution_values(), None)
    assert [c.kind for c in strict.failed] == ["generalisation", "condition"]  # 1e3 > 10, 5e-4 > 1e-4
    loose = verify(decay("verify.generalisation=2000", "verify.conditions=1e-3"), figures, X, solution_values(), None)
    assert loose.passed, loose.message
    assert [c.threshold for c in loose.checks] == [1e-3, 2000.0, 1e-3]
    assert "at most 5e+02 allowed" in verify(decay("verify.generalisation=500"), figures, X, solution_values(),
                                             None).message


@pytest.mark.parametrize("field", ["tolerance", "residual", "generalisation", "conditions", "parameters"])
@pytest.mark.parametrize("value", ["0", "-1", "nan", "true"])
def test_a_threshold_must_be_a_positive_number(field, value):
    with pytest.raises(pinn.ProblemError, match=rf"verify\.{field}"):
        decay(f"verify.{field}={value}")


def test_thresholds_loose_enough_fail_only_non_finite_figures():
    loose = decay("verify.tolerance=1e9", "verify.residual=1e9", "verify.generalisation=1e9", "verify.conditions=1e9")
    bad = measurements([equation(fresh_rms=10.0, training_rms=1e-6)], [condition(residual=5.0, scale=1.0)])
    assert verify(loose, bad, X, solution_values(TRUTH * 3), reference()).passed
    broken = measurements([equation(fresh_rms=float("nan"))], [condition(residual=float("inf"))])
    assert [c.kind for c in verify(loose, broken, X, solution_values(), reference()).failed] == [
        "residual", "generalisation", "condition"]


def test_the_reference_check_uses_verify_tolerance():
    values = solution_values(TRUTH * (1 + 1e-2))  # relative L2 error 1e-2
    result = verify(decay(), measurements(), X, values, reference())
    check, = result.failed
    assert check.kind == "reference" and check.figure == pytest.approx(1e-2) and check.threshold == 1e-3
    assert check.name == "u relative L2 error against the exact" and "symbolic" in check.detail
    loose = verify(decay("verify.tolerance=0.05"), measurements(), X, values, reference())
    assert loose.passed and by_kind(loose, "reference")[0].threshold == 0.05


SAMPLES = np.linspace(0.0, 3.0, 13)
FREQUENCY = f"""
name: frequency
variable: t
domain: [0, 3]
parameters:
  w: {{initial: 1.0, trainable: true, exact: 2}}
  c: 0.0
equations:
  - y'' + w^2*y = 0
data: {{t: {SAMPLES.tolist()}, y: {np.cos(2 * SAMPLES).tolist()}}}
exact:
  y: cos(w*t)
"""


def frequency(*overrides, text=FREQUENCY):
    return pinn.problem_from_text(text, list(overrides))


def test_a_learned_parameter_far_from_its_true_value_fails_as_parameter():
    # y'' + w^2 y = 0 fitted to cos(2t): w = -2 fits the data and the equation exactly as well as w = 2
    second_root = verify(frequency(), Measurements(), X, {}, None, parameters={"w": -2.0, "c": 0.0})
    check, = second_root.checks
    assert not second_root.passed and check.kind == "parameter"
    assert check.name == "parameter w relative error against its true value"
    assert check.figure == pytest.approx(2.0) and check.threshold == 1e-3
    assert check.detail == "learned w = -2, true 2"
    assert "parameter w relative error against its true value is 2.0e+00" in second_root.message
    assert ADVICE["parameter"] in second_root.message and "second root" in ADVICE["parameter"]
    assert as_json(second_root)["checks"][0]["kind"] == "parameter"
    # near the true value it passes; at the threshold too; verify.parameters sets the threshold
    assert verify(frequency(), Measurements(), X, {}, None, parameters={"w": 2.0 * (1 + 1e-4)}).passed
    assert verify(frequency(), Measurements(), X, {}, None, parameters={"w": 2.0 * (1 + 1e-3)}).passed
    assert not verify(frequency(), Measurements(), X, {}, None, parameters={"w": 2.0 * (1 + 2e-3)}).passed
    loose = verify(frequency("verify.parameters=5"), Measurements(), X, {}, None, parameters={"w": -2.0})
    assert loose.passed and loose.checks[0].threshold == 5.0
    assert not verify(frequency(), Measurements(), X, {}, None, parameters={"w": float("nan")}).passed


def test_a_true_value_of_zero_is_judged_by_the_absolute_error_and_no_true_value_by_nothing():
    zero = frequency(text=FREQUENCY.replace("exact: 2}", "exact: 0}"))
    check, = verify(zero, Measurements(), X, {}, None, parameters={"w": 5e-4}).checks
    assert check.passed and check.figure == pytest.approx(5e-4) and "absolute error" in check.name
    unknown = frequency(text=FREQUENCY.replace(", exact: 2}", "}").split("exact:\n")[0])  # and no exact solution
    assert verify(unknown, Measurements(), X, {}, None, parameters={"w": -2.0}).checks == ()
    assert verify(frequency(), Measurements(), X, {}, None).checks == ()  # nothing learned: nothing to judge


def test_a_second_root_found_by_training_fails_the_solve():
    """Started at w = -1, training finds w = -2: the data and the equation hold, so only the parameter check can
    tell.  Measured at these settings: w = -1.99975, y to 2.9e-4 of cos(2t), every other check passes; started
    at w = +1 the run is its mirror image (w = +1.99975, relative error 1.3e-4) and is verified."""
    short = ("training.adam.steps=300", "training.lbfgs.steps=200", "training.jit_compile=false", "output.points=101")
    solution = pinn.solve(frequency(*short, "parameters.w.initial=-1.0"))
    assert solution.parameters["w"] == pytest.approx(-2.0, rel=1e-2)
    assert solution.status.value == "check_failed"
    assert [c.kind for c in solution.verification.failed] == ["parameter"], solution.message
    assert "learned w = -1.99" in solution.verification.failed[0].detail
    mirrored = pinn.solve(frequency(*short, "parameters.w.initial=1.0"))
    assert mirrored.parameters["w"] == pytest.approx(2.0, rel=1e-3) and mirrored.verification.passed, mirrored.message


def test_a_numerical_reference_is_named_as_such():
    result = verify(decay(), measurements(), X, solution_values(), reference(source="ivp", method="DOP853"))
    check, = by_kind(result, "reference")
    assert result.reference == "reference" and check.name == "u relative L2 error against the reference"
    assert check.detail == "ivp (DOP853)"


@pytest.mark.parametrize("ref", [None, reference(success=False, source="ivp")], ids=["none", "not success"])
def test_without_a_trusted_reference_the_residual_checks_alone_decide(ref):
    far_off = solution_values(TRUTH + 100.0)  # nothing compares the values
    result = verify(decay(), measurements(), X, far_off, ref)
    assert by_kind(result, "reference") == [] and result.reference == "none"
    assert result.passed and as_json(result)["against"] == "none"
    failing = verify(decay(), measurements([equation(fresh_rms=1.0, training_rms=1.0)]), X, far_off, ref)
    assert [c.kind for c in failing.failed] == ["residual"]


def test_unknowns_the_reference_lacks_are_not_compared():
    result = verify(decay(), measurements(), X, solution_values(TRUTH + 1.0), reference(unknown="v"))
    assert by_kind(result, "reference") == [] and result.passed


def test_the_message_names_every_failed_check_with_figure_and_threshold_then_advice():
    figures = measurements([equation(fresh_rms=2.5e-2, training_rms=1e-9, worst_at=1.25)],
                           [condition(residual=3e-3, scale=1.0)])
    result = verify(decay(), figures, X, solution_values(TRUTH * 1.2), reference())
    assert [c.kind for c in result.failed] == ["residual", "generalisation", "condition", "reference"]
    message = result.message
    assert message.startswith("The solution failed its checks: ")
    for check in result.failed:
        assert check.name in message
    assert "equation[0] relative residual is 2.5e-02 (at most 1e-03 allowed" in message
    assert "largest at t = 1.25" in message
    assert "equation[0] fresh/training residual is 2.5e+07 (at most 1e+01 allowed" in message
    assert "condition[0] relative residual is 3.0e-03 (at most 1e-04 allowed" in message
    assert "u relative L2 error against the exact is 2.0e-01 (at most 1e-03 allowed" in message
    for kind in ("residual", "generalisation", "condition", "reference"):
        assert message.count(ADVICE[kind]) == 1, kind  # each piece of advice once
    assert "training.points" in message and "verify.tolerance" in message
    # passed checks are not named
    assert "passed" not in message
    document = as_json(result)
    assert document["verdict"] == "failed" and document["passed"] is False
    assert [c["kind"] for c in document["checks"] if not c["passed"]] == ["residual", "generalisation", "condition",
                                                                          "reference"]
    assert set(document["checks"][0]) == {"name", "kind", "figure", "threshold", "passed", "detail"}


def test_the_same_advice_is_given_once_for_several_equations():
    figures = measurements([equation(fresh_rms=1.0, training_rms=1.0), equation(fresh_rms=1.0, training_rms=1.0,
                                                                                 name="equation[1]")])
    result = verify(decay(), figures, X, solution_values(), None)
    assert [c.name for c in result.failed] == ["equation[0] relative residual", "equation[1] relative residual"]
    assert result.message.count(ADVICE["residual"]) == 1


def test_no_checks_at_all_is_verified():
    result = verify(decay(), Measurements(), X, solution_values(), None)
    assert result.passed and result.checks == () and as_json(result) == {"verdict": "verified", "passed": True,
                                                                        "against": "none", "checks": []}


def test_fresh_point_count_is_eight_per_training_point_within_bounds():
    assert fresh_point_count(6) == 1025  # at least 1025
    assert fresh_point_count(128) == 1025
    assert fresh_point_count(1000) == 8000
    assert fresh_point_count(10**6) == 1 << 16  # at most 65536


# ---------------------------------------------------------------- additive_terms


@pytest.mark.parametrize("text, terms", [
    ("a + b - c*d", ["a", "b", "c * d"]),
    ("-(a+b)", ["a", "b"]),
    ("a*(b+c)", ["a * (b + c)"]),
    ("a - (b - c)", ["a", "b", "c"]),
    ("exp(a + b)", ["exp(a + b)"]),
    ("(a + b)^2", ["(a + b) ^ 2"]),
    ("a", ["a"]),
])
def test_additive_terms_split_top_level_sums_and_differences(text, terms):
    found = additive_terms(parse_expression(text))
    assert isinstance(found, tuple) and [to_text(t) for t in found] == terms


def test_additive_terms_of_an_equation_residual():
    problem = pinn.load_problem(problem_path("harmonic"))  # y'' + y = 0: residual y'' + y - 0
    assert [to_text(t) for t in additive_terms(problem.equations[0].residual)] == ["y''", "y", "0"]


# ---------------------------------------------------------------- Interval.fresh


@pytest.mark.parametrize("count", [3, 10, 1025, 4096])
def test_fresh_points_are_sorted_with_both_ends_and_miss_training_and_output_points(count):
    domain = Interval(0.0, 3.0)
    fresh = domain.fresh(count)
    assert fresh.shape == (count, 1)
    x = fresh[:, 0]
    assert x[0] == 0.0 and x[-1] == 3.0
    assert np.all(np.diff(x) > 0)  # sorted, no repeats
    used = np.concatenate([domain.sample(128, "grid", np.random.default_rng(0))[:, 0], domain.grid(501)])
    inner = x[1:-1]
    # measured: the nearest inner fresh point is 4.2e-6 from a training or output point at 1025 points, 7.2e-7 at 4096
    assert np.min(np.abs(inner[:, None] - used[None, :])) > 1e-9 * domain.length
    # they fill the interval: no gap is more than a few times the mean spacing
    assert np.max(np.diff(x)) <= 4 * domain.length / (count - 1)


def test_fresh_points_are_the_same_on_every_call_and_scale_with_the_interval():
    unit = Interval(0.0, 1.0).fresh(100)
    np.testing.assert_array_equal(unit, Interval(0.0, 1.0).fresh(100))
    np.testing.assert_allclose(Interval(-2.0, 2.0).fresh(100), -2.0 + 4.0 * unit, rtol=0, atol=1e-15)


# ---------------------------------------------------------------- end to end: a starved run fails, a good one passes

#: Harmonic oscillator y'' + y = 0 on [0, 2 pi] from 6 collocation points and short training: the network
#: fits the 6 points and nothing between them.  Measured (seed 0): relative residual 2.9e-1 (threshold 1e-3),
#: fresh/training RMS 3.7e-1 / 4.5e-16 = 8.2e14 (threshold 10), error against cos t 6.2e-1 (threshold 1e-3);
#: the conditions hold exactly (built into the network): 0.  Training itself ends "converged".
STARVED = ("training.points=6", "training.causal=off", "training.windows=1", "training.refine=0", *QUICK)  # the check itself, no repairs
#: The quadratic y'' = 2 with short training (Adam 300, L-BFGS 100, 128 points).  Measured (seed 0): relative
#: residual 2.4e-6 (threshold 1e-3), fresh/training 1.0 (threshold 1e2), error against x^2 1.9e-7 (threshold 1e-3).
PASSING = QUICK


def set_arguments(overrides):
    return [a for o in overrides for a in ("--set", o)]


def run_cli(argv):
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            status = main([str(a) for a in argv])
        except SystemExit as exit:
            status = exit.code
    return status, stdout.getvalue(), stderr.getvalue()


def strict_json(path):
    def refuse(constant):
        raise ValueError(f"{path}: non-standard JSON constant {constant}")
    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


@pytest.fixture(scope="module")
def starved(tmp_path_factory):
    """pinn.run_problem of the starved harmonic oscillator, with its report."""
    out = tmp_path_factory.mktemp("starved") / "run"
    return pinn.run_problem(pinn.load_problem(problem_path("harmonic"), list(STARVED)), out), out


def test_a_starved_run_fails_its_check(starved):
    run, _ = starved
    solution = run.solution
    assert solution.training.status.success  # training itself ran fine ...
    assert solution.status.value == "check_failed"  # ... the check is what fails
    assert not solution.success and not solution.verified
    verification = solution.verification
    assert verification.verdict == "failed"
    failed = {c.kind: c for c in verification.failed}
    assert set(failed) == {"residual", "generalisation", "reference"}
    assert failed["residual"].figure > 30 * failed["residual"].threshold  # measured 2.9e-1 vs 1e-3
    # measured 8.2e14 vs 1e2: training fitted the 6 points to round-off (4.5e-16) and nothing between them.
    # (Seeds 1 and 3 measure 8.9e14 and 3.2e14; seed 2, where L-BFGS stopped short, only 1.1e1:
    # see test_a_starved_run_fails_whatever_the_seed.)
    assert failed["generalisation"].figure > 1e6 * GENERALISATION
    assert failed["reference"].figure > 0.1  # measured 6.2e-1 vs 1e-3
    assert "6 training points" in failed["generalisation"].detail
    assert all(c.passed for c in by_kind(verification, "condition"))  # measured 0: built into the network
    assert solution.message == verification.message and "training.points" in solution.message
    assert solution.reference is run.reference and solution.reference.source == "exact"


def test_a_starved_run_still_writes_its_report_with_the_failed_verification(starved):
    _, out = starved
    assert (out / "solution.csv").exists()
    metrics = strict_json(out / "metrics.json")
    assert metrics["status"] == "check_failed"
    block = metrics["verification"]
    assert block["verdict"] == "failed" and block["passed"] is False and block["against"] == "exact"
    failed = [c for c in block["checks"] if not c["passed"]]
    assert {c["kind"] for c in failed} == {"residual", "generalisation", "reference"}
    assert "equation[0] relative residual" in metrics["message"]


def test_a_starved_run_on_the_command_line_exits_1_and_writes_the_report(tmp_path):
    out = tmp_path / "run"
    status, stdout, stderr = run_cli([problem_path("harmonic"), "--out", out, *set_arguments(STARVED), "--quiet"])
    assert status == 1, stdout + stderr
    assert stdout == "" and "Traceback" not in stderr
    failure = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(failure) == 1, stderr
    assert "the solve failed" in failure[0] and "equation[0] relative residual" in failure[0]
    assert str(out) in failure[0]
    assert (out / "solution.csv").exists() and (out / "metrics.json").exists()
    metrics = strict_json(out / "metrics.json")
    assert metrics["status"] == "check_failed" and metrics["verification"]["verdict"] == "failed"
    assert any(not c["passed"] for c in metrics["verification"]["checks"])
    table = np.genfromtxt(out / "solution.csv", delimiter=",", names=True, deletechars="")
    assert table.dtype.names[:2] == ("t", "y") and np.all(np.isfinite(table["y"]))


def test_a_good_solve_is_verified(solve_once):
    solution = solve_once("quadratic", PASSING)
    assert solution.success and solution.verified, solution.message
    assert solution.status.value in ("converged", "max_steps")
    verification = solution.verification
    assert verification.verdict == "verified" and verification.reference == "exact"
    assert [c.kind for c in verification.checks] == ["residual", "generalisation", "condition", "condition", "reference"]
    residual, = by_kind(verification, "residual")
    assert residual.figure < residual.threshold / 30  # measured 2.4e-6 vs 1e-3
    reference_check, = by_kind(verification, "reference")
    assert reference_check.figure < reference_check.threshold / 100  # measured 1.9e-7 vs 1e-3
    assert solution.equation_residuals["equation[0]"] > 0  # the fresh-point RMS, measured 9.8e-6


def test_a_good_solve_on_the_command_line_exits_0_with_verified_metrics(tmp_path):
    out = tmp_path / "run"
    status, stdout, stderr = run_cli([problem_path("quadratic"), "--out", out, *set_arguments(PASSING), "--quiet"])
    assert status == 0, stdout + stderr
    metrics = strict_json(out / "metrics.json")
    assert metrics["status"] in ("converged", "max_steps")
    block = metrics["verification"]
    assert block["verdict"] == "verified" and block["passed"] is True and block["against"] == "exact"
    assert all(c["passed"] for c in block["checks"]) and len(block["checks"]) == 5


# ---------------------------------------------------------------- more starved runs, and the defaults (slow: ~10 s each)

#: eps y'' + y' = 0, y(0) = 0, y(1) = 1, eps = 0.02: a boundary layer of width 0.02 at x = 0, no closed form
#: (the reference is solve_bvp).
BOUNDARY_LAYER = """\
name: boundary_layer
description: eps y'' + y' = 0 on [0, 1], y(0) = 0, y(1) = 1
variable: x
domain: [0, 1]
parameters:
  eps: 0.02
equations:
  - eps*y'' + y' = 0
conditions:
  - y(0) = 0
  - y(1) = 1
"""


@pytest.mark.slow
def test_a_starved_boundary_layer_fails_its_check_against_solve_bvp():
    problem = pinn.problem_file.problem_from_text(BOUNDARY_LAYER, list(STARVED), name="boundary_layer")
    solution = pinn.solve(problem)
    # measured (seed 0): relative residual 8.1e-1, fresh/training 6.5e14, error against solve_bvp 6.9e-1
    assert solution.status.value == "check_failed" and not solution.success
    failed = {c.kind: c for c in solution.verification.failed}
    assert set(failed) == {"residual", "generalisation", "reference"}
    assert solution.verification.reference == "reference" and solution.reference.source == "bvp"
    assert failed["residual"].figure > 0.1


@pytest.mark.parametrize("seed", [1, 2])
def test_a_starved_run_fails_whatever_the_seed(seed):
    solution = pinn.solve(pinn.load_problem(problem_path("harmonic"), [*STARVED, f"training.seed={seed}"]))
    assert solution.status.value == "check_failed" and not solution.success
    # measured relative residual: 1.5e-1 (seed 1), 2.5e-2 (seed 2), 1.4e-1 (seed 3) against 1e-3.  The ratio is
    # not robust across seeds: 8.9e14 (seed 1), but 1.1e1 (seed 2, where L-BFGS did not fit the 6 points exactly)
    residual, = by_kind(solution.verification, "residual")
    assert not residual.passed and residual.figure > 10 * residual.threshold
    assert not by_kind(solution.verification, "reference")[0].passed  # measured 9.2e-2, 3.4e-2


@pytest.mark.slow
def test_the_quadratic_with_default_settings_is_verified(solve_once):
    solution = solve_once("quadratic")
    assert solution.verified and solution.success, solution.message
    assert all(c.figure < c.threshold / 100 for c in solution.verification.checks if c.kind in ("residual", "reference"))
