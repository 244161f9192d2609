"""pinn.solution: evaluate on and off the grid, save and load, the history."""

import json

import numpy as np
import pytest

import pinn
from pinn.adam import history_every
from pinn.training import Status

from conftest import SHORT, problem_path


@pytest.fixture(scope="module")
def quadratic(solve_once):
    return solve_once("quadratic", SHORT)


@pytest.fixture(scope="module")
def system(solve_once):
    """Two unknowns, first order: Lotka-Volterra, briefly trained."""
    return solve_once("lotka_volterra", SHORT)


@pytest.fixture(scope="module")
def fitted():
    """A trainable parameter fitted to inline data, a problem given as text (no file)."""
    t = np.linspace(0.0, 2.0, 8)
    text = f"""
name: fit_k
variable: t
domain: [0, 2]
parameters:
  k: {{initial: 1.0, trainable: true}}
  u0: 1
equations:
  - u' = -k*u
conditions:
  - u(0) = u0
data:
  t: [{", ".join(repr(float(v)) for v in t)}]
  u: [{", ".join(repr(float(v)) for v in np.exp(-0.7 * t))}]
"""
    return pinn.solve(pinn.problem_from_text(text, ["training.adam.steps=100", "training.lbfgs.steps=20", "training.jit_compile=false"]))


# ------------------------------------------------------------ evaluate


def test_grid_values_have_one_row_per_derivative(quadratic, system):
    assert quadratic.orders == {"y": 2}
    assert quadratic.values["y"].shape == (3, len(quadratic.x))
    assert system.orders == {"u": 1, "v": 1}
    assert system.values["u"].shape == system.values["v"].shape == (2, len(system.x))
    assert np.array_equal(quadratic.x, np.linspace(0.0, 1.0, 501))


@pytest.mark.parametrize("order", [0, 1, 2])
def test_evaluate_on_the_grid_matches_the_grid_values(quadratic, order):
    at_grid = quadratic.evaluate(quadratic.x, order)
    assert set(at_grid) == {"y"}
    # the same model and points in one batch: the same numbers
    np.testing.assert_allclose(at_grid["y"], quadratic.values["y"][order], rtol=0, atol=1e-14)


def test_evaluate_at_some_grid_points_only(quadratic):
    indices = [0, 7, 250, 500]
    # other batch shapes may round differently in the matrix products: 1e-12 on O(1) values
    for order in range(3):
        np.testing.assert_allclose(
            quadratic.evaluate(quadratic.x[indices], order)["y"], quadratic.values["y"][order][indices], rtol=0, atol=1e-12
        )


def test_evaluate_accepts_lists_and_scalars(quadratic):
    single = quadratic.evaluate([0.5], order=2)["y"]
    assert single.shape == (1,)
    assert single[0] == pytest.approx(2.0, abs=1e-2)  # a short run: y'' is near 2
    assert quadratic.evaluate(0.5)["y"].shape == (1,)


def test_derivatives_stack_all_orders(system):
    x = np.linspace(0.0, 5.0, 7)
    stacked = system.derivatives(x, 1)
    assert set(stacked) == {"u", "v"}
    for unknown in ("u", "v"):
        assert stacked[unknown].shape == (2, 7)
        np.testing.assert_array_equal(stacked[unknown][0], system.evaluate(x, 0)[unknown])
        np.testing.assert_array_equal(stacked[unknown][1], system.evaluate(x, 1)[unknown])


def test_evaluate_between_grid_points_is_smooth(quadratic):
    """Off the grid, values interpolate the grid (the model is evaluated, not the table)."""
    x = quadratic.x
    middle = (x[1:] + x[:-1]) / 2
    y = quadratic.evaluate(middle)["y"]
    # linear interpolation of a function with y'' ~ 2 errs by h^2 y''/8 = 1e-6 at h = 0.002
    np.testing.assert_allclose(y, (quadratic.values["y"][0][1:] + quadratic.values["y"][0][:-1]) / 2, atol=2e-6)


# ------------------------------------------------------------ save and load


def _check_round_trip(solution, directory):
    solution.save(directory)
    assert {p.name for p in directory.iterdir()} >= {"weights.npz", "problem.yaml", "model.json"}
    loaded = pinn.load_solution(directory)
    x = np.linspace(*solution.problem.domain, 37)
    order = max(solution.orders.values())
    before, after = solution.derivatives(x, order), loaded.derivatives(x, order)
    for unknown in solution.problem.unknowns:
        np.testing.assert_array_equal(after[unknown], before[unknown])
        np.testing.assert_array_equal(loaded.values[unknown], solution.values[unknown])
    np.testing.assert_array_equal(loaded.x, solution.x)
    assert loaded.parameters == solution.parameters
    assert loaded.status is solution.status
    assert loaded.message == solution.message
    assert loaded.final_loss == solution.final_loss
    assert loaded.training.adam_steps == solution.training.adam_steps
    assert loaded.training.lbfgs_steps == solution.training.lbfgs_steps
    assert loaded.problem.unknowns == solution.problem.unknowns
    assert loaded.problem.training == solution.problem.training
    return loaded


def test_save_then_load_reproduces_evaluate_exactly(quadratic, tmp_path):
    loaded = _check_round_trip(quadratic, tmp_path / "quadratic")
    assert loaded.history == {}, "the history is not saved with the model (documented)"
    meta = json.loads((tmp_path / "quadratic" / "model.json").read_text())
    assert meta["status"] == quadratic.status.value and meta["unknowns"] == ["y"]


def test_save_then_load_a_system(system, tmp_path):
    _check_round_trip(system, tmp_path / "system")


def test_save_then_load_a_trained_parameter_and_inline_data(fitted, tmp_path):
    loaded = _check_round_trip(fitted, tmp_path / "fit")
    assert loaded.parameters["k"] == fitted.parameters["k"] != 1.0
    assert loaded.parameters["u0"] == 1.0
    assert loaded.problem.data is not None and len(loaded.problem.data) == 8


def test_save_then_load_float32(solve_once, tmp_path):
    solution = solve_once("quadratic", ("training.dtype=float32", *SHORT))
    loaded = _check_round_trip(solution, tmp_path / "single")
    assert loaded.values["y"].dtype == np.float32


def test_save_after_a_nonfinite_stop(tmp_path):
    text = """
domain: [0, 1]
equations:
  - y' = log(y - 100)
conditions:
  - y(0) = 0
"""
    solution = pinn.solve(pinn.problem_from_text(text, list(SHORT)))
    assert solution.status is Status.NONFINITE_LOSS
    loaded = _check_round_trip(solution, tmp_path / "failed")
    assert loaded.status is Status.NONFINITE_LOSS and not loaded.success


def test_save_then_load_with_data_from_a_csv_file(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    t = np.linspace(0.0, 2.0, 8)
    (source / "obs.csv").write_text("t,u\n" + "".join(f"{float(a)!r},{float(b)!r}\n" for a, b in zip(t, np.exp(-0.7 * t))))
    (source / "fit.yaml").write_text(
        "variable: t\ndomain: [0, 2]\nparameters:\n  k: {initial: 1.0, trainable: true}\n"
        "equations:\n  - u' = -k*u\nconditions:\n  - u(0) = 1\ndata: {file: obs.csv}\n"
    )
    problem = pinn.load_problem(source / "fit.yaml", ["training.adam.steps=20", "training.lbfgs.steps=0", "training.jit_compile=false"])
    solution = pinn.solve(problem)
    _check_round_trip(solution, tmp_path / "elsewhere" / "saved")


def test_load_refuses_weights_of_another_network(quadratic, tmp_path):
    directory = quadratic.save(tmp_path / "q")
    text = (directory / "problem.yaml").read_text()
    (directory / "problem.yaml").write_text(text + "network:\n  hidden: [8]\n")
    with pytest.raises(pinn.ProblemError, match="another network"):
        pinn.load_solution(directory)


# ------------------------------------------------------------ history


def test_history_keys_and_lengths(quadratic):
    history = quadratic.history
    names = ("equation[0]",)
    assert set(history) == {"step", "phase", "total", *names}
    lengths = {len(v) for v in history.values()}
    assert len(lengths) == 1 and lengths.pop() > 0
    # Adam: a row at the first step of each compiled block and every few steps after, and one at its last step
    # (the last block may be shorter); then one per L-BFGS iteration
    adam = history["phase"] == 0
    block, steps = quadratic.problem.training.steps_per_call, quadratic.training.adam_steps
    every = history_every(block)
    assert every == 10  # the default 500 steps per call
    expected = []
    for start in range(0, steps, block):
        end = min(start + block, steps)
        expected += [*range(start + 1, end, every), end]
    assert list(history["step"][adam]) == expected and expected[:3] == [1, 11, 21]
    assert np.all(history["phase"][~adam] == 1) and np.all(np.diff(history["phase"]) >= 0)
    assert np.all(np.diff(history["step"]) > 0)
    assert history["step"][-1] == quadratic.training.steps
    np.testing.assert_allclose(history["total"], history["equation[0]"], rtol=1e-15)  # one term, weight 1


def test_the_history_begins_with_the_loss_of_the_initial_weights(quadratic):
    """The first row is Adam's step 1: the loss of the untrained network (same seed, same points) on the training points."""
    import tensorflow as tf

    from pinn.collocation import Schedule
    from pinn.solver import build_model

    problem = quadratic.problem
    spec = problem.training
    model, residuals = build_model(problem)  # the same initial weights: the network is seeded by training.seed
    points = Schedule(problem.domain, spec.points, spec.sampler, spec.resample_every).initial(np.random.default_rng(spec.seed + 1))
    terms = residuals.loss_terms(model, tf.constant(points, dtype=model.dtype)).numpy()
    assert quadratic.history["step"][0] == 1
    # the same sums, traced (and compiled) or eager: equal to rounding
    np.testing.assert_allclose(quadratic.history["total"][0], np.dot(residuals.weights, terms), rtol=1e-12)
    assert quadratic.history["total"][0] > 100 * quadratic.history["total"][-1]  # and training went down from there


def test_history_of_soft_conditions_and_data(fitted, solve_once):
    soft = solve_once("quadratic", ("training.constraints=soft", "training.adam.steps=1000", "training.lbfgs.steps=300"))
    for solution, names in ((soft, ("equation[0]", "condition[0]", "condition[1]")), (fitted, ("equation[0]", "data"))):
        history = solution.history
        assert set(history) == {"step", "phase", "total", *names}
        assert len({len(v) for v in history.values()}) == 1
        # the total is the weighted sum of the terms (weights 1), row by row, in both phases
        np.testing.assert_allclose(sum(history[n] for n in names), history["total"], rtol=1e-12)
        assert set(np.unique(history["phase"])) == {0, 1}
        assert solution.final_loss <= history["total"].min() * (1 + 1e-12)


def test_solution_is_frozen(quadratic):
    with pytest.raises(AttributeError):
        quadratic.x = None
