"""Observations: inline columns (``data: {x: [...], y: [...]}``) or a CSV beside the file (``data: {file: obs.csv}``).

The CSV is named relative to the problem file's folder and must stay inside
it; it is refused before reading past MAX_DATA_BYTES and counted row by row
against LIMITS["data.rows"].  The problem as run carries the data inline
(:func:`with_inline_data`), so it stands alone.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import ProblemError, cut, did_you_mean, one_of
from ..problem import Data
from .limits import LIMITS, MAX_DATA_BYTES
from .user_files import Unreadable, check_user_file, unopenable
from .values import Context, check_keys, describe, number


def read_data(ctx: Context, raw: Any, variable: str, unknowns: Tuple[str, ...], domain) -> Optional[Data]:
    """Observations inline ({x: [...], y: [...]}) or from a CSV beside the file ({file: obs.csv})."""
    if raw is None:
        return None
    columns, source = _columns(ctx, raw, variable, unknowns)
    location = "data" if source == "inline" else f"data.file ({source})"
    if variable not in columns:
        raise ctx.error(f"there is no column for the variable '{variable}'", location, f"Add a column named {variable}.")
    observed = [u for u in unknowns if u in columns]
    if not observed:
        raise ctx.error(f"no column names an unknown ({', '.join(unknowns)})", location, f"Add a column named {unknowns[0]}.")
    lengths = {len(columns[c]) for c in (variable, *observed)}
    if len(lengths) != 1:
        raise ctx.error("the columns have different lengths: " + ", ".join(f"{c}: {len(columns[c])}" for c in (variable, *observed)),
                        location, "Give one value per observation in every column (leave a CSV cell empty if missing).")
    x = columns[variable]
    if len(x) == 0:
        raise ctx.error("there are no observations", location, "Add at least one row.")
    if len(x) > LIMITS["data.rows"]:
        raise ctx.error(f"{len(x):,} observations are beyond the limit of {LIMITS['data.rows']:,}", location, "Subsample the data.")
    if not np.all(np.isfinite(x)):
        raise ctx.error(f"the column '{variable}' has missing or non-finite values", location, f"Give every observation a value of {variable}.")
    low, high = domain
    outside = (x < low - 1e-9 * (high - low)) | (x > high + 1e-9 * (high - low))
    if outside.any():
        raise ctx.error(f"{int(outside.sum())} observations lie outside the domain [{low:g}, {high:g}], e.g. {variable} = {x[outside][0]:g}",
                        location, "Widen the domain or drop those rows.")
    values = {u: columns[u] for u in observed}
    for u, column in values.items():
        if np.isinf(column).any():
            raise ctx.error(f"the column '{u}' has infinite values", location, "Use finite numbers (leave missing cells empty).")
        if np.isnan(column).all():
            raise ctx.error(f"the column '{u}' has no values", location, "Fill it in, or remove the column.")
        _warn_contradictions(ctx, x, column, variable, u, location)
    return Data(np.clip(x, low, high), values, source)


def _columns(ctx: Context, raw: Any, variable: str, unknowns: Tuple[str, ...]) -> Tuple[Dict[str, np.ndarray], str]:
    """The columns as arrays (NaN where missing), and their source: "inline" or the CSV's path."""
    columns_allowed = (variable, *unknowns)
    if not isinstance(raw, dict):
        raise ctx.error(f"expected a mapping, got {describe(raw)}", "data",
                        f"Write data: {{{variable}: [...], {unknowns[0]}: [...]}} or data: {{file: observations.csv}}.")
    if "file" in raw:
        check_keys(ctx, raw, ("file",), "data")
        return _read_csv(ctx, raw["file"], columns_allowed)
    check_keys(ctx, raw, (*columns_allowed, "file"), "data")
    columns = {}
    for key, values in raw.items():
        location = f"data.{key}"
        if not isinstance(values, list):
            values = [values]
        try:
            columns[str(key)] = np.array([number(ctx, v, location) if v is not None else np.nan for v in values], dtype=float)
        except ProblemError as error:
            raise ctx.error(f"every entry must be a number: {error.message}", location, "Write a list of numbers, e.g. [0, 0.5, 1].") from None
    return columns, "inline"


def _warn_contradictions(ctx: Context, x: np.ndarray, column: np.ndarray, variable: str, unknown: str, location: str) -> None:
    """Warn when one value of the variable has observations that disagree (repeated measurements, or a typo)."""
    order = np.argsort(x, kind="stable")
    xs, vs = x[order], column[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.fmin.reduceat(vs, starts), np.fmax.reduceat(vs, starts)  # NaN (missing) ignored
    clash = np.flatnonzero(np.isfinite(low) & (low != high))
    if clash.size:
        first = clash[0]
        warnings.warn(
            f"{ctx.file or 'problem'}: {location}: {clash.size} value{'s' if clash.size > 1 else ''} of {variable} "
            f"{'have' if clash.size > 1 else 'has'} observations of {unknown} that disagree (e.g. {variable} = {xs[starts[first]]:g}: "
            f"{low[first]:g} and {high[first]:g}); the fit passes between them. Average them or drop one if that is not intended.",
            stacklevel=5)  # at pinn.problem_file.problem_from_dict, as before the loader was split


def _data_path(ctx: Context, name: Any) -> Path:
    """The CSV named by data.file: relative, inside the problem file's folder (or below it)."""
    fix = "Put the CSV in the problem file's folder (or a folder below it) and give its name from there, e.g. data: {file: observations.csv}."
    if not isinstance(name, str) or not name.strip():
        raise ctx.error(f"expected a file name, got {describe(name)}", "data.file", "Write data: {file: observations.csv}.")
    if not name.isprintable():
        raise ctx.error(f"the file name {describe(name)} contains a control character", "data.file", fix)
    relative = Path(name)
    if relative.is_absolute() or name.startswith("~"):
        raise ctx.error(f"'{cut(name)}' is an absolute path: a data file must be inside the problem file's folder", "data.file", fix)
    if ".." in relative.parts:
        raise ctx.error(f"'{cut(name)}' goes up out of the problem file's folder ('..')", "data.file", fix)
    path = ctx.base_dir / relative
    try:
        inside = path.resolve().is_relative_to(ctx.base_dir.resolve())
    except (OSError, RuntimeError):  # a link loop: reported when the file is opened
        inside = True
    if not inside:
        raise ctx.error(f"'{cut(name)}' leads out of the problem file's folder (through a symbolic link)", "data.file", fix)
    return path


def _read_csv(ctx: Context, name: Any, allowed: Sequence[str]) -> Tuple[Dict[str, np.ndarray], str]:
    """The wanted columns of the CSV, streamed row by row (refused past MAX_DATA_BYTES or the row limit)."""
    path = _data_path(ctx, name)
    shown = str(path)
    where = "data.file"
    rows_limit = LIMITS["data.rows"]
    try:
        check_user_file(path, MAX_DATA_BYTES)
        try:
            handle = open(path, newline="", encoding="utf-8-sig")
        except OSError as error:
            raise unopenable(error) from None
        with handle:
            reader = csv.reader(handle)
            header, columns, rows = None, {}, 0
            for row in reader:
                if not row or not any(cell.strip() for cell in row):
                    continue
                while len(row) > (len(header) if header else 1) and not row[-1].strip():
                    row = row[:-1]  # empty cells past the last column (a trailing comma) are no column
                if header is None:
                    header = _csv_header(ctx, row, allowed, shown)
                    columns = {c: (header.index(c), []) for c in header if c in allowed}
                    continue
                if len(row) != len(header):
                    raise ctx.error(f"{shown} line {reader.line_num} has {len(row)} cell{'s' if len(row) != 1 else ''}, "
                                    f"but the header has {len(header)} columns", where,
                                    "Give every row one cell per column; leave a cell empty (as in 0.5,,1) where a value is missing.")
                rows += 1
                if rows > rows_limit:
                    raise ctx.error(f"{shown} has more than {rows_limit:,} rows, the limit", where, "Subsample the data.")
                for column, (index, values) in columns.items():
                    values.append(_csv_number(ctx, row[index].strip(), shown, reader.line_num, column))
    except Unreadable as problem:
        if problem.missing:
            raise ctx.error(f"the data file {shown} does not exist", where, "Put the CSV beside the problem file, or fix the name.") from None
        raise ctx.error(f"the data file {shown}: {problem.message}", where,
                        problem.fix or f"Subsample the data: a data file is read up to {MAX_DATA_BYTES / 1e6:g} MB.") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ctx.error(f"cannot read {shown}: {cut(error, 120)}", where, "Save it as comma-separated UTF-8 text with a header row.") from None
    if header is None:
        raise ctx.error(f"{shown} is empty", where, "Write a header row, then one row per observation.")
    return {c: np.array(v, dtype=float) for c, (_, v) in columns.items()}, shown


def _csv_header(ctx: Context, row: List[str], allowed: Sequence[str], shown: str) -> List[str]:
    """The column names of the first row; refused if it names no wanted column or names one twice."""
    header = [cell.strip() for cell in row]
    if not any(c in allowed for c in header):
        raise ctx.error(f"{shown} has no column named {one_of(list(allowed))}: its first line is not a header of column names "
                        f"(it starts '{_start(','.join(header))}')", "data.file",
                        f"Name the columns {', '.join(allowed)} in the header row.{did_you_mean(header[0], allowed) if header else ''}")
    twice = next((c for i, c in enumerate(header) if c in allowed and c in header[:i]), None)
    if twice:
        raise ctx.error(f"{shown}: the column '{twice}' appears twice in the header", "data.file", "Keep one column per name.")
    ignored = [cut(c, 20) for c in header if c not in allowed]
    if ignored:
        more = f" and {len(ignored) - 10} more" if len(ignored) > 10 else ""
        warnings.warn(f"{ctx.file or 'problem'}: data.file: ignoring columns of {shown} that name no unknown: "
                      f"{', '.join(ignored[:10])}{more}", stacklevel=6)  # at pinn.loader.build.build, as at _build before the split
    return header


def _start(text: str, limit: int = 40) -> str:
    """The first ``limit`` characters of a line of the user's file, never more."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _csv_number(ctx: Context, cell: str, shown: str, line: int, column: str) -> float:
    """One cell as a number (NaN if empty); only ASCII spellings such as 1.5e-3."""
    if cell == "":
        return np.nan
    try:
        if not cell.isascii():
            raise ValueError(cell)
        return float(cell)
    except ValueError:
        raise ctx.error(f"{shown} line {line}, column '{column}': '{cut(cell, 20)}' is not a number", "data.file",
                        "Every cell must be a number (or empty if missing).") from None


def with_inline_data(document: Dict[str, Any], data: Optional[Data], variable: str) -> Dict[str, Any]:
    """The document with data from a CSV written inline, so the problem as run stands alone."""
    if data is None or data.source == "inline":
        return document
    columns = {variable: data.variable.tolist()}
    columns.update({u: [None if np.isnan(v) else float(v) for v in values] for u, values in data.values.items()})
    return {**document, "data": columns}
