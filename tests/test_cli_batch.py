"""``pinn batch`` on the command line: ``pinn.cli.main(["batch", ...])`` in this process, and
``scripts/batch.py`` in a real process for Ctrl-C.

Exit statuses as for ``pinn solve``: 0 every run succeeded, 1 some run did not
(its name on stderr), 2 the command line or a problem file is invalid (one
error line and a fix on stderr, no traceback, nothing trained or written);
130 after Ctrl-C, with the finished runs kept and a rerun doing the rest.
"""

import contextlib
import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pinn.cli import main

from conftest import ROOT, TINY, problem_path

QUADRATIC = str(problem_path("quadratic"))
DECAY = str(problem_path("decay"))
#: The TINY overrides as command-line options.
TINY_CLI = tuple(option for value in TINY for option in ("--set", value))
SUCCESS = ("converged", "max_steps")


def run_cli(argv):
    """main(["batch", ...]) as a process would end: the returned status, or argparse's SystemExit code."""
    try:
        return main(["batch", *map(str, argv)])
    except SystemExit as exit:
        return exit.code


def run_captured(argv):
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = run_cli(argv)
    return status, stdout.getvalue(), stderr.getvalue()


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# ------------------------------------------------------------------ a batch that succeeds


@pytest.fixture(scope="module")
def seed_batch(tmp_path_factory):
    """Seeds 0 and 1 of the quadratic, TINY, in this process: (argv, status, stdout, stderr, out folder)."""
    out = tmp_path_factory.mktemp("cli") / "batch"
    argv = [QUADRATIC, "--sweep", "training.seed=0:1", *TINY_CLI, "--no-plot", "--out", out]
    return (argv, *run_captured(argv), out)


def test_a_successful_batch_exits_0_and_lists_each_run(seed_batch):
    argv, status, out, err, folder = seed_batch
    assert status == 0, err
    assert "Traceback" not in out + err
    lines = out.splitlines()
    assert lines[0] == "batch: 2 runs, 2 to run in this process"
    progress = [line for line in lines if line.startswith("  [")]
    assert [line.split()[:3] for line in progress] == [["[1/2]", "quadratic/seed=0", progress[0].split()[2]],
                                                       ["[2/2]", "quadratic/seed=1", progress[1].split()[2]]]
    assert all(line.split()[2] in SUCCESS for line in progress), progress
    assert all("(CPU)" in line for line in progress)


def test_a_successful_batch_prints_the_table_and_writes_the_summary(seed_batch):
    argv, status, out, err, folder = seed_batch
    rows = read_csv(folder / "summary.csv")
    assert [row["run"] for row in rows] == ["quadratic/seed=0", "quadratic/seed=1"]
    assert all(row["status"] in SUCCESS for row in rows)
    markdown = (folder / "summary.md").read_text()
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 2
    assert table[0].split("|")[1:4] == [" problem   ", " seed ", " status    "]
    assert "\n".join(table) in markdown  # the printed table is the summary's
    for row in rows:
        assert any(row["run"].endswith(f"seed={cells.split('|')[2].strip()}") and row["status"] in cells for cells in table[2:])
    assert out.splitlines()[-1] == f"summary: {folder / 'summary.md'}, {folder / 'summary.csv'}"
    for name in ("seed=0", "seed=1"):
        assert {"run.json", "metrics.json", "solution.csv"} <= {p.name for p in (folder / "quadratic" / name).iterdir()}


def test_a_rerun_says_the_runs_are_done_and_runs_nothing(seed_batch):
    argv, status, out, err, folder = seed_batch
    stamps = {p: p.stat().st_mtime_ns for p in folder.glob("quadratic/*/run.json")}
    started = time.perf_counter()
    status, out, err = run_captured(argv)
    assert status == 0, err
    assert time.perf_counter() - started < 5  # no training (generous for a loaded machine)
    assert out.splitlines()[0].startswith("batch: 2 runs, 0 to run in this process; 2 already done in ")
    assert not [line for line in out.splitlines() if line.startswith("  [")]
    assert stamps == {p: p.stat().st_mtime_ns for p in folder.glob("quadratic/*/run.json")} and len(stamps) == 2
    assert "| quadratic |" in out  # the table of the finished runs is still printed


def test_list_shows_what_is_done_without_running(seed_batch):
    argv, status, out, err, folder = seed_batch
    more = [a if a != "training.seed=0:1" else "training.seed=0:2" for a in argv]
    status, out, err = run_captured([*more, "--list"])
    assert status == 0, err
    listed = {line.split()[0]: line for line in out.splitlines()}
    assert set(listed) == {"quadratic/seed=0", "quadratic/seed=1", "quadratic/seed=2"}
    assert " done " in listed["quadratic/seed=0"] and " done " in listed["quadratic/seed=1"]
    assert "to run" in listed["quadratic/seed=2"] and QUADRATIC in listed["quadratic/seed=2"]
    assert not (folder / "quadratic" / "seed=2").exists()  # nothing ran
    status, out, err = run_captured([*more, "--list", "--force"])
    assert status == 0 and all("to run" in line for line in out.splitlines()) and len(out.splitlines()) == 3


def test_quiet_prints_nothing_on_stdout(seed_batch):
    argv, status, out, err, folder = seed_batch
    status, out, err = run_captured([*argv, "--quiet"])
    assert status == 0 and out == "" and "Traceback" not in err


def test_a_folder_plans_one_run_per_problem_file(tmp_path, capsys):
    status = run_cli([ROOT / "problems", "--list", "--out", tmp_path / "out"])
    out, err = capsys.readouterr()
    assert status == 0, err
    files = sorted((ROOT / "problems").glob("*.yaml"))
    assert [line.split()[0] for line in out.splitlines()] == [f.stem for f in files]  # each named as in its file
    assert all("to run" in line for line in out.splitlines())


def test_help_exits_0(capsys):
    assert run_cli(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--sweep" in out and "--jobs" in out and "--list" in out


# ------------------------------------------------------------------ invalid command lines: exit 2


@pytest.mark.parametrize("options, says", [
    (["--sweep", "training.seed=4:0"], "--sweep training.seed=4:0: the range '4:0' is empty or endless"),
    (["--sweep", "training.seed=0,-1"], "--sweep training.seed (value -1)"),
    (["--sweep", "parameters.k"], "is not KEY=VALUES"),
    (["--set", "training.adam.steps=x"], "--set training.adam.steps"),
    (["--set", "nonsense.key=1"], "there is no field 'nonsense'"),
    (["--gpus-per-run", "0.5"], "--gpus-per-run is a fraction from 0 to 1 and needs --ray"),
    (["--gpus", "zero"], "--gpus: 'zero' is not a list of GPU numbers"),
    (["--jobs", "0"], "argument --jobs: 0 is not at least 1"),
    (["--jobs", "two"], "argument --jobs: 'two' is not a whole number"),
    (["--sweep", "training.seed=0:1", "--sweep", "training.seed=2"], "training.seed is swept twice"),
])
def test_an_invalid_command_line_exits_2(tmp_path, capsys, options, says):
    out_folder = tmp_path / "out"
    status = run_cli([QUADRATIC, *TINY_CLI, *options, "--out", out_folder])
    out, err = capsys.readouterr()
    assert status == 2, err
    assert "Traceback" not in out + err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and says in errors[0], err  # one line says what is wrong
    assert out == ""
    assert not out_folder.exists()  # nothing planned was written, nothing trained


def test_a_missing_problem_file_exits_2(tmp_path, capsys):
    missing = tmp_path / "nope.yaml"
    status = run_cli([QUADRATIC, missing, "--out", tmp_path / "out"])
    out, err = capsys.readouterr()
    assert status == 2
    assert err.splitlines()[0] == f"error: {missing}: no such file or folder"
    assert "Traceback" not in err and out == ""


def test_an_empty_glob_exits_2(tmp_path, capsys):
    status = run_cli([str(tmp_path / "*.yaml"), "--out", tmp_path / "out"])
    err = capsys.readouterr().err
    assert status == 2 and "matches no .yaml or .yml file" in err.splitlines()[0] and "Traceback" not in err


# ------------------------------------------------------------------ runs that fail: exit 1


def test_a_nonfinite_loss_exits_1_naming_the_run(tmp_path, capsys):
    """k = 1e200 in u' = -k u overflows float64 in the very first loss: status nonfinite_loss."""
    out_folder = tmp_path / "out"
    status = run_cli([DECAY, "--sweep", "parameters.k=1e200", *TINY_CLI, "--no-plot", "--out", out_folder])
    out, err = capsys.readouterr()
    assert status == 1, err
    assert "Traceback" not in out + err
    failed = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(failed) == 1 and "1 of 1 runs did not succeed: decay/k=1e200 (nonfinite_loss)" in failed[0], err
    assert str(out_folder / "summary.md") in failed[0]
    assert "decay/k=1e200  nonfinite_loss" in out  # the run's line says it too
    statuses = {row["run"]: row["status"] for row in read_csv(out_folder / "summary.csv")}
    assert statuses == {"decay/k=1e200": "nonfinite_loss"}
    # what was reached is written, as for a single solve
    assert (out_folder / "decay" / "k=1e200" / "metrics.json").is_file()


def test_a_run_that_raises_exits_1_naming_the_run(tmp_path, capsys, monkeypatch):
    import pinn.solver

    def solve(problem, **options):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(pinn.solver, "solve", solve)
    out_folder = tmp_path / "out"
    status = run_cli([QUADRATIC, *TINY_CLI, "--out", out_folder])
    out, err = capsys.readouterr()
    assert status == 1
    assert "quadratic  error" in out and "RuntimeError: injected failure" in out
    assert "1 of 1 runs did not succeed: quadratic (error)" in err and "Traceback" not in err
    assert "Traceback" in (out_folder / "quadratic" / "error.txt").read_text()  # the details are kept


# ------------------------------------------------------------------ Ctrl-C


def _process_group_members(group):
    """Live (not zombie) processes in process group ``group``, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state ppid pgrp ...
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def test_ctrl_c_keeps_the_finished_runs_and_a_rerun_does_the_rest(tmp_path, capsys):
    out_folder = tmp_path / "out"
    # four runs on two workers: when the first run is written, the other worker is still busy with its
    # first run (both start together), so at most two are done when Ctrl-C comes and at least two are left
    argv = [QUADRATIC, "--sweep", "training.seed=0:3", *TINY_CLI, "--no-plot", "--out", str(out_folder)]
    names = [f"quadratic/seed={seed}" for seed in range(4)]
    stdout, stderr = open(tmp_path / "stdout", "w+"), open(tmp_path / "stderr", "w+")
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    # a new session (so a process group of its own), SIGINT not ignored: as a terminal's foreground job
    process = subprocess.Popen([sys.executable, "scripts/batch.py", *argv, "--jobs", "2"], cwd=ROOT,
                               stdout=stdout, stderr=stderr, env=environment, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not list(out_folder.glob("quadratic/*/run.json")):
            assert process.poll() is None, f"the batch ended before any run finished: {Path(stderr.name).read_text()}"
            assert time.monotonic() < deadline, "no run finished in 180 s"
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group gets SIGINT
        status = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    err = Path(stderr.name).read_text()
    assert status == 130, err
    assert "interrupted" in err and "run the same command again" in err
    assert "Traceback" not in err

    # no worker (nor anything else the batch started) is left
    deadline = time.monotonic() + 15
    while _process_group_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _process_group_members(process.pid) == []

    # the finished runs are complete, nothing half-written is left
    finished = sorted(str(p.parent.relative_to(out_folder)) for p in out_folder.glob("quadratic/*/run.json"))
    assert 1 <= len(finished) <= 2, finished
    assert sorted(str(p.relative_to(out_folder)) for p in out_folder.glob("quadratic/*") if p.name != ".pinn") == finished
    for name in finished:
        assert {"run.json", "metrics.json", "solution.csv"} <= {p.name for p in (out_folder / name).iterdir()}
    assert not (out_folder / ".partial").exists()
    statuses = {row["run"]: row["status"] for row in read_csv(out_folder / "summary.csv")}
    assert list(statuses) == names
    assert all(statuses[name] in SUCCESS for name in finished)
    unfinished = [name for name in names if name not in finished]
    assert all(statuses[name] == "not run" for name in unfinished)
    markdown = (out_folder / "summary.md").read_text()
    assert f"{len(unfinished)} not run" in markdown
    assert sum(" not run " in line for line in markdown.splitlines() if line.startswith("| quadratic")) == len(unfinished)

    # a rerun (here, in this process) does only the rest
    stamps = {name: (out_folder / name / "run.json").stat().st_mtime_ns for name in finished}
    capsys.readouterr()
    status = run_cli(argv)
    out, err = capsys.readouterr()
    assert status == 0, err
    assert out.splitlines()[0].startswith(
        f"batch: 4 runs, {len(unfinished)} to run in this process; {len(finished)} already done in "), out
    ran = [line.split()[1] for line in out.splitlines() if line.startswith("  [")]
    assert ran == unfinished
    assert stamps == {name: (out_folder / name / "run.json").stat().st_mtime_ns for name in finished}
    assert all(row["status"] in SUCCESS for row in read_csv(out_folder / "summary.csv"))


# ------------------------------------------------------------------ times of vectorised runs


def test_vectorised_runs_report_the_same_time_per_run_and_in_the_table(tmp_path):
    # each line used to give the task's wall time divided by its runs (19.6 s), the table the stacked
    # training's time (77.8 s): both now give the training time, said to be shared by the stacked runs
    status, out, err = run_captured([QUADRATIC, "--sweep", "training.seed=0:1", "--vectorize", *TINY_CLI, "--no-plot",
                                     "--out", tmp_path / "batch"])
    assert status == 0, err
    lines = out.splitlines()
    per_run = [re.search(r"  train ([\d.]+) s shared by 2 stacked runs  \(CPU\)", line) for line in lines if line.startswith("  [")]
    assert len(per_run) == 2 and all(per_run), out
    header, *rows = [line.split("|")[1:-1] for line in lines if line.startswith("|") and not line.startswith("|--")]
    column = [cell.strip() for cell in header].index("train s")
    assert sorted(row[column].strip() for row in rows) == sorted(match.group(1) for match in per_run), out
    records = [json.loads((tmp_path / "batch" / "quadratic" / name / "run.json").read_text()) for name in ("seed=0", "seed=1")]
    assert records[0]["train_seconds"] == records[1]["train_seconds"]  # one stacked training, shared
    assert all(record["stacked"] == 2 and record["vectorized"] for record in records)
    note = lines[lines.index(next(line for line in lines if line.startswith("|"))) + 4]
    assert note.startswith("note: train s is the training's wall time; for a vectorised run, that of the stacked training"), out
    assert "the same figure for each, not a share of it" in (tmp_path / "batch" / "summary.md").read_text()


def test_a_run_line_gives_the_tables_training_time():
    from pinn.cli import _record_line

    record = {"run": "decay/seed=0", "status": "max_steps", "errors": {"u": {"relative_l2": 8.4e-08}},
              "train_seconds": 15.546, "wall_seconds": 15.74, "device": "CPU", "vectorized": False, "stacked": 0}
    assert _record_line(record) == "decay/seed=0  max_steps  u 8.40e-08  train 15.5 s  (CPU)"
