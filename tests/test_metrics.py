"""Metrics: known arrays give known numbers; zero references; the metrics.json record.

A small stand-in for Solution (grid, values, parameters, training) keeps these
tests free of TensorFlow and training.
"""

import enum
import json
import math
from dataclasses import dataclass, field
from typing import Dict, Mapping

import numpy as np
import pytest

import pinn
from pinn.metrics import (
    ErrorSummary, error_summary, max_abs_error, metrics_dict, parameter_errors, relative_l2_error, solution_errors,
)
from pinn.reference import Reference, reference_solution

QUADRATIC = """
name: quadratic
domain: [0, 1]
equations: ["y'' = 2"]
conditions: ["y(0) = 0", "y(1) = 1"]
exact: {y: x^2}
"""

INVERSE = """
name: decay_inverse
variable: t
domain: [0, 1]
parameters: {k: {initial: 1, trainable: true}, c: 3}
equations: ["y' = -k*y"]
conditions: ["y(0) = 1"]
data: {t: [0.5, 1], y: [0.37, 0.14]}
exact: {k: 2, y: exp(-2*t)}
"""


class FakeStatus(enum.Enum):
    CONVERGED = "converged"


@dataclass
class FakeTraining:
    train_seconds: float = 1.5
    steps: int = 4000
    best_loss: float = 1e-7
    status: FakeStatus = FakeStatus.CONVERGED
    message: str = "L-BFGS converged."


@dataclass
class FakeSolution:
    problem: object
    x: np.ndarray
    values: Mapping[str, np.ndarray]
    parameters: Dict[str, float] = field(default_factory=dict)
    training: FakeTraining = field(default_factory=FakeTraining)


# ------------------------------------------------------------------ the two errors


def test_known_arrays_give_known_numbers():
    approx, exact = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 2.0])
    assert relative_l2_error(approx, exact) == pytest.approx(1 / 3, rel=1e-15)  # |(0, 0, 1)| / |(1, 2, 2)|
    assert max_abs_error(approx, exact) == 1.0
    assert relative_l2_error(exact, exact) == 0.0
    assert max_abs_error(np.array([[1.0, -4.0]]), np.array([[0.5, 0.0]])) == 4.0  # any shape, flattened


def test_zero_exact_falls_back_to_absolute_and_says_so():
    approx, exact = np.array([3.0, 4.0]), np.zeros(2)
    assert relative_l2_error(approx, exact) == pytest.approx(5 / math.sqrt(2))  # RMS of (3, 4)
    summary = error_summary(approx, exact, "exact")
    assert not summary.relative and "absolute" in summary.note
    assert summary.as_dict() == {"relative_l2": pytest.approx(5 / math.sqrt(2)), "max_abs": 4.0, "against": "exact",
                                 "relative": False, "note": summary.note}
    assert error_summary(approx, approx + 1, "reference").as_dict().keys() == {"relative_l2", "max_abs", "against"}


def test_bad_input():
    with pytest.raises(ValueError, match="shapes differ"):
        relative_l2_error(np.zeros(3), np.zeros(4))
    assert math.isnan(max_abs_error(np.array([np.nan, 1.0]), np.ones(2)))
    assert math.isnan(relative_l2_error(np.array([np.nan, 1.0]), np.ones(2)))
    assert math.isnan(max_abs_error(np.zeros(0), np.zeros(0)))


# ------------------------------------------------------------------ solutions


def quadratic_solution(problem, x, offset=0.01):
    """x^2 + offset*x and its derivatives: errors offset*x, offset, 0 by order."""
    values = np.stack([x**2 + offset * x, 2 * x + offset, 2 + 0 * x])
    return FakeSolution(problem, x, {"y": values})


def test_solution_errors_every_derivative_order():
    problem = pinn.problem_from_text(QUADRATIC)
    x = np.linspace(0, 1, 11)
    solution = quadratic_solution(problem, x)
    errors = solution_errors(solution, reference_solution(problem, x))
    assert set(errors) == {"y"} and set(errors["y"]) == {0, 1, 2}
    assert errors["y"][0] == ErrorSummary(pytest.approx(np.linalg.norm(0.01 * x) / np.linalg.norm(x**2)), pytest.approx(0.01), "exact")
    assert errors["y"][1].max_abs == pytest.approx(0.01)
    assert errors["y"][1].relative_l2 == pytest.approx(0.01 * math.sqrt(11) / np.linalg.norm(2 * x))
    assert errors["y"][2].relative_l2 == 0.0 and errors["y"][2].max_abs == 0.0


def test_solution_errors_evaluate_the_reference_on_the_solution_grid():
    problem = pinn.problem_from_text(QUADRATIC)
    reference = reference_solution(problem, np.linspace(0, 1, 7), exact=False)  # a solve_bvp reference on another grid
    x = np.linspace(0, 1, 101)
    errors = solution_errors(quadratic_solution(problem, x, offset=0.0), reference)
    assert all(s.against == "reference" for s in errors["y"].values())
    assert max(s.max_abs for s in errors["y"].values()) < 1e-9  # solve_bvp's tolerance, exact on a quadratic


def test_solution_errors_without_reference():
    problem = pinn.problem_from_text(QUADRATIC)
    solution = quadratic_solution(problem, np.linspace(0, 1, 5))
    assert solution_errors(solution, None) == {}
    assert solution_errors(solution, Reference("none", np.zeros(0), {}, True, "reference: none")) == {}


def test_parameter_errors_against_true_values():
    problem = pinn.problem_from_text(INVERSE)
    errors = parameter_errors(problem, {"k": 2.1, "c": 3.0})
    assert set(errors) == {"k"}  # c is fixed; only learned parameters with a true value
    assert errors["k"].absolute_error == pytest.approx(0.1) and errors["k"].relative_error == pytest.approx(0.05)
    assert parameter_errors(problem, {}) == {}


# ------------------------------------------------------------------ metrics.json


def test_metrics_dict_shape_and_values():
    problem = pinn.problem_from_text(QUADRATIC)
    x = np.linspace(0, 1, 11)
    record = metrics_dict(problem, quadratic_solution(problem, x), reference_solution(problem, x), residuals={"equation[0]": 1e-4})
    json.dumps(record, allow_nan=False)  # strict JSON
    assert record["problem"] == "quadratic"
    y = record["errors"]["y"]
    assert y["against"] == "exact" and y["max_abs"] == pytest.approx(0.01)
    assert set(y["derivatives"]) == {"1", "2"} and y["derivatives"]["2"]["relative_l2"] == 0.0
    assert (record["train_seconds"], record["steps"], record["final_loss"], record["status"]) == (1.5, 4000, 1e-7, "converged")
    assert record["reference"] == {"source": "exact", "success": True, "message": "closed form from exact: for y"}
    assert record["residuals"] == {"equation[0]": 1e-4}
    assert record["parameters"] == {}


def test_metrics_dict_inverse_problem_and_non_finite_loss():
    problem = pinn.problem_from_text(INVERSE)
    x = np.linspace(0, 1, 21)
    solution = FakeSolution(problem, x, {"y": np.stack([np.exp(-2 * x), -2 * np.exp(-2 * x)])}, {"k": 2.2, "c": 3.0},
                            FakeTraining(best_loss=float("nan")))
    record = metrics_dict(problem, solution, reference_solution(problem, x))
    json.dumps(record, allow_nan=False)
    assert record["final_loss"] is None  # NaN is not JSON
    assert record["parameters"] == {"k": 2.2, "c": 3.0}
    assert record["parameter_errors"]["k"]["absolute_error"] == pytest.approx(0.2)
    assert record["errors"]["y"]["relative_l2"] == pytest.approx(0.0, abs=1e-15)


def test_metrics_dict_without_reference():
    problem = pinn.problem_from_text(QUADRATIC)
    record = metrics_dict(problem, quadratic_solution(problem, np.linspace(0, 1, 5)), None)
    assert record["errors"] == {} and record["reference"]["source"] == "none"
    assert "residuals" not in record
