"""Output folders: pinn replaces only what it wrote, and a report appears whole or not at all.

Every folder pinn writes carries a marker file, ``.pinn`` (a line of JSON
saying which kind of folder it is).  The rules, checked before anything is
trained and again just before anything is replaced:

* a **report folder** (one solve: ``solution.csv``, ``metrics.json``, ...)
  may be written where nothing is, into an empty folder, or over a report
  folder of pinn's that holds nothing but pinn's own report files;
* a **batch folder** (``--out`` of ``pinn batch``: the summary and the runs)
  and a **group folder** (``OUT/PROBLEM/`` above a sweep's runs) may be
  written where nothing is, into an empty folder, or into one pinn marked as
  the same kind;
* anything else (a file where a folder is meant, a folder holding a user's
  files, a report folder with a notebook added to it) is refused with a
  :class:`~pinn.errors.ProblemError` naming the folder and what is in it.

A report is written into a hidden sibling folder first and then moved into
place (:func:`staged_folder`), so an interrupt or a crash never leaves a
half-written report, and no file of an older report (a ``plot.png`` from a
run with plots, beside a new run without) survives beside a new one.
No TensorFlow here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Iterator, Union

from .errors import ProblemError

MARKER = ".pinn"
REPORT, BATCH, GROUP = "report", "batch", "group"
#: What a report folder may hold for pinn to replace it: the files pinn writes into one, and nothing else.
REPORT_ENTRIES = frozenset({MARKER, "solution.csv", "metrics.json", "plot.png", "model", "problem.yaml", "run.json", "error.txt"})
_SHOWN = 5  # foreign entries named in an error


def folder_kind(folder: Path) -> str:
    """The kind pinn marked ``folder`` with ("report", "batch", "group"), or "" if it carries no readable marker."""
    try:
        return str(json.loads((Path(folder) / MARKER).read_text(encoding="utf-8")).get("kind", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def mark(folder: Path, kind: str) -> None:
    """Write the marker that says pinn made ``folder`` as a folder of ``kind``."""
    (Path(folder) / MARKER).write_text(json.dumps({"written_by": "pinn", "kind": kind}) + "\n", encoding="utf-8")


def check_folder(folder: Union[str, Path], kind: str, *, location: str = "--out") -> Path:
    """The real path of ``folder`` if pinn may write a ``kind`` folder there; else a ProblemError.

    Symbolic links are followed: pinn writes into the folder a link points to.
    """
    path = Path(folder)
    try:
        path = path.resolve()
        if not path.exists():
            _check_parents(path, location)
            return path
        if not path.is_dir():
            raise ProblemError("this is a file, not a folder, so pinn cannot write a report there",
                               file=str(folder), location=location, fix="Give a folder name that is free, or move the file.")
        entries = sorted(entry.name for entry in path.iterdir())
    except OSError as error:
        raise ProblemError(f"cannot use this folder: {error.strerror or error}", file=str(folder), location=location,
                           fix="Choose a folder you can read and write.") from None
    if not entries:
        return path
    marked = folder_kind(path)
    if marked == kind:
        foreign = [name for name in entries if name not in REPORT_ENTRIES] if kind == REPORT else []
        if not foreign:
            return path
        raise ProblemError(f"this earlier pinn report folder now also holds files pinn did not write ({_listed(foreign)}), "
                           "and pinn replaces a report folder as a whole", file=str(folder), location=location,
                           fix="Move those files elsewhere, or give another --out folder.")
    what = f"a pinn {marked} folder, not a {kind} folder" if marked else f"files pinn did not write ({_listed(entries)})"
    raise ProblemError(f"the folder holds {what}; pinn writes only into new or empty folders and its own",
                       file=str(folder), location=location,
                       fix=f"Give a new folder, e.g. --out {'runs/batch' if kind == BATCH else 'runs/NAME'}, "
                           "or empty this one yourself.")


def _check_parents(path: Path, location: str) -> None:
    """A folder about to be created: the nearest existing ancestor must be a folder."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ProblemError(f"{parent} is a file, so no folder can be made below it", file=str(path),
                                   location=location, fix="Give another --out folder.")
            return


def _listed(names) -> str:
    names = list(names)
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def make_folder(folder: Union[str, Path], kind: str, *, location: str = "--out") -> Path:
    """Check ``folder`` (:func:`check_folder`), create it if needed and mark it; returns its real path."""
    path = check_folder(folder, kind, location=location)
    try:
        path.mkdir(parents=True, exist_ok=True)
        if folder_kind(path) != kind:
            mark(path, kind)
    except OSError as error:
        raise ProblemError(f"cannot create the folder: {error.strerror or error}", file=str(folder), location=location,
                           fix="Choose a folder you can write to.") from None
    return path


@contextlib.contextmanager
def staged_folder(target: Union[str, Path], kind: str = REPORT, *, location: str = "--out") -> Iterator[Path]:
    """Yield a fresh hidden folder beside ``target`` to write into; on success it replaces ``target``.

    On an exception while writing (KeyboardInterrupt included) the staged
    folder is removed and ``target`` is left as it was.
    """
    target = check_folder(target, kind, location=location)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = _free_name(target, "partial")
    staging.mkdir()
    try:
        mark(staging, kind)
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    install(staging, target, kind, location=location)


def install(source: Path, target: Union[str, Path], kind: str = REPORT, *, location: str = "--out") -> Path:
    """Move the finished folder ``source`` to ``target``, replacing an older folder of pinn's there.

    The older folder is first renamed aside, then removed, so ``target`` is
    never a mixture of the two.  Raises ProblemError (leaving ``source`` in
    place, and saying where) if ``target`` has meanwhile become something
    pinn may not replace.
    """
    source = Path(source)
    try:
        target = check_folder(target, kind, location=location)
    except ProblemError as error:
        raise ProblemError(error.message, file=error.file, location=error.location,
                           fix=f"The new results are kept in {source}. {error.fix}") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if target.exists():
        old = _free_name(target, "old")
        os.replace(target, old)
    os.replace(source, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


def _free_name(target: Path, purpose: str) -> Path:
    """A hidden sibling of ``target`` that does not exist yet: ``.NAME.pinn-PURPOSE-PID[-N]``."""
    base = target.parent / f".{target.name}.pinn-{purpose}-{os.getpid()}"
    candidate, number = base, 1
    while candidate.exists() or candidate.is_symlink():
        number += 1
        candidate = Path(f"{base}-{number}")
    return candidate
