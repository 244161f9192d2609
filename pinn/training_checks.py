"""Refuse, at load, a training specification that cannot train the problem: loss weights, points, domain scale.

Part of the whole-problem checks of :mod:`pinn.wellposed` (which runs them
from :func:`~pinn.wellposed.check_problem`); see its docstring for the rules.
Each check raises :class:`~pinn.errors.ProblemError` naming the file, the
field, the reason and the fix.  No TensorFlow.
"""

from __future__ import annotations

import math
from typing import List, Optional

from .errors import ProblemError
from .problem import Condition, Problem


def _error(file: Optional[str], message: str, location: str, fix: str, source: Optional[str] = None) -> ProblemError:
    return ProblemError(message, file=file, location=location, fix=fix, source=source)


# ------------------------------------------------------------------ loss weights


def _penalised(problem: Problem) -> List[Condition]:
    """The conditions that become loss terms (as the solver splits them)."""
    if problem.training.constraints == "soft":
        return list(problem.conditions)
    from .constraints import split_conditions

    return split_conditions(problem.conditions, problem.unknowns, problem.orders)[1]


def check_weights(problem: Problem) -> None:
    """Weights of 0 must not switch off a needed term, nor every term."""
    weights = problem.training.weights
    smoothness = problem.training.smoothness
    penalised = _penalised(problem)
    terms = []
    if problem.equations:
        terms.append(("equations", weights.equations))
    if penalised:
        terms.append(("conditions", weights.conditions))
    if problem.data is not None:
        terms.append(("data", weights.data))
    if smoothness.weight > 0:
        terms.append(("smoothness", smoothness.weight))
    if terms and all(weight == 0 for _, weight in terms):
        present = ", ".join(name for name, _ in terms)
        raise _error(problem.file, f"every loss term has weight 0 ({present}), so there is nothing to train", "training.weights",
                     "Give the terms positive weights (the default is 1 for each).")
    if problem.equations and weights.equations == 0:
        raise _error(problem.file, "the equations have weight 0, so training ignores them and nothing makes the solution "
                                   "satisfy them", "training.weights.equations",
                     "Use a positive weight (the default is 1); for a plain fit to data, remove equations: instead.")
    if penalised and weights.conditions == 0:
        listed = ", ".join(c.location for c in penalised)
        raise _error(problem.file, f"the conditions have weight 0, so training ignores {listed} (penalised in the loss, not "
                                   "built into the network's output), and the equations are left without them",
                     "training.weights.conditions", "Use a positive weight (the default is 1).")
    if problem.data is not None and weights.data == 0 and _data_needed(problem):
        why = ("they are all a fit has" if not problem.equations else
               "the conditions alone do not determine the solution" + (" and the trainable parameters"
                                                                      if problem.trainable_parameters else ""))
        raise _error(problem.file, f"the data have weight 0, so training ignores them, but {why}", "training.weights.data",
                     "Use a positive weight (the default is 1).")


def _data_needed(problem: Problem) -> bool:
    if not problem.equations:
        return True
    needed = sum(problem.orders[u] for u in problem.unknowns) + len(problem.trainable_parameters)
    return len(problem.conditions) < needed


# ------------------------------------------------------------------ collocation points


#: Fewest collocation points whatever the problem.
MIN_POINTS = 4


def minimum_points(conditions: int) -> int:
    """max(MIN_POINTS, conditions + 2).

    The equations are imposed only at the collocation points: between them a
    smooth network may take any shape that passes through the residuals'
    zeros there.  The c conditions fix c numbers of the solution; for the
    equations, not the conditions, to decide its shape, the points must fix
    more than that: at least two more, and never fewer than four (a grid of
    four puts two points inside the domain besides its ends).  This is a
    floor against degenerate files, not a recommendation (the default is 128).
    """
    return max(MIN_POINTS, conditions + 2)


def check_points(problem: Problem) -> None:
    spec = problem.training
    if not problem.equations and spec.smoothness.weight <= 0:
        return  # a plain fit uses its observations, not collocation points
    minimum = minimum_points(len(problem.conditions))
    if spec.points >= minimum:
        return
    what = "the equations are imposed" if problem.equations else "the smoothness penalty is measured"
    conditions = len(problem.conditions)
    raise _error(problem.file, f"{spec.points} collocation point{'s' if spec.points != 1 else ''} cannot determine the solution: "
                               f"{what} only at these points, and a network can match them there and take any shape between; "
                               f"with {conditions} condition{'s' if conditions != 1 else ''} at least {minimum} points are needed "
                               f"(the number of conditions plus 2, and at least {MIN_POINTS})",
                 "training.points", f"Use training.points: {max(minimum, 64)} or more (the default is 128).")


# ------------------------------------------------------------------ domain scale


#: Bound on length^order (and on its inverse) per dtype.  The network sees the
#: variable scaled to [-1, 1], so a derivative of order m carries the factor
#: (2/L)^m, and the equation's residual (for a solution varying by O(1) over
#: the domain) is of size L^-m.  The loss squares it: a squared residual stays
#: a normal number only while |r| lies within sqrt of the normal range, about
#: [1.5e-154, 1.3e154] in float64 and [1.1e-19, 1.8e19] in float32.  Keeping
#: four digits of margin (for the network's own derivatives, the output
#: scale and the weights) gives L^m within [1e-150, 1e150] in float64 and
#: [1e-15, 1e15] in float32; past them the loss of the derivative terms is
#: zero (or infinite) and training learns nothing from them.
SCALE_LIMITS = {"float64": 150, "float32": 15}  # as powers of ten


def _derivative_order(problem: Problem) -> int:
    """Highest derivative order the loss needs: equations, conditions, the smoothness penalty."""
    order = problem.max_order
    if problem.training.smoothness.weight > 0:
        order = max(order, problem.training.smoothness.order)
    return order


def check_domain_scale(problem: Problem) -> None:
    low, high = problem.domain
    length = high - low
    if not (math.isfinite(length) and length > 0):
        raise _error(problem.file, f"the domain [{low:g}, {high:g}] has no positive, finite length", "domain",
                     "Write domain: [start, end] with start < end, e.g. [0, 1].")
    order = _derivative_order(problem)
    if order == 0:
        return
    dtype = problem.training.dtype
    limit = SCALE_LIMITS[dtype]
    power = order * math.log10(length)
    if -limit <= power <= limit:
        return
    direction = "underflow to 0" if power > 0 else "overflow"
    raise _error(
        problem.file,
        f"the domain is too {'wide' if power > 0 else 'narrow'} for {dtype}: its length {length:g} to the power {order} (the highest "
        f"derivative order the loss uses) is 1e{power:+.0f}; the network works on the variable scaled to [-1, 1], so the "
        f"squared residuals of the derivative terms {direction} (length^order must lie between 1e-{limit} and 1e{limit} in {dtype})",
        "domain",
        f"Rescale the variable (nondimensionalise): with t = T*s and T = {length:g}, s runs over [0, 1] and each derivative "
        f"of order k is divided by T^k (y' becomes y'/T, y'' becomes y''/T^2); write the equations in s with domain: [0, 1]."
        + (" Or use training.dtype: float64." if dtype == "float32" and abs(power) <= SCALE_LIMITS["float64"] else ""),
    )
