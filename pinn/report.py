"""Report files of a run: solution.csv, metrics.json, plot.png, the model, the problem as run.

Computes nothing new: it writes what the solution, the reference and the
metrics already hold.  matplotlib is imported only to draw the plot.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Dict, Mapping, Optional, Union

import numpy as np

SOLUTION_CSV = "solution.csv"
METRICS_JSON = "metrics.json"
PLOT_PNG = "plot.png"
MODEL_DIR = "model"
PROBLEM_YAML = "problem.yaml"


def column_name(unknown: str, order: int) -> str:
    """``y``, ``y'``, ``y''``: the CSV header for a derivative."""
    return unknown + "'" * order


def _reference_values(solution, reference):
    """{u: [orders+1, points]} of the reference on the solution's grid, or {} if none."""
    if reference is None or not reference.success or not reference.values:
        return {}
    return reference.evaluate(solution.x)


def write_solution_csv(solution, reference, path: Union[str, Path]) -> Path:
    """One row per output point: the variable, each unknown and its derivatives,
    then ``<column>_<source>`` for the reference (exact or numerical) and ``<u>_error``."""
    path = Path(path)
    problem = solution.problem
    header = [problem.variable]
    columns = [solution.x]
    for u in problem.unknowns:
        for order, row in enumerate(solution.values[u]):
            header.append(column_name(u, order))
            columns.append(row)
    ref = _reference_values(solution, reference)
    if ref:
        for u in problem.unknowns:
            if u not in ref:
                continue
            suffix = reference.against(u)
            rows = min(len(ref[u]), len(solution.values[u]))
            for order in range(rows):
                header.append(f"{column_name(u, order)}_{suffix}")
                columns.append(ref[u][order])
            header.append(f"{u}_error")
            columns.append(solution.values[u][0] - ref[u][0])
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in np.column_stack(columns):
            writer.writerow([repr(float(v)) for v in row])
    return path


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_metrics_json(metrics: Mapping, path: Union[str, Path]) -> Path:
    """The metrics as JSON (non-finite numbers become null)."""
    path = Path(path)
    path.write_text(json.dumps(_json_safe(dict(metrics)), indent=2) + "\n", encoding="utf-8")
    return path


def write_plot(solution, reference, path: Union[str, Path]) -> Path:
    """plot.png: the figure of :func:`plot_figure`."""
    path = Path(path)
    plot_figure(solution, reference).savefig(path, dpi=110)
    return path


def plot_figure(solution, reference):
    """Four panels: the unknowns with their references and observations, the derivatives with theirs, the pointwise
    error of the values and of the highest derivative the equations use (log), and the loss history per term (log).

    Each unknown keeps one colour (from matplotlib's default cycle) for its curve, its reference (dashed), its
    observations (open circles) and its errors; each derivative's reference (dotted) has the derivative's colour.
    Returns a matplotlib Figure (no pyplot: a notebook's backend and figures are left alone).
    """
    from matplotlib import rcParams
    from matplotlib.figure import Figure

    problem = solution.problem
    ref = _reference_values(solution, reference)
    figure = Figure(figsize=(11, 7.5))
    values_ax, derivative_ax, error_ax, loss_ax = figure.subplots(2, 2).ravel()
    cycle = rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    colours = {u: cycle[i % len(cycle)] for i, u in enumerate(problem.unknowns)}
    _draw_values(values_ax, solution, reference, ref, colours)
    _draw_derivatives(derivative_ax, solution, ref)
    _draw_errors(error_ax, solution, reference, ref, colours)
    for ax in (values_ax, derivative_ax, error_ax):
        ax.set_xlabel(problem.variable)
        for boundary in _boundaries(solution):  # a march's windows or the subdomains' interfaces
            ax.axvline(boundary, color="0.6", linewidth=0.6, linestyle=":", zorder=0)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    _draw_history(loss_ax, solution)
    figure.suptitle(f"{problem.name}: {problem.description}" if problem.description else problem.name, fontsize=10)
    figure.tight_layout()
    return figure


def _draw_values(ax, solution, reference, ref, colours) -> None:
    """Each unknown, its reference (dashed, its colour) and its observations (open circles, its colour)."""
    problem, x = solution.problem, solution.x
    data = problem.data
    for u in problem.unknowns:
        ax.plot(x, solution.values[u][0], color=colours[u], label=f"{u} (pinn)")
        if u in ref:
            ax.plot(x, ref[u][0], "--", color=colours[u], linewidth=1, alpha=0.8, label=f"{u} ({reference.against(u)})")
        if data is not None and u in data.values:
            observed = np.asarray(data.values[u], dtype=float)
            shown = np.isfinite(observed)
            ax.plot(np.asarray(data.variable, dtype=float)[shown], observed[shown], "o", color=colours[u], markersize=4,
                    markerfacecolor="none", label=f"{u} (data, {int(shown.sum())} points)")
    ax.set_title("solution" + (" and observations" if data is not None else ""))


def _draw_derivatives(ax, solution, ref) -> None:
    """Each derivative of each unknown, with its reference dotted in the same colour."""
    x = solution.x
    for u in solution.problem.unknowns:
        for order in range(1, solution.values[u].shape[0]):
            line, = ax.plot(x, solution.values[u][order], label=column_name(u, order))
            if u in ref and order < len(ref[u]):
                ax.plot(x, ref[u][order], ":", color=line.get_color(), linewidth=1.5)
    ax.set_title("derivatives" + (" (dotted: exact or reference)" if ref else ""))


def _draw_errors(ax, solution, reference, ref, colours) -> None:
    """|u - reference| (solid) and |u^(m) - reference^(m)| (dashed), m the highest order the equations use."""
    x, problem = solution.x, solution.problem
    for u in problem.unknowns:
        if u not in ref:
            continue
        highest = problem.orders.get(u, 0) if problem.equations else 0
        orders = [0] + ([highest] if 0 < highest < min(len(ref[u]), solution.values[u].shape[0]) else [])
        for order, style in zip(orders, ("-", "--")):
            with np.errstate(invalid="ignore"):
                error = np.abs(solution.values[u][order] - ref[u][order])
            # exact zeros (conditions built into the output) are left out of the log axis
            ax.semilogy(x, np.where(error > 0, error, np.nan), style, color=colours[u],
                        label=f"|{column_name(u, order)} - {reference.against(u)}|")
    ax.set_title("pointwise error" if ref else "pointwise error (no reference)")


def _boundaries(solution) -> list:
    """The inner boundaries to mark: a march's windows (pinn.windows), or the interfaces of training.subdomains."""
    if solution.windows:
        return [w.low for w in solution.windows[1:]]
    return list(getattr(solution.model, "boundaries", ())[1:-1])


#: Loss terms named in the legend at most; beyond them (a system of many pieces) only the total is.
LEGEND_TERMS = 12


def _draw_history(ax, solution) -> None:
    """The total loss and each term against the step, with a line where each later phase begins."""
    from .problem import PHASE_LABELS

    history = solution.history
    if history and len(history.get("step", [])):
        steps = history["step"]
        for name, series in history.items():
            if name in ("step", "phase", "window"):
                continue
            series = np.asarray(series, dtype=float)
            crowded = len(history) - 2 > LEGEND_TERMS and name != "total"
            ax.semilogy(steps, np.where(series > 0, series, np.nan), label=None if crowded else name,
                        linewidth=2 if name == "total" else 1, alpha=0.5 if crowded else 1.0)
        phases = history["phase"]
        training = solution.problem.training
        names = training.window_phases if solution.windows else training.phases  # a march's windows run window_phases
        for index in sorted(set(phases.tolist()) - {int(phases[0])}):  # where each later phase begins
            begins = steps[np.argmax(phases == index)]
            label = PHASE_LABELS.get(names[index], names[index]) if index < len(names) else str(index)
            ax.axvline(begins, color="gray", linestyle="--", linewidth=1)
            ax.text(begins, ax.get_ylim()[1], f" {label}", va="top", fontsize=8, color="gray")
        ax.legend(fontsize=8)
    terms = len([k for k in history if k not in ("step", "phase", "window", "total")]) if history else 0
    ax.set_title(f"loss history (the total and {terms} terms, unnamed)" if terms > LEGEND_TERMS else "loss history")
    ax.set_xlabel("step")


def write_report(solution, reference, metrics: Mapping, directory: Union[str, Path], *, plot: bool = True,
                 extra: Optional[Mapping[str, str]] = None) -> Dict[str, Path]:
    """Write every report file into ``directory`` as a whole; returns their paths.

    The files are written into a hidden folder beside ``directory`` and moved
    into place at the end (:mod:`pinn.output_folder`): an interrupt leaves no
    half-written report, a rerun leaves no older file beside the new ones, and
    a folder holding files pinn did not write is refused (ProblemError) and
    left alone.  ``extra`` maps further file names (``run.json``) to their text.
    """
    from .output_folder import staged_folder

    with staged_folder(directory) as staging:
        names = {
            "solution": write_solution_csv(solution, reference, staging / SOLUTION_CSV).name,
            "metrics": write_metrics_json(metrics, staging / METRICS_JSON).name,
        }
        (staging / PROBLEM_YAML).write_text(solution.problem.as_run, encoding="utf-8")
        names["problem"] = PROBLEM_YAML
        names["model"] = solution.save(staging / MODEL_DIR).name
        if plot:
            names["plot"] = write_plot(solution, reference, staging / PLOT_PNG).name
        for name, text in (extra or {}).items():
            (staging / name).write_text(text, encoding="utf-8")
    target = Path(directory).resolve()
    return {key: target / name for key, name in names.items()}
