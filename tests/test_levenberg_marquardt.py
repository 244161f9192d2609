"""pinn.levenberg_marquardt: the damped Gauss–Newton step, the residual rows and their Jacobian, the phase ``lm``.

Oracles: numpy's least squares for the step; the weighted loss of
:meth:`Residuals.loss_terms` for ||R||²; central differences for J; a model
linear in its weights (u = a + b x + c x²), on which one undamped step solves
the whole problem exactly; separate runs for stacked members.
"""

import numpy as np
import pytest
import tensorflow as tf

import pinn
import pinn.levenberg_marquardt as lm
from pinn.phase_support import Counts, History, TrainingContext, weighted_total
from pinn.residuals import compile_residuals
from pinn.training import Status, train
from pinn.vectorized import solve_vectorized

from conftest import UNCHECKED, problem_path

#: LM after a short Adam on a small network: fast, and far below what the Adam steps leave.
ADAM_LM = ("training.phases=[adam,lm]", "training.adam.steps=300", "training.steps_per_call=150", "training.points=32",
           "network.hidden=[16,16]", "training.lm.steps=40", "output.points=101", "training.jit_compile=false",
           "training.growth=0", "training.causal=off")


def load(name, *overrides):
    return pinn.load_problem(problem_path(name), [*ADAM_LM, *overrides])


def relative_l2(approx, exact):
    return float(np.linalg.norm(approx - exact) / np.linalg.norm(exact))


# ------------------------------------------------------------ the step


@pytest.mark.parametrize("rows, columns", [(5, 12), (12, 5)])
def test_an_undamped_step_is_the_least_squares_solution(rows, columns):
    # Both forms of the normal equations (m x m for fewer rows, n x n for more) give
    # numpy's minimum-norm least-squares step of J δ = -R.
    rng = np.random.default_rng(0)
    jacobian, residual = rng.standard_normal((rows, columns)), rng.standard_normal(rows)
    step = lm.damped_step(jacobian, residual, 1e-13)
    expected = np.linalg.lstsq(jacobian, -residual, rcond=None)[0]
    np.testing.assert_allclose(step, expected, rtol=1e-8, atol=1e-10)


def test_the_damped_step_solves_the_damped_normal_equations():
    rng = np.random.default_rng(1)
    jacobian, residual = rng.standard_normal((7, 4)), rng.standard_normal(7)
    for damping in (0.1, 10.0):
        step = lm.damped_step(jacobian, residual, damping)
        np.testing.assert_allclose((jacobian.T @ jacobian + damping * np.eye(4)) @ step, -jacobian.T @ residual, atol=1e-12)
        wide = lm.damped_step(jacobian.T, residual[:4], damping)  # the m x m form
        np.testing.assert_allclose((jacobian @ jacobian.T + damping * np.eye(7)) @ wide, -jacobian @ residual[:4], atol=1e-12)


def test_a_matrix_that_does_not_factor_gives_no_step():
    assert lm.damped_step(np.full((3, 5), np.nan), np.ones(3), 1.0) is None


def test_nielsen_rule():
    assert lm.nielsen_update(1.0, 2.0, 1.0, kept=True) == (pytest.approx(1.0 / 3.0), 2.0)  # a perfect model: λ / 3
    assert lm.nielsen_update(1.0, 2.0, 0.5, kept=True) == (pytest.approx(1.0), 2.0)
    assert lm.nielsen_update(1.0, 8.0, 0.0, kept=False) == (8.0, 16.0)  # rejected: λν, ν doubles


# ------------------------------------------------------------ the rows and their Jacobian


def _context(problem, dtype=tf.float64):
    """A TrainingContext of problem's own network and residuals, at its first collocation points."""
    from pinn.solver import build_model

    model, residuals = build_model(problem)
    points = tf.Variable(np.linspace(*problem.domain, problem.training.points).reshape(-1, 1), dtype=dtype)
    weights = tf.constant(residuals.weights, dtype=dtype)
    return TrainingContext(
        variables=model.weights, loss=lambda x: (weighted_total(weights, residuals.loss_terms(model, x)), None), points=points,
        best=[], best_loss=tf.Variable(np.inf, dtype=dtype), spec=problem.training, resample=lambda step: None,
        histories=[History(residuals.term_names)], progress=None, counts=Counts(), model=model, residuals=residuals)


@pytest.mark.parametrize("name, overrides", [
    ("robin", ("constraints=soft", "weights.conditions=3.0")),  # soft conditions, weighted
    ("inverse_decay", ("weights.data=2.5", "smoothness.weight=0.1")),  # data, a parameter, smoothness
])
def test_the_rows_square_to_the_weighted_loss_and_j_is_their_derivative(name, overrides):
    problem = pinn.load_problem(problem_path(name), ["training.points=12", "network.hidden=[6,6]",
                                                     *[f"training.{o}" for o in overrides]])
    context = _context(problem)
    rows, jacobian, normal = (t.numpy() for t in lm.residual_jacobian(context)())
    np.testing.assert_allclose(normal[0], jacobian[0] @ jacobian[0].T, rtol=1e-12, atol=1e-14)  # m < n here
    np.testing.assert_allclose(lm.residual_rows(context)().numpy(), rows, rtol=1e-12, atol=1e-15)
    loss = float(context.loss(context.points)[0].numpy())
    assert np.sum(rows**2) == pytest.approx(loss, rel=1e-12)
    run = lm._LmRun(context, np.array([True]))
    theta = run.flat()
    assert jacobian.shape == (1, rows.shape[1], theta.shape[1])
    direction = np.random.default_rng(2).standard_normal(theta.shape)
    h = 1e-6
    run.assign(theta + h * direction)
    plus = lm.residual_rows(context)().numpy()
    run.assign(theta - h * direction)
    minus = lm.residual_rows(context)().numpy()
    np.testing.assert_allclose((plus - minus) / (2 * h), np.einsum("kmn,kn->km", jacobian, direction), rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------ the phase


class Quadratic:
    """u = a + b x + c x²: a model linear in its weights, so the residuals are linear in them too."""

    dtype = tf.float64
    parameters = {}

    def __init__(self):
        self.coefficients = [tf.Variable(0.3, dtype=tf.float64), tf.Variable(-0.2, dtype=tf.float64), tf.Variable(0.5, dtype=tf.float64)]

    @property
    def weights(self):
        return self.coefficients

    def __call__(self, x):
        a, b, c = self.coefficients
        return a + b * x + c * x * x


def test_one_undamped_step_solves_a_linear_least_squares_problem_exactly():
    # y'' = 2, y(0) = 0, y(1) = 1 with both conditions penalised: the least-squares solution is a = b = 0, c = 1.
    def run(steps):
        problem = pinn.load_problem(problem_path("quadratic"), ["training.phases=[lm]", "training.lm.damping=1e-14",
                                                                "training.points=8", f"training.lm.steps={steps}"])
        model = Quadratic()
        return model, train(model, compile_residuals(problem, problem.conditions, {"y": 1.0}), problem.training, problem.domain)

    model, result = run(1)
    np.testing.assert_allclose([v.numpy() for v in model.weights], [0.0, 0.0, 1.0], atol=1e-12)
    assert result.best_loss < 1e-24 and result.status is Status.MAX_STEPS
    model, result = run(50)  # then it stops by itself within a few iterations: nothing is left to reduce
    (record,) = result.phases
    assert record.name == "lm" and record.steps <= 5 and result.status is Status.CONVERGED
    assert result.message == "LM converged: the loss stopped decreasing within machine precision."


def test_lm_lowers_the_loss_at_every_iteration_and_far_below_adam():
    solution = pinn.solve(load("quadratic"))
    history = solution.history
    lm_losses = history["total"][history["phase"] == 1]
    adam_loss = history["total"][history["phase"] == 0][-1]
    assert len(lm_losses) == solution.training.steps_of("lm") > 0
    assert np.all(np.diff(lm_losses) <= 0)  # a step is kept only if it lowers the loss
    assert lm_losses[-1] < 1e-6 * adam_loss
    assert relative_l2(solution.values["y"][0], solution.x**2) < 1e-6  # Adam alone leaves ~1e-3


def test_it_stops_for_the_reason_it_says(monkeypatch):
    solution = pinn.solve(load("quadratic", "training.lm.steps=3", *UNCHECKED))
    (adam, record) = solution.training.phases
    assert record.name == "lm" and record.steps == 3 and record.stop == "ran all 3 iterations"
    assert solution.status is Status.MAX_STEPS
    # a stall: the loss must halve every 2 iterations, which it soon cannot
    monkeypatch.setattr(lm, "STALL_ITERATIONS", 2)
    monkeypatch.setattr(lm, "STALL_DECREASE", 0.5)
    stalled = pinn.solve(load("quadratic", "training.lm.steps=100", *UNCHECKED))
    record = stalled.training.phases[-1]
    assert stalled.status is Status.CONVERGED and 2 < record.steps < 100
    assert record.stop == "the loss fell by less than 0.5 (relative) in the last 2 iterations"
    losses = stalled.history["total"][stalled.history["phase"] == 1]
    assert losses[-1] > 0.5 * losses[-3] and len(losses) == record.steps


def test_it_learns_a_parameter_with_the_weights():
    solution = pinn.solve(load("inverse_decay", "training.lm.steps=60"))
    assert solution.parameters["k"] == pytest.approx(0.7, rel=1e-6)


def test_hard_conditions_stay_exact():
    solution = pinn.solve(load("harmonic", "training.lm.steps=60"))
    assert solution.values["y"][0][0] == pytest.approx(1.0, abs=1e-12)  # y(0) = 1
    assert solution.values["y"][1][0] == pytest.approx(0.0, abs=1e-12)  # y'(0) = 0
    assert relative_l2(solution.values["y"][0], np.cos(solution.x)) < 1e-3  # 32 points, a 16-16 network, 60 iterations


@pytest.fixture(scope="module")
def decay_members():
    """Two decay problems, as stacked members and as separate runs."""
    problems = [load("decay", f"parameters.k={k}", f"training.seed={seed}", *UNCHECKED) for k, seed in ((1.0, 0), (2.0, 1))]
    return problems, solve_vectorized(problems), [pinn.solve(problem) for problem in problems]


def test_stacked_members_follow_their_separate_runs(decay_members):
    problems, members, separates = decay_members
    for problem, member, separate in zip(problems, members, separates):
        assert member.training.steps_of("lm") == separate.training.steps_of("lm")
        # the same iterations from the same Adam weights; batched and single kernels may round differently
        np.testing.assert_allclose(member.values["u"], separate.values["u"], rtol=1e-7, atol=1e-9)
        exact = 2.0 * np.exp(-problem.parameter("k").value * member.x)
        assert relative_l2(member.values["u"][0], exact) < 1e-4  # Adam alone leaves ~1e-2


def test_the_same_seed_gives_the_same_numbers(decay_members):
    problems, _, separates = decay_members
    again = pinn.solve(problems[0])
    np.testing.assert_array_equal(again.values["u"], separates[0].values["u"])
    np.testing.assert_array_equal(again.history["total"], separates[0].history["total"])
