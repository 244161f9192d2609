"""Running one task of a batch and keeping its record: the run's report, ``run.json``, its move into place.

    execute_task(task, root)   -> one record per run (pinn.run.run_problem: solve, reference, metrics, report)
    finish_run(out, record)    -> the run's folder moved from ``out/.partial`` into place

A run is first written under ``out/.partial/`` and moved into place only when
complete, so an interrupted batch never leaves a half-written run that looks
finished.  Where tasks execute (this process, worker processes, Ray) is
:mod:`pinn.batch.workers`' and :mod:`pinn.batch.on_ray`'s business.  No TensorFlow at import.
"""

from __future__ import annotations

import json
import os
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Dict, List, Mapping

from ..errors import ProblemError
from ..output_folder import GROUP, install, make_folder, staged_folder
from .plan import ERROR, PARTIAL, RUN_RECORD, BatchRun, Task

# ------------------------------------------------------------------ running one task


def execute_task(task: Task, root: Path, device: str = "") -> List[Dict[str, Any]]:
    """Run the task's runs (:func:`pinn.run.run_problem`) with each report in ``root/run.name``; one record per run.

    Never raises for a failing run: an exception becomes a record with status
    ``error`` and the traceback in ``error.txt`` beside it.
    """
    from ..run import report_solution, run_problem

    started = time.perf_counter()
    records = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if task.vectorize:
                from ..vectorized import solve_vectorized

                solutions = solve_vectorized([run.problem for run in task.runs], progress=False)
                if any(solution.status.value == "interrupted" for solution in solutions):
                    raise KeyboardInterrupt  # Ctrl-C inside training stops the batch; the runs are not kept
                runs = [report_solution(solution, Path(root) / run.name, plot=task.plot)
                        for run, solution in zip(task.runs, solutions)]
            else:
                # no progress display: a batch shows a line per finished run, not each run's training
                runs = [run_problem(task.runs[0].problem, Path(root) / task.runs[0].name, plot=task.plot, progress=False)]
                if runs[0].solution.status.value == "interrupted":
                    raise KeyboardInterrupt
            wall = (time.perf_counter() - started) / len(task.runs)  # a vectorised task's wall time is shared out
            stacked = len(task.runs) if task.vectorize else 0
            records = [_record(run, done.metrics, wall, device, stacked) for run, done in zip(task.runs, runs)]
        except Exception as error:  # one failing run must not stop the batch: it becomes a record
            text = traceback.format_exc()
            message = f"{type(error).__name__}: {error}"
            records = []
            for run in task.runs:
                with staged_folder(Path(root) / run.name) as staging:
                    (staging / "error.txt").write_text(text, encoding="utf-8")
                records.append(failure_record(run, ERROR, message, device=device))
    notes = sorted({str(w.message) for w in caught if not issubclass(w.category, _LIBRARY_WARNINGS)})
    for record in records:
        record["warnings"] = notes
        (Path(root) / record["run"] / RUN_RECORD).write_text(json.dumps(record, indent=2), encoding="utf-8")
    return records


#: Warnings about libraries' own future, not about the run: kept out of the run's notes.
_LIBRARY_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning, ImportWarning)


def _record(run: BatchRun, metrics: Mapping[str, Any], wall: float, device: str, stacked: int) -> Dict[str, Any]:
    """The run's line in the summary: what ran, its status, its errors and its speed.

    ``train_seconds`` is the training's wall time: for a vectorised run (``stacked`` members trained as
    one model; 0 when not vectorised) that of the stacked training, the same for every member.
    ``wall_seconds`` is the run's share of its task's wall time (training, reference, report).
    """
    seconds, steps = metrics.get("train_seconds"), metrics.get("steps")
    errors = {
        unknown: {key: entry.get(key) for key in ("relative_l2", "max_abs", "against")}
        for unknown, entry in (metrics.get("errors") or {}).items()
    }
    parameters, truths = metrics.get("parameters") or {}, metrics.get("parameter_errors") or {}
    learned = {  # the trainable parameters: their learned value, and the true one where the problem gives it
        p.name: {"value": parameters.get(p.name), "true_value": (truths.get(p.name) or {}).get("true_value"),
                 "relative_error": (truths.get(p.name) or {}).get("relative_error")}
        for p in run.problem.trainable_parameters
    }
    return {
        "run": run.name,
        "problem": run.problem.name,
        "file": run.file,
        "swept": dict(run.point),
        "status": metrics.get("status"),
        "verdict": (metrics.get("verification") or {}).get("verdict"),
        "message": metrics.get("message", ""),
        "errors": errors,
        "parameters": metrics.get("parameters", {}),
        "learned": learned,
        "train_seconds": seconds,
        "steps": steps,
        "steps_per_second": steps / seconds if seconds and steps else None,
        "final_loss": metrics.get("final_loss"),
        "wall_seconds": wall,
        "device": device,
        "vectorized": bool(stacked),
        "stacked": stacked,  # runs trained together as one stacked model (0: not vectorised)
        "fingerprint": run.fingerprint,
    }


def failure_record(run: BatchRun, status: str, message: str, device: str = "") -> Dict[str, Any]:
    """The record of a run that did not finish (an exception, a dead worker, an interrupted batch)."""
    return {"run": run.name, "problem": run.problem.name, "file": run.file, "swept": dict(run.point),
            "status": status, "message": message, "errors": {}, "device": device, "fingerprint": run.fingerprint}


def finish_run(out: Path, record: Mapping[str, Any]) -> None:
    """Move a run's folder from ``out/.partial`` into place, replacing an older report of pinn's.

    A run that left no folder (its worker died) gets one with just its record,
    so the summary shows it as crashed and a rerun runs it again.  If the
    place has meanwhile filled with files pinn did not write, nothing there is
    touched: the run is kept beside it as ``NAME-new`` and a warning says so.
    """
    source = Path(out) / PARTIAL / record["run"]
    target = Path(out) / record["run"]
    make_groups(out, record["run"])
    if not source.exists():
        with staged_folder(source) as staging:
            (staging / RUN_RECORD).write_text(json.dumps(dict(record), indent=2), encoding="utf-8")
    try:
        install(source, target)
    except ProblemError as error:
        kept = target.with_name(target.name + "-new")
        number = 1
        while kept.exists():
            number += 1
            kept = target.with_name(f"{target.name}-new{number}")
        os.replace(source, kept)
        warnings.warn(f"{error.file}: {error.message}; this run was kept in {kept} instead")


def make_groups(out: Path, name: str) -> None:
    """Create (and mark) the folders between ``out`` and the run folder ``out/name``, e.g. ``out/decay``."""
    parts = Path(name).parts[:-1]
    for depth in range(1, len(parts) + 1):
        make_folder(Path(out).joinpath(*parts[:depth]), GROUP)


def first_line(text: str) -> str:
    """The first line of a message (TensorFlow's errors run to many)."""
    return (text or "").strip().split("\n", 1)[0]


def succeeded(record: Mapping[str, Any]) -> bool:
    return record.get("status") in ("converged", "max_steps")


