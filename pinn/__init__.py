"""pinn: physics-informed neural networks for ordinary differential equations.

    problem = pinn.load_problem("problems/quadratic.yaml")
    solution = pinn.solve(problem)
    solution.evaluate([0.5], order=2)   # {"y": array([2.0...])}

TensorFlow is imported on first use of the solver, not by ``import pinn``.
"""
from .errors import ProblemError, SolveError
from .problem import Problem
from .problem_file import load_problem, problem_from_dict, problem_from_text
from .solution import Solution, load_solution
from .solver import solve


__all__ = ["Problem", "Solution", "ProblemError", "SolveError", "load_problem", "load_solution", "problem_from_dict", "problem_from_text", "solve"]
