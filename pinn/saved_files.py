"""Reading a saved solve's folder: its metadata, phase records and weights, and the error for a damaged one
(shared by pinn.saved and pinn.pde.saved)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Sequence

import numpy as np

from .errors import ProblemError
from .solution import META_FILE, WEIGHTS_FILE

_RESAVE = "The folder is damaged: solve the problem again to write a new one."
#: model.json's fields and the types they must have.
_META_FIELDS = {"status": str, "message": str, "train_seconds": (int, float), "final_loss": (int, float, type(None))}


def _phases(directory: Path, meta: Dict) -> tuple:
    """The saved phases (name, steps, seconds, stop); folders from before the phase list give adam_steps and lbfgs_steps."""
    from .training import PhaseRecord

    raw = meta.get("phases")
    if raw is None:
        raw = [{"name": name, "steps": meta.get(f"{name}_steps", 0), "seconds": 0.0, "stop": ""} for name in ("adam", "lbfgs")]
        raw[0]["seconds"] = meta["train_seconds"]
    try:
        return tuple(PhaseRecord(str(p["name"]), int(p["steps"]), float(p["seconds"]), str(p.get("stop", ""))) for p in raw)
    except (TypeError, KeyError, ValueError, AttributeError):
        raise _damaged(directory, f"{META_FILE} has a malformed 'phases' list", _RESAVE) from None


def _damaged(directory: Path, what: str, fix: str):
    return ProblemError(f"cannot load the saved solution: {what}", file=str(directory), location="model", fix=fix)


def _read_meta(directory: Path) -> Dict:
    """model.json, checked field by field."""
    try:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise _damaged(directory, f"{META_FILE} cannot be read ({error})", _RESAVE) from None
    if not isinstance(meta, dict):
        raise _damaged(directory, f"{META_FILE} is not a JSON object", _RESAVE)
    for name, kind in _META_FIELDS.items():
        if name not in meta or isinstance(meta[name], bool) or not isinstance(meta[name], kind):
            raise _damaged(directory, f"{META_FILE} lacks a valid '{name}'", _RESAVE)
    if meta["final_loss"] is None:
        meta["final_loss"] = float("nan")
    return meta


def _read_weights(directory: Path, shapes: Sequence[tuple]) -> list:
    """The saved weight arrays, refused unless they are exactly the network's: names, count, shapes, finite floats."""
    import zipfile

    path = directory / WEIGHTS_FILE
    expected = [f"weight_{i:03d}" for i in range(len(shapes))]
    try:
        with np.load(path, allow_pickle=False) as arrays:
            if sorted(arrays.files) != expected:
                raise _damaged(directory, f"{WEIGHTS_FILE} holds {len(arrays.files)} arrays where the problem's network has "
                               f"{len(shapes)}", "The weights belong to another network: keep problem.yaml and the "
                               "weights from the same solve, or solve again.")
            saved = [arrays[name] for name in expected]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise _damaged(directory, f"{WEIGHTS_FILE} cannot be read ({error})", _RESAVE) from None
    for name, value, shape in zip(expected, saved, shapes):
        if value.shape != shape or not np.issubdtype(value.dtype, np.floating):
            raise _damaged(directory, f"{WEIGHTS_FILE}: {name} has shape {value.shape} and type {value.dtype}, where the "
                           f"problem's network needs floats of shape {shape}", "The weights belong to another network: "
                           "keep problem.yaml and the weights from the same solve, or solve again.")
        if not np.all(np.isfinite(value)):
            raise _damaged(directory, f"{WEIGHTS_FILE}: {name} holds non-finite values", _RESAVE)
    return saved
