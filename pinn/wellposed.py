"""Refuse, at load, problems that cannot have a unique answer or cannot be trained.

The problem loader (:mod:`pinn.problem_file`) checks each field on its own;
this module checks what only the whole problem shows, and raises
:class:`~pinn.errors.ProblemError` naming the file, the field, the reason and
the fix.  numpy only (no TensorFlow): it runs on every load.

* **Equations** (:func:`check_equations`): every equation must involve an
  unknown (``0 = 0`` and ``x = 1`` do not), and its residual must change when
  the unknowns do (``y - y = 0`` and ``0*y'' = 1`` do not): the residual is
  evaluated at random points of the domain with the unknowns and their
  derivatives replaced by two sets of random numbers (of size 1 and of size
  1e6, both signs; deterministic generator).  Every unknown must appear in
  some equation, unless data observe it.
* **Conditions** (:func:`check_problem`): a condition whose residual does not
  change with the point values (``y(1) = y(1)``, ``0*y(1) = 0``) is refused as
  holding always, or never if it is a nonzero constant.  Two conditions that
  fix the same ``y^(k)(p)`` (the form :mod:`pinn.constraints` builds into the
  output) to the same value are a repeat, to different values a
  contradiction.  More generally the conditions, as functions of the point
  values (and of the trainable parameters), must be independent: their
  Jacobian, by central differences at random point values, must have full
  rank.  A dependent condition is named with the ones it depends on, and
  called a repeat or a contradiction when the dependence is linear.
  Periodic (``y(0) = y(1)``), Robin and multi-point conditions are
  independent and pass; so do conditions with a trainable parameter, which
  they help to determine.
* **Loss weights**: a kind of term the problem needs (its equations, the
  conditions that are penalised rather than built in, data that nothing else
  can replace) may not have weight 0, and the weights of the terms present
  may not all be 0.  (Negative and non-finite weights are refused where the
  weights are read.)
* **Collocation points**: with equations (or a smoothness penalty), at least
  ``max(4, number of conditions + 2)`` points; see :func:`minimum_points`.
* **Domain scale**: ``length^order`` within ``[1/limit, limit]``, limit
  1e150 in float64 and 1e15 in float32; see :data:`SCALE_LIMITS`.
* **Memory**: an estimate of the peak memory of training and of the output
  evaluation (:func:`memory_estimate`) must stay under a cap
  (:func:`memory_cap`: 16 GiB, or 90% of the machine's memory if less, or
  ``PINN_MEMORY_LIMIT_GIB``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from . import expressions as ex
from .errors import ProblemError
from .problem import Condition, Data, Equation, Parameter, Problem

#: Seed of the random draws (fixed: the same file always gets the same verdict).
SEED = 20_240_917
#: Random draws per magnitude in the dependence tests.
DRAWS = 16
#: Magnitudes of the random values given to the unknowns: 1 catches most, 1e6
#: separates a tiny but real coefficient (1e-15*y) from rounding.
MAGNITUDES = (1.0, 1e6)


def _error(file: Optional[str], message: str, location: str, fix: str, source: Optional[str] = None) -> ProblemError:
    return ProblemError(message, file=file, location=location, fix=fix, source=source)


# ------------------------------------------------------------------ random evaluation


def _draw(rng: np.random.Generator, magnitude: float, size: int) -> np.ndarray:
    """Random numbers of the given magnitude, of both signs, away from 0."""
    return magnitude * rng.uniform(0.5, 1.5, size) * rng.choice([-1.0, 1.0], size)


def _values(node, scope: Mapping) -> np.ndarray:
    """``node`` evaluated with numpy over the draws (NaN where it fails or is not a real number)."""
    size = len(next(iter(scope.values()))) if scope else 1
    with np.errstate(all="ignore"):
        try:
            value = ex.evaluate(node, scope)
        except (KeyError, ValueError, TypeError, ZeroDivisionError, OverflowError, IndexError):
            return np.full(size, np.nan)
    value = np.asarray(value)
    if np.iscomplexobj(value):
        value = np.where(value.imag == 0, value.real, np.nan)
    return np.broadcast_to(value.astype(float, copy=False), (size,)).copy()


def _differs(a: np.ndarray, b: np.ndarray) -> Tuple[bool, bool]:
    """(some draw differs beyond rounding, some draw was usable)."""
    usable = np.isfinite(a) & np.isfinite(b)
    rounding = 64 * np.finfo(float).eps * np.maximum(np.abs(a), np.abs(b))
    return bool(np.any(usable & (np.abs(a - b) > rounding))), bool(np.any(usable))


def _varies(node, fixed: Mapping, varied: Sequence, rng: np.random.Generator) -> Optional[bool]:
    """Does ``node`` change when the ``varied`` keys take other values (``fixed`` kept)?

    ``fixed`` maps keys to arrays of DRAWS values; None if no draw could be evaluated.
    """
    usable = False
    for magnitude in MAGNITUDES:
        first = {key: _draw(rng, magnitude, DRAWS) for key in varied}
        second = {key: _draw(rng, magnitude, DRAWS) for key in varied}
        differs, some = _differs(_values(node, {**fixed, **first}), _values(node, {**fixed, **second}))
        if differs:
            return True
        usable = usable or some
    return False if usable else None


# ------------------------------------------------------------------ equations


def _equation_keys(node, unknowns: Sequence[str]) -> List:
    """The scope keys through which ``node`` sees the unknowns: names and (unknown, order)."""
    keys = []
    for inner in ex.walk(node):
        if isinstance(inner, ex.Name) and inner.name in unknowns:
            key = inner.name
        elif isinstance(inner, ex.Derivative) and inner.unknown in unknowns:
            key = (inner.unknown, inner.order)
        else:
            continue
        if key not in keys:
            keys.append(key)
    return keys


def _owner(key) -> str:
    return key if isinstance(key, str) else key[0]


def check_equations(
    equations: Sequence[Equation],
    unknowns: Sequence[str],
    variable: str,
    domain: Tuple[float, float],
    parameters: Sequence[Parameter],
    data: Optional[Data],
    file: Optional[str] = None,
) -> None:
    """Each equation involves the unknowns, and depends on them; each unknown is in some equation (or observed)."""
    if not equations:
        return
    constants = dict(ex.CONSTANTS)
    constants.update({p.name: p.value for p in parameters if not p.trainable})
    trainable = [p.name for p in parameters if p.trainable]
    rng = np.random.default_rng(SEED)
    low, high = domain
    residuals = [ex.substitute(e.residual, constants) for e in equations]
    involved = set()
    for equation, residual in zip(equations, residuals):
        keys = _equation_keys(residual, unknowns)
        if not keys:
            raise _error(file, "the equation does not involve any unknown", equation.location,
                         f"An equation relates the unknowns ({', '.join(unknowns)}) and their derivatives, e.g. "
                         f"{unknowns[0]}'' = 2; remove this one (a value at a point goes under conditions:).",
                         source=equation.source)
        fixed = {variable: rng.uniform(low, high, DRAWS), **{name: _draw(rng, 1.0, DRAWS) for name in trainable}}
        if _varies(residual, fixed, keys, rng) is False:
            names = ", ".join(ex.to_text(ex.Derivative(k[0], k[1])) if isinstance(k, tuple) else k for k in keys)
            raise _error(file, f"the equation does not depend on the unknowns: its residual (left - right) is the same "
                               f"whatever values {names} take, so it cannot determine them", equation.location,
                         "Look for terms that cancel or vanish, such as y - y or 0*y''.", source=equation.source)
        for unknown in {_owner(k) for k in keys}:
            if unknown in involved:
                continue
            own = [k for k in keys if _owner(k) == unknown]
            others = {k: _draw(rng, 1.0, DRAWS) for k in keys if _owner(k) != unknown}
            if _varies(residual, {**fixed, **others}, own, rng) is not False:
                involved.add(unknown)
    if len(equations) != len(unknowns):
        return  # the loader's count check says what is wrong
    observed = set(data.values) if data is not None else set()
    for unknown in unknowns:
        if unknown not in involved and unknown not in observed:
            raise _error(file, f"no equation involves the unknown '{unknown}', and no data observe it, so nothing determines it",
                         "equations", f"Add an equation for {unknown}, or remove it from unknowns:.")


# ------------------------------------------------------------------ conditions


def _point_keys(node) -> List[Tuple[str, int, float]]:
    keys = []
    for inner in ex.walk(node):
        if isinstance(inner, ex.PointValue):
            key = (inner.unknown, inner.order, float(inner.point.value))
            if key not in keys:
                keys.append(key)
    return keys


def _point_text(key) -> str:
    unknown, order, point = key
    return ex.to_text(ex.PointValue(unknown, order, ex.Number(point)))


def _number_text(value: float) -> str:
    return f"{value:.10g}"


def _check_identities(conditions, residuals, trainable, rng, file) -> None:
    """A condition must change with the point values (or trainable parameters) it mentions."""
    for condition, residual in zip(conditions, residuals):
        keys = _point_keys(residual) + [n for n in trainable if any(isinstance(i, ex.Name) and i.name == n for i in ex.walk(residual))]
        if _varies(residual, {}, keys, rng) is not False:
            continue
        values = _values(residual, {key: _draw(rng, 1.0, DRAWS) for key in keys})
        values = values[np.isfinite(values)]
        constant = float(values[0]) if values.size else 0.0
        if constant == 0.0:
            raise _error(file, "this condition holds whatever the unknowns are (its residual, left - right, is always 0), "
                               "so it fixes nothing", condition.location,
                         "Write a condition that fixes something, e.g. y(0) = 1; a periodic condition compares two different "
                         "points, e.g. y(0) = y(1).", source=condition.source)
        raise _error(file, f"this condition can never hold: its residual (left - right) is {_number_text(constant)} whatever "
                           "the unknowns are", condition.location,
                     "Check it for a factor 0 or terms that cancel (e.g. 0*y(1) = 1).", source=condition.source)


def _missing_text(data: Optional[Data]) -> str:
    if data is None:
        return "so the problem is one condition short of a unique solution"
    return "so it adds nothing"


def _check_fixed_pairs(conditions, constants, trainable, rng, data, file) -> None:
    """Two conditions fixing the same y^(k)(p): the same value repeats, another value contradicts."""
    seen: Dict[Tuple[str, int, float], int] = {}
    for index, condition in enumerate(conditions):
        fixed = condition.fixed
        if fixed is None:
            continue
        key = (fixed.unknown, fixed.order, float(fixed.point))
        if key not in seen:
            seen[key] = index
            continue
        first = conditions[seen[key]]
        a = ex.substitute(first.fixed.value, constants)
        b = ex.substitute(fixed.value, constants)
        scope = {name: _draw(rng, 1.0, DRAWS) for name in trainable}
        difference = _values(ex.Binary("-", a, b), scope)
        finite = difference[np.isfinite(difference)]
        if finite.size == 0 or np.ptp(finite) > 1e-12 * max(1.0, float(np.max(np.abs(finite)))):
            continue  # the values differ by trainable parameters: together they determine them
        target = _point_text(key)
        scale = max(abs(_scalar(a, scope)), abs(_scalar(b, scope)), 1e-300)
        if abs(float(finite[0])) <= 1e-12 * scale:
            raise _error(file, f"this condition repeats {first.location} ('{first.source}'): both fix {target} to the same value; "
                               f"a condition given twice adds nothing, {_missing_text(data)}", condition.location,
                         "Remove one of them" + (", and add the condition that is missing (e.g. a value or a slope at another point)."
                                                 if data is None else "."), source=condition.source)
        if isinstance(a, ex.Number) and isinstance(b, ex.Number):
            values = f"{first.location} sets it to {_number_text(a.value)}, this one to {_number_text(b.value)}"
        else:
            values = f"the two values always differ by {_number_text(-float(finite[0]))}"
        raise _error(file, f"this condition contradicts {first.location} ('{first.source}'): both fix {target}, but {values}; "
                           "no solution satisfies both", condition.location,
                     "Keep the one you mean and remove the other (or fix the point or the derivative order of one).",
                     source=condition.source)


def _scalar(node, scope) -> float:
    value = _values(node, scope)
    finite = value[np.isfinite(value)]
    return float(finite[0]) if finite.size else 0.0


def _and(items: Sequence[str]) -> str:
    """``"a, b and c"``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


def _check_independent(conditions, residuals, trainable, rng, data, file) -> None:
    """The conditions' Jacobian (point values and trainable parameters) has full rank at random point values."""
    keys = []
    for residual in residuals:
        for key in _point_keys(residual):
            if key not in keys:
                keys.append(key)
    keys += [n for n in trainable if any(isinstance(i, ex.Name) and i.name == n for r in residuals for i in ex.walk(r))]
    count, width = len(conditions), len(keys)
    if count < 2:
        return
    draws = 4
    base = {key: _draw(rng, 1.0, draws) for key in keys}
    values = np.array([_values(r, base) for r in residuals])  # [conditions, draws]
    jacobian = np.zeros((draws, count, width))
    for j, key in enumerate(keys):
        step = 1e-5 * np.maximum(1.0, np.abs(base[key]))
        up = [_values(r, {**base, key: base[key] + step}) for r in residuals]
        down = [_values(r, {**base, key: base[key] - step}) for r in residuals]
        jacobian[:, :, j] = ((np.array(up) - np.array(down)) / (2 * step)).T
    usable = [d for d in range(draws) if np.all(np.isfinite(jacobian[d])) and np.all(np.isfinite(values[:, d]))]
    if not usable:
        return

    def rank(d: int, rows: int) -> int:
        block = jacobian[d, :rows]
        norms = np.linalg.norm(block, axis=1)
        if np.any(norms == 0):
            block = block[norms > 0]
            norms = norms[norms > 0]
        if block.size == 0:
            return 0
        singular = np.linalg.svd(block / norms[:, None], compute_uv=False)
        return int(np.sum(singular > 1e-8 * singular[0]))

    for k in range(1, count):
        if max(rank(d, k + 1) for d in usable) == k + 1:
            continue
        # condition k adds nothing to conditions 0..k-1 (which are independent): k = sum of lambda_i * i
        multipliers = []
        for d in usable:
            solution, *_ = np.linalg.lstsq(jacobian[d, :k].T, jacobian[d, k], rcond=None)
            multipliers.append(solution)
        multipliers = np.array(multipliers)
        lam = multipliers[0]
        biggest = float(np.max(np.abs(lam))) if lam.size else 0.0
        involved = [i for i in range(k) if abs(lam[i]) > 1e-8 * biggest]
        linear = bool(np.all(np.abs(multipliers - lam) <= 1e-6 * (1.0 + np.abs(lam))))
        gap = values[k, usable] - lam @ values[:k][:, usable]
        scale = np.abs(values[k, usable]) + np.abs(lam) @ np.abs(values[:k][:, usable])
        linear = linear and float(np.ptp(gap)) <= 1e-7 * float(np.max(scale) + 1e-300)
        names = _and([conditions[i].location for i in involved]) or "the others"
        condition = conditions[k]
        if not linear:
            raise _error(file, f"this condition is not independent of {names}: as functions of the values at the points they "
                               "constrain fewer values than there are conditions, so the solution is not unique",
                         condition.location, "Replace one of them by a condition on another point or another derivative.",
                         source=condition.source)
        repeat = len(involved) == 1
        what = f"{names} ('{conditions[involved[0]].source}')" if repeat else names
        if abs(float(np.mean(gap))) <= 1e-9 * float(np.max(scale) + 1e-300):
            said = "says the same as" if repeat else "follows from"
            raise _error(file, f"this condition {said} {what}: it adds nothing, {_missing_text(data)}", condition.location,
                         "Remove it" + (" and give the condition that is missing (e.g. a value or a slope at another point)."
                                        if data is None else "."), source=condition.source)
        raise _error(file, f"this condition contradicts {what}: no values at the points satisfy them all", condition.location,
                     "Keep the conditions you mean and remove the others.", source=condition.source)


def check_conditions(problem: Problem) -> None:
    """No identity, no repeat, no contradiction, no dependent condition (see the module's docstring)."""
    conditions = problem.conditions
    if not conditions:
        return
    constants = problem.constants
    trainable = [p.name for p in problem.trainable_parameters]
    rng = np.random.default_rng(SEED + 1)
    residuals = [ex.substitute(c.residual, constants) for c in conditions]
    _check_identities(conditions, residuals, trainable, rng, problem.file)
    _check_fixed_pairs(conditions, constants, trainable, rng, problem.data, problem.file)
    _check_independent(conditions, residuals, trainable, rng, problem.data, problem.file)


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


# ------------------------------------------------------------------ memory


GIB = 2**30
#: The cap on the estimated peak memory when the machine has more than it.
MEMORY_CAP = 16 * GIB
#: Share of the machine's physical memory a run may be estimated to take.
MACHINE_SHARE = 0.9
#: The environment variable that sets the cap (in GiB) instead.
MEMORY_ENV = "PINN_MEMORY_LIMIT_GIB"
#: Python, TensorFlow and compiled graphs before any problem-sized array (measured: 0.74 GB after
#: importing TensorFlow, 0.15-0.35 GB more for the compiled steps of a small problem).
FIXED_BYTES = 1 * GIB
#: Highest order computed by nested tapes; Taylor mode above (pinn.taylor.NESTED_TAPE_MAX_ORDER).
NESTED_TAPE_MAX_ORDER = 3
#: Rows of one output-evaluation batch (pinn.solution.evaluate_model).
EVALUATION_BATCH = 65_536


def _activation_factor(order: int, unknowns: int) -> float:
    """Bytes kept per (row x hidden unit x byte of the dtype) by one training step without XLA.

    Nested tapes (orders up to 3) differentiate the whole graph of the order
    below, once per output column, so the graph grows by about (1 + 1.65 U)
    per order: 1.75 (1 + 1.65 U)^m; measured 4.6, 11.9 and 32.7 for orders 1,
    2 and 3 with one unknown.  Taylor mode (order 4 and up) carries m + 1
    coefficients per hidden unit: 5 + 3 m (measured 8.4 and 11.7 at orders 4
    and 6 under XLA, which keeps about half of what the unfused graph keeps).
    """
    if order <= NESTED_TAPE_MAX_ORDER:
        return 1.75 * (1.0 + 1.65 * unknowns) ** order
    return 5.0 + 3.0 * order


#: The parts of the estimate, and the field whose change shrinks each.
MEMORY_PARTS = {
    "weights and optimiser state": "network.hidden",
    "L-BFGS history": "network.hidden",
    "activations at the training points": "training.points",
    "output evaluation": "output.points",
}


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated peak bytes of a run, and its parts (by :data:`MEMORY_PARTS` name) at the peak phase."""

    total: float
    weights: int  # number of trainable numbers
    parts: Mapping[str, float]

    def field(self) -> str:
        """The field whose parts weigh most: the one to change."""
        by_field: Dict[str, float] = {}
        for name, value in self.parts.items():
            by_field[MEMORY_PARTS[name]] = by_field.get(MEMORY_PARTS[name], 0.0) + value
        return max(by_field, key=by_field.get)


def memory_estimate(problem: Problem) -> MemoryEstimate:
    """The peak memory of training and evaluating ``problem``, roughly (within a factor of about 2).

    With n trainable numbers of b bytes, R = training points (plus condition
    points), H = the sum of the hidden widths, m the derivative order and U
    the unknowns:

    * Adam: 9 n b (weights, best weights, moments, gradients, updates;
      measured 9-10) + R H b f(m, U) / 2 (XLA) or R H b f(m, U) (no XLA);
    * L-BFGS: n (10 b + 160 + 16 min(history, steps)) (TensorFlow's copies,
      scipy's float64 vectors, and the history pairs, written as they fill;
      measured 30 n 8 bytes with a short history) + R H b f(m, U);
    * the output: P H b f(m', U) / 1.6 over the P output points (the
      equations' residuals at fresh points are taken in one batch; measured
      7.6 and 19.5 for orders 2 and 3);

    f is :func:`_activation_factor`; observations add 2 M H b (value only).
    The peak is the largest phase plus :data:`FIXED_BYTES`.
    """
    spec = problem.training
    b = 8 if spec.dtype == "float64" else 4
    hidden = list(problem.network.hidden)
    unknowns = len(problem.unknowns)
    widths = [1, *hidden, unknowns]
    n = sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(widths[:-1], widths[1:])) + len(problem.trainable_parameters)
    width_sum = sum(hidden)
    order = _derivative_order(problem)
    factor = _activation_factor(order, unknowns)
    condition_points = len({p for c in _penalised(problem) for p in c.points})
    rows = spec.points + condition_points  # the loss takes the network at the collocation points even in a fit
    activations = rows * width_sum * b * factor
    data = 2.0 * len(problem.data) * width_sum * b if problem.data is not None else 0.0
    phases: List[Dict[str, float]] = []
    if spec.adam.steps > 0:
        xla = spec.jit_compile and not spec.eager
        phases.append({"weights and optimiser state": 9.0 * n * b,
                       "activations at the training points": activations * (0.5 if xla else 1.0) + data})
    if spec.lbfgs.steps > 0:
        phases.append({"weights and optimiser state": n * (10.0 * b + 160.0), "activations at the training points": activations + data,
                       "L-BFGS history": 16.0 * n * min(spec.lbfgs.history, spec.lbfgs.steps)})
    output_order = max(order, max(problem.reported_orders.values(), default=0))
    output_rows = problem.output.points if problem.equations else min(problem.output.points, EVALUATION_BATCH)
    phases.append({"weights and optimiser state": 2.0 * n * b,
                   "output evaluation": output_rows * width_sum * b * _activation_factor(output_order, unknowns) / 1.6})
    peak = max(phases, key=lambda parts: sum(parts.values()))
    return MemoryEstimate(total=FIXED_BYTES + sum(peak.values()), weights=n, parts=peak)


def machine_memory() -> Optional[int]:
    """Physical memory of this machine in bytes, if the system says."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return int(pages) * int(size) if pages > 0 and size > 0 else None


def memory_cap() -> Tuple[float, str]:
    """(bytes, how it was chosen): PINN_MEMORY_LIMIT_GIB if set, else 16 GiB or 90% of the machine's memory if less.

    The machine's total memory, not the memory free at this moment: the same
    file on the same machine always gets the same answer.
    """
    text = os.environ.get(MEMORY_ENV, "").strip()
    if text:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if math.isfinite(value) and value > 0:
            return value * GIB, f"set by {MEMORY_ENV}"
    machine = machine_memory()
    if machine is not None and MACHINE_SHARE * machine < MEMORY_CAP:
        return MACHINE_SHARE * machine, f"{MACHINE_SHARE:.0%} of this machine's {machine / GIB:.1f} GiB"
    return float(MEMORY_CAP), "pinn's fixed cap"


_FIXES = {
    "network.hidden": "Use fewer or narrower hidden layers (the default [64, 64] has 4,353 weights)",
    "training.points": "Use fewer collocation points (training.points) or narrower layers",
    "output.points": "Use fewer output points (output.points, default 501) or narrower layers",
}


def _size(value: float) -> str:
    return f"{value / GIB:,.1f} GiB" if value >= 0.1 * GIB else f"{value / 2**20:.0f} MiB"


def check_memory(problem: Problem) -> None:
    estimate = memory_estimate(problem)
    cap, why = memory_cap()
    if estimate.total <= cap:
        return
    where = estimate.field()
    hidden = problem.network.hidden
    shape = f"{len(hidden)} x {hidden[0]:,}" if len(set(hidden)) == 1 else "[" + ", ".join(f"{w:,}" for w in hidden) + "]"
    parts = ", ".join(f"{name} {_size(value)}" for name, value in sorted(estimate.parts.items(), key=lambda kv: -kv[1])
                      if value >= 0.01 * estimate.total)
    fix = _FIXES[where]
    if estimate.parts.get("L-BFGS history", 0.0) >= 0.25 * estimate.total:
        fix += "; a shorter L-BFGS history (training.lbfgs.history, default 50) also helps"
    raise _error(problem.file,
                 f"this run would need about {_size(estimate.total)} of memory, more than the cap of {_size(cap)} ({why}): "
                 f"the {shape} network has {estimate.weights:,} weights, trained at {problem.training.points:,} points in "
                 f"{problem.training.dtype}; the largest parts: {parts}",
                 where, f"{fix}. (On a machine with the memory, {MEMORY_ENV} sets the cap in GiB.)")


# ------------------------------------------------------------------ all of it


def check_problem(problem: Problem) -> None:
    """Every whole-problem check on a built problem (the equations' come earlier, from :func:`check_equations`)."""
    check_conditions(problem)
    check_weights(problem)
    check_points(problem)
    check_domain_scale(problem)
    check_memory(problem)
