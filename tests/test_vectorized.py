"""pinn.vectorized: which sweeps batch, stacked initialisation, members against separate runs.

Separate-run oracles are ``pinn.solve`` of each member's problem with the same
settings.  Short training (XLA off, as conftest's SHORT) keeps the file fast.
"""

import subprocess
import sys

import numpy as np
import pytest

import pinn
from pinn.saved import load_solution
from pinn.training import Progress, Status
from pinn.vectorized import build_stacked_model, solve_vectorized, vectorize_problem_reason

from conftest import ROOT, UNCHECKED, problem_path

#: Adam only: vectorised members must follow their separate runs step by step (150 steps: no growth
#: before them; far too short to pass the self-check, which is not the point here: UNCHECKED).
ADAM_ONLY = ("training.adam.steps=150", "training.lbfgs.steps=0", "training.steps_per_call=50",
             "training.points=64", "output.points=101", "training.jit_compile=false", "training.growth=0", *UNCHECKED)
#: Both phases, long enough for L-BFGS to reach accuracy well below the Adam level (300 Adam steps: no growth
#: before them, as conftest's SHORT).
BOTH = ("training.adam.steps=300", "training.lbfgs.steps=100", "training.steps_per_call=150",
        "training.points=64", "output.points=101", "training.jit_compile=false", "training.growth=0")


def decay(k, seed=0, overrides=ADAM_ONLY):
    return pinn.load_problem(problem_path("decay"), [*overrides, f"parameters.k={k}", f"training.seed={seed}"])


def quadratic(seed, overrides=BOTH):
    return pinn.load_problem(problem_path("quadratic"), [*overrides, f"training.seed={seed}"])


def relative_l2(approx, exact):
    return float(np.linalg.norm(approx - exact) / np.linalg.norm(exact))


# ------------------------------------------------------------ which sweeps can be batched


def test_seed_and_parameter_sweeps_can_be_batched():
    assert vectorize_problem_reason([decay(1.0, 0), decay(1.5, 1), decay(2.0, 2)]) is None
    assert vectorize_problem_reason([quadratic(0), quadratic(5)]) is None


@pytest.mark.parametrize("override, field, shown", [
    ("training.points=32", "training.points", "(64 vs 32)"),
    ("network.hidden=[16]", "network.hidden", "((64, 64) vs (16,))"),
    ("training.adam.learning_rate=0.01", "training.adam.learning_rate", "(0.001 vs 0.01)"),
])
def test_a_differing_setting_is_refused_naming_the_field(override, field, shown):
    reason = vectorize_problem_reason([decay(1.0), decay(1.0, overrides=[*ADAM_ONLY, override])])
    assert reason.startswith(f"{field} differs between members {shown}")
    assert "drop --vectorize or sweep only parameters and seeds" in reason


def test_differing_equations_are_refused_with_their_text():
    text = "name: a\ndomain: [0, 1]\nequations:\n  - y' = -y\nconditions:\n  - y(0) = 1\n"
    other = pinn.problem_from_text(text.replace("= -y", "= -2*y"))
    reason = vectorize_problem_reason([pinn.problem_from_text(text), other])
    assert reason.startswith("equations[0] differs between members (\"y' = -y\" vs \"y' = -2*y\")")


def test_solve_vectorized_raises_the_reason():
    with pytest.raises(ValueError, match="training.points differs"):
        solve_vectorized([decay(1.0), decay(1.0, overrides=[*ADAM_ONLY, "training.points=32"])])


def test_the_reason_check_does_not_import_tensorflow():
    code = ("import sys, pinn, pinn.vectorized as v; p = pinn.load_problem(sys.argv[1]); "
            "assert v.vectorize_problem_reason([p, p]) is None; assert 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code, str(problem_path("decay"))], check=True, cwd=ROOT)


# ------------------------------------------------------------ the stacked model


def test_each_member_starts_with_its_separate_runs_weights():
    from pinn.solver import build_model

    problems = [decay(1.0, 3), decay(2.0, 11), decay(0.5, 3)]
    stacked, _ = build_stacked_model(problems)
    for k, problem in enumerate(problems):
        single, _ = build_model(problem)
        for mine, theirs in zip(stacked.weights, single.weights):
            np.testing.assert_array_equal(mine.numpy()[k].reshape(theirs.shape), theirs.numpy())


# ------------------------------------------------------------ members against separate runs


@pytest.fixture(scope="module")
def adam_sweep_with_a_blow_up():
    """Adam only, decay over k with k = 1e200 in the middle: its loss overflows at the first step."""
    problems = [decay(1.0, 0), decay(1e200, 1), decay(2.0, 2)]
    reports = []
    return problems, solve_vectorized(problems, progress=reports.append), reports


@pytest.mark.filterwarnings("ignore:overflow encountered")  # the blown-up member's residuals at fresh points
def test_adam_members_match_their_separate_runs(adam_sweep_with_a_blow_up):
    # Same arithmetic per member: observed bit-identical here (XLA off on both sides).  The
    # 1e-8 allows for batched and single matmul kernels rounding differently in the last
    # bit on other machines, which drifts to ~1e-12 over 150 steps, not for any real difference.
    problems, solutions, _ = adam_sweep_with_a_blow_up
    for k in (0, 2):
        separate = pinn.solve(problems[k])
        assert solutions[k].status is Status.MAX_STEPS and solutions[k].training.adam_steps == 150
        np.testing.assert_allclose(solutions[k].values["u"], separate.values["u"], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(solutions[k].history["total"], separate.history["total"], rtol=1e-8)
        assert solutions[k].final_loss == pytest.approx(separate.final_loss, rel=1e-8)


def test_a_member_with_a_nonfinite_loss_stops_alone(adam_sweep_with_a_blow_up):
    problems, solutions, reports = adam_sweep_with_a_blow_up
    failed = solutions[1]
    assert failed.status is Status.NONFINITE_LOSS
    assert "non-finite loss at Adam step 1 in equation[0]" in failed.message
    assert failed.training.adam_steps == 0 and len(failed.history["total"]) == 0
    assert all(np.isfinite(s.values["u"]).all() for s in (solutions[0], solutions[2]))
    # progress reports the worst running member, never the failed one's non-finite loss
    assert [r.phase for r in reports] == ["adam"] * 3 and all(np.isfinite(r.loss) for r in reports)
    assert reports[-1].best_loss == pytest.approx(max(solutions[0].final_loss, solutions[2].final_loss))


@pytest.fixture(scope="module")
def decay_sweep():
    problems = [decay(k, seed, BOTH) for k, seed in ((1.0, 0), (1.5, 1), (2.5, 2))]
    reports = []
    return problems, solve_vectorized(problems, progress=reports.append), reports


@pytest.fixture(scope="module")
def quadratic_sweep():
    problems = [quadratic(seed) for seed in (0, 1)]
    return problems, solve_vectorized(problems)


def test_decay_members_are_as_accurate_as_separate_runs(decay_sweep):
    # Per-member L-BFGS (pinn.batched_lbfgs) and separate L-BFGS-B (scipy) take different paths from
    # the same Adam weights; each member must be within 10x of its separate run's
    # relative L2 error, or both below 1e-4 (well under the ~1e-2 Adam leaves).
    problems, solutions, _ = decay_sweep
    for problem, solution in zip(problems, solutions):
        exact = 2.0 * np.exp(-problem.parameter("k").value * solution.x)
        separate = pinn.solve(problem)
        mine, theirs = relative_l2(solution.values["u"][0], exact), relative_l2(separate.values["u"][0], exact)
        assert mine < max(10 * theirs, 1e-4), (problem.parameter("k").value, mine, theirs)
        assert solution.training.lbfgs_steps > 0 and solution.success


def test_quadratic_seed_members_are_as_accurate_as_separate_runs(quadratic_sweep):
    problems, solutions = quadratic_sweep
    for problem, solution in zip(problems, solutions):
        separate = pinn.solve(problem)
        mine = relative_l2(solution.values["y"][0], solution.x**2)
        theirs = relative_l2(separate.values["y"][0], solution.x**2)
        assert mine < max(10 * theirs, 1e-4), (problem.training.seed, mine, theirs)
        np.testing.assert_allclose(solution.values["y"][2], 2.0, atol=1e-2)  # y'' = 2, through the member's own model


def test_member_solutions_look_like_separate_ones(decay_sweep):
    problems, solutions, _ = decay_sweep
    for problem, solution in zip(problems, solutions):
        assert solution.problem is problem
        assert solution.model.members is None  # a plain single model
        assert solution.parameters["k"] == problem.parameter("k").value
        assert set(solution.equation_residuals) == {"equation[0]"}
        history = solution.history
        # "phase" is the index in training.phases: from the first phase (Adam) to the last that trained
        trained = [problem.training.phases.index(p.name) for p in solution.training.phases if p.steps > 0]
        assert history["phase"][0] == trained[0] == 0 and history["phase"][-1] == trained[-1] > 0
        assert np.all(np.diff(history["step"]) > 0)
        assert solution.final_loss == pytest.approx(np.min(history["total"]), rel=1e-6)


def test_members_save_and_reload(decay_sweep, tmp_path):
    _, solutions, _ = decay_sweep
    solution = solutions[1]
    again = load_solution(solution.save(tmp_path / "member"))
    np.testing.assert_allclose(again.values["u"], solution.values["u"], rtol=1e-12, atol=1e-14)
    assert again.status is solution.status
    np.testing.assert_allclose(again.evaluate([0.5, 1.0], order=1)["u"], solution.evaluate([0.5, 1.0], order=1)["u"], rtol=1e-12)


def test_progress_reports_both_phases(decay_sweep):
    _, solutions, reports = decay_sweep
    assert all(isinstance(r, Progress) for r in reports)
    assert [(r.phase, r.step) for r in reports] == [("adam", 150), ("adam", 300), ("lbfgs", 50), ("lbfgs", 100)]
    assert reports[-1].best_loss == pytest.approx(max(s.final_loss for s in solutions))
    assert all(r.total_steps == (300 if r.phase == "adam" else 100) for r in reports)
