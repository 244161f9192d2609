"""Batches on Ray (``pinn.batch_ray``): one local Ray instance for the module.

A real batch runs on Ray actors and writes the same reports and summary as
the other executors; a rerun skips what is done.  The driver loop's failure
handling (an actor that dies mid-run, a worker that cannot start) is checked
with stand-in workers that skip TensorFlow, so it costs seconds; the guard
against a packed report escaping its folder is checked without Ray.
"""

import csv
import dataclasses
import io
import json
import os
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from pinn.batch import on_ray as batch_ray  # noqa: E402
from pinn.batch import PARTIAL, BatchPlan, BatchRun, failure_record, plan_batch, tasks_for  # noqa: E402
from pinn.batch.on_ray import pack, run_on_ray, unpack  # noqa: E402
from pinn.batch.workers import run_batch  # noqa: E402
from pinn.errors import ProblemError  # noqa: E402
from pinn.batch.sweep import parse_sweep  # noqa: E402

from conftest import TINY, problem_path  # noqa: E402

QUADRATIC = str(problem_path("quadratic"))

# The stand-in workers below live in this module, which Ray's worker processes cannot import by name.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for the module (start-up takes seconds); run_on_ray reuses it."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=True, logging_level="WARNING")
    yield
    ray.shutdown()


def seed_plan(seeds: str):
    return plan_batch([QUADRATIC], [parse_sweep(f"training.seed={seeds}")], TINY)


def test_a_batch_runs_on_ray_actors_and_a_rerun_skips_it(local_ray, tmp_path):
    plan = seed_plan("0:1")
    good = plan.runs[0]
    broken = BatchRun("quadratic/broken", good.file, {"training.seed": "9"},
                      dataclasses.replace(good.problem, network=None), "broken")  # solve() raises on it
    seen = []
    records = run_batch(BatchPlan(plan.runs + (broken,), plan.sweeps, plan.overrides), tmp_path,
                        ray_address="", plot=False, on_record=seen.append)

    status = {r["run"]: r["status"] for r in records}
    assert status.keys() == {"quadratic/seed=0", "quadratic/seed=1", "quadratic/broken"} == {r["run"] for r in seen}
    assert status["quadratic/broken"] == "error"  # an error record, its traceback beside it
    assert (tmp_path / "quadratic" / "broken" / "error.txt").is_file()
    for record in records[:2]:  # the others finish regardless
        folder = tmp_path / record["run"]
        assert {"run.json", "metrics.json", "solution.csv"} <= {p.name for p in folder.iterdir()}
        assert record["status"] in ("converged", "max_steps")
        assert record["device"].startswith("CPU @ ")  # what ran it and on which node
        assert json.loads((folder / "run.json").read_text())["status"] == record["status"]
    with open(tmp_path / "summary.csv", newline="") as handle:
        rows = {row["run"]: row["status"] for row in csv.DictReader(handle)}
    assert rows == status
    assert not (tmp_path / PARTIAL).exists()
    assert ray.is_initialized()  # a Ray started by the caller is left running

    stamps = {r["run"]: (tmp_path / r["run"] / "run.json").stat().st_mtime_ns for r in records}
    again = []
    rerun = run_batch(plan, tmp_path, ray_address="", plot=False, on_record=again.append)
    assert again == []  # the finished runs are not run again
    assert [r["status"] for r in rerun] == [r["status"] for r in records[:2]]
    assert stamps == {r["run"]: (tmp_path / r["run"] / "run.json").stat().st_mtime_ns for r in records}


# ------------------------------------------------------------------ failures, with stand-in workers


class CrashingWorker:
    """A stand-in worker without TensorFlow: its process dies on the run with seed 1, the others 'train' at once."""

    def __init__(self, threads=0):
        self.device = "fake"

    def ready(self):
        return self.device

    def run(self, task):
        if task.runs[0].point.get("training.seed") == "1":
            os._exit(1)
        with tempfile.TemporaryDirectory() as root:
            records = []
            for run in task.runs:
                (Path(root) / run.name).mkdir(parents=True)
                records.append(failure_record(run, "max_steps", "", device=self.device))
                (Path(root) / run.name / "run.json").write_text(json.dumps(records[-1]))
            return records, {run.name: pack(Path(root) / run.name) for run in task.runs}


class BrokenWorker(CrashingWorker):
    def __init__(self, threads=0):
        raise ImportError("No module named 'pinn'")


def test_an_actor_that_dies_loses_only_its_run_and_is_replaced(local_ray, tmp_path, monkeypatch):
    monkeypatch.setattr(batch_ray, "RunWorker", CrashingWorker)
    tasks = tasks_for(seed_plan("0:3").runs, plot=False)
    seen = []
    run_on_ray(tasks, tmp_path, seen.extend, jobs=1)  # one actor: the runs after seed 1 need its replacement

    status = {r["run"]: r["status"] for r in seen}
    assert status == {"quadratic/seed=0": "max_steps", "quadratic/seed=1": "crashed",
                      "quadratic/seed=2": "max_steps", "quadratic/seed=3": "max_steps"}
    crashed = next(r for r in seen if r["status"] == "crashed")
    assert "died" in crashed["message"] and crashed["device"] == "fake"
    for name in ("seed=0", "seed=2", "seed=3"):
        assert (tmp_path / PARTIAL / "quadratic" / name / "run.json").is_file()  # unpacked where the driver moves it from
    assert not (tmp_path / PARTIAL / "quadratic" / "seed=1").exists()


def test_a_worker_that_cannot_start_is_a_clear_error(local_ray, tmp_path, monkeypatch):
    monkeypatch.setattr(batch_ray, "RunWorker", BrokenWorker)
    with pytest.raises(ProblemError, match="could not start a pinn worker.*No module named 'pinn'") as caught:
        run_on_ray(tasks_for(seed_plan("0:1").runs), tmp_path, lambda records: None)
    assert "working-dir" in caught.value.fix


def test_asking_for_gpus_on_a_cluster_without_them_is_refused(local_ray, tmp_path):
    with pytest.raises(ProblemError) as caught:
        run_on_ray(tasks_for(seed_plan("0").runs), tmp_path, lambda records: None, gpus_per_run=0.25)
    assert caught.value.location == "--gpus-per-run"
    assert ray.is_initialized()


def test_without_ray_installed_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(ProblemError) as caught:
        run_on_ray([], tmp_path, lambda records: None)
    assert caught.value.location == "--ray" and "pinn[ray]" in caught.value.fix


# ------------------------------------------------------------------ packing reports (no Ray)


def test_pack_and_unpack_round_trip_a_run_folder(tmp_path):
    source = tmp_path / "a"
    (source / "model").mkdir(parents=True)
    (source / "run.json").write_text("{}")
    (source / "model" / "weights.npz").write_bytes(b"\0\1")
    target = tmp_path / "out" / "p" / "seed=0"
    unpack(pack(source), target)
    assert (target / "run.json").read_text() == "{}"
    assert (target / "model" / "weights.npz").read_bytes() == b"\0\1"


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/tmp/x"])
def test_unpack_refuses_members_outside_the_folder(tmp_path, name):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = 1
        tar.addfile(info, io.BytesIO(b"!"))
    with pytest.raises(ValueError, match="refusing"):
        unpack(buffer.getvalue(), tmp_path / "run")
    assert not (tmp_path / "x").exists() and not (tmp_path / "run").exists()


def test_unpack_refuses_links(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("link")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(ValueError, match="refusing"):
        unpack(buffer.getvalue(), tmp_path / "run")
