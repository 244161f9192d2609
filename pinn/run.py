"""One run of a problem: solve, reference, metrics, report.  The pipeline everyone shares.

    run = pinn.run_problem(problem, "runs/quadratic")   # what `pinn solve` does, minus the printing
    run.solution.status, run.metrics["errors"], run.files["plot"]

The command line, every batch executor (this process, worker processes, Ray)
and a notebook user call :func:`run_problem` (or :func:`report_solution` on a
solution already trained, as a vectorised sweep has); nothing else repeats
these steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

from .problem import Problem


@dataclass(frozen=True, eq=False)
class Run:
    """A problem solved, compared with its reference, measured, and written if a folder was given."""

    problem: Problem  # as solved (a seed given to run_problem applied)
    solution: Any  # pinn.Solution
    reference: Any  # pinn.Reference, or None
    metrics: Mapping[str, Any]
    files: Mapping[str, Path]  # {name: path} of the report files; {} when nothing was written


def run_problem(problem: Problem, out: Optional[Union[str, Path]] = None, *, seed: Optional[int] = None,
                progress: Union[None, bool, Callable] = None, plot: bool = True,
                extra: Optional[Mapping[str, str]] = None) -> Run:
    """Solve ``problem``, compute its reference and metrics, and write the report into ``out`` (if given).

    ``seed`` overrides ``training.seed``; ``progress`` is as for
    :func:`pinn.solve` (by default a display in a terminal or notebook;
    ``False`` none; or a callable given each :class:`pinn.training.Progress`); ``plot=False`` skips plot.png;
    ``extra`` adds files to the report ({name: text}).  Never raises for a
    failed solve: the status is in ``run.solution.status``.  Raises
    :class:`~pinn.errors.ProblemError` if ``out`` holds files pinn did not write.
    """
    from .solver import solve

    solution = solve(problem, seed=seed, progress=progress)
    return report_solution(solution, out, plot=plot, extra=extra)


def report_solution(solution, out: Optional[Union[str, Path]] = None, *, plot: bool = True,
                    extra: Optional[Mapping[str, str]] = None) -> Run:
    """The rest of the pipeline for a trained ``solution``: reference, metrics, and the report in ``out``."""
    from .metrics import metrics_dict
    from .reference import reference_solution
    from .report import write_report

    problem = solution.problem
    if getattr(problem, "dimension", 1) == 2:  # two variables: pinn.pde.report
        from .pde.report import field_metrics, write_field_report

        metrics = field_metrics(solution)
        files = write_field_report(solution, metrics, out, plot=plot, extra=extra) if out is not None else {}
        return Run(problem, solution, solution.reference, metrics, files)
    reference = solution.reference if solution.verification is not None else reference_solution(problem, solution.x)
    metrics = metrics_dict(problem, solution, reference, solution.equation_residuals)
    files = write_report(solution, reference, metrics, out, plot=plot, extra=extra) if out is not None else {}
    return Run(problem, solution, reference, metrics, files)
