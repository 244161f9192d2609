"""Loading a saved solution: the model folder a solve wrote (``runs/NAME/model``), checked, then rebuilt.

Every file is checked before it is used: a missing or damaged file, or
weights that do not fit the problem's network, raise a
:class:`~pinn.errors.ProblemError` saying which and what to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Union

from .saved_files import _RESAVE, _damaged, _phases, _read_meta, _read_weights  # noqa: F401  (pinn.saved._damaged, ...)
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
        from .pde.reload import load_field_solution

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
    elif getattr(problem.training, "subdomains", 1) != 1:
        from .subdomains import rebuild as rebuild_subdomains

        model = rebuild_subdomains(problem)
    for variable, value in zip(model.weights, _read_weights(directory, [tuple(v.shape) for v in model.weights])):
        variable.assign(value)
    training = TrainingResult(status=status, message=meta["message"], history={}, phases=_phases(directory, meta),
                              best_loss=meta["final_loss"])
    solution = make_solution(problem, model, training, residuals, provenance=_provenance(meta))
    if getattr(problem.training, "subdomains", 1) != 1:
        from .subdomains import interface_check, with_interfaces

        return with_interfaces(solution, interface_check(problem, model))
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
