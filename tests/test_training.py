"""pinn.training and the vectorised training on Ctrl-C: the best weights seen are the ones kept, with the counts so far.

An interrupt is simulated by a progress callback that raises KeyboardInterrupt
(as Ctrl-C does in the main thread), and once by a real SIGINT sent while
L-BFGS runs.  Oracle: the loss recomputed at the returned weights on the
training points equals the lowest loss reported, and that is L-BFGS's, far
below Adam's.
"""

import os
import signal
import threading

import numpy as np
import pytest
import tensorflow as tf

import pinn
from pinn.residuals import collocation_points
from pinn.solver import build_model
from pinn.training import Status, interrupts_deferred

from conftest import problem_path

SHORT = ("training.adam.steps=300", "training.steps_per_call=100", "training.points=64", "output.points=51",
         "training.jit_compile=false", "training.lbfgs.steps=3000")


def loss_at_returned_weights(solution) -> float:
    """The weighted loss of the solution's weights on its (grid) training points, recomputed eagerly."""
    problem = solution.problem
    model, residuals = build_model(problem)
    for variable, trained in zip(model.weights, solution.model.weights):
        variable.assign(trained)
    points = collocation_points(problem.domain, problem.training.points, "grid", None)
    terms = residuals.loss_terms(model, tf.constant(points, dtype=tf.float64)).numpy()
    return float(np.dot(residuals.weights, terms))


class InterruptAt:
    """A progress callback raising KeyboardInterrupt at the first report of ``phase`` at or after ``step``."""

    def __init__(self, phase: str, step: int = 1):
        self.phase, self.step, self.raised_at, self.reports = phase, step, None, []

    def __call__(self, progress):
        self.reports.append(progress)
        if progress.phase == self.phase and progress.step >= self.step and self.raised_at is None:
            self.raised_at = progress.step
            raise KeyboardInterrupt


def adam_best(solution) -> float:
    history = solution.history
    return float(np.min(history["total"][history["phase"] == 0]))


def test_interrupt_during_lbfgs_keeps_the_best_lbfgs_weights_and_the_counts():
    problem = pinn.load_problem(problem_path("quadratic"), list(SHORT))
    interrupt = InterruptAt("lbfgs", 20)  # reports come every 0.25 s, so at some iteration >= 20
    solution = pinn.solve(problem, progress=interrupt)
    assert interrupt.raised_at is not None
    assert solution.status is Status.INTERRUPTED and not solution.success
    assert "interrupted" in solution.message and "best weights" in solution.message
    assert solution.training.adam_steps == 300
    assert solution.training.lbfgs_steps == interrupt.raised_at < 3000
    assert solution.training.lbfgs_seconds > 0
    history = solution.history
    assert int(np.sum(history["phase"] == 1)) == interrupt.raised_at
    # the kept weights are L-BFGS's best, not Adam's
    assert solution.final_loss < 1e-2 * adam_best(solution)
    assert solution.final_loss <= np.min(history["total"]) * (1 + 1e-12)
    assert loss_at_returned_weights(solution) == pytest.approx(solution.final_loss, rel=1e-8)


def test_interrupt_during_adam_keeps_the_best_adam_weights_and_the_steps_done():
    problem = pinn.load_problem(problem_path("quadratic"), list(SHORT))
    interrupt = InterruptAt("adam", 200)
    solution = pinn.solve(problem, progress=interrupt)
    assert solution.status is Status.INTERRUPTED
    assert interrupt.raised_at == 200
    assert solution.training.adam_steps == 200 and solution.training.lbfgs_steps == 0
    assert solution.final_loss == pytest.approx(adam_best(solution), rel=1e-12)
    assert loss_at_returned_weights(solution) == pytest.approx(solution.final_loss, rel=1e-8)


def test_a_real_ctrl_c_during_lbfgs_keeps_consistent_best_weights():
    """SIGINT from another thread while L-BFGS runs: whenever it lands, the returned weights' loss is the best reported."""
    problem = pinn.load_problem(problem_path("quadratic"), list(SHORT))
    timers = []

    def progress(report):
        if report.phase == "lbfgs" and not timers:  # the first L-BFGS report: Ctrl-C 0.3 s later
            timers.append(threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)))
            timers[0].start()

    try:
        solution = pinn.solve(problem, progress=progress)
        timers[0].join()  # the signal was sent, so it is handled inside this try
    except KeyboardInterrupt:  # pragma: no cover - only if L-BFGS ended before the signal came
        pytest.fail("the Ctrl-C escaped pinn.solve")
    assert solution.status is Status.INTERRUPTED
    assert 0 < solution.training.lbfgs_steps < 3000
    assert solution.final_loss < 1e-2 * adam_best(solution)
    assert loss_at_returned_weights(solution) == pytest.approx(solution.final_loss, rel=1e-8)


def test_interrupts_deferred_holds_ctrl_c_until_the_block_ends():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("rest of the block")
    assert done == ["rest of the block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with interrupts_deferred():  # no Ctrl-C: nothing raised
        done.append("again")
    assert done[-1] == "again"


def test_interrupt_during_batched_lbfgs_keeps_each_members_best_weights():
    from pinn.batched_lbfgs import LBFGS_CHUNK

    problems = [pinn.load_problem(problem_path("quadratic"), [*SHORT, f"training.seed={seed}"]) for seed in (0, 1)]
    interrupt = InterruptAt("lbfgs", 1)  # after the first chunk of LBFGS_CHUNK iterations per member
    solutions = pinn.solve_vectorized(problems, progress=interrupt)
    assert interrupt.raised_at == LBFGS_CHUNK
    for solution in solutions:
        assert solution.status is Status.INTERRUPTED
        assert solution.training.adam_steps == 300
        assert 0 < solution.training.lbfgs_steps <= LBFGS_CHUNK
        assert solution.final_loss < 1e-2 * adam_best(solution)
        assert loss_at_returned_weights(solution) == pytest.approx(solution.final_loss, rel=1e-8)
