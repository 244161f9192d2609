"""The report of a run (solution.csv, metrics.json, plot.png, model/, problem.yaml),
checked against the contract in problem-format.md and against numbers the test
computes itself: errors recomputed from the CSV columns, and for Lotka-Volterra
an independent scipy solve.

Two short solves through the command line, one per module: the quadratic
(closed form, default 501 output points) and Lotka-Volterra (scipy reference,
output.points overridden).
"""

import contextlib
import csv
import dataclasses
import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import pinn
from pinn.cli import main

from conftest import SHORT, UNCHECKED, problem_path

#: Short solves: the report is checked, not the accuracy, so neither is the self-check's verdict (UNCHECKED);
#: no growth before the Adam steps of the initial-value problem (as conftest's SHORT), so the step counts are these.
OVERRIDES = {
    "quadratic": ["training.adam.steps=100", "training.lbfgs.steps=30", "training.jit_compile=false", *UNCHECKED],
    "lotka_volterra": ["training.adam.steps=150", "training.lbfgs.steps=30", "training.jit_compile=false", "output.points=301",
                       "training.growth=0", *UNCHECKED],
}
POINTS = {"quadratic": 501, "lotka_volterra": 301}
#: the leading columns the contract fixes: the variable, each unknown, then its derivatives as the equations use them
LEADING = {"quadratic": ["x", "y", "y'", "y''"], "lotka_volterra": ["t", "u", "u'", "v", "v'"]}
#: the further columns (README: <column>_exact or <column>_reference, and <u>_error)
FURTHER = {
    "quadratic": {"y_exact", "y'_exact", "y''_exact", "y_error"},
    "lotka_volterra": {"u_reference", "u'_reference", "u_error", "v_reference", "v'_reference", "v_error"},
}
LV = {"alpha": 1.0, "beta": 0.1, "gamma": 1.5, "delta": 0.075}


def run(name, folder, overrides):
    argv = [str(problem_path(name)), "--out", str(folder), "--quiet"]
    for item in overrides:
        argv += ["--set", item]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = main(argv)
    assert status == 0, err.getvalue()
    return folder


def read_csv(path):
    """(header, float array [rows, columns]): every cell must parse as a float."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    assert all(len(row) == len(header) for row in body), "ragged rows"
    return header, np.array([[float(cell) for cell in row] for row in body])


def strict_json(path):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")
    return json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=refuse)


class Run:
    def __init__(self, name, folder):
        self.name, self.folder = name, Path(folder)
        self.header, self.table = read_csv(self.folder / "solution.csv")
        self.metrics = strict_json(self.folder / "metrics.json")

    def column(self, name):
        return self.table[:, self.header.index(name)]


@pytest.fixture(scope="module")
def quadratic(tmp_path_factory):
    return Run("quadratic", run("quadratic", tmp_path_factory.mktemp("report") / "quadratic", OVERRIDES["quadratic"]))


@pytest.fixture(scope="module")
def lotka_volterra(tmp_path_factory):
    return Run("lotka_volterra", run("lotka_volterra", tmp_path_factory.mktemp("report") / "lv", OVERRIDES["lotka_volterra"]))


@pytest.fixture(params=["quadratic", "lotka_volterra"])
def report(request):
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def lv_scipy(lotka_volterra):
    """Lotka-Volterra solved here, independently of pinn: DOP853, rtol = atol = 1e-12."""
    a, b, g, d = LV["alpha"], LV["beta"], LV["gamma"], LV["delta"]

    def rhs(t, z):
        u, v = z
        return [a * u - b * u * v, d * u * v - g * v]

    t = lotka_volterra.column("t")
    result = solve_ivp(rhs, (0.0, 5.0), [10.0, 5.0], method="DOP853", rtol=1e-12, atol=1e-12, t_eval=t, dense_output=True)
    assert result.success
    u, v = result.y
    slopes = np.array(rhs(t, result.y))
    return {"u": np.stack([u, slopes[0]]), "v": np.stack([v, slopes[1]])}


def relative_l2(approx, exact):
    return float(np.linalg.norm(approx - exact) / np.linalg.norm(exact))


def max_abs(approx, exact):
    return float(np.max(np.abs(approx - exact)))


# ------------------------------------------------------------------ solution.csv


def test_csv_header_leads_with_variable_unknowns_and_derivatives(report):
    leading = LEADING[report.name]
    assert report.header[: len(leading)] == leading, report.header
    assert set(report.header[len(leading):]) == FURTHER[report.name], report.header
    assert len(set(report.header)) == len(report.header)


def test_csv_has_one_row_per_output_point_and_finite_numbers(report):
    assert report.table.shape == (POINTS[report.name], len(report.header))
    assert np.all(np.isfinite(report.table))
    low, high = {"quadratic": (0.0, 1.0), "lotka_volterra": (0.0, 5.0)}[report.name]
    np.testing.assert_allclose(report.table[:, 0], np.linspace(low, high, POINTS[report.name]), rtol=0, atol=1e-15)


def test_quadratic_exact_columns_are_the_closed_form(quadratic):
    x = quadratic.column("x")
    np.testing.assert_allclose(quadratic.column("y_exact"), x**2, rtol=0, atol=1e-15)
    np.testing.assert_allclose(quadratic.column("y'_exact"), 2 * x, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(quadratic.column("y''_exact"), 2.0)


def test_error_column_is_value_minus_exact_or_reference(report):
    source = "exact" if report.name == "quadratic" else "reference"
    for u in {"quadratic": ["y"], "lotka_volterra": ["u", "v"]}[report.name]:
        np.testing.assert_allclose(report.column(f"{u}_error"), report.column(u) - report.column(f"{u}_{source}"), rtol=0, atol=1e-13)


def test_hard_conditions_hold_in_the_csv(quadratic, lotka_volterra):
    # y(0) = 0, y(1) = 1 and u(0) = 10, v(0) = 5 are built into the network output
    y = quadratic.column("y")
    assert abs(y[0]) <= 1e-12 and abs(y[-1] - 1) <= 1e-12
    assert abs(lotka_volterra.column("u")[0] - 10) <= 1e-11 and abs(lotka_volterra.column("v")[0] - 5) <= 1e-11


def test_lv_reference_columns_match_an_independent_scipy_solve(lotka_volterra, lv_scipy):
    # pinn's reference is DOP853 at rtol 1e-10, atol 1e-12; ours is tighter (1e-12), so
    # they may differ by about 1e-10 relative; allowed: 1e-8 relative to each column's size
    for u in ("u", "v"):
        for order, name in ((0, u), (1, f"{u}'")):
            ours = lv_scipy[u][order]
            theirs = lotka_volterra.column(f"{name}_reference")
            assert max_abs(theirs, ours) <= 1e-8 * np.max(np.abs(ours)), (name, max_abs(theirs, ours))


# ------------------------------------------------------------------ metrics.json


def test_metrics_has_the_keys_of_the_contract(report):
    m = report.metrics
    assert m["problem"] == report.name
    for key in ("errors", "parameters", "train_seconds", "steps", "final_loss"):
        assert key in m, key
    unknowns = {"quadratic": {"y"}, "lotka_volterra": {"u", "v"}}[report.name]
    assert set(m["errors"]) == unknowns
    against = "exact" if report.name == "quadratic" else "reference"
    for u in unknowns:
        entry = m["errors"][u]
        assert entry["against"] == against
        assert isinstance(entry["relative_l2"], float) and entry["relative_l2"] >= 0
        assert isinstance(entry["max_abs"], float) and entry["max_abs"] >= 0
    assert isinstance(m["train_seconds"], float) and m["train_seconds"] > 0
    assert isinstance(m["final_loss"], float) and m["final_loss"] >= 0
    assert isinstance(m["steps"], int)
    adam, lbfgs = (int(o.split("=")[1]) for o in OVERRIDES[report.name][:2])
    assert 0 < m["steps"] <= adam + lbfgs
    assert m["status"] in ("converged", "max_steps")


def test_metrics_says_where_and_with_what_it_ran(report):
    import datetime
    from importlib import metadata

    import scipy
    import tensorflow as tf

    provenance = report.metrics["provenance"]
    assert list(provenance) == ["seed", "pinn", "tensorflow", "numpy", "scipy", "python", "platform", "device", "date"]
    assert provenance["seed"] == 0  # training.seed, the default
    assert provenance["pinn"] == metadata.version("pinn")
    assert (provenance["tensorflow"], provenance["numpy"], provenance["scipy"]) == (tf.__version__, np.__version__, scipy.__version__)
    assert provenance["device"] == ("GPU:0" if tf.config.list_logical_devices("GPU") else "CPU")
    date = datetime.datetime.fromisoformat(provenance["date"])
    assert date.utcoffset() == datetime.timedelta(0)  # UTC
    assert datetime.timedelta(0) <= datetime.datetime.now(datetime.timezone.utc) - date < datetime.timedelta(hours=2)
    # the saved model keeps it: the provenance of the solve that trained the weights, not of the reload
    assert dict(pinn.load_solution(report.folder / "model").provenance) == provenance


def test_the_seed_in_the_provenance_is_the_seed_solved_with(tmp_path):
    overrides = ["training.adam.steps=0", "training.lbfgs.steps=0", "training.jit_compile=false", "output.points=11", *UNCHECKED]
    argv = [str(problem_path("quadratic")), "--out", str(tmp_path / "run"), "--quiet", "--no-plot", "--seed", "7"]
    for item in overrides:
        argv += ["--set", item]
    assert main(argv) == 0
    assert strict_json(tmp_path / "run" / "metrics.json")["provenance"]["seed"] == 7


def test_metrics_parameters(quadratic, lotka_volterra):
    assert quadratic.metrics["parameters"] == {}
    assert lotka_volterra.metrics["parameters"] == LV
    assert lotka_volterra.metrics["reference"]["source"] == "ivp"
    assert quadratic.metrics["reference"]["source"] == "exact"


def test_metrics_errors_agree_with_the_csv_columns(report):
    # same numbers (the CSV keeps every digit); only the order of summation may differ: rtol 1e-9
    source = "exact" if report.name == "quadratic" else "reference"
    checked = 0
    for u, entry in report.metrics["errors"].items():
        orders = {0: entry, **{int(k): v for k, v in entry["derivatives"].items()}}
        for order, summary in orders.items():
            name = u + "'" * order
            approx, exact = report.column(name), report.column(f"{name}_{source}")
            assert summary["relative_l2"] == pytest.approx(relative_l2(approx, exact), rel=1e-9, abs=1e-300), name
            assert summary["max_abs"] == pytest.approx(max_abs(approx, exact), rel=1e-9, abs=1e-300), name
            checked += 1
    assert checked == {"quadratic": 3, "lotka_volterra": 4}[report.name]


def test_lv_errors_agree_with_an_independent_scipy_solve(lotka_volterra, lv_scipy):
    # |e(pinn vs their reference) - e(pinn vs our solve)| <= |their reference - ours| / |ours|,
    # about 1e-10 here; allowed: 1e-7 absolute on the relative error, 1e-6 (relative to size) on max_abs
    for u in ("u", "v"):
        entry = lotka_volterra.metrics["errors"][u]
        for order, summary in ((0, entry), (1, entry["derivatives"]["1"])):
            name = u + "'" * order
            ours = lv_scipy[u][order]
            approx = lotka_volterra.column(name)
            assert abs(summary["relative_l2"] - relative_l2(approx, ours)) <= 1e-7, name
            assert abs(summary["max_abs"] - max_abs(approx, ours)) <= 1e-6 * np.max(np.abs(ours)), name


# ------------------------------------------------------------------ plot.png


def test_plot_is_a_png_of_plausible_size(report):
    path = report.folder / "plot.png"
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 600 and height >= 400, (width, height)
    assert data[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82"  # complete file


# ------------------------------------------------------------------ the model and the problem as run


@pytest.fixture(scope="module")
def reloaded_quadratic(quadratic):
    return pinn.load_solution(quadratic.folder / "model")


@pytest.fixture(scope="module")
def reloaded_lv(lotka_volterra):
    return pinn.load_solution(lotka_volterra.folder / "model")


@pytest.fixture(params=["quadratic", "lotka_volterra"])
def reloaded(request):
    report = request.getfixturevalue(request.param)
    short = {"quadratic": "reloaded_quadratic", "lotka_volterra": "reloaded_lv"}[request.param]
    return report, request.getfixturevalue(short)


def test_reloaded_model_reproduces_the_csv(reloaded):
    report, solution = reloaded
    x = report.table[:, 0]
    np.testing.assert_array_equal(solution.x, x)
    for u, order in solution.orders.items():
        everything = solution.derivatives(x, order)[u]
        for k in range(order + 1):
            name = u + "'" * k
            expected = report.column(name)
            scale = max(1.0, np.max(np.abs(expected)))
            np.testing.assert_allclose(solution.evaluate(x, order=k)[u], expected, rtol=0, atol=1e-12 * scale, err_msg=name)
            np.testing.assert_allclose(everything[k], expected, rtol=0, atol=1e-12 * scale, err_msg=name)
            np.testing.assert_allclose(solution.values[u][k], expected, rtol=0, atol=1e-12 * scale, err_msg=name)


def test_reloaded_model_evaluates_between_the_grid_points(reloaded_quadratic, quadratic):
    # off the grid, the reloaded network still gives values and derivatives near x^2, 2x, 2;
    # bounds: 100 times the errors the short run reached on the grid
    x = np.linspace(0.0005, 0.9995, 1000)
    errors = quadratic.metrics["errors"]["y"]
    bound = {0: errors["max_abs"], 1: errors["derivatives"]["1"]["max_abs"], 2: errors["derivatives"]["2"]["max_abs"]}
    for k, exact in ((0, x**2), (1, 2 * x), (2, np.full_like(x, 2.0))):
        assert max_abs(reloaded_quadratic.evaluate(x, order=k)["y"], exact) <= 100 * bound[k] + 1e-12, k


def test_reloaded_model_keeps_status_parameters_and_counts(reloaded):
    report, solution = reloaded
    assert solution.problem.name == report.name
    assert solution.status.value == report.metrics["status"]
    assert dict(solution.parameters) == report.metrics["parameters"]
    assert solution.training.adam_steps + solution.training.lbfgs_steps == report.metrics["steps"]
    assert solution.final_loss == pytest.approx(report.metrics["final_loss"], rel=1e-15)


def comparable(problem):
    """The problem without where it was read from (file path, YAML text)."""
    return dataclasses.replace(problem, file=None, as_run="")


def test_problem_yaml_reloads_to_an_equivalent_problem(report):
    original = pinn.load_problem(problem_path(report.name), OVERRIDES[report.name])
    again = pinn.load_problem(report.folder / "problem.yaml")
    assert comparable(again) == comparable(original)
    # the overrides are in it
    assert again.training.jit_compile is False
    assert again.training.adam.steps == int(OVERRIDES[report.name][0].split("=")[1])
    assert again.output.points == POINTS[report.name]
    # and the model keeps the same problem
    assert (report.folder / "model" / "problem.yaml").read_text() == (report.folder / "problem.yaml").read_text()


NAMELESS = """\
domain: [0, 1]
equations:
  - y'' = 2
conditions:
  - y(0) = 0
  - y(1) = 1
"""


def test_problem_without_a_name_keeps_its_name_when_reloaded(tmp_path):
    source = tmp_path / "nameless.yaml"
    source.write_text(NAMELESS, encoding="utf-8")
    overrides = ["training.adam.steps=0", "training.lbfgs.steps=0", "training.jit_compile=false", "output.points=11", *UNCHECKED]
    argv = [str(source), "--out", str(tmp_path / "run"), "--quiet", "--no-plot"]
    for item in overrides:
        argv += ["--set", item]
    assert main(argv) == 0
    assert strict_json(tmp_path / "run" / "metrics.json")["problem"] == "nameless"
    assert pinn.load_problem(tmp_path / "run" / "problem.yaml").name == "nameless"
    assert pinn.load_solution(tmp_path / "run" / "model").problem.name == "nameless"


# ------------------------------------------------------------------ what plot.png draws (the figure, inspected)


@pytest.fixture(scope="module")
def figures(solve_once):
    """{name: (solution, reference, figure)}: two unknowns, one with exact derivatives, an inverse problem with data."""
    from pinn.report import plot_figure

    out = {}
    for name in ("lotka_volterra", "quadratic", "inverse_decay"):
        solution = solve_once(name, SHORT)
        reference = pinn.reference_solution(solution.problem, solution.x)
        out[name] = (solution, reference, plot_figure(solution, reference))
    return out


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_each_reference_curve_has_the_colour_of_its_unknown(figures):
    values_ax, derivative_ax = figures["lotka_volterra"][2].axes[:2]
    lines = lines_by_label(values_ax)
    for u in ("u", "v"):
        assert lines[f"{u} (reference)"].get_color() == lines[f"{u} (pinn)"].get_color()
        assert lines[f"{u} (reference)"].get_linestyle() == "--"
    assert lines["u (pinn)"].get_color() != lines["v (pinn)"].get_color()  # not one black dashed line for all
    # the derivatives' references are dotted in their derivative's colour
    solid = [line for line in derivative_ax.get_lines() if line.get_linestyle() == "-"]
    dotted = [line for line in derivative_ax.get_lines() if line.get_linestyle() == ":"]
    assert [line.get_label() for line in solid] == ["u'", "v'"]
    assert [line.get_color() for line in dotted] == [line.get_color() for line in solid]
    assert len({line.get_color() for line in solid}) == 2


@pytest.mark.parametrize("name, unknown, order", [("lotka_volterra", "u", 1), ("lotka_volterra", "v", 1), ("quadratic", "y", 2)])
def test_the_error_of_the_highest_derivative_is_drawn_with_the_error_of_the_values(figures, name, unknown, order):
    solution, reference, figure = figures[name]
    error_ax = figure.axes[2]
    against = reference.against(unknown)
    lines = lines_by_label(error_ax)
    value, highest = lines[f"|{unknown} - {against}|"], lines[f"|{unknown}{chr(39) * order} - {against}|"]
    assert highest.get_color() == value.get_color() and highest.get_linestyle() == "--"
    truth = reference.evaluate(solution.x)[unknown][order]
    expected = np.abs(solution.values[unknown][order] - truth)
    np.testing.assert_array_equal(highest.get_ydata(), np.where(expected > 0, expected, np.nan))
    assert len(error_ax.get_lines()) == 2 * len(solution.problem.unknowns)  # values and highest derivative, no more


def test_the_observations_of_an_inverse_problem_are_drawn_in_the_colour_of_their_unknown(figures):
    solution, _, figure = figures["inverse_decay"]
    data = solution.problem.data
    lines = lines_by_label(figure.axes[0])
    observed = lines[f"u (data, {len(data)} points)"]
    assert observed.get_marker() == "o" and observed.get_linestyle() == "None"
    assert observed.get_color() == lines["u (pinn)"].get_color()
    np.testing.assert_array_equal(observed.get_xdata(), data.variable)
    np.testing.assert_array_equal(observed.get_ydata(), data.values["u"])
    assert "data" not in " ".join(lines_by_label(figures["quadratic"][2].axes[0]))  # no data, no markers


def test_the_loss_history_is_drawn_from_step_1(figures):
    for solution, _, figure in figures.values():
        total = lines_by_label(figure.axes[3])["total"]
        assert total.get_xdata()[0] == 1 and total.get_xdata()[-1] == solution.training.steps
        assert np.sum(solution.history["phase"] == 0) > 4  # not four points for 300 Adam steps
