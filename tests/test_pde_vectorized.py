"""Vectorised sweeps in two variables: K members of a problem u(x, t) trained as one stacked model.

The oracle is a separate ``pinn.solve`` of each member with the same seed and settings.  Adam only (its
elementwise update on the summed loss is each member's own Adam), so members must follow their separate runs
step by step; tiny settings (XLA off) keep the file fast; the runs are far too short to pass the self-check,
which is not what is tested here.
"""

import contextlib
import io
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pinn
from pinn.problem_file import problem_from_text
from pinn.vectorized import vectorize_problem_reason

from conftest import ROOT, problem_path

HEAT_K = textwrap.dedent("""
    name: heat_k
    variables: [x, t]
    domain: {x: [0, 1], t: [0, 0.5]}
    parameters: {k: 1.0}
    equations:
      - u_t = k*u_xx
    conditions:
      - u(x, 0) = sin(pi*x)
      - u(0, t) = 0
      - u(1, t) = 0
    exact:
      u: exp(-k*pi^2*t)*sin(pi*x)
    """)

ADAM_ONLY = ["training.phases=[adam]", "training.adam.steps=60", "training.steps_per_call=30", "training.points=100",
             "output.points=[9, 7]", "network.hidden=[8, 8]", "training.jit_compile=false"]


def heat(k, seed, overrides=ADAM_ONLY, text=HEAT_K):
    return problem_from_text(text, [*overrides, f"parameters.k={k}", f"training.seed={seed}"])


def test_the_reason_check_for_two_variables_does_not_import_tensorflow():
    code = ("import sys, pinn, pinn.vectorized as v; p = pinn.load_problem(sys.argv[1]); "
            "assert v.vectorize_problem_reason([p, p]) is None; assert 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code, str(problem_path("heat"))], check=True, cwd=ROOT)


def test_stacked_loss_terms_are_each_members_own_and_a_subset_rebuilds_alike():
    # before any training: column k of the stacked [T, K] terms is member k's single model at member k's points
    import tensorflow as tf

    from pinn.pde.solve import build_field_model, build_stacked_field_model

    # every condition penalised (soft): their lines repeated per member, k a [K, 1] tensor in the equation
    problems = [heat(k, seed, overrides=[*ADAM_ONLY, "training.constraints=soft"]) for k, seed in ((0.5, 0), (1.0, 1), (2.0, 2))]
    points = np.random.default_rng(0).random((3, 40, 2)) * [1.0, 0.5]
    model, residuals = build_stacked_field_model(problems)
    terms = residuals.loss_terms(model, tf.constant(points)).numpy()
    assert terms.shape == (len(residuals.term_names), 3)
    for k, problem in enumerate(problems):
        single, single_residuals = build_field_model(problem)
        np.testing.assert_allclose(terms[:, k], single_residuals.loss_terms(single, tf.constant(points[k])).numpy(), rtol=1e-12)
    subset, subset_residuals = build_stacked_field_model([problems[2], problems[0]])
    np.testing.assert_allclose(subset_residuals.loss_terms(subset, tf.constant(points[[2, 0]])).numpy(), terms[:, [2, 0]], rtol=1e-12)


@pytest.fixture(scope="module")
def k_sweep():
    problems = [heat(0.5, 0), heat(1.0, 1)]
    reports = []
    stacked = pinn.solve_vectorized(problems, progress=reports.append)
    separate = [pinn.solve(p, progress=False) for p in problems]
    return problems, stacked, separate, reports


def test_a_parameter_sweep_in_two_variables_can_be_stacked():
    assert vectorize_problem_reason([heat(0.5, 0), heat(1.0, 1), heat(2.0, 2)]) is None


def test_stacked_members_match_their_separate_solves(k_sweep):
    problems, stacked, separate, reports = k_sweep
    assert len(stacked) == 2 and reports and reports[-1].phase == "adam"
    for member, single in zip(stacked, separate):
        assert type(member) is type(single) and member.problem.parameter("k").value == single.problem.parameter("k").value
        for u in single.values:
            scale = np.max(np.abs(single.values[u]))
            assert np.max(np.abs(member.values[u] - single.values[u])) <= 1e-10 * scale
        for key in single.partials:
            assert np.allclose(member.partials[key], single.partials[key], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(member.training.history["total"], single.training.history["total"], rtol=1e-10)
        assert member.final_loss == pytest.approx(single.final_loss, rel=1e-10)
        assert member.training.summary() == single.training.summary() == "60 Adam"
        assert member.status == single.status and member.message == single.message


def test_each_member_is_checked_against_its_own_exact_solution(k_sweep):
    problems, stacked, separate, _ = k_sweep
    assert stacked[0].verification is not stacked[1].verification
    x, t = np.meshgrid(*stacked[0].grid, indexing="ij")
    for member, k in zip(stacked, (0.5, 1.0)):
        exact = np.exp(-k * np.pi**2 * t) * np.sin(np.pi * x)
        own = np.linalg.norm(member.values["u"] - exact) / np.linalg.norm(exact)
        check = next(c for c in member.verification.checks if c.name == "u relative L2 error against the exact solution")
        assert check.figure == pytest.approx(own, rel=1e-6)
        other = 1.5 - k  # the other member's k: a shared check would have used its exact solution
        wrong = np.exp(-other * np.pi**2 * t) * np.sin(np.pi * x)
        assert abs(check.figure - np.linalg.norm(member.values["u"] - wrong) / np.linalg.norm(wrong)) > 1e-3
    for member, single in zip(stacked, separate):
        assert [c.name for c in member.verification.checks] == [c.name for c in single.verification.checks]
        np.testing.assert_allclose([c.figure for c in member.verification.checks],
                                   [c.figure for c in single.verification.checks], rtol=1e-8)


def test_members_report_like_separate_runs(k_sweep, tmp_path):
    _, stacked, separate, _ = k_sweep
    for index, (member, single) in enumerate(zip(stacked, separate)):
        run = pinn.report_solution(member, tmp_path / f"member{index}", plot=False)
        alone = pinn.report_solution(single, tmp_path / f"single{index}", plot=False)
        assert run.metrics["errors"]["u"]["relative_l2"] == pytest.approx(alone.metrics["errors"]["u"]["relative_l2"], rel=1e-8)
        assert run.metrics["status"] == alone.metrics["status"]
        assert (tmp_path / f"member{index}" / "solution.csv").exists()


def test_penalised_conditions_are_each_members_own():
    # Neumann on one edge: every condition is a penalty term on its line, repeated per member before differentiating
    problems = [pinn.load_problem(problem_path("laplace_neumann"), [*ADAM_ONLY, f"training.seed={seed}"]) for seed in (0, 5)]
    for member, single in zip(pinn.solve_vectorized(problems, progress=False), [pinn.solve(p, progress=False) for p in problems]):
        assert np.max(np.abs(member.values["u"] - single.values["u"])) <= 1e-10 * np.max(np.abs(single.values["u"]))
        for name in single.training.history:
            np.testing.assert_allclose(member.training.history[name], single.training.history[name], rtol=1e-10)


def test_data_trainable_parameters_and_every_phase_run_stacked():
    # observations, a trainable D from a different start per member, then the batched L-BFGS and LM per member
    settings = ["training.phases=[adam, lbfgs, refine, lm]", "training.adam.steps=30", "training.lbfgs.steps=15",
                "training.lm.steps=3", "training.points=50", "output.points=[7, 7]", "network.hidden=[6]",
                "training.jit_compile=false"]
    problems = [pinn.load_problem(problem_path("inverse_diffusivity"), [*settings, f"training.seed={seed}",
                                                                        f"parameters.D.initial={start}"])
                for seed, start in ((0, 1.0), (1, 0.7))]
    assert vectorize_problem_reason(problems) is None
    solutions = pinn.solve_vectorized(problems, progress=False)
    for solution, start in zip(solutions, (1.0, 0.7)):
        assert np.isfinite(solution.final_loss) and solution.status.value in ("converged", "max_steps", "check_failed")
        assert solution.parameters["D"] != start and solution.training.steps_of("lm") >= 1
        assert solution.verification is not None and "data" in solution.training.history
    assert solutions[0].parameters["D"] != solutions[1].parameters["D"]


# --------------------------------------------------------------------------- the batch command


def test_the_batch_command_vectorises_a_parameter_sweep_in_two_variables(tmp_path):
    from pinn.cli import main

    path = tmp_path / "heat_k.yaml"
    path.write_text(HEAT_K, encoding="utf-8")
    out = tmp_path / "out"
    settings = [option for value in ADAM_ONLY for option in ("--set", value)]
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()) as printed, contextlib.redirect_stderr(err):
        status = main(["batch", str(path), "--sweep", "parameters.k=0.5,1", "--vectorize", *settings, "--no-plot",
                       "--out", str(out)])
    assert status in (0, 1) and "Traceback" not in err.getvalue(), err.getvalue()
    assert "as vectorised models" in printed.getvalue()
    records = sorted(out.glob("**/run.json"))
    assert len(records) == 2
    ks = []
    for record_path in records:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        assert record["vectorized"] and record["stacked"] == 2 and record["status"] != "error", record
        folder = record_path.parent
        for name in ("solution.csv", "metrics.json", "model", "problem.yaml"):
            assert (folder / name).exists(), (folder, name)
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        assert "verification" in metrics and metrics["errors"]["u"]["against"] == "exact"
        ks.append(float(record["swept"]["parameters.k"]))
    assert sorted(ks) == [0.5, 1.0]


# --------------------------------------------------------------------------- what is refused, and why


def test_a_swept_parameter_inside_a_condition_is_refused_by_name():
    text = HEAT_K.replace("u(x, 0) = sin(pi*x)", "u(x, 0) = k*sin(pi*x)").replace("exp(-k*pi^2*t)*sin", "k*exp(-k*pi^2*t)*sin")
    reason = vectorize_problem_reason([heat(0.5, 0, text=text), heat(1.0, 0, text=text)])
    assert reason.startswith("k differs between members and appears in the condition 'u(x, 0) = k*sin(pi*x)'"), reason
    assert reason.endswith("run this sweep without --vectorize")
    assert vectorize_problem_reason([heat(1.0, 0, text=text), heat(1.0, 1, text=text)]) is None  # seeds only: fine
    with pytest.raises(ValueError, match="appears in the condition"):
        pinn.solve_vectorized([heat(0.5, 0, text=text), heat(1.0, 0, text=text)])


def test_the_batch_command_refuses_it_before_training(tmp_path):
    from pinn.cli import main

    path = tmp_path / "heat_k.yaml"
    path.write_text(HEAT_K.replace("u(x, 0) = sin(pi*x)", "u(x, 0) = k*sin(pi*x)"), encoding="utf-8")
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        status = main(["batch", str(path), "--sweep", "parameters.k=0.5,1", "--vectorize", "--out", str(tmp_path / "out")])
    assert status == 2 and "k differs between members and appears in the condition" in err.getvalue(), err.getvalue()
    assert "run this sweep without --vectorize" in err.getvalue() and not list((tmp_path / "out").glob("**/run.json"))


def test_other_differences_and_mixed_dimensions_are_refused():
    reason = vectorize_problem_reason([heat(1.0, 0), heat(1.0, 0, overrides=[*ADAM_ONLY, "training.points=50"])])
    assert reason.startswith("training.points differs between members (100 vs 50)")
    one_variable = pinn.load_problem(problem_path("decay"))
    assert "one and two variables" in vectorize_problem_reason([heat(1.0, 0), one_variable])
