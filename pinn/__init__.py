"""pinn: physics-informed neural networks for ordinary differential equations.

    problem = pinn.load_problem("problems/quadratic.yaml")
    solution = pinn.solve(problem)
    solution.evaluate([0.5], order=2)   # {"y": array([2.0...])}
    run = pinn.run_problem(problem, "runs/quadratic")   # solve, reference, metrics, report files

    plan = pinn.plan_batch(["problems/decay.yaml"], [pinn.parse_sweep("parameters.k=0.5,1,2")])
    records = pinn.run_batch(plan, "runs/decay-k", jobs=2)   # reports, summary.csv, summary.md
    solutions = pinn.solve_vectorized([run.problem for run in plan.runs])  # one stacked model

TensorFlow is imported on first use of the solver, not by ``import pinn``, and
quietly (no start-up log lines on stderr); ``import pinn`` only makes
TF_CPP_MIN_LOG_LEVEL default to 2, as TensorFlow reads it at its first import.
"""
from .tensorflow_setup import default_log_level as _default_log_level

_default_log_level()
from .errors import ProblemError
from .problem import Problem
from .problem_file import load_problem, problem_from_dict, problem_from_text
from .metrics import metrics_dict, relative_l2_error, max_abs_error
from .reference import Reference, reference_solution
from .report import write_report
from .solution import Solution
from .saved import load_solution
from .solver import solve
from .run import Run, report_solution, run_problem
from .batch import BatchPlan, Sweep, parse_sweep, plan_batch, run_batch
from .vectorized import solve_vectorized


def derivatives(model, x, order=2):
    """[y, y', ..., y^(order)] of a trained one-input network at x; see :mod:`pinn.network_derivatives`."""
    from .tensorflow_setup import ensure_tensorflow

    ensure_tensorflow()
    from .network_derivatives import derivatives as _derivatives

    return _derivatives(model, x, order)


__all__ = ["derivatives", "Problem", "Reference", "Solution", "max_abs_error", "metrics_dict", "reference_solution", "relative_l2_error", "write_report", "ProblemError", "load_problem", "load_solution", "problem_from_dict", "problem_from_text", "solve", "Run", "run_problem", "report_solution", "Sweep", "parse_sweep", "BatchPlan", "plan_batch", "run_batch", "solve_vectorized"]
