"""Batches (``pinn.batch``, ``pinn.batch_workers``): planning, resume, summaries, failures, worker processes.

Planning, resume bookkeeping, summaries and worker slots are checked without
training.  Three real batches are run, all with the TINY settings and without
plots: two seeds in this process (reused by most tests), one problem that
fails inside the solver next to one that does not, and two seeds on two
worker processes, one of which is killed as soon as it is given its run.  A
worker dying between tasks is checked with workers on a stand-in TensorFlow.

Tests marked 'Regression' guard bugs found and fixed while the batch command was built.
"""

import contextlib
import csv
import json
import math
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from pinn.batch import workers as batch_workers
from pinn.batch import (
    PARTIAL, RUN_RECORD, SUMMARY_CSV, SUMMARY_MD, failure_record, is_done, markdown_table,
    pending_runs, plan_batch, problem_files, read_record, summary_csv_text, summary_rows, tasks_for,
)
from pinn.batch.workers import (
    THREAD_VARIABLES, WorkerSlot, parse_gpus, run_batch, slot_environment, visible_gpus, worker_slots,
)
from pinn.errors import ProblemError
from pinn.batch.sweep import parse_sweep

from conftest import TINY, Terminal, problem_path

QUADRATIC = str(problem_path("quadratic"))
DECAY = str(problem_path("decay"))
SUCCESS = ("converged", "max_steps")


def copy_problem(source, target: Path, name=None, edit=None) -> str:
    """Copy a problem file to ``target``, optionally renaming the problem and editing its text."""
    text = Path(source).read_text(encoding="utf-8")
    if name is not None:
        text = "\n".join(f"name: {name}" if line.startswith("name:") else line for line in text.splitlines()) + "\n"
    if edit is not None:
        text = edit(text)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return str(target)


def seeds(values):
    return [parse_sweep(f"training.seed={values}")]


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def solution_table(folder):
    """solution.csv as {column: array}."""
    rows = read_csv(Path(folder) / "solution.csv")
    return {column: np.array([float(row[column]) for row in rows]) for column in rows[0]}


# ------------------------------------------------------------------ problem_files


def test_problem_files_from_a_file_a_folder_and_a_glob(tmp_path):
    a = copy_problem(QUADRATIC, tmp_path / "set" / "a.yaml", name="a")
    b = copy_problem(QUADRATIC, tmp_path / "set" / "b.yml", name="b")
    (tmp_path / "set" / "notes.txt").write_text("not a problem")
    (tmp_path / "set" / "sub").mkdir()  # a sub-folder is not a problem file
    c = copy_problem(QUADRATIC, tmp_path / "other" / "c.yaml", name="c")

    assert problem_files([a]) == [a]
    assert problem_files([str(tmp_path / "set")]) == [a, b]                       # folder: its .yaml and .yml, sorted
    assert problem_files([str(tmp_path / "*" / "*.y*ml")]) == [c, a, b]          # glob: sorted matches
    assert problem_files([str(tmp_path / "**" / "c.yaml")]) == [c]               # recursive patterns
    assert problem_files([c, str(tmp_path / "set")]) == [c, a, b]                # the order of the arguments


def test_problem_files_are_listed_once(tmp_path):
    a = copy_problem(QUADRATIC, tmp_path / "a.yaml")
    link = tmp_path / "link.yaml"
    link.symlink_to(a)
    files = problem_files([a, str(tmp_path), a, str(tmp_path / "*.yaml"), str(link)])
    assert files == [a]  # the same file by name, folder, pattern and symbolic link: once, where it came first


@pytest.mark.parametrize("kind", ["missing", "empty glob", "glob of non-yaml", "folder without yaml"])
def test_problem_files_refuses_what_names_no_problem(tmp_path, kind):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    text = {"missing": str(tmp_path / "nope.yaml"), "empty glob": str(tmp_path / "*.yaml"),
            "glob of non-yaml": str(tmp_path / "*.txt"), "folder without yaml": str(tmp_path / "empty")}[kind]
    with pytest.raises(ProblemError) as caught:
        problem_files([QUADRATIC, text])
    error = caught.value
    assert text in str(error)  # names what was given
    assert error.fix


# ------------------------------------------------------------------ plan_batch


def test_a_plan_has_a_run_per_file_and_point(tmp_path):
    fast = copy_problem(DECAY, tmp_path / "fast.yaml", name="fast_decay")
    sweeps = [parse_sweep("parameters.k=0.5,1"), parse_sweep("training.seed=0:1")]
    plan = plan_batch([DECAY, fast], sweeps, TINY)

    assert len(plan.runs) == 2 * 2 * 2
    assert [run.name for run in plan.runs] == [
        "decay/k=0.5,seed=0", "decay/k=0.5,seed=1", "decay/k=1,seed=0", "decay/k=1,seed=1",
        "fast_decay/k=0.5,seed=0", "fast_decay/k=0.5,seed=1", "fast_decay/k=1,seed=0", "fast_decay/k=1,seed=1",
    ]
    run = plan.runs[2]
    assert run.file == DECAY and run.point == {"parameters.k": "1", "training.seed": "0"}
    # the swept values and the overrides are applied to the problem
    assert run.problem.parameter("k").value == 1.0 and run.problem.training.seed == 0
    assert run.problem.training.adam.steps == 50 and run.problem.output.points == 51
    assert plan.sweeps == tuple(sweeps) and plan.overrides == TINY


def test_without_sweeps_a_run_is_named_after_its_problem():
    plan = plan_batch([QUADRATIC, DECAY])
    assert [run.name for run in plan.runs] == ["quadratic", "decay"]
    assert [run.point for run in plan.runs] == [{}, {}]


def test_clashing_problem_names_get_distinct_folders(tmp_path):
    first = copy_problem(QUADRATIC, tmp_path / "a" / "quadratic.yaml")
    second = copy_problem(QUADRATIC, tmp_path / "b" / "quadratic.yaml")       # same name, same file stem
    third = copy_problem(QUADRATIC, tmp_path / "c" / "other.yaml")            # same name, another stem
    odd = copy_problem(QUADRATIC, tmp_path / "d" / "odd.yaml", name="'my problem:v2'")
    plan = plan_batch([first, second, third, odd], seeds("0:1"))

    folders = {}
    for run in plan.runs:
        folders.setdefault(run.file, set()).add(run.name.split("/")[0])
    assert all(len(names) == 1 for names in folders.values())  # one folder per file
    names = [next(iter(folders[f])) for f in (first, second, third, odd)]
    assert len(set(names)) == 4, names
    assert names[0] == "quadratic"                 # the first keeps the problem's name
    assert names[2] == "other"                     # then the file's stem
    assert names[1].startswith("quadratic") and names[1] != "quadratic"
    assert names[3] == "my_problem_v2"  # folder-safe
    assert len({run.name for run in plan.runs}) == len(plan.runs) == 8


# Regression (two runs in one folder): run folders were the sweep label passed through _safe, which maps every
# character other than letters, digits and ._=,+- to '_', so distinct values can give the same folder:
# parameters.k=1/2,1*2 (k = 0.5 and k = 2) both become decay/k=1_2.  The second run overwrites the first,
# the summary shows one record twice (or 'not run'), and every rerun runs one of them again.
def test_distinct_sweep_values_get_distinct_run_folders():
    try:
        plan = plan_batch([DECAY], [parse_sweep("parameters.k=1/2,1*2")])
    except ProblemError as error:  # refusing the sweep, naming it, would do as well
        assert "--sweep" in (error.location or "")
        return
    assert [run.problem.parameter("k").value for run in plan.runs] == [0.5, 2.0]
    assert len({run.name for run in plan.runs}) == 2, [run.name for run in plan.runs]


def test_sweep_values_are_made_folder_safe():
    plan = plan_batch([DECAY], [parse_sweep("parameters.k=pi/2,1")])
    assert [run.name for run in plan.runs] == ["decay/k=pi_2", "decay/k=1"]
    assert plan.runs[0].problem.parameter("k").value == pytest.approx(math.pi / 2, rel=1e-15)


@pytest.mark.parametrize("sweep, value", [("training.seed=0,-1", "-1"), ("parameters.k=1,abc", "abc"),
                                          ("training.adam.steps=10,x", "x")])
def test_a_bad_sweep_value_is_blamed_on_the_sweep(sweep, value):
    with pytest.raises(ProblemError) as caught:
        plan_batch([DECAY], [parse_sweep(sweep)], TINY)
    error = caught.value
    key = sweep.split("=")[0]
    assert error.file == DECAY
    assert f"--sweep {key}" in error.location and value in error.location, error.location
    assert "--set" not in error.location


def test_a_sweep_over_a_misspelt_parameter_is_refused():
    # parameters.kk=1,2 would have run two identical copies of decay (whose parameter is k)
    with pytest.raises(ProblemError) as caught:
        plan_batch([DECAY], [parse_sweep("parameters.kk=1,2")], TINY)
    assert caught.value.location == "--sweep parameters.kk (value 1)"
    assert "there is no parameter 'kk'" in caught.value.message and "Did you mean 'k'?" in caught.value.fix


def test_a_bad_override_is_still_blamed_on_the_set():
    with pytest.raises(ProblemError) as caught:
        plan_batch([DECAY], seeds("0:1"), [*TINY, "training.adam.steps=x"])
    assert caught.value.location == "--set training.adam.steps"


def test_an_invalid_file_stops_the_plan_naming_the_file(tmp_path):
    bad = copy_problem(QUADRATIC, tmp_path / "bad.yaml", edit=lambda t: t.replace("y'' = 2", "y'' = 2 +"))
    with pytest.raises(ProblemError) as caught:
        plan_batch([QUADRATIC, bad], seeds("0:1"))
    assert caught.value.file == bad


# Regression (sweep values were not read as YAML): plan_batch passed each swept value to the loader as a
# (key, text) pair, so the text is never read as YAML, unlike --set KEY=VALUE (pinn/sweep.py's
# docstring promises "exactly as it reads --set").  Numbers survive (the loader accepts numbers as
# text), but booleans and lists do not, and the runs' problem.yaml / fingerprint hold quoted text.
@pytest.mark.parametrize("key, value", [("training.jit_compile", "false"), ("network.hidden", "[16]"),
                                        ("parameters.k", "0.5"), ("training.seed", "3")])
def test_a_swept_value_is_read_as_the_same_set_would_be(key, value):
    swept = plan_batch([DECAY], [parse_sweep(f"{key}={value}")]).runs[0]
    fixed = plan_batch([DECAY], [], [f"{key}={value}"]).runs[0]
    assert swept.problem.training == fixed.problem.training
    assert swept.problem.network == fixed.problem.network
    assert swept.problem.parameters == fixed.problem.parameters
    assert swept.fingerprint == fixed.fingerprint  # the same problem: a --set run and a --sweep run are one run


def test_fingerprints_tell_points_and_file_versions_apart(tmp_path):
    copy = copy_problem(QUADRATIC, tmp_path / "q.yaml")
    plan = plan_batch([copy], seeds("0:2"), TINY)
    prints = [run.fingerprint for run in plan.runs]
    assert len(set(prints)) == 3 and all(len(p) == 64 for p in prints)
    assert [r.fingerprint for r in plan_batch([copy], seeds("0:2"), TINY).runs] == prints  # stable
    assert [r.fingerprint for r in plan_batch([copy], seeds("0:2"), TINY[1:]).runs] != prints  # overrides count

    copy_problem(QUADRATIC, tmp_path / "q.yaml", edit=lambda t: t.replace("y(1) = 1", "y(1) = 2"))
    edited = [run.fingerprint for run in plan_batch([copy], seeds("0:2"), TINY).runs]
    assert not set(edited) & set(prints)


def test_tasks_are_one_per_run_or_one_per_file_when_vectorised():
    plan = plan_batch([QUADRATIC, DECAY], seeds("0:2"))
    tasks = tasks_for(plan.runs, plot=False)
    assert [task.runs for task in tasks] == [(run,) for run in plan.runs]
    assert not any(task.plot or task.vectorize for task in tasks)
    grouped = tasks_for(plan.runs, vectorize=True)
    assert [[r.name for r in task.runs] for task in grouped] == [
        [r.name for r in plan.runs[:3]], [r.name for r in plan.runs[3:]]]
    assert all(task.vectorize and task.plot for task in grouped)


# ------------------------------------------------------------------ summaries (synthetic records, no training)


def test_summary_table_and_csv_from_records():
    plan = plan_batch([QUADRATIC], seeds("0:2"))
    done = {"run": plan.runs[0].name, "problem": "quadratic", "file": QUADRATIC, "swept": {"training.seed": "0"},
            "status": "max_steps", "verdict": "verified", "message": "ran", "errors": {"y": {"relative_l2": 1.5e-3, "max_abs": 2e-3, "against": "exact"}},
            "train_seconds": 2.0, "steps": 60, "steps_per_second": 30.0, "final_loss": 1e-4, "wall_seconds": 2.5,
            "device": "CPU", "vectorized": False, "fingerprint": plan.runs[0].fingerprint}
    failed = failure_record(plan.runs[1], "error", "RuntimeError: boom, twice", device="CPU")
    never = failure_record(plan.runs[2], "not run", "")
    records = [done, failed, never]

    header, rows = summary_rows(plan, records)
    assert header == ["problem", "seed", "status", "checks", "y rel. L2", "train s", "steps/s"]
    assert rows == [["quadratic", "0", "max_steps", "verified", "1.50e-03", "2.0", "30"],
                    ["quadratic", "1", "error", "-", "-", "-", "-"],  # no verdict: the checks never ran
                    ["quadratic", "2", "not run", "-", "-", "-", "-"]]
    table = markdown_table(header, rows).splitlines()
    assert len(table) == 2 + 3 and len({len(line) for line in table}) == 1  # padded: every line as wide
    assert table[0].startswith("| problem ") and set(table[1]) <= {"|", "-"}

    lines = read_csv_text(summary_csv_text(plan, records))
    assert [row["run"] for row in lines] == [run.name for run in plan.runs]
    assert [row["training.seed"] for row in lines] == ["0", "1", "2"]
    assert float(lines[0]["y.relative_l2"]) == 1.5e-3 and lines[0]["y.against"] == "exact"
    assert float(lines[0]["steps_per_second"]) == 30.0 and lines[0]["vectorized"] == "false"
    assert lines[1]["y.relative_l2"] == "" and lines[1]["message"] == "RuntimeError: boom, twice"  # quoted comma
    assert lines[2]["status"] == "not run"
    assert [row["verdict"] for row in lines] == ["verified", "", ""]
    assert list(lines[0])[list(lines[0]).index("status") + 1] == "verdict"  # right after the status


def test_summary_of_different_problems_lists_each_runs_unknowns():
    plan = plan_batch([QUADRATIC, DECAY])
    records = [{**failure_record(plan.runs[0], "max_steps", ""), "errors": {"y": {"relative_l2": 1e-3}}},
               {**failure_record(plan.runs[1], "max_steps", ""), "errors": {"u": {"relative_l2": 2e-2}}}]
    header, rows = summary_rows(plan, records)
    assert "y rel. L2" not in header and "u rel. L2" not in header  # no mostly-empty column per unknown
    assert header[header.index("status") + 1] == "checks" and [row[header.index("checks")] for row in rows] == ["-", "-"]
    assert [row[header.index("checks") + 1] for row in rows] == ["y 1.00e-03", "u 2.00e-02"]
    csv_header = summary_csv_text(plan, records).splitlines()[0].split(",")
    assert {"y.relative_l2", "u.relative_l2"} <= set(csv_header)  # the CSV keeps a column per unknown


def read_csv_text(text):
    return list(csv.DictReader(text.splitlines(keepends=True)))


INVERSE = str(problem_path("inverse_decay"))


def test_summary_has_a_column_per_learned_parameter_and_its_error_against_the_true_value():
    plan = plan_batch([INVERSE], seeds("0:1"))
    records = [{**failure_record(run, "max_steps", ""), "errors": {"u": {"relative_l2": 1e-6}},
                "learned": {"k": {"value": value, "true_value": 0.7, "relative_error": abs(value - 0.7) / 0.7}}}
               for run, value in zip(plan.runs, (0.70000012, -0.7))]
    header, rows = summary_rows(plan, records)
    assert header == ["problem", "seed", "status", "checks", "u rel. L2", "k learned", "k rel. error", "train s", "steps/s"]
    assert [row[5:7] for row in rows] == [["0.7", "1.71e-07"], ["-0.7", "2.00e+00"]]
    lines = read_csv_text(summary_csv_text(plan, records))
    assert [float(row["k.learned"]) for row in lines] == [0.70000012, -0.7]  # every digit
    assert [row["k.true_value"] for row in lines] == ["0.7", "0.7"] and float(lines[1]["k.relative_error"]) == 2.0
    # without a true value: the learned value alone; runs of problems without trainable parameters: no column
    unknown = [{**records[0], "learned": {"k": {"value": 0.7, "true_value": None, "relative_error": None}}}]
    assert summary_rows(plan, unknown)[0][5:7] == ["k learned", "train s"]
    assert "k.learned" not in summary_csv_text(plan, [failure_record(plan.runs[0], "max_steps", "")])


def test_an_inverse_batch_records_and_summarises_the_learned_parameter(tmp_path):
    plan = plan_batch([INVERSE], [], TINY)
    record, = run_batch(plan, tmp_path, plot=False)
    metrics = json.loads((tmp_path / "inverse_decay" / "metrics.json").read_text())
    assert record["learned"] == {"k": {"value": metrics["parameters"]["k"], "true_value": 0.7,
                                       "relative_error": metrics["parameter_errors"]["k"]["relative_error"]}}
    row, = read_csv(tmp_path / SUMMARY_CSV)
    assert float(row["k.learned"]) == metrics["parameters"]["k"] and float(row["k.true_value"]) == 0.7
    header, rows = summary_rows(plan, [record])
    assert {"k learned", "k rel. error"} <= set(header) and rows[0][header.index("k learned")] == f"{metrics['parameters']['k']:.6g}"
    assert markdown_table(header, rows) in (tmp_path / SUMMARY_MD).read_text()


# ------------------------------------------------------------------ a batch in this process


@pytest.fixture(scope="module")
def local_batch(tmp_path_factory):
    """Seeds 1 and 2 of the quadratic, TINY, run here: (plan, out, returned records, records seen as they came).

    Run with stderr a terminal, where a solve shows progress by default (see test_runs_show_no_progress_display).
    """
    out = tmp_path_factory.mktemp("local")
    plan = plan_batch([QUADRATIC], seeds("1:2"), TINY)
    seen = []
    with contextlib.redirect_stderr(LOCAL_BATCH_STDERR):
        records = run_batch(plan, out, plot=False, on_record=seen.append)
    return plan, out, records, seen


#: What the local batch wrote to stderr (a terminal).
LOCAL_BATCH_STDERR = Terminal()


def test_runs_show_no_progress_display(local_batch):
    # a batch prints a line per finished run (pinn.cli); each run's training display would interleave with them
    assert "steps/s" not in LOCAL_BATCH_STDERR.getvalue(), LOCAL_BATCH_STDERR.getvalue()


def test_every_run_writes_its_report_and_record(local_batch):
    plan, out, records, seen = local_batch
    assert [r["run"] for r in records] == [r["run"] for r in seen] == ["quadratic/seed=1", "quadratic/seed=2"]
    for record, run in zip(records, plan.runs):
        folder = out / run.name
        assert {"run.json", "metrics.json", "solution.csv", "problem.yaml", "model"} <= {p.name for p in folder.iterdir()}
        assert not (folder / "plot.png").exists()  # plot=False
        assert record["status"] in SUCCESS, record
        assert record["fingerprint"] == run.fingerprint and record["swept"] == {"training.seed": run.point["training.seed"]}
        assert record["device"] == "CPU" and record["vectorized"] is False
        assert json.loads((folder / RUN_RECORD).read_text()) == record  # what run_batch returns is what is stored
        metrics = json.loads((folder / "metrics.json").read_text())
        assert record["errors"]["y"]["relative_l2"] == metrics["errors"]["y"]["relative_l2"]
        assert record["steps"] == 60  # 50 Adam + 10 L-BFGS at most: the TINY settings reached the worker
    assert not (out / PARTIAL).exists()


def test_a_finished_batch_has_nothing_pending(local_batch):
    plan, out, records, seen = local_batch
    assert pending_runs(plan, out) == []
    assert pending_runs(plan, out, force=True) == list(plan.runs)
    assert all(is_done(read_record(out, run), run) for run in plan.runs)


def test_rerunning_a_finished_batch_runs_nothing(local_batch):
    plan, out, records, seen = local_batch
    stamps = {run.name: (out / run.name / RUN_RECORD).stat().st_mtime_ns for run in plan.runs}
    again = []
    started = time.perf_counter()
    rerun = run_batch(plan, out, plot=False, on_record=again.append)
    assert again == []
    assert rerun == records
    assert stamps == {run.name: (out / run.name / RUN_RECORD).stat().st_mtime_ns for run in plan.runs}
    assert time.perf_counter() - started < 5  # no training (generous: a loaded machine)


def test_editing_the_file_makes_its_runs_pending(local_batch, tmp_path):
    plan, out, records, seen = local_batch
    same = copy_problem(QUADRATIC, tmp_path / "quadratic.yaml")
    assert pending_runs(plan_batch([same], seeds("1:2"), TINY), out) == []  # the same problem, wherever the file is
    copy_problem(QUADRATIC, tmp_path / "quadratic.yaml",
                 edit=lambda t: t.replace("y(1) = 1", "y(1) = 2").replace("y: x^2", "y: x^2 + x"))
    edited = plan_batch([same], seeds("1:2"), TINY)
    assert [run.name for run in pending_runs(edited, out)] == ["quadratic/seed=1", "quadratic/seed=2"]
    # so do other overrides, and seeds not run yet
    assert len(pending_runs(plan_batch([QUADRATIC], seeds("1:2"), TINY[:-1]), out)) == 2
    assert [r.name for r in pending_runs(plan_batch([QUADRATIC], seeds("1:3"), TINY), out)] == ["quadratic/seed=3"]


def test_summary_files_describe_every_run(local_batch):
    plan, out, records, seen = local_batch
    rows = read_csv(out / SUMMARY_CSV)
    assert [row["run"] for row in rows] == ["quadratic/seed=1", "quadratic/seed=2"]
    assert [row["training.seed"] for row in rows] == ["1", "2"]
    for row, record in zip(rows, records):
        assert row["status"] == record["status"]
        assert float(row["y.relative_l2"]) == record["errors"]["y"]["relative_l2"]  # written with repr: exact
        assert float(row["y.max_abs"]) == record["errors"]["y"]["max_abs"] and row["y.against"] == "exact"
        assert float(row["steps_per_second"]) == pytest.approx(int(row["steps"]) / float(row["train_seconds"]), rel=1e-12)
        assert float(row["steps_per_second"]) > 0
    markdown = (out / SUMMARY_MD).read_text()
    assert markdown_table(*summary_rows(plan, records)) in markdown
    assert "2 runs:" in markdown and "`training.seed` = 1, 2" in markdown
    assert "Runs that failed" not in markdown


def test_a_second_batch_into_the_same_folder_is_refused(local_batch):
    import fcntl

    plan, out, records, seen = local_batch
    with open(out / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a batch running elsewhere holds it
        with pytest.raises(ProblemError) as caught:
            run_batch(plan, out, plot=False)
        fcntl.flock(handle, fcntl.LOCK_UN)
    assert caught.value.location == "--out"


# ------------------------------------------------------------------ a run that fails


@pytest.fixture(scope="module")
def failing_batch(tmp_path_factory):
    """The quadratic next to a copy named 'broken' whose solve raises (pinn.solver.solve patched)."""
    import pinn.solver

    folder = tmp_path_factory.mktemp("failing")
    broken = copy_problem(QUADRATIC, folder / "broken.yaml", name="broken")
    out = folder / "out"
    plan = plan_batch([broken, QUADRATIC], [], TINY)
    real = pinn.solver.solve

    def solve(problem, **options):
        if problem.name == "broken":
            raise RuntimeError("injected failure in broken")
        return real(problem, **options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pinn.solver, "solve", solve)
        seen = []
        records = run_batch(plan, out, plot=False, on_record=seen.append)
    return plan, out, records, seen


def test_a_failing_run_is_recorded_and_the_others_go_on(failing_batch):
    plan, out, records, seen = failing_batch
    assert [r["run"] for r in records] == ["broken", "quadratic"]
    assert [r["run"] for r in seen] == ["broken", "quadratic"]  # the batch went on after the failure
    bad, good = records
    assert bad["status"] == "error" and bad["message"] == "RuntimeError: injected failure in broken"
    assert good["status"] in SUCCESS
    error_text = (out / "broken" / "error.txt").read_text()
    assert "Traceback" in error_text and "injected failure in broken" in error_text
    assert json.loads((out / "broken" / RUN_RECORD).read_text())["status"] == "error"
    assert (out / "quadratic" / "solution.csv").is_file()
    assert not (out / PARTIAL).exists()


def test_a_failed_run_is_pending_again_and_listed_in_the_summary(failing_batch):
    plan, out, records, seen = failing_batch
    assert [run.name for run in pending_runs(plan, out)] == ["broken"]
    markdown = (out / SUMMARY_MD).read_text()
    assert "## Runs that failed" in markdown
    assert "- `broken`: error: RuntimeError: injected failure in broken" in markdown
    assert [row["status"] for row in read_csv(out / SUMMARY_CSV)] == ["error", records[1]["status"]]


# ------------------------------------------------------------------ worker slots and GPUs


def test_workers_go_round_robin_over_gpus():
    slots = worker_slots(5, ["0", "1"])
    assert [(s.index, s.gpu, s.threads) for s in slots] == [(0, "0", 0), (1, "1", 0), (2, "0", 0), (3, "1", 0), (4, "0", 0)]
    assert slots[1].label == "worker 1 on GPU 1"


@pytest.mark.parametrize("jobs, cores, threads", [(2, 8, 4), (3, 8, 2), (4, 2, 1), (1, 1, 1), (2, 2, 1)])
def test_cpu_workers_share_the_cores(jobs, cores, threads):
    slots = worker_slots(jobs, cores=cores)
    assert [(s.index, s.gpu, s.threads) for s in slots] == [(i, None, threads) for i in range(jobs)]
    assert slots[0].label == "worker 0"


def test_cpu_workers_share_the_cores_this_process_may_use(monkeypatch):
    monkeypatch.setattr(batch_workers, "available_cores", lambda: 6)
    assert [s.threads for s in worker_slots(2)] == [3, 3]


def test_a_gpu_worker_sees_only_its_gpu_with_memory_growth():
    environment = slot_environment(WorkerSlot(1, "3", 0))
    assert environment["CUDA_VISIBLE_DEVICES"] == "3"
    assert environment["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    assert not set(THREAD_VARIABLES) & set(environment)  # thread counts left to TensorFlow


def test_a_cpu_worker_gets_its_thread_count():
    environment = slot_environment(WorkerSlot(0, None, 3))
    assert "CUDA_VISIBLE_DEVICES" not in environment  # GPU visibility left alone
    assert {name: environment[name] for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")} == {
        "OMP_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "3", "MKL_NUM_THREADS": "3"}
    assert environment["TF_CPP_MIN_LOG_LEVEL"]


@pytest.mark.parametrize("text, gpus", [(None, []), ("0", ["0"]), ("0,1", ["0", "1"]), (" 2, 0 ", ["2", "0"])])
def test_parse_gpus(text, gpus):
    assert parse_gpus(text) == gpus


def test_parse_gpus_all_takes_the_visible_gpus(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert parse_gpus("all") == visible_gpus() == ["2", "3"]


@pytest.mark.parametrize("text", ["a", "0,0", "0,,1", "1.5", "-1", "gpu0", ""])
def test_parse_gpus_refuses_what_is_not_a_list_of_numbers(text):
    with pytest.raises(ProblemError) as caught:
        parse_gpus(text)
    assert caught.value.location == "--gpus" and "--gpus 0,1" in caught.value.fix


@pytest.mark.parametrize("visible", [None, "", "-1"])
def test_parse_gpus_all_without_a_gpu_is_refused(monkeypatch, visible):
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)

    def no_nvidia_smi(*args, **kwargs):
        raise FileNotFoundError("nvidia-smi")

    monkeypatch.setattr(batch_workers.subprocess, "run", no_nvidia_smi)
    with pytest.raises(ProblemError) as caught:
        parse_gpus("all")
    assert caught.value.location == "--gpus" and "no GPU" in caught.value.message


# ------------------------------------------------------------------ a batch on worker processes


def _worker_processes():
    return [p for p in multiprocessing.active_children() if p.name.startswith("pinn-worker")]


def _environment_of(pid):
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


@pytest.fixture(scope="module")
def worker_batch(tmp_path_factory):
    """Seeds 0 and 1 on two workers over "GPUs" 0 and 1 (none exist here: TensorFlow falls back to the
    CPU), with worker 0 killed (SIGKILL) as soon as it was sent seed 0, long before it could finish
    (a worker needs seconds just to import TensorFlow); worker 1 runs seed 1.  Each worker's
    environment is read from /proc while it runs."""
    out = tmp_path_factory.mktemp("workers")
    plan = plan_batch([QUADRATIC], seeds("0:1"), TINY)
    environments, killed = {}, []
    outside = {name: os.environ.get(name) for name in ("CUDA_VISIBLE_DEVICES", "TF_FORCE_GPU_ALLOW_GROWTH")}
    first_task_sent = threading.Event()

    class Worker(batch_workers._Worker):
        """The real worker, telling when worker 0 is sent its first task (this process's side only)."""

        def __init__(self, slot, context):
            super().__init__(slot, context)
            send = self.connection.send

            def send_and_tell(message):
                send(message)
                if slot.index == 0 and message is not None:
                    first_task_sent.set()

            self.connection.send = send_and_tell

    def killer():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(environments) < 2:
            for process in _worker_processes():
                if process.pid and process.name not in environments:
                    try:
                        environments[process.name] = _environment_of(process.pid)
                    except OSError:
                        pass
            time.sleep(0.02)
        first_task_sent.wait(timeout=60)
        for process in _worker_processes():
            if process.name == "pinn-worker 0 on GPU 0":
                os.kill(process.pid, signal.SIGKILL)
                killed.append(process.pid)
                return

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    seen = []
    started = time.perf_counter()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(batch_workers, "_Worker", Worker)
        records = run_batch(plan, out, jobs=2, gpus=["0", "1"], plot=False, on_record=seen.append)
    seconds = time.perf_counter() - started
    thread.join(timeout=5)
    after = {name: os.environ.get(name) for name in outside}
    return dict(plan=plan, out=out, records=records, seen=seen, environments=environments, killed=killed,
                outside=outside, after=after, seconds=seconds, children=_worker_processes())


def test_each_worker_sees_only_its_gpu(worker_batch):
    environments = worker_batch["environments"]
    assert set(environments) == {"pinn-worker 0 on GPU 0", "pinn-worker 1 on GPU 1"}, environments
    for name, environment in environments.items():
        assert environment["CUDA_VISIBLE_DEVICES"] == name[-1]
        assert environment["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    assert worker_batch["after"] == worker_batch["outside"]  # this process's environment is restored


def test_worker_runs_succeed_on_the_cpu_when_no_gpu_exists(worker_batch):
    finished = [r for r in worker_batch["seen"] if r["run"] != "quadratic/seed=0"]
    assert [r["run"] for r in finished] == ["quadratic/seed=1"]
    for record in finished:
        assert record["status"] in SUCCESS, record
        # what TensorFlow found in the worker: no GPU behind CUDA_VISIBLE_DEVICES, said so with the GPU asked for
        assert record["device"].startswith("CPU (GPU ") and "TensorFlow sees none" in record["device"], record["device"]
        assert (worker_batch["out"] / record["run"] / "solution.csv").is_file()


def test_worker_device_names_the_machines_gpu_number():
    from pinn.batch.workers import WorkerSlot, worker_device

    assert worker_device("CPU", WorkerSlot(0)) == "CPU"
    assert worker_device("GPU:0", WorkerSlot(3, "2")) == "GPU 2"  # each worker sees its GPU as GPU:0
    assert worker_device("CPU", WorkerSlot(1, "1")).startswith("CPU (GPU 1 asked for")


def test_worker_runs_match_the_same_runs_done_here(worker_batch, local_batch):
    """Same seed, same float64 arithmetic, same default thread pools: the worker's solution equals the
    in-process one up to the rounding of reductions whose order could differ between processes; 1e-9 of
    the solution's scale is far below any real difference (another seed changes values by ~1e-3)."""
    plan, out, records, seen = local_batch
    name = "quadratic/seed=1"  # in both batches
    here_run, there_run = (next(r for r in p.runs if r.name == name) for p in (plan, worker_batch["plan"]))
    assert there_run.fingerprint == here_run.fingerprint
    status = {r["run"]: r["status"] for r in worker_batch["seen"]}[name]
    assert status == next(r for r in records if r["run"] == name)["status"]
    here, there = solution_table(out / name), solution_table(worker_batch["out"] / name)
    assert set(here) == set(there) and len(here["x"]) == 51
    for column in here:
        scale = max(1.0, float(np.max(np.abs(here[column]))))
        np.testing.assert_allclose(there[column], here[column], rtol=0, atol=1e-9 * scale, err_msg=column)
    # and the seeds do differ, so the comparison can fail
    assert np.max(np.abs(solution_table(out / "quadratic/seed=1")["y"] - solution_table(out / "quadratic/seed=2")["y"])) > 1e-6


def test_a_killed_worker_loses_only_its_run(worker_batch):
    assert worker_batch["killed"], "the test did not manage to kill worker 0"
    seen = {r["run"]: r for r in worker_batch["seen"]}
    assert set(seen) == {"quadratic/seed=0", "quadratic/seed=1"}  # the batch went on
    crashed = seen["quadratic/seed=0"]
    assert crashed["status"] == "crashed"
    assert "died" in crashed["message"] and f"exit code {-signal.SIGKILL}" in crashed["message"]
    assert crashed["device"] == "worker 0 on GPU 0"
    assert not (worker_batch["out"] / PARTIAL).exists()
    assert worker_batch["children"] == []  # every worker (the replacement too) is stopped
    # the crashed run is to be run again, the others not
    assert [run.name for run in pending_runs(worker_batch["plan"], worker_batch["out"])] == ["quadratic/seed=0"]


# Found as a bug (crashed runs were reported as 'not run': finish_run only moved a folder from
# out/.partial, and a crashed run has none, so no run.json was written and the summary, read back from
# out/, said 'not run'); fixed in d9b4008 (finish_run writes the record).  Kept as a regression test.
def test_a_crashed_run_is_crashed_in_the_records_and_the_summary(worker_batch):
    by_run = {r["run"]: r for r in worker_batch["records"]}
    assert by_run["quadratic/seed=0"]["status"] == "crashed"
    assert {row["run"]: row["status"] for row in read_csv(worker_batch["out"] / SUMMARY_CSV)}["quadratic/seed=0"] == "crashed"
    assert "- `quadratic/seed=0`: crashed: the worker process died" in (worker_batch["out"] / SUMMARY_MD).read_text()


# ------------------------------------------------------------------ a worker that dies between tasks (stand-in TensorFlow)

#: A stand-in for TensorFlow, for worker processes only: enough for a worker to start (configure_tensorflow)
#: in a fraction of the real import's time; every solve then fails at once (no tf.float64), so each task
#: ends with an 'error' record.  Spawned workers take this process's sys.path, so putting the stand-in's
#: folder first there reaches them; this process keeps the real TensorFlow, imported before.
FAKE_TENSORFLOW = """
import logging

class _Threading:
    set_intra_op_parallelism_threads = set_inter_op_parallelism_threads = staticmethod(lambda n: None)

class _Experimental:
    set_memory_growth = staticmethod(lambda device, flag: None)

class config:
    threading = _Threading
    experimental = _Experimental
    list_physical_devices = staticmethod(lambda kind=None: [])

def get_logger():
    return logging.getLogger("stand-in tensorflow")
"""


def _state(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "gone"
    return stat[stat.rindex(")") + 2]


# Regression (a worker that died while idle aborted the batch): run_in_workers sent the next task to a free
# worker without checking it is alive; if it died after returning its last result (killed, out of
# memory), connection.send raises BrokenPipeError, which escapes run_in_workers and run_batch (and
# `pinn batch` ends with a traceback) instead of the worker being replaced and the task run there.
def test_a_worker_that_dies_between_tasks_loses_nothing(tmp_path, monkeypatch):
    import tensorflow  # noqa: F401  the real one, in this process, before the stand-in is on the path

    fake = tmp_path / "fake"
    (fake / "tensorflow").mkdir(parents=True)
    (fake / "tensorflow" / "__init__.py").write_text(FAKE_TENSORFLOW)
    monkeypatch.syspath_prepend(str(fake))
    plan = plan_batch([QUADRATIC], seeds("0:2"), TINY)
    seen, killed = [], []

    def on_records(records):
        seen.extend(records)
        if not killed:  # kill the worker that just finished, and wait until it is dead
            (process,) = _worker_processes()
            os.kill(process.pid, signal.SIGKILL)
            killed.append(process.pid)
            deadline = time.monotonic() + 10
            # until every thread of it has exited (a zombie leader with threads still exiting keeps its pipe open)
            while process.is_alive() and time.monotonic() < deadline:
                time.sleep(0.01)

    batch_workers.run_in_workers(tasks_for(plan.runs, plot=False), tmp_path / "out", on_records,
                                 worker_slots(1, cores=1))
    assert killed
    assert [r["run"] for r in seen] == ["quadratic/seed=0", "quadratic/seed=1", "quadratic/seed=2"]
    assert all(r["status"] == "error" for r in seen), [(r["status"], r.get("message", "")) for r in seen]  # the stand-in cannot train: each task ran and failed at once
    assert _worker_processes() == []



def test_workers_are_replaced_by_fresh_processes_after_a_number_of_tasks(tmp_path, monkeypatch):
    """TASKS_PER_WORKER bounds the memory TensorFlow keeps per solve in a long batch: a fresh process takes over."""
    import tensorflow  # noqa: F401  the real one, in this process, before the stand-in is on the path

    fake = tmp_path / "fake"
    (fake / "tensorflow").mkdir(parents=True)
    (fake / "tensorflow" / "__init__.py").write_text(FAKE_TENSORFLOW)
    monkeypatch.syspath_prepend(str(fake))
    monkeypatch.setattr(batch_workers, "TASKS_PER_WORKER", 2)
    plan = plan_batch([QUADRATIC], seeds("0:4"), TINY)
    pids = []

    def on_records(records):
        pids.extend(process.pid for process in _worker_processes())

    batch_workers.run_in_workers(tasks_for(plan.runs, plot=False), tmp_path / "out", on_records, worker_slots(1, cores=1))
    # tasks 1-2 on the first process, 3-4 on the second, 5 on the third
    assert len(set(pids)) == 3, pids
    assert _worker_processes() == []
