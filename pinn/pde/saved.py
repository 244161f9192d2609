"""Saving a solution in two variables: weights, the problem as run, and a summary (model.json); reloading it is
:mod:`pinn.pde.reload`."""

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
