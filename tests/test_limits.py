"""Closed forms undefined as written at a point (pinn.limits): a removable singularity is its two-sided limit,
anything else (a pole, a jump, a logarithm, one side undefined) is left out of the errors, and the report says which.

Oracles are the Taylor series at the point (sin(x)/x = 1 - x^2/6 + x^4/120 ..., so y(0) = 1, y'(0) = 0,
y''(0) = -1/3).  The limit is read from offsets down to 1e-9 of the domain; the tolerances say what each
row's rounding allows (row k of a 0/0 form loses about k digits more, which Richardson extrapolation recovers).
"""

import contextlib
import io
import json
import warnings

import numpy as np
import pytest

import pinn
from pinn import calculus
from pinn import expressions as ex
from pinn.cli import main
from pinn.limits import ClosedForms, singular_points
from pinn.metrics import error_summary, metrics_dict

from conftest import TINY, problem_path

LANE_EMDEN = problem_path("lane_emden")


def closed_forms(text, order=2, length=10.0):
    nodes = calculus.derivatives(ex.parse_expression(text), "x", order)

    def raw(points):
        with np.errstate(all="ignore"):
            return {"y": np.stack([np.broadcast_to(np.asarray(ex.evaluate(n, {"x": points}, calculus.CALCULUS_FUNCTIONS),
                                                              dtype=float), points.shape) for n in nodes])}

    return ClosedForms(raw, length)


# ------------------------------------------------------------------ the limit itself


@pytest.mark.parametrize("text, point, truth, tolerance", [
    ("sin(x)/x", 0.0, [1.0, 0.0, -1 / 3], [1e-15, 1e-15, 1e-9]),
    ("sin(x - 2)/(x - 2)", 2.0, [1.0, 0.0, -1 / 3], [1e-15, 1e-12, 1e-9]),
    ("(exp(x) - 1)/x", 0.0, [1.0, 0.5, 1 / 3], [1e-12, 1e-10, 1e-7]),  # not symmetric: the sides differ at first order
    ("(1 - cos(x))/x^2", 0.0, [0.5, 0.0, -1 / 12], [1e-6, 1e-12, 1e-6]),  # 1 - cos(h) loses half the digits
    ("(exp(3*x) - 1)/x", 0.0, [3.0, 4.5, 9.0], [1e-11, 1e-8, 1e-6]),
])
def test_a_removable_singularity_is_its_limit_in_every_row(text, point, truth, tolerance):
    forms = closed_forms(text)
    x = np.array([point - 0.5, point, point + 0.25])
    assert not np.all(np.isfinite(forms.raw(x)["y"][:, 1]))  # undefined as written
    found = forms.evaluate(x)
    for k in range(3):
        assert found.values["y"][k, 1] == pytest.approx(truth[k], abs=tolerance[k] * max(1.0, abs(truth[k]))), k
    np.testing.assert_array_equal(found.limits["y"], [[False, True, False]] * 3)
    np.testing.assert_array_equal(found.values["y"][:, [0, 2]], forms.raw(x)["y"][:, [0, 2]])  # elsewhere untouched


@pytest.mark.parametrize("text, rows", [
    ("1/x", [0, 1, 2]),  # a pole: the sides never settle
    ("abs(x)/x", [0]),  # a jump: each side settles, on different values (its derivatives are 0 on both sides)
    ("log(abs(x))", [0, 1, 2]),  # a logarithm: never settles
    ("x*log(x)", [0, 1, 2]),  # undefined left of 0: no two-sided limit
    ("sqrt(x)", [1, 2]),  # defined at 0, its derivatives are not, and nothing left of 0
])
def test_what_is_not_a_removable_singularity_is_left_out(text, rows):
    found = closed_forms(text).evaluate(np.array([0.0, 0.5]))
    for k in rows:
        assert np.isnan(found.values["y"][k, 0]) and not found.limits["y"][k, 0], k
        assert found.left_out()["y"][k, 0]
    assert np.all(np.isfinite(found.values["y"][:, 1]))


def test_without_singular_points_nothing_changes():
    forms = closed_forms("sin(x)/x")
    x = np.linspace(0.1, 10, 50)
    found = forms.evaluate(x)
    np.testing.assert_array_equal(found.values["y"], forms.raw(x)["y"])
    assert not found.limits["y"].any()


def test_singular_points_say_how_many_and_where():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    limits = {"y": np.array([[True, False, False, False]])}
    values = {"y": np.array([[1.0, 0.5, np.nan, 0.1]])}
    found = singular_points(x, limits, values, "t")
    assert found.limit_at == (0.0,) and found.left_out_at == (2.0,) and found.points == 4
    assert found.as_dict()["limit"] == 1 and found.as_dict()["left_out"] == 1
    assert "1 of 4 points (t = 0)" in found.note and "1 of 4 points (t = 2)" in found.note and "left out" in found.note
    assert not singular_points(x, {}, {"y": np.ones((1, 4))})


# ------------------------------------------------------------------ the reference, errors and the check


def test_the_lane_emden_reference_is_its_limit_at_0_without_a_warning():
    problem = pinn.load_problem(LANE_EMDEN)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # it used to warn that sin(x)/x misses y(0) = 1 (residual nan)
        reference = pinn.reference_solution(problem)
    assert "warning" not in reference.message
    x = reference.x
    assert x[0] == 0.0
    y = reference.values["y"]
    np.testing.assert_allclose(y[:, 0], [1.0, 0.0, -1 / 3], rtol=0, atol=1e-9)
    np.testing.assert_allclose(y[0, 1:], np.sin(x[1:]) / x[1:], rtol=0, atol=1e-15)
    assert reference.singular_points(x).limit_at == (0.0,)
    assert {u: m.sum(axis=1).tolist() for u, m in reference.limit_points(x).items()} == {"y": [1, 1, 1]}


def test_errors_count_limits_and_leave_out_undefined_points_but_never_a_bad_approximation():
    exact = np.array([1.0, np.nan, 2.0, 4.0])
    approx = np.array([1.0, 7.0, 2.0, 4.4])
    summary = error_summary(approx, exact, "exact", limits=np.array([True, False, False, False]))
    assert summary.max_abs == pytest.approx(0.4) and summary.relative_l2 == pytest.approx(0.4 / np.sqrt(21))
    assert (summary.limit_points, summary.left_out) == (1, 1)
    record = summary.as_dict()
    assert record["limit_points"] == 1 and record["left_out"] == 1 and "left out" in record["note"]
    assert np.isnan(error_summary(np.array([np.nan, 1.0]), np.ones(2), "exact").max_abs)  # the network's NaN counts


def test_the_reference_check_leaves_out_undefined_points_and_fails_with_none_left():
    from pinn.reference import Reference
    from pinn.verification import Measurements, verify

    problem = pinn.load_problem(LANE_EMDEN)
    x = np.array([0.0, 1.0, 2.0])
    truth = np.array([[np.nan, 0.8, 0.45]])
    values = {"y": np.array([[1.0, 0.8, 0.45]])}
    check, = verify(problem, Measurements(), x, values, Reference("exact", x, {"y": truth}, True, "test")).checks
    assert check.passed and check.figure == 0.0 and "1 undefined, left out" in check.detail
    nothing = Reference("exact", x, {"y": np.full((1, 3), np.nan)}, True, "test")
    check, = verify(problem, Measurements(), x, values, nothing).checks
    assert not check.passed  # nothing to compare with is not a pass


def test_metrics_json_and_the_closing_table_say_the_point_was_taken_as_a_limit(tmp_path):
    folder = tmp_path / "lane_emden"
    argv = [str(LANE_EMDEN), "--out", str(folder)]
    for item in TINY:
        argv += ["--set", item]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert main(argv) in (0, 1)
    assert "does not satisfy" not in err.getvalue()
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    y = metrics["errors"]["y"]
    assert y["relative_l2"] is not None and y["max_abs"] is not None  # no longer null
    assert y["limit_points"] == 1 and all(d["limit_points"] == 1 and d["relative_l2"] is not None
                                          for d in y["derivatives"].values())
    singular = metrics["reference"]["singular_points"]
    assert (singular["limit"], singular["left_out"], singular["limit_at"]) == (1, 0, [0.0])
    assert "exact: the closed form is undefined as written at 1 of 51 points (x = 0)" in out.getvalue()
    assert "  -  " not in out.getvalue().split("checks")[0]  # every error printed is a number
    reference_check = [c for c in metrics["verification"]["checks"] if c["kind"] == "reference"]
    assert reference_check[0]["figure"] is not None and "two-sided limit" in reference_check[0]["detail"]
    header = (folder / "solution.csv").read_text(encoding="utf-8").splitlines()
    assert header[1].split(",")[header[0].split(",").index("y_exact")] == "1.0"


def test_metrics_of_a_problem_without_singular_points_do_not_mention_them():
    problem = pinn.load_problem(problem_path("quadratic"))
    reference = pinn.reference_solution(problem)

    class Fake:
        x = reference.x
        values = {"y": reference.values["y"]}

    record = metrics_dict(problem, Fake(), reference)
    assert "singular_points" not in record["reference"] and "limit_points" not in record["errors"]["y"]
