"""The frozen result of a solve: grid, values and derivatives, parameters, history, status.

A :class:`Solution` holds arrays on the output grid and the trained model, so
``evaluate(x, order)`` gives values and derivatives anywhere; ``save`` writes
the weights and the problem as run, and :func:`load_solution` rebuilds it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Union

import numpy as np

from .problem import Problem

WEIGHTS_FILE = "weights.npz"
PROBLEM_FILE = "problem.yaml"


@dataclass(frozen=True, eq=False)
class Solution:
    """What :func:`pinn.solve` returns.

    ``x`` is the output grid [points]; ``values[u]`` has shape
    [orders[u] + 1, points], row k the k-th derivative of u; ``parameters``
    maps every parameter name to its value (learned ones as trained);
    ``equation_residuals`` the RMS residual of each equation at points
    training never saw.
    """

    problem: Problem
    x: np.ndarray
    values: Mapping[str, np.ndarray]
    parameters: Mapping[str, float]
    training: "TrainingResult"  # pinn.training.TrainingResult
    model: object = field(repr=False)  # the trained TrialSolution
    equation_residuals: Mapping[str, float] = field(default_factory=dict)  # RMS at fresh points

    @property
    def status(self) -> "Status":
        return self.training.status

    @property
    def success(self) -> bool:
        return self.training.status.success

    @property
    def message(self) -> str:
        return self.training.message

    @property
    def history(self) -> Mapping[str, np.ndarray]:
        return self.training.history

    @property
    def final_loss(self) -> float:
        return self.training.best_loss

    @property
    def orders(self) -> Dict[str, int]:
        return {u: v.shape[0] - 1 for u, v in self.values.items()}

    def derivatives(self, x, order: int) -> Dict[str, np.ndarray]:
        """{u: array [order + 1, len(x)]}: u and its derivatives up to ``order`` at ``x``."""
        return evaluate_model(self.model, self.problem.unknowns, x, order)

    def evaluate(self, x, order: int = 0) -> Dict[str, np.ndarray]:
        """{u: the order-th derivative of u at the points x} (values for order 0)."""
        return {u: v[order] for u, v in self.derivatives(x, order).items()}

    def save(self, directory: Union[str, Path]) -> Path:
        """Write the weights and the problem as run, so :func:`load_solution` can rebuild the model."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {f"weight_{i:03d}": v.numpy() for i, v in enumerate(self.model.weights)}
        np.savez(directory / WEIGHTS_FILE, **arrays)
        (directory / PROBLEM_FILE).write_text(self.problem.as_run, encoding="utf-8")
        meta = {
            "problem": self.problem.name,
            "unknowns": list(self.problem.unknowns),
            "variable": self.problem.variable,
            "dtype": self.problem.training.dtype,
            "status": self.status.value,
            "message": self.message,
            "parameters": dict(self.parameters),
            "adam_steps": self.training.adam_steps,
            "lbfgs_steps": self.training.lbfgs_steps,
            "train_seconds": self.training.train_seconds,
            "final_loss": self.final_loss,
        }
        (directory / "model.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return directory


def evaluate_model(model, unknowns: Sequence[str], x, order: int, batch: int = 65536) -> Dict[str, np.ndarray]:
    """Values and derivatives up to ``order`` of a trial solution at ``x``, in batches."""
    import tensorflow as tf

    from .residuals import derivatives

    x = np.asarray(x, dtype=float).reshape(-1)
    pieces = []
    for start in range(0, max(len(x), 1), batch):
        chunk = tf.constant(x[start : start + batch].reshape(-1, 1), dtype=model.dtype)
        pieces.append(np.stack([d.numpy() for d in derivatives(model, chunk, order)]))  # [order+1, n, U]
    stacked = np.concatenate(pieces, axis=1) if pieces else np.zeros((order + 1, 0, len(unknowns)))
    return {u: stacked[:, :, i] for i, u in enumerate(unknowns)}


def load_solution(directory: Union[str, Path]) -> "Solution":
    """Rebuild a saved solution (model, grid values, parameters) from ``save``'s files.

    The training history is not saved with the model; the returned solution has
    the saved status and counts and an empty history.
    """
    from .problem_file import load_problem
    from .solver import build_model, make_solution
    from .training import Status, TrainingResult

    directory = Path(directory)
    problem = load_problem(directory / PROBLEM_FILE)
    model, residuals = build_model(problem)
    with np.load(directory / WEIGHTS_FILE) as arrays:
        saved = [arrays[k] for k in sorted(arrays.files)]
    if len(saved) != len(model.weights):
        raise ValueError(f"{directory}: the saved weights do not match the problem's network")
    for variable, value in zip(model.weights, saved):
        variable.assign(value)
    meta = json.loads((directory / "model.json").read_text(encoding="utf-8"))
    training = TrainingResult(
        status=Status(meta["status"]), message=meta["message"], history={}, adam_steps=meta["adam_steps"],
        lbfgs_steps=meta["lbfgs_steps"], adam_seconds=meta["train_seconds"], lbfgs_seconds=0.0, best_loss=meta["final_loss"],
    )
    return make_solution(problem, model, training, residuals)
