"""Reloading a saved solution in two variables (written by :mod:`pinn.pde.saved`): the model rebuilt from the
problem as run, its weights read back."""

from __future__ import annotations

from pathlib import Path

from ..solution import META_FILE, PROBLEM_FILE


def load_field_solution(directory: Path, meta: dict):
    """Rebuild a saved two-variable solution (checked against its grid again, without the numerical reference)."""
    from ..phase_support import Status
    from ..problem_file import load_problem
    from ..saved_files import _damaged, _phases, _read_weights, _RESAVE
    from ..training import TrainingResult
    from .solve import build_field_model, make_field_solution

    problem = load_problem(directory / PROBLEM_FILE)
    try:
        status = Status(meta["status"])
    except ValueError:
        raise _damaged(directory, f"{META_FILE} has an unknown status {meta['status']!r}", _RESAVE) from None
    model, residuals = build_field_model(problem)
    for variable, value in zip(model.weights, _read_weights(directory, [tuple(v.shape) for v in model.weights])):
        variable.assign(value)
    training = TrainingResult(status=status, message=meta["message"], history={}, phases=_phases(directory, meta),
                              best_loss=meta["final_loss"])
    return make_field_solution(problem, model, training, residuals, check=False)
