"""A batch's summary: ``summary.csv`` (every figure of every run) and ``summary.md`` (the readable table)."""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Sequence, Tuple

from .execute import first_line
from .execute import succeeded
from .plan import NOT_RUN, SUMMARY_CSV, SUMMARY_MD, BatchPlan, read_record
from .execute import failure_record

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


def _learned(records: Iterable[Mapping[str, Any]]) -> Dict[str, bool]:
    """{trainable parameter: whether some run knows its true value}, in order of first appearance."""
    names: Dict[str, bool] = {}
    for record in records:
        for name, entry in (record.get("learned") or {}).items():
            names[name] = names.get(name, False) or (entry or {}).get("true_value") is not None
    return names


def _number(value: Any, digits: str = ".2e") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, digits)


def summary_rows(plan: BatchPlan, records: Sequence[Mapping[str, Any]]) -> Tuple[List[str], List[List[str]]]:
    """The readable table: problem, swept values, status, relative L2 error per unknown, learned parameters, time, speed.

    When every run has the same unknowns each gets its own column; a batch of
    different problems gets one column listing each run's unknowns.  Each
    trainable parameter gets a column of its learned value, and one of its
    relative error where a true value is known.
    """
    unknowns = _unknowns(records)
    learned = _learned(records)
    shared = all(set(r.get("errors", {})) in (set(unknowns), set()) for r in records)
    error_header = [f"{u} rel. L2" for u in unknowns] if shared else ["rel. L2 error"]
    parameter_header = [cell for name, known in learned.items() for cell in [f"{name} learned"] + [f"{name} rel. error"] * known]
    header = ["problem", *(s.label for s in plan.sweeps), "status", "checks", *error_header, *parameter_header, "train s", "steps/s"]
    rows = []
    for record in records:
        errors = record.get("errors", {})
        if shared:
            cells = [_number((errors.get(u) or {}).get("relative_l2")) for u in unknowns]
        else:
            cells = [", ".join(f"{u} {_number((e or {}).get('relative_l2'))}" for u, e in errors.items()) or "-"]
        for name, known in learned.items():
            entry = (record.get("learned") or {}).get(name) or {}
            cells += [_number(entry.get("value"), ".6g")] + [_number(entry.get("relative_error"))] * known
        rows.append([
            record["problem"],
            *(record.get("swept", {}).get(s.key, "") for s in plan.sweeps),
            record["status"],
            record.get("verdict") or "-",
            *cells,
            _number(record.get("train_seconds"), ".1f"),
            _number(record.get("steps_per_second"), ".0f"),
        ])
    return header, rows


#: What the table's times are, below it in summary.md (and printed after it when a run was vectorised).
TIME_NOTE = ("train s is the training's wall time; for a vectorised run, that of the stacked training it shared "
             "with the runs stacked with it (the same figure for each, not a share of it)")


def timing_note(records: Iterable[Mapping[str, Any]]) -> str:
    """The note on the times for the printed table: only when some run was vectorised (else the header says it)."""
    return f"note: {TIME_NOTE}." if any(record.get("vectorized") for record in records) else ""


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table padded so it also reads well as plain text."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def summary_csv_text(plan: BatchPlan, records: Sequence[Mapping[str, Any]]) -> str:
    """summary.csv: one row per run with every figure of its record, errors per unknown in their own columns."""
    unknowns = _unknowns(records)
    learned = _learned(records)
    header = ["run", "problem", "file", *(s.key for s in plan.sweeps), "status", "verdict"]
    for u in unknowns:
        header += [f"{u}.relative_l2", f"{u}.max_abs", f"{u}.against"]
    for name in learned:
        header += [f"{name}.learned", f"{name}.true_value", f"{name}.relative_error"]
    header += ["train_seconds", "steps", "steps_per_second", "final_loss", "wall_seconds", "device", "vectorized", "message"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for record in records:
        row = [record["run"], record["problem"], record["file"], *(record.get("swept", {}).get(s.key, "") for s in plan.sweeps),
               record["status"], record.get("verdict") or ""]
        for u in unknowns:
            entry = record.get("errors", {}).get(u) or {}
            row += [_csv(entry.get("relative_l2")), _csv(entry.get("max_abs")), entry.get("against", "")]
        for name in learned:
            entry = (record.get("learned") or {}).get(name) or {}
            row += [_csv(entry.get(key)) for key in ("value", "true_value", "relative_error")]
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
              "(per-run details in each run's metrics.json); a trainable parameter's learned value and, where "
              f"its true value is given, its relative error have columns of their own; {TIME_NOTE}; "
              "steps/s the optimizer steps (Adam and L-BFGS) per second of it.", ""]
    failed = [r for r in records if not succeeded(r) and r["status"] != NOT_RUN]
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
