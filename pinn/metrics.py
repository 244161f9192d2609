"""Errors of a solution against a closed form or a reference, and the metrics.json record.

numpy only: equation residuals at fresh points come from the solver (which
owns the network) and are passed in as ``{equation name: rms residual}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional

import numpy as np

#: An exact solution whose root-mean-square is at most this counts as zero:
#: its relative error is undefined, so the absolute RMS error is reported instead.
ZERO_NORM = 1e-12


def _pair(approx, exact):
    approx, exact = np.asarray(approx, dtype=float), np.asarray(exact, dtype=float)
    if approx.shape != exact.shape:
        raise ValueError(f"shapes differ: approximation {approx.shape}, exact {exact.shape}")
    return approx.reshape(-1), exact.reshape(-1)


def _relative_l2(approx, exact):
    """(error, relative): ||a - e||_2 / ||e||_2, or the RMS of a - e (relative False) when e is zero."""
    approx, exact = _pair(approx, exact)
    if approx.size == 0:
        return math.nan, True
    difference = np.linalg.norm(approx - exact)
    norm = np.linalg.norm(exact)
    if norm <= ZERO_NORM * math.sqrt(exact.size):
        return float(difference / math.sqrt(exact.size)), False
    return float(difference / norm), True


def relative_l2_error(approx, exact) -> float:
    """||approx - exact||_2 / ||exact||_2 over all entries.

    When ``exact`` is zero (RMS <= :data:`ZERO_NORM`) the relative error is
    undefined and the RMS of ``approx - exact`` is returned instead;
    :func:`error_summary` records which one it is.  NaN for empty or
    non-finite input.
    """
    return _relative_l2(approx, exact)[0]


def max_abs_error(approx, exact) -> float:
    """max |approx - exact| over all entries (NaN for empty or non-finite input)."""
    approx, exact = _pair(approx, exact)
    if approx.size == 0:
        return math.nan
    difference = np.abs(approx - exact)
    return float(np.max(difference)) if np.all(np.isfinite(difference)) else math.nan


@dataclass(frozen=True)
class ErrorSummary:
    """Errors of one unknown (or one of its derivatives) against ``exact`` or a ``reference``.

    ``relative`` is False when the compared values are zero, so that
    ``relative_l2`` holds the absolute RMS error instead.
    """

    relative_l2: float
    max_abs: float
    against: str  # "exact" | "reference"
    relative: bool = True
    limit_points: int = 0  # points where the closed form is undefined as written and its two-sided limit was used
    left_out: int = 0  # points where the reference is undefined (no limit): not in the errors

    @property
    def note(self) -> str:
        notes = [] if self.relative else ["the compared values are zero, so relative_l2 is the absolute RMS error"]
        if self.limit_points:
            notes.append(f"at {self.limit_points} point{_s(self.limit_points)} the closed form is undefined as written "
                         "and its two-sided limit is compared")
        if self.left_out:
            notes.append(f"{self.left_out} point{_s(self.left_out)} where the reference is undefined "
                         f"{'are' if self.left_out > 1 else 'is'} left out")
        return "; ".join(notes)

    def as_dict(self) -> Dict[str, Any]:
        result = {"relative_l2": _json_number(self.relative_l2), "max_abs": _json_number(self.max_abs), "against": self.against}
        if not self.relative:
            result["relative"] = False
        if self.limit_points:
            result["limit_points"] = self.limit_points
        if self.left_out:
            result["left_out"] = self.left_out
        if self.note:
            result["note"] = self.note
        return result


def error_summary(approx, exact, against: str, limits=None) -> ErrorSummary:
    """Relative L2 and max-abs errors of ``approx`` against ``exact``, over the entries where ``exact`` is finite.

    Entries where ``exact`` is not finite (a closed form undefined there, with
    no limit: :mod:`pinn.limits`) are left out and counted; a non-finite
    ``approx`` still makes the errors NaN.  ``limits`` (boolean, like
    ``exact``) marks the entries that are limits, to count them.
    """
    approx, exact = _pair(approx, exact)
    defined = np.isfinite(exact)
    value, relative = _relative_l2(approx[defined], exact[defined])
    limit_points = int(np.count_nonzero(np.asarray(limits).reshape(-1) & defined)) if limits is not None else 0
    return ErrorSummary(value, max_abs_error(approx[defined], exact[defined]), against, relative, limit_points,
                        int(np.count_nonzero(~defined)))


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def solution_errors(solution, reference) -> Dict[str, Dict[int, ErrorSummary]]:
    """{unknown: {order: ErrorSummary}} for every unknown and derivative order both provide.

    ``solution`` has ``x`` [points] and ``values`` {u: [orders + 1, points]};
    the reference is evaluated on ``solution.x``.  Empty if the reference has
    no values.
    """
    if reference is None or not reference.values:
        return {}
    x = np.asarray(solution.x, dtype=float).reshape(-1)
    expected = reference.evaluate(x)
    limits = reference.limit_points(x) if hasattr(reference, "limit_points") else {}
    errors: Dict[str, Dict[int, ErrorSummary]] = {}
    for unknown, values in solution.values.items():
        if unknown not in expected:
            continue
        values, truth = np.atleast_2d(np.asarray(values, dtype=float)), np.atleast_2d(expected[unknown])
        marked = np.atleast_2d(limits[unknown]) if unknown in limits else None
        orders = range(min(values.shape[0], truth.shape[0]))
        errors[unknown] = {k: error_summary(values[k], truth[k], reference.against(unknown),
                                            marked[k] if marked is not None else None) for k in orders}
    return errors


@dataclass(frozen=True)
class ParameterError:
    """A learned parameter against its true value; ``relative_error`` is None when the true value is 0."""

    name: str
    value: float
    true_value: float
    absolute_error: float
    relative_error: Optional[float]

    def as_dict(self) -> Dict[str, Any]:
        return {"value": _json_number(self.value), "true_value": _json_number(self.true_value),
                "absolute_error": _json_number(self.absolute_error), "relative_error": _json_number(self.relative_error)}


def parameter_errors(problem, learned: Mapping[str, float]) -> Dict[str, ParameterError]:
    """{name: ParameterError} for each trainable parameter with a known true value that was learned."""
    errors = {}
    for parameter in problem.trainable_parameters:
        if parameter.true_value is None or parameter.name not in learned:
            continue
        value, true = float(learned[parameter.name]), float(parameter.true_value)
        absolute = abs(value - true)
        errors[parameter.name] = ParameterError(parameter.name, value, true, absolute, absolute / abs(true) if true != 0 else None)
    return errors


def metrics_dict(problem, solution, reference=None, residuals: Optional[Mapping[str, float]] = None) -> Dict[str, Any]:
    """The metrics.json record: errors of each unknown and its derivatives, parameters, training, reference.

    ``residuals`` maps equation names to RMS residuals at fresh points (computed
    by the solver).  Non-finite numbers become None, so the result is strict JSON.
    """
    errors = {}
    for unknown, by_order in solution_errors(solution, reference).items():
        entry = by_order[0].as_dict() if 0 in by_order else {}
        entry["derivatives"] = {str(order): summary.as_dict() for order, summary in by_order.items() if order > 0}
        errors[unknown] = entry
    training = getattr(solution, "training", None)
    status = getattr(solution, "status", getattr(training, "status", None))
    result: Dict[str, Any] = {
        "problem": problem.name,
        "errors": errors,
        "parameters": {name: _json_number(value) for name, value in (getattr(solution, "parameters", None) or {}).items()},
        "train_seconds": _json_number(getattr(training, "train_seconds", None)),
        "steps": _json_number(getattr(training, "steps", None)),
        "final_loss": _json_number(getattr(training, "best_loss", None)),
        "status": getattr(status, "value", status),
    }
    message = getattr(solution, "message", getattr(training, "message", None))
    if message:
        result["message"] = message
    provenance = getattr(solution, "provenance", None)
    if provenance:  # seed, versions, device, date (pinn.provenance)
        result["provenance"] = {key: _json_number(v) if isinstance(v, (int, float)) else v for key, v in provenance.items()}
    verification = getattr(solution, "verification", None)
    if verification is not None:
        result["verification"] = verification.as_dict()
    windows = getattr(solution, "windows", ())
    if windows:
        result["windows"] = [{key: _json_number(v) if isinstance(v, (int, float)) else v for key, v in w.as_dict().items()}
                             for w in windows]
    attempts = getattr(solution, "attempts", ())
    if attempts:
        result["earlier_attempts"] = [{key: _json_number(v) if isinstance(v, (int, float)) else v for key, v in a.items()}
                                      for a in attempts]
    learned = parameter_errors(problem, getattr(solution, "parameters", None) or {})
    if learned:
        result["parameter_errors"] = {name: error.as_dict() for name, error in learned.items()}
    if residuals is not None:
        result["residuals"] = {name: _json_number(value) for name, value in residuals.items()}
    if reference is None:
        result["reference"] = {"source": "none", "success": True, "message": "no reference was computed"}
    else:
        result["reference"] = {"source": reference.source, "success": bool(reference.success), "message": reference.message}
        singular = reference.singular_points(solution.x, problem.variable) if hasattr(reference, "singular_points") else None
        if singular:
            result["reference"]["singular_points"] = singular.as_dict()
    return result


def _json_number(value):
    """A plain int or float for JSON; None for missing or non-finite values."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    value = float(value)
    return value if math.isfinite(value) else None
