"""Batches: many problem files and parameter sweeps, each run with its own report.

A batch is planned, then run:

    plan_batch(paths, sweeps, overrides)   -> BatchPlan (every run loaded and validated)
    pending_runs(plan, out)                -> the runs not already done in ``out`` (resume)
    execute_task(task, root)               -> one record per run (pinn.run.run_problem: solve, reference, metrics, report)
    write_summary(plan, out)               -> summary.csv and summary.md from the runs' records

Run ``r`` writes its report into ``out/r.name/`` as a single solve does, plus
``run.json`` (its record).  A run is first written under ``out/.partial/`` and
moved into place only when complete, so an interrupted batch never leaves a
half-written run that looks finished, and a rerun of the same batch skips the
runs whose ``run.json`` matches the problem as it would run now.

Where the runs execute (this process, worker processes, a Ray cluster) is
:mod:`pinn.batch_workers`' business.  No TensorFlow at import.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import json
import math
import os
import re
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from .errors import ProblemError
from .output_folder import BATCH, GROUP, REPORT, check_folder, install, make_folder, staged_folder
from .problem import Problem
from .sweep import Sweep, point_label, sweep_points

RUN_RECORD = "run.json"
PARTIAL = ".partial"
SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"

#: Solver statuses a finished run can have; runs with any other status are run again on resume.
FINISHED = ("converged", "max_steps", "nonfinite_loss")
#: Statuses a batch gives runs that did not finish: an exception, a dead worker, never started.
ERROR, CRASHED, NOT_RUN = "error", "crashed", "not run"


@dataclass(frozen=True, eq=False)
class BatchRun:
    """One run of a batch: a problem (sweep values applied) and the folder it reports into."""

    name: str  # folder under the batch's output folder, e.g. "decay/k=0.5,seed=1"
    file: str  # the problem file
    point: Mapping[str, str]  # swept values {dotted key: value text}
    problem: Problem
    fingerprint: str  # sha256 of the problem as it runs (file content, overrides and sweep values)


@dataclass(frozen=True, eq=False)
class BatchPlan:
    """Every run of a batch, in order, and the sweeps that made them."""

    runs: Tuple[BatchRun, ...]
    sweeps: Tuple[Sweep, ...] = ()
    overrides: Tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Task:
    """What one worker call does: one run, or a group trained as one vectorised model."""

    runs: Tuple[BatchRun, ...]
    vectorize: bool = False
    plot: bool = True


# ------------------------------------------------------------------ planning


def problem_files(paths: Sequence[str]) -> List[str]:
    """Problem files from files, folders (their *.yaml and *.yml files) and glob patterns, in order, once each."""
    files: List[str] = []
    for text in paths:
        path = Path(text)
        if any(char in text for char in "*?["):
            matches = sorted(m for m in glob.glob(text, recursive=True) if m.endswith((".yaml", ".yml")) and Path(m).is_file())
            if not matches:
                raise ProblemError(f"the pattern '{text}' matches no .yaml or .yml file", location="batch",
                                   fix="Check the pattern, e.g. 'problems/*.yaml' (quote it so the shell leaves it alone).")
            files += matches
        elif path.is_dir():
            matches = sorted(str(p) for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
            if not matches:
                raise ProblemError("the folder has no .yaml or .yml file", file=text, fix="Give a folder of problem files, e.g. problems/.")
            files += matches
        elif path.is_file():
            files.append(text)
        else:
            raise ProblemError("no such file or folder", file=text, fix="Give problem files, folders of them, or glob patterns.")
    seen = set()
    return [f for f in files if not (os.path.realpath(f) in seen or seen.add(os.path.realpath(f)))]


def plan_batch(paths: Sequence[str], sweeps: Sequence[Sweep] = (), overrides: Sequence[str] = ()) -> BatchPlan:
    """Load and validate every run: each problem file at each point of the sweeps.

    Raises :class:`ProblemError` (naming the file and the ``--sweep`` or
    ``--set``) for the first invalid run, before anything is trained.
    """
    from .problem_file import load_problem

    files = problem_files(paths)
    points = sweep_points(sweeps)
    loaded = []
    for file in files:
        for point in points:
            try:
                problem = load_problem(file, [*overrides, *(f"{key}={value}" for key, value in point.items())])
            except ProblemError as error:
                raise _blame_sweep(error, point) from None
            loaded.append((file, point, problem))
    folders = _folder_names([(file, problem.name) for file, _, problem in loaded])
    runs = []
    for (file, point, problem), folder in zip(loaded, folders):
        label = _safe(point_label(point, sweeps)) if sweeps else ""
        name = f"{folder}/{label}" if label else folder
        runs.append(BatchRun(name, file, dict(point), problem, hashlib.sha256(problem.as_run.encode()).hexdigest()))
    by_name: Dict[str, BatchRun] = {}
    for run in runs:
        other = by_name.setdefault(run.name, run)
        if other is not run:
            values = lambda r: ", ".join(f"{k}={v}" for k, v in r.point.items())  # noqa: E731
            raise ProblemError(f"the runs {values(other)} and {values(run)} would share the folder {run.name}",
                               file=run.file, location="--sweep",
                               fix="Write the values with letters, digits and . + - only (e.g. 0.5, not 1/2).")
    return BatchPlan(tuple(runs), tuple(sweeps), tuple(overrides))


def _blame_sweep(error: ProblemError, point: Mapping[str, str]) -> ProblemError:
    """An error the loader blamed on ``--set KEY`` came from ``--sweep KEY`` when KEY is swept."""
    location = error.location or ""
    for key, value in point.items():
        if f"--set {key}" in location:
            location = location.replace(f"--set {key}", f"--sweep {key} (value {value})")
            return ProblemError(error.message, file=error.file, location=location, fix=error.fix, source=error.source, span=error.span)
    return error


def _folder_names(items: Sequence[Tuple[str, str]]) -> List[str]:
    """One folder per problem file: the problem's name, or the file's stem (then a number) where names clash."""
    by_file: Dict[str, str] = {}
    taken: Dict[str, str] = {}
    for file, name in items:
        if file in by_file:
            continue
        for candidate in [_safe(name), _safe(Path(file).stem)] + [f"{_safe(name)}-{i}" for i in range(2, len(items) + 2)]:
            if taken.get(candidate, file) == file:
                taken[candidate] = file
                by_file[file] = candidate
                break
    return [by_file[file] for file, _ in items]


def _safe(text: str) -> str:
    """A folder-name-safe version of ``text`` (letters, digits and . _ = , + - kept)."""
    return re.sub(r"[^A-Za-z0-9._=,+-]", "_", text).strip(".") or "_"


# ------------------------------------------------------------------ resume


def read_record(out: Path, run: BatchRun) -> Optional[Dict[str, Any]]:
    """The record in ``out/run.name/run.json``, or None if there is none (or it is unreadable)."""
    try:
        return json.loads((Path(out) / run.name / RUN_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_done(record: Optional[Mapping[str, Any]], run: BatchRun) -> bool:
    """A run is done when its record exists, finished, and was made from the same problem as now."""
    return bool(record) and record.get("status") in FINISHED and record.get("fingerprint") == run.fingerprint


def pending_runs(plan: BatchPlan, out: Path, *, force: bool = False) -> List[BatchRun]:
    """The runs to execute: all with ``force``, else those not done in ``out``."""
    return [run for run in plan.runs if force or not is_done(read_record(out, run), run)]


def tasks_for(runs: Sequence[BatchRun], *, vectorize: bool = False, plot: bool = True) -> List[Task]:
    """One task per run; with ``vectorize``, one task per problem file (its sweep points trained together)."""
    if not vectorize:
        return [Task((run,), False, plot) for run in runs]
    groups: Dict[str, List[BatchRun]] = {}
    for run in runs:
        groups.setdefault(run.file, []).append(run)
    return [Task(tuple(group), True, plot) for group in groups.values()]


def vectorize_check(plan: BatchPlan) -> None:
    """Raise :class:`ProblemError` if some problem's sweep cannot be trained as one batched model."""
    from .vectorized import vectorize_problem_reason

    groups: Dict[str, List[BatchRun]] = {}
    for run in plan.runs:
        groups.setdefault(run.file, []).append(run)
    for file, group in groups.items():
        reason = vectorize_problem_reason([run.problem for run in group])
        if reason:
            raise ProblemError(reason, file=file, location="--vectorize")  # the reason says how to fix it


# ------------------------------------------------------------------ running one task


def execute_task(task: Task, root: Path, device: str = "") -> List[Dict[str, Any]]:
    """Run the task's runs (:func:`pinn.run.run_problem`) with each report in ``root/run.name``; one record per run.

    Never raises for a failing run: an exception becomes a record with status
    ``error`` and the traceback in ``error.txt`` beside it.
    """
    from .run import report_solution, run_problem

    started = time.perf_counter()
    records = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if task.vectorize:
                from .vectorized import solve_vectorized

                solutions = solve_vectorized([run.problem for run in task.runs])
                if any(solution.status.value == "interrupted" for solution in solutions):
                    raise KeyboardInterrupt  # Ctrl-C inside training stops the batch; the runs are not kept
                runs = [report_solution(solution, Path(root) / run.name, plot=task.plot)
                        for run, solution in zip(task.runs, solutions)]
            else:
                runs = [run_problem(task.runs[0].problem, Path(root) / task.runs[0].name, plot=task.plot)]
                if runs[0].solution.status.value == "interrupted":
                    raise KeyboardInterrupt
            wall = (time.perf_counter() - started) / len(task.runs)
            records = [_record(run, done.metrics, wall, device, task.vectorize) for run, done in zip(task.runs, runs)]
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


def _record(run: BatchRun, metrics: Mapping[str, Any], wall: float, device: str, vectorized: bool) -> Dict[str, Any]:
    """The run's line in the summary: what ran, its status, its errors and its speed."""
    seconds, steps = metrics.get("train_seconds"), metrics.get("steps")
    errors = {
        unknown: {key: entry.get(key) for key in ("relative_l2", "max_abs", "against")}
        for unknown, entry in (metrics.get("errors") or {}).items()
    }
    return {
        "run": run.name,
        "problem": run.problem.name,
        "file": run.file,
        "swept": dict(run.point),
        "status": metrics.get("status"),
        "message": metrics.get("message", ""),
        "errors": errors,
        "parameters": metrics.get("parameters", {}),
        "train_seconds": seconds,
        "steps": steps,
        "steps_per_second": steps / seconds if seconds and steps else None,
        "final_loss": metrics.get("final_loss"),
        "wall_seconds": wall,
        "device": device,
        "vectorized": vectorized,
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


def check_batch_output(plan: "BatchPlan", out: Path, runs: Optional[Sequence[BatchRun]] = None) -> None:
    """Refuse (ProblemError) before anything trains if the batch would write where files of others are.

    ``out`` must be new, empty or a batch folder of pinn's; each run's folder
    (of ``runs``, default every run) new, empty or a report folder of pinn's
    holding only pinn's files; the folders between them new, empty or pinn's.
    """
    check_folder(out, BATCH)
    for run in plan.runs if runs is None else runs:
        parts = Path(run.name).parts
        for depth in range(1, len(parts)):
            check_folder(Path(out).joinpath(*parts[:depth]), GROUP, location=f"--out ({run.file})")
        check_folder(Path(out) / run.name, REPORT, location=f"--out ({run.file})")


def first_line(text: str) -> str:
    """The first line of a message (TensorFlow's errors run to many)."""
    return (text or "").strip().split("\n", 1)[0]


def succeeded(record: Mapping[str, Any]) -> bool:
    return record.get("status") in ("converged", "max_steps")


# ------------------------------------------------------------------ summary


def summary_records(plan: BatchPlan, out: Path) -> List[Dict[str, Any]]:
    """One record per planned run, read from ``out``; runs without a current record are 'not run'."""
    records = []
    for run in plan.runs:
        record = read_record(out, run)
        if not record or record.get("fingerprint") != run.fingerprint:
            record = failure_record(run, NOT_RUN, "")
        records.append(record)
    return records


def _unknowns(records: Iterable[Mapping[str, Any]]) -> List[str]:
    names: List[str] = []
    for record in records:
        names += [u for u in record.get("errors", {}) if u not in names]
    return names


def _number(value: Any, digits: str = ".2e") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, digits)


def summary_rows(plan: BatchPlan, records: Sequence[Mapping[str, Any]]) -> Tuple[List[str], List[List[str]]]:
    """The readable table: problem, swept values, status, relative L2 error per unknown, time, speed.

    When every run has the same unknowns each gets its own column; a batch of
    different problems gets one column listing each run's unknowns.
    """
    unknowns = _unknowns(records)
    shared = all(set(r.get("errors", {})) in (set(unknowns), set()) for r in records)
    error_header = [f"{u} rel. L2" for u in unknowns] if shared else ["rel. L2 error"]
    header = ["problem", *(s.label for s in plan.sweeps), "status", *error_header, "train s", "steps/s"]
    rows = []
    for record in records:
        errors = record.get("errors", {})
        if shared:
            cells = [_number((errors.get(u) or {}).get("relative_l2")) for u in unknowns]
        else:
            cells = [", ".join(f"{u} {_number((e or {}).get('relative_l2'))}" for u, e in errors.items()) or "-"]
        rows.append([
            record["problem"],
            *(record.get("swept", {}).get(s.key, "") for s in plan.sweeps),
            record["status"],
            *cells,
            _number(record.get("train_seconds"), ".1f"),
            _number(record.get("steps_per_second"), ".0f"),
        ])
    return header, rows


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table padded so it also reads well as plain text."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def summary_csv_text(plan: BatchPlan, records: Sequence[Mapping[str, Any]]) -> str:
    """summary.csv: one row per run with every figure of its record, errors per unknown in their own columns."""
    unknowns = _unknowns(records)
    header = ["run", "problem", "file", *(s.key for s in plan.sweeps), "status"]
    for u in unknowns:
        header += [f"{u}.relative_l2", f"{u}.max_abs", f"{u}.against"]
    header += ["train_seconds", "steps", "steps_per_second", "final_loss", "wall_seconds", "device", "vectorized", "message"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for record in records:
        row = [record["run"], record["problem"], record["file"], *(record.get("swept", {}).get(s.key, "") for s in plan.sweeps),
               record["status"]]
        for u in unknowns:
            entry = record.get("errors", {}).get(u) or {}
            row += [_csv(entry.get("relative_l2")), _csv(entry.get("max_abs")), entry.get("against", "")]
        row += [_csv(record.get(key)) for key in ("train_seconds", "steps", "steps_per_second", "final_loss", "wall_seconds")]
        row += [record.get("device", ""), _csv(record.get("vectorized")), record.get("message", "")]
        writer.writerow(row)
    return buffer.getvalue()


def _csv(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_summary(plan: BatchPlan, out: Path, *, title: str = "") -> Tuple[str, List[Dict[str, Any]]]:
    """Write ``summary.csv`` and ``summary.md`` for the plan's runs; returns the table and the records."""
    out = Path(out)
    records = summary_records(plan, out)
    header, rows = summary_rows(plan, records)
    table = markdown_table(header, rows)
    counts: Dict[str, int] = {}
    for record in records:
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    lines = [f"# {title or 'Batch summary'}", "",
             f"{len(records)} runs: " + ", ".join(f"{n} {status}" for status, n in counts.items()) + ".", ""]
    if plan.sweeps:
        lines += ["Sweeps: " + "; ".join(f"`{s.key}` = {', '.join(s.values)}" for s in plan.sweeps) + ".", ""]
    if plan.overrides:
        lines += ["Overrides: " + ", ".join(f"`{o}`" for o in plan.overrides) + ".", ""]
    lines += [table, "",
              "Errors are relative L2 against the exact solution or the scipy reference "
              "(per-run details in each run's metrics.json); train s is the training time, "
              "steps/s the optimizer steps (Adam and L-BFGS) per second of it.", ""]
    failed = [r for r in records if r["status"] not in FINISHED and r["status"] != NOT_RUN]
    if failed:
        lines += ["## Runs that failed", ""] + [f"- `{r['run']}`: {r['status']}: {first_line(r.get('message', ''))}"
                                                 for r in failed] + [""]
    _write_atomically(out / SUMMARY_MD, "\n".join(lines))
    _write_atomically(out / SUMMARY_CSV, summary_csv_text(plan, records))
    return table, records


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
