"""Loading a saved solution: the model folder a solve wrote (``runs/NAME/model``), checked, then rebuilt.

Every file is checked before it is used: a missing or damaged file, or
weights that do not fit the problem's network, raise a
:class:`~pinn.errors.ProblemError` saying which and what to do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Sequence, Union

import numpy as np

from .errors import ProblemError
from .solution import META_FILE, PROBLEM_FILE, WEIGHTS_FILE, Solution


def load_solution(directory: Union[str, Path]) -> "Solution":
    """Rebuild a saved solution (model, grid values, parameters) from ``save``'s files.

    ``directory`` is the model folder (``runs/NAME/model``) or the report
    folder holding it.  A missing, damaged or mismatched file raises
    :class:`~pinn.errors.ProblemError` saying which and what to do; the saved
    weights are checked against the problem's network, name by name and shape
    by shape, before any is used.  The training history is not saved with the
    model; the returned solution has the saved status and counts and an empty history.
    """
    from .problem_file import load_problem
    from .tensorflow_setup import ensure_tensorflow

    ensure_tensorflow()
    from .assembly import build_model, make_solution
    from .training import Status, TrainingResult

    directory = Path(directory)
    if not (directory / WEIGHTS_FILE).exists() and (directory / "model" / WEIGHTS_FILE).exists():
        directory = directory / "model"  # the report folder was given
    for name in (PROBLEM_FILE, WEIGHTS_FILE, META_FILE):
        if not (directory / name).is_file():
            raise _damaged(directory, f"there is no {name}", "Give the model folder a solve wrote (runs/NAME/model), "
                           "or solve the problem again.")
    meta = _read_meta(directory)
    if "variables" in meta:  # two variables: pinn.pde.saved
        from .pde.saved import load_field_solution

        return load_field_solution(directory, meta)
    problem = load_problem(directory / PROBLEM_FILE)
    try:
        status = Status(meta["status"])
    except ValueError:
        raise _damaged(directory, f"{META_FILE} has an unknown status {meta['status']!r}", _RESAVE) from None
    windows = _windows(directory, meta)
    model, residuals = build_model(problem)
    if windows:
        from .windows import rebuild

        model = rebuild(problem, windows)
    for variable, value in zip(model.weights, _read_weights(directory, [tuple(v.shape) for v in model.weights])):
        variable.assign(value)
    training = TrainingResult(status=status, message=meta["message"], history={}, phases=_phases(directory, meta),
                              best_loss=meta["final_loss"])
    solution = make_solution(problem, model, training, residuals, provenance=_provenance(meta))
    if not windows:
        return solution
    from .windows import with_windows

    return with_windows(solution, windows)


def _windows(directory: Path, meta: Dict) -> tuple:
    """The saved march's windows (pinn.windows.WindowRecord), () for one window; a malformed list is refused."""
    from .windows import record_from_dict

    raw = meta.get("windows")
    if raw is None:
        return ()
    try:
        records = tuple(record_from_dict(w) for w in raw)
    except (TypeError, KeyError, ValueError, AttributeError):
        raise _damaged(directory, f"{META_FILE} has a malformed 'windows' list", _RESAVE) from None
    if not records:
        raise _damaged(directory, f"{META_FILE} has an empty 'windows' list", _RESAVE)
    return records


def _provenance(meta: Dict) -> Dict:
    """The saved provenance of the solve that trained the weights (its known keys, plain values); {} if none was saved."""
    from .provenance import KEYS

    saved = meta.get("provenance")
    if not isinstance(saved, dict):
        return {}
    return {key: saved[key] for key in KEYS if isinstance(saved.get(key), (str, int)) and not isinstance(saved.get(key), bool)}


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
