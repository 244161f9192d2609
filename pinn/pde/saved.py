"""Saving and loading a solution in two variables: weights, the problem as run, and a summary (model.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Union

import numpy as np

from ..solution import META_FILE, PROBLEM_FILE, WEIGHTS_FILE


def save_field_solution(solution, directory: Union[str, Path]) -> Path:
    """Write what :func:`load_field_solution` needs: the weights, problem.yaml as run, model.json."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    np.savez(directory / WEIGHTS_FILE, **{f"weight_{i:03d}": v.numpy() for i, v in enumerate(solution.model.weights)})
    (directory / PROBLEM_FILE).write_text(solution.problem.as_run, encoding="utf-8")
    training = solution.training
    meta = {
        "problem": solution.problem.name, "unknowns": list(solution.problem.unknowns),
        "variables": list(solution.problem.variables), "dtype": solution.problem.training.dtype,
        "status": solution.status.value, "message": solution.message, "parameters": dict(solution.parameters),
        "phases": [{"name": p.name, "steps": p.steps, "seconds": p.seconds, "stop": p.stop} for p in training.phases],
        "train_seconds": training.train_seconds, "final_loss": solution.final_loss,
        "weight_shapes": [list(v.shape) for v in solution.model.weights],
        "provenance": dict(getattr(solution, "provenance", {}) or {}),
    }
    (directory / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return directory


def load_field_solution(directory: Path, meta: dict):
    """Rebuild a saved two-variable solution (checked against its grid again, without the numerical reference)."""
    from ..phase_support import Status
    from ..problem_file import load_problem
    from ..saved import _damaged, _phases, _read_weights, _RESAVE
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
