"""The phase table (pinn.training.PHASES): training.phases names the phases, one loop runs them,
and every reader (the closing table, the saved model, the history) reads the list of phases."""

import numpy as np
import pytest

import pinn
from pinn.problem import PHASE_LABELS
from pinn.training import PHASES

from conftest import problem_path

SHORT = ["training.adam.steps=100", "training.lbfgs.steps=20", "training.steps_per_call=50", "training.jit_compile=false",
         "output.points=21"]


def test_every_phase_has_a_label_and_a_row():
    assert set(PHASES) == set(PHASE_LABELS)


def solved(phases):
    return pinn.solve(pinn.load_problem(problem_path("quadratic"), [*SHORT, f"training.phases={phases}"]))


def test_the_default_is_adam_then_lbfgs():
    solution = pinn.solve(pinn.load_problem(problem_path("quadratic"), SHORT))
    assert [p.name for p in solution.training.phases] == ["adam", "lbfgs"]
    assert solution.training.phases[0].steps == 100 and 0 < solution.training.phases[1].steps <= 20
    assert solution.training.summary().startswith("100 Adam + ")
    assert set(np.unique(solution.history["phase"])) == {0, 1}


def test_a_single_phase_runs_alone():
    solution = solved("[lbfgs]")
    assert [p.name for p in solution.training.phases] == ["lbfgs"]
    assert solution.training.steps == solution.training.phases[0].steps > 0
    assert set(np.unique(solution.history["phase"])) == {0}  # the index in training.phases
    assert "Adam" not in solution.training.summary()


def test_phases_run_in_the_order_given_each_from_the_best_weights():
    solution = solved("[lbfgs, adam]")
    assert [p.name for p in solution.training.phases] == ["lbfgs", "adam"]
    steps = solution.history["step"]
    assert np.all(np.diff(steps) > 0)  # one step axis across the phases
    assert solution.final_loss <= min(solution.history["total"]) * (1 + 1e-12)


def test_the_saved_model_keeps_the_phase_list(tmp_path):
    solution = solved("[adam, lbfgs]")
    reloaded = pinn.load_solution(solution.save(tmp_path / "model"))
    assert reloaded.training.phases == solution.training.phases


@pytest.mark.parametrize("bad, message", [("[newton]", "is not one of adam, lbfgs"), ("[adam, adam]", "listed twice"),
                                          ("[]", "expected a list of phases")])
def test_a_bad_phase_list_is_refused(bad, message):
    with pytest.raises(pinn.ProblemError, match=message):
        pinn.load_problem(problem_path("quadratic"), [f"training.phases={bad}"])
