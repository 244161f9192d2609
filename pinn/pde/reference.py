"""The reference of a problem in two variables, on the output grid: its closed form (``exact:``), else the method of
lines for an evolution problem (:mod:`pinn.pde.reference_lines`), else finite differences for a steady one
(:mod:`pinn.pde.reference_steady`); ``reference: none`` skips the numerical ones."""

from __future__ import annotations

import time
from typing import Optional, Tuple

import numpy as np

from .. import expressions as ex
from .problem import PDEProblem
from .reference_grid import GridReference

#: The time and size a numerical reference may take.
REFERENCE_SECONDS = 300.0


def exact_values(problem: PDEProblem, grid: Tuple[np.ndarray, np.ndarray]) -> dict:
    """{unknown: closed form on the grid [n1, n2]} for the unknowns ``exact:`` gives."""
    a, b = np.meshgrid(*grid, indexing="ij")
    scope = dict(problem.constants)
    scope.update({problem.variables[0]: a, problem.variables[1]: b})
    out = {}
    with np.errstate(all="ignore"):
        for u, expression in problem.exact.items():
            out[u] = np.asarray(ex.evaluate(expression.node, scope) + 0.0 * a, dtype=float)
    return out


def field_reference(problem: PDEProblem, grid: Tuple[np.ndarray, np.ndarray]) -> Optional[GridReference]:
    """The closed form if every unknown has one; else the numerical reference (None under ``reference: none``)."""
    start = time.perf_counter()
    if problem.exact and all(u in problem.exact for u in problem.unknowns):
        values = exact_values(problem, grid)
        finite = all(np.all(np.isfinite(v)) for v in values.values())
        return GridReference("exact solution", values, 0.0, finite,
                             "the closed form given under exact:" if finite else "the closed form is not finite everywhere on the grid",
                             time.perf_counter() - start)
    if problem.reference == "none" or problem.trainable_parameters:
        return None
    try:
        if problem.kind == "evolution":
            from .reference_lines import method_of_lines as numerical
        else:
            from .reference_steady import finite_differences as numerical
    except ImportError:  # pragma: no cover - both ship with pinn
        return None
    reference = numerical(problem, grid, max_seconds=REFERENCE_SECONDS)
    if problem.exact:  # some unknowns have closed forms: those override the numerical values
        values = dict(reference.values)
        values.update(exact_values(problem, grid))
        reference = GridReference(reference.label + " (closed forms where given)", values, reference.accuracy,
                                  reference.success, reference.message, reference.seconds)
    return reference


def against(reference: GridReference, unknown: str, problem: PDEProblem) -> str:
    """``exact`` or ``reference``: what an unknown's error is measured against (metrics.json's word)."""
    return "exact" if unknown in problem.exact else "reference"
