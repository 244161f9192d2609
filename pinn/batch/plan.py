"""Planning a batch: every run loaded and validated, its folder checked, what is already done.

    plan_batch(paths, sweeps, overrides)   -> BatchPlan (every run loaded and validated)
    check_batch_output(plan, out, runs)    -> refuses folders holding files pinn did not write
    pending_runs(plan, out)                -> the runs not already done in ``out`` (resume)

Run ``r`` reports into ``out/r.name/``; a rerun of the same batch skips the
runs whose ``run.json`` matches the problem as it would run now.  No TensorFlow.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..errors import ProblemError
from ..output_folder import BATCH, GROUP, REPORT, check_folder
from ..problem import Problem
from .sweep import Sweep, point_label, sweep_points

RUN_RECORD = "run.json"
PARTIAL = ".partial"
SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"

#: Solver statuses a finished run can have; runs with any other status are run again on resume.
#: Only the first two are solved (pinn.batch.succeeded); the others finished and failed.
FINISHED = ("converged", "max_steps", "nonfinite_loss", "check_failed")
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
    from ..problem_file import load_problem

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
    from ..vectorized import vectorize_problem_reason

    groups: Dict[str, List[BatchRun]] = {}
    for run in plan.runs:
        groups.setdefault(run.file, []).append(run)
    for file, group in groups.items():
        reason = vectorize_problem_reason([run.problem for run in group])
        if reason:
            raise ProblemError(reason, file=file, location="--vectorize")  # the reason says how to fix it


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

