"""pinn: physics-informed neural networks for ordinary differential equations."""
from .errors import ProblemError, SolveError
from .problem import Problem
from .problem_file import load_problem, problem_from_dict, problem_from_text

__all__ = ["Problem", "ProblemError", "SolveError", "load_problem", "problem_from_dict", "problem_from_text"]
