"""The report of a solve in two variables: metrics.json (the same keys as one variable), solution.csv in long form,
plot.png (maps of the solution, the reference and the error; slices against the reference; the loss history)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

import numpy as np

from ..metrics import _json_number, max_abs_error, relative_l2_error

#: How many slices the plot draws (at evenly spaced times, or values of the second variable).
SLICES = 4


def field_metrics(solution) -> Dict[str, Any]:
    """The metrics.json record: errors per unknown against the exact solution or the reference, parameters,
    training, status, verification, reference, residuals."""
    problem, reference = solution.problem, solution.reference
    errors = {}
    usable = reference is not None and reference.success
    for u in problem.unknowns:
        if not usable or u not in reference.values:
            continue
        truth = reference.values[u]
        errors[u] = {"relative_l2": _json_number(relative_l2_error(solution.values[u], truth)),
                     "max_abs": _json_number(max_abs_error(solution.values[u], truth)),
                     "against": "exact" if u in problem.exact else "reference"}
    training = solution.training
    result: Dict[str, Any] = {
        "problem": problem.name, "variables": list(problem.variables), "kind": problem.kind, "errors": errors,
        "parameters": {name: _json_number(value) for name, value in solution.parameters.items()},
        "train_seconds": _json_number(training.train_seconds), "steps": _json_number(training.steps),
        "final_loss": _json_number(training.best_loss), "status": solution.status.value, "message": solution.message,
        "phases": [{"name": p.name, "steps": p.steps, "seconds": _json_number(p.seconds), "stop": p.stop} for p in training.phases],
    }
    provenance = getattr(solution, "provenance", None)
    if provenance:
        result["provenance"] = dict(provenance)
    if solution.verification is not None:
        result["verification"] = solution.verification.as_dict()
    result["residuals"] = {name: _json_number(v) for name, v in solution.equation_residuals.items()}
    learned = [p for p in problem.trainable_parameters if p.true_value is not None]
    if learned:
        result["parameter_errors"] = {p.name: {"learned": _json_number(solution.parameters[p.name]), "true": p.true_value,
                                               "relative": _json_number(abs(solution.parameters[p.name] - p.true_value) /
                                                                        abs(p.true_value) if p.true_value else None)}
                                      for p in learned}
    if reference is None:
        result["reference"] = {"source": "none", "success": True, "message": "no reference was computed"}
    else:
        result["reference"] = {"source": reference.label, "success": bool(reference.success), "message": reference.message,
                               "accuracy": _json_number(reference.accuracy), "seconds": _json_number(reference.seconds)}
    return result


def write_field_csv(solution, path: Union[str, Path]) -> Path:
    """Long form: one row per grid point, the variables, each unknown, its partials (``u_x``, ``u_xx``), then
    ``u_exact`` or ``u_reference`` and ``u_error``."""
    problem, reference = solution.problem, solution.reference
    first, second = np.meshgrid(*solution.grid, indexing="ij")
    header, columns = list(problem.variables), [first.ravel(), second.ravel()]
    for u in problem.unknowns:
        header.append(u)
        columns.append(solution.values[u].ravel())
        for (v, orders), values in solution.partials.items():
            if v == u:
                header.append(problem.partial_name(u, orders))
                columns.append(values.ravel())
    if reference is not None and reference.success:
        for u in problem.unknowns:
            if u in reference.values:
                header.append(f"{u}_{'exact' if u in problem.exact else 'reference'}")
                columns.append(np.asarray(reference.values[u]).ravel())
                header.append(f"{u}_error")
                columns.append((solution.values[u] - reference.values[u]).ravel())
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in np.column_stack(columns):
            writer.writerow([repr(float(v)) for v in row])
    return Path(path)


def field_figure(solution):
    """Per unknown a row: solution map (with the observations, if any), reference map, error map, slices against the
    reference; the loss and the learned parameters below.  A matplotlib Figure without pyplot: a notebook's backend
    and figures are left alone."""
    from matplotlib.figure import Figure

    problem, reference = solution.problem, solution.reference
    has_reference = reference is not None and reference.success
    rows = len(problem.unknowns) + 1
    figure = Figure(figsize=(17, 3.6 * rows))
    axes = figure.subplots(rows, 4, squeeze=False)
    first, second = solution.grid
    extent = [second[0], second[-1], first[0], first[-1]]
    v1, v2 = problem.variables
    for row, u in enumerate(problem.unknowns):
        values = solution.values[u]
        _map(figure, axes[row, 0], values, extent, f"{u}: pinn", v1, v2)
        if problem.data is not None and u in problem.data.values:
            seen = np.isfinite(problem.data.values[u])
            axes[row, 0].plot(problem.data.points[seen, 1], problem.data.points[seen, 0], "o", markersize=3,
                              markerfacecolor="none", markeredgecolor="white", label=f"{int(seen.sum())} observations")
            axes[row, 0].legend(fontsize=7, loc="upper right")
        if has_reference and u in reference.values:
            truth = np.asarray(reference.values[u])
            word = "exact" if u in problem.exact else "reference"
            _map(figure, axes[row, 1], truth, extent, f"{u}: {word}", v1, v2)
            _map(figure, axes[row, 2], values - truth, extent, f"{u}: pinn - {word}", v1, v2, diverging=True)
        else:
            for ax in axes[row, 1:3]:
                ax.text(0.5, 0.5, "no reference" if reference is None else f"reference failed:\n{reference.message[:80]}",
                        ha="center", va="center", transform=ax.transAxes)
                ax.set_axis_off()
        ax = axes[row, 3]
        for k, index in enumerate(np.linspace(0, len(second) - 1, SLICES).round().astype(int)):
            colour = f"C{k}"
            ax.plot(first, values[:, index], color=colour, label=f"{v2} = {second[index]:.3g}")
            if has_reference and u in reference.values:
                ax.plot(first, np.asarray(reference.values[u])[:, index], color="black", linestyle=":", linewidth=1.2)
        ax.set_xlabel(v1)
        dotted = ("exact" if u in problem.exact else "reference") if has_reference and u in reference.values else "none"
        ax.set_title(f"{u} at a few {v2} (dotted: {dotted})")
        ax.legend(fontsize=7)
    _history(axes[-1, 0], solution)
    for ax in axes[-1, 1:]:
        ax.set_axis_off()
    learned = list(problem.trainable_parameters)
    if learned:
        lines = [f"{p.name} = {solution.parameters[p.name]:.6g}" + (
            f"   (true {p.true_value:.6g}, relative error {abs(solution.parameters[p.name] - p.true_value) / abs(p.true_value):.2e})"
            if p.true_value not in (None, 0) else "") for p in learned]
        axes[-1, 1].text(0.0, 0.9, "learned\n" + "\n".join(lines), va="top", family="monospace", fontsize=10,
                         transform=axes[-1, 1].transAxes)
    verdict = solution.verification.verdict if solution.verification is not None else "not checked"
    figure.suptitle(f"{problem.name}: {solution.status.value} ({verdict})")
    figure.tight_layout()
    return figure


def _map(figure, ax, values, extent, title, v1, v2, diverging=False):
    limit = float(np.nanmax(np.abs(values))) if diverging and np.isfinite(values).any() else None
    image = ax.imshow(values, origin="lower", aspect="auto", extent=extent, cmap="RdBu_r" if diverging else "viridis",
                      vmin=-limit if limit else None, vmax=limit if limit else None)
    ax.set_xlabel(v2)
    ax.set_ylabel(v1)
    ax.set_title(title)
    figure.colorbar(image, ax=ax)


def _history(ax, solution):
    history = solution.training.history
    if history and len(history.get("step", [])):
        ax.semilogy(history["step"], history["total"], label="total")
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    ax.set_title("loss")


def write_field_plot(solution, path: Union[str, Path]) -> Path:
    field_figure(solution).savefig(path, dpi=90)
    return Path(path)


def write_field_report(solution, metrics: Mapping, directory, *, plot: bool = True,
                       extra: Optional[Mapping[str, str]] = None) -> Dict[str, Path]:
    """Every report file, written into a staged folder and moved into place at the end (pinn.output_folder)."""
    from ..output_folder import staged_folder
    from ..report import METRICS_JSON, MODEL_DIR, PLOT_PNG, PROBLEM_YAML, SOLUTION_CSV, write_metrics_json

    with staged_folder(directory) as staging:
        names = {"solution": write_field_csv(solution, staging / SOLUTION_CSV).name,
                 "metrics": write_metrics_json(metrics, staging / METRICS_JSON).name}
        (staging / PROBLEM_YAML).write_text(solution.problem.as_run, encoding="utf-8")
        names["problem"] = PROBLEM_YAML
        names["model"] = solution.save(staging / MODEL_DIR).name
        if plot:
            names["plot"] = write_field_plot(solution, staging / PLOT_PNG).name
        for name, text in (extra or {}).items():
            (staging / name).write_text(text, encoding="utf-8")
    target = Path(directory).resolve()
    return {key: target / name for key, name in names.items()}
