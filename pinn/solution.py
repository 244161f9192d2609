"""The frozen result of a solve: grid, values and derivatives, parameters, history, status.

A :class:`Solution` holds arrays on the output grid and the trained model, so
``evaluate(x, order)`` gives values and derivatives anywhere; ``save`` writes
the weights and the problem as run, and :func:`pinn.saved.load_solution` rebuilds it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .problem import Problem

WEIGHTS_FILE = "weights.npz"
PROBLEM_FILE = "problem.yaml"
META_FILE = "model.json"
DATA_FILE = "data.csv"


@dataclass(frozen=True, eq=False)
class Solution:
    """What :func:`pinn.solve` returns.

    ``x`` is the output grid [points]; ``values[u]`` has shape
    [orders[u] + 1, points], row k the k-th derivative of u; ``parameters``
    maps every parameter name to its value (learned ones as trained);
    ``equation_residuals`` the RMS residual of each equation at points
    training never saw; ``provenance`` the seed, the versions of pinn and its
    libraries, the device and the date of the solve (:mod:`pinn.provenance`).
    """

    problem: Problem
    x: np.ndarray
    values: Mapping[str, np.ndarray]
    parameters: Mapping[str, float]
    training: "TrainingResult"  # pinn.training.TrainingResult
    model: object = field(repr=False)  # the trained TrialSolution
    equation_residuals: Mapping[str, float] = field(default_factory=dict)  # RMS at fresh points
    verification: Optional["Verification"] = None  # pinn.verification.Verification: the self-check's checks
    reference: object = field(default=None, repr=False)  # the pinn.Reference the check compared with, or None
    attempts: Tuple[Mapping[str, object], ...] = ()  # earlier attempts that failed their check (pinn.solver.solve)
    provenance: Mapping[str, object] = field(default_factory=dict)  # seed, versions, device, date (pinn.provenance)
    windows: Tuple["WindowRecord", ...] = ()  # pinn.windows.WindowRecord per window of a march; () for one window

    @property
    def status(self) -> "Status":
        """The training's status, or CHECK_FAILED when training succeeded and the self-check did not."""
        if self.training.status.success and self.verification is not None and not self.verification.passed:
            from .phase_support import Status

            return Status.CHECK_FAILED
        return self.training.status

    @property
    def success(self) -> bool:
        """Solved: training succeeded and every check passed."""
        return self.status.success

    @property
    def verified(self) -> bool:
        return self.verification is not None and self.verification.passed

    @property
    def message(self) -> str:
        if self.status.value == "check_failed":
            return self.verification.message
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
        """Write the weights, the problem as run and a summary, so :func:`load_solution` can rebuild the model.

        Observations go into ``data.csv`` beside ``problem.yaml`` (which names
        it), not inline: a million rows load in seconds from CSV, not minutes from YAML.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {f"weight_{i:03d}": v.numpy() for i, v in enumerate(self.model.weights)}
        np.savez(directory / WEIGHTS_FILE, **arrays)
        problem_text = self.problem.as_run
        if self.problem.data is not None:
            _write_data_csv(self.problem, directory / DATA_FILE)
            problem_text = _with_data_file(problem_text, DATA_FILE)
        (directory / PROBLEM_FILE).write_text(problem_text, encoding="utf-8")
        meta = {
            "problem": self.problem.name,
            "unknowns": list(self.problem.unknowns),
            "variable": self.problem.variable,
            "dtype": self.problem.training.dtype,
            "status": self.status.value,
            "message": self.message,
            "parameters": dict(self.parameters),
            "phases": [{"name": p.name, "steps": p.steps, "seconds": p.seconds, "stop": p.stop} for p in self.training.phases],
            "train_seconds": self.training.train_seconds,
            "final_loss": self.final_loss,
            "weight_shapes": [list(v.shape) for v in self.model.weights],
            "provenance": dict(self.provenance),
        }
        if self.windows:
            meta["windows"] = [w.as_dict() for w in self.windows]
        (directory / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return directory


def _write_data_csv(problem: Problem, path: Path) -> None:
    """The observations as CSV: the variable, then each observed unknown (empty where missing)."""
    import csv

    data = problem.data
    names = list(data.values)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([problem.variable, *names])
        columns = [data.variable, *(data.values[u] for u in names)]
        for row in zip(*columns):
            writer.writerow(["" if np.isnan(v) else repr(float(v)) for v in row])


def _with_data_file(as_run: str, name: str) -> str:
    """The problem-as-run YAML text with its top-level ``data:`` block replaced by ``data: {file: NAME}``.

    ``as_run`` comes from ``yaml.safe_dump``: top-level keys start a line, and
    the data block (a mapping of columns) is indented below its key.
    """
    lines = as_run.splitlines(keepends=True)
    out, skipping = [], False
    for line in lines:
        if skipping and (line.startswith(" ") or not line.strip()):
            continue
        skipping = False
        if line.startswith("data:"):
            out.append(f"data: {{file: {name}}}\n")
            skipping = True
            continue
        out.append(line)
    return "".join(out)


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
