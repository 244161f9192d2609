"""Output folders: pinn never deletes or overwrites what it did not write, and a
report appears whole or not at all (pinn.output_folder, the CLI and the batch).

The contract (docs/safety.md): a folder pinn writes into is new, empty, or one
pinn marked as its own; a report folder is replaced only when it holds nothing
but pinn's files; anything else is refused with exit status 2 before training.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import pinn
from pinn import output_folder as folders
from pinn.cli import main

from conftest import UNCHECKED, problem_path

QUADRATIC = str(problem_path("quadratic"))
NO_TRAINING = ("--set", "training.adam.steps=0", "--set", "training.lbfgs.steps=0", "--set", "training.jit_compile=false",
               "--set", "output.points=21")
TINY = ("--set", "training.adam.steps=20", "--set", "training.lbfgs.steps=5", "--set", "training.jit_compile=false",
        "--set", "output.points=21", "--set", "training.steps_per_call=20",
        *(item for setting in UNCHECKED for item in ("--set", setting)))  # short: accuracy is not the point


def run_cli(*argv):
    try:
        return main([str(a) for a in argv])
    except SystemExit as exit:
        return exit.code


def named_problem(tmp_path, name):
    """The quadratic under another ``name:`` (what names the batch's run folder)."""
    text = Path(QUADRATIC).read_text().replace("name: quadratic", f"name: {name}")
    path = tmp_path / f"{name.lower()}.yaml"
    path.write_text(text)
    return path


# ------------------------------------------------------------ the rules, unit by unit


def test_new_and_empty_folders_are_free(tmp_path):
    assert folders.check_folder(tmp_path / "new", folders.REPORT) == (tmp_path / "new").resolve()
    (tmp_path / "empty").mkdir()
    assert folders.check_folder(tmp_path / "empty", folders.REPORT) == (tmp_path / "empty").resolve()


def test_a_folder_of_someone_elses_files_is_refused_and_untouched(tmp_path):
    (tmp_path / "thesis.tex").write_text("years of work")
    with pytest.raises(pinn.ProblemError, match="files pinn did not write \\(thesis.tex\\)"):
        folders.check_folder(tmp_path, folders.REPORT)
    with pytest.raises(pinn.ProblemError):
        with folders.staged_folder(tmp_path) as staging:
            (staging / "solution.csv").write_text("x\n")
    assert (tmp_path / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis.tex"]


def test_a_pinn_report_folder_with_a_users_file_added_is_refused(tmp_path):
    report = tmp_path / "quadratic"
    with folders.staged_folder(report) as staging:
        (staging / "solution.csv").write_text("x\n")
    (report / "analysis.ipynb").write_text("{}")
    with pytest.raises(pinn.ProblemError, match="analysis.ipynb"):
        folders.check_folder(report, folders.REPORT)


def test_a_file_where_a_folder_is_meant_is_refused(tmp_path):
    (tmp_path / "model").write_text("not a folder")
    with pytest.raises(pinn.ProblemError, match="is a file"):
        folders.check_folder(tmp_path / "model", folders.REPORT)
    with pytest.raises(pinn.ProblemError, match="is a file"):
        folders.check_folder(tmp_path / "model" / "below", folders.REPORT)


def test_a_folder_of_another_kind_is_refused(tmp_path):
    folders.make_folder(tmp_path / "batch", folders.BATCH)
    with pytest.raises(pinn.ProblemError, match="pinn batch folder, not a report folder"):
        folders.check_folder(tmp_path / "batch", folders.REPORT)


def test_a_staged_folder_replaces_the_old_report_whole(tmp_path):
    report = tmp_path / "r"
    with folders.staged_folder(report) as staging:
        (staging / "plot.png").write_text("old plot")
        (staging / "solution.csv").write_text("old")
    with folders.staged_folder(report) as staging:
        (staging / "solution.csv").write_text("new")
    assert sorted(p.name for p in report.iterdir()) == [".pinn", "solution.csv"]  # no stale plot.png
    assert (report / "solution.csv").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["r"]  # no staging or old copy left beside it


def test_an_interrupt_while_writing_leaves_the_old_report_as_it_was(tmp_path):
    report = tmp_path / "r"
    with folders.staged_folder(report) as staging:
        (staging / "solution.csv").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with folders.staged_folder(report) as staging:
            (staging / "solution.csv").write_text("half")
            raise KeyboardInterrupt
    assert (report / "solution.csv").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r"]


def test_a_symlinked_folder_is_written_through_to_its_target(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    with folders.staged_folder(tmp_path / "link") as staging:
        (staging / "solution.csv").write_text("x")
    assert (real / "solution.csv").read_text() == "x"


# ------------------------------------------------------------ pinn solve


def test_solve_refuses_a_folder_of_user_files_before_training(tmp_path, capsys):
    out = tmp_path / "work"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    assert run_cli(QUADRATIC, "--out", out, *NO_TRAINING) == 2
    err = capsys.readouterr().err
    assert "thesis.tex" in err and "--out" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]


def test_solve_refuses_a_file_named_model_in_an_unmarked_folder(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "model").write_text("mine")
    assert run_cli(QUADRATIC, "--out", out, *NO_TRAINING) == 2
    assert (out / "model").read_text() == "mine"


def test_solve_again_leaves_no_stale_plot(tmp_path):
    out = tmp_path / "q"
    assert run_cli(QUADRATIC, "--out", out, "--quiet", *NO_TRAINING) in (0, 1)
    assert (out / "plot.png").exists()
    assert run_cli(QUADRATIC, "--out", out, "--quiet", "--no-plot", *NO_TRAINING) in (0, 1)
    assert not (out / "plot.png").exists()
    assert {"solution.csv", "metrics.json", "model", "problem.yaml"} <= {p.name for p in out.iterdir()}


def test_solve_into_a_symlinked_run_folder(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    assert run_cli(QUADRATIC, "--out", tmp_path / "link", "--quiet", *NO_TRAINING) in (0, 1)
    assert (real / "solution.csv").exists()


# ------------------------------------------------------------ pinn batch


def test_batch_never_deletes_a_users_folder_named_like_a_run(tmp_path, capsys):
    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    (home / "Documents" / "thesis.tex").write_text("years of work")
    problem = named_problem(tmp_path, "Documents")
    assert run_cli("batch", problem, "--out", home, "--quiet", *NO_TRAINING) == 2
    err = capsys.readouterr().err
    assert "files pinn did not write (Documents)" in err and "Traceback" not in err
    assert (home / "Documents" / "thesis.tex").read_text() == "years of work"


def test_batch_never_deletes_a_users_folder_in_its_own_out_folder(tmp_path, capsys):
    out = tmp_path / "out"
    assert run_cli("batch", QUADRATIC, "--out", out, "--quiet", *NO_TRAINING) in (0, 1)
    (out / "Documents").mkdir()
    (out / "Documents" / "thesis.tex").write_text("years of work")
    assert run_cli("batch", named_problem(tmp_path, "Documents"), "--out", out, "--quiet", *NO_TRAINING) == 2
    assert "thesis.tex" in capsys.readouterr().err
    assert (out / "Documents" / "thesis.tex").read_text() == "years of work"


def test_batch_refuses_an_out_folder_of_user_files(tmp_path, capsys):
    out = tmp_path / "project"
    out.mkdir()
    (out / "summary.md").write_text("my own summary")
    assert run_cli("batch", QUADRATIC, "--out", out, "--quiet", *NO_TRAINING) == 2
    assert "summary.md" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["summary.md"]
    assert (out / "summary.md").read_text() == "my own summary"


def test_batch_keeps_a_notebook_added_to_a_run_folder(tmp_path, capsys):
    out = tmp_path / "out"
    assert run_cli("batch", QUADRATIC, "--out", out, "--quiet", *NO_TRAINING) in (0, 1)
    notebook = out / "quadratic" / "analysis.ipynb"
    notebook.write_text("{}")
    assert run_cli("batch", QUADRATIC, "--out", out, "--quiet", "--force", *NO_TRAINING) == 2
    assert "analysis.ipynb" in capsys.readouterr().err
    assert notebook.read_text() == "{}"


def test_batch_reruns_into_its_own_folder(tmp_path):
    out = tmp_path / "out"
    assert run_cli("batch", QUADRATIC, "--out", out, "--quiet", *NO_TRAINING) in (0, 1)
    assert run_cli("batch", QUADRATIC, "--out", out, "--quiet", "--force", "--no-plot", *NO_TRAINING) in (0, 1)
    assert not (out / "quadratic" / "plot.png").exists()
    assert (out / "quadratic" / "run.json").exists()


# ------------------------------------------------------------ interrupts


def test_ctrl_c_before_training_exits_130_without_a_traceback(tmp_path, capsys, monkeypatch):
    import pinn.cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(pinn.cli, "configure_tensorflow", interrupted)
    assert run_cli(QUADRATIC, "--out", tmp_path / "q", *NO_TRAINING) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err
    assert not (tmp_path / "q").exists()


def test_ctrl_c_while_writing_the_report_leaves_no_half_written_folder(tmp_path, capsys, monkeypatch):
    import pinn.report

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pinn.report, "write_plot", interrupted)
    assert run_cli(QUADRATIC, "--out", tmp_path / "q", *NO_TRAINING) == 130
    assert "Traceback" not in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_during_training_reports_what_was_reached_and_exits_130(tmp_path, capsys, monkeypatch):
    import pinn.cli

    class InterruptingDisplay(pinn.cli.ProgressDisplay):
        def __call__(self, progress):
            raise KeyboardInterrupt

    monkeypatch.setattr(pinn.cli, "ProgressDisplay", InterruptingDisplay)
    assert run_cli(QUADRATIC, "--out", tmp_path / "q", *TINY) == 130
    captured = capsys.readouterr()
    assert "interrupted" in captured.err and "Traceback" not in captured.err
    assert (tmp_path / "q" / "solution.csv").exists() and (tmp_path / "q" / "metrics.json").exists()


def test_sigint_in_a_real_process_exits_130(tmp_path):
    """A real Ctrl-C (SIGINT) at a random early moment: exit 130, no traceback, no half-written folder."""
    out = tmp_path / "q"
    process = subprocess.Popen([sys.executable, "scripts/solve.py", QUADRATIC, "--out", str(out), *TINY],
                               cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    time.sleep(1.5)  # inside the TensorFlow import or tracing
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode in (130, 0), err  # 0 only if it finished within the delay
    assert "Traceback" not in err
    if process.returncode == 130 and out.exists():
        assert {"solution.csv", "metrics.json", "model"} <= {p.name for p in out.iterdir()}


def test_a_worker_ends_when_its_parent_is_killed(tmp_path):
    """die_with_parent: SIGKILL of the batch process ends its workers (they must not train on, orphaned)."""
    script = textwrap.dedent(f"""
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c",
            "import os, time; from pinn.batch.workers import die_with_parent; "
            "die_with_parent({{parent}}, interval=0.2); time.sleep(60)".replace("{{parent}}", str(os.getpid()))])
        print(child.pid, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    time.sleep(1.0)  # the child has asked to die with its parent
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# ------------------------------------------------------------ saved models


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    problem = pinn.load_problem(QUADRATIC, ["training.adam.steps=20", "training.lbfgs.steps=0", "training.jit_compile=false",
                                            "output.points=21"])
    solution = pinn.solve(problem)
    return solution, solution.save(tmp_path_factory.mktemp("saved") / "model")


def _set_status(directory, status):
    """model.json with its status replaced, whatever the saved one was (the 20-step fixture's is check_failed)."""
    path = directory / "model.json"
    meta = json.loads(path.read_text())
    assert meta["status"] in ("converged", "max_steps", "nonfinite_loss", "check_failed")  # a real status before
    meta["status"] = status
    path.write_text(json.dumps(meta))


def copy_of(directory, tmp_path):
    import shutil

    target = tmp_path / "model"
    shutil.copytree(directory, target)
    return target


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "weights.npz").unlink(), "there is no weights.npz"),
    (lambda d: (d / "weights.npz").write_bytes(b"not a zip file"), "weights.npz cannot be read"),
    (lambda d: (d / "model.json").write_text("{"), "model.json cannot be read"),
    (lambda d: (d / "model.json").write_text('{"status": "converged"}'), "lacks a valid 'message'"),
    (lambda d: _set_status(d, "solved!"), "unknown status"),
    (lambda d: np.savez(d / "weights.npz", weight_000=np.zeros((1, 64)), weight_001=np.zeros(3), weight_002=np.zeros(1),
                        weight_003=np.zeros(1), weight_004=np.zeros(1), weight_005=np.zeros(1)), "shape"),
    (lambda d: np.savez(d / "weights.npz", weight_000=np.zeros(2)), "another network"),
])
def test_a_damaged_model_folder_gives_a_clear_error(saved, tmp_path, damage, message):
    directory = copy_of(saved[1], tmp_path)
    damage(directory)
    with pytest.raises(pinn.ProblemError, match=message):
        pinn.load_solution(directory)


def test_non_finite_saved_weights_are_refused(saved, tmp_path):
    directory = copy_of(saved[1], tmp_path)
    with np.load(directory / "weights.npz") as arrays:
        weights = {name: arrays[name] for name in arrays.files}
    weights["weight_000"] = np.full_like(weights["weight_000"], np.nan)
    np.savez(directory / "weights.npz", **weights)
    with pytest.raises(pinn.ProblemError, match="non-finite"):
        pinn.load_solution(directory)


def test_load_solution_takes_the_report_folder_too(saved, tmp_path):
    directory = copy_of(saved[1], tmp_path)
    reloaded = pinn.load_solution(directory.parent)
    np.testing.assert_array_equal(reloaded.values["y"], saved[0].values["y"])


def test_observations_are_saved_as_csv_beside_the_model(tmp_path):
    problem = pinn.load_problem(problem_path("inverse_decay"), ["training.adam.steps=20", "training.lbfgs.steps=0",
                                                               "training.jit_compile=false", "output.points=21"])
    solution = pinn.solve(problem)
    directory = solution.save(tmp_path / "model")
    assert "data: {file: data.csv}" in (directory / "problem.yaml").read_text()
    reloaded = pinn.load_solution(directory)
    np.testing.assert_array_equal(reloaded.problem.data.variable, problem.data.variable)
    for name, values in problem.data.values.items():
        np.testing.assert_array_equal(reloaded.problem.data.values[name], values)
    assert reloaded.parameters == pytest.approx(solution.parameters, rel=0, abs=0)
