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

The conditions and equations are checked here; the loss weights, points and
domain scale in :mod:`pinn.training_checks`, the memory in
:mod:`pinn.memory_estimate` (both re-exported from here).
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from . import expressions as ex
from .memory_estimate import (  # noqa: F401  (re-exported: pinn.wellposed.memory_estimate, MEMORY_CAP, ...)
    EVALUATION_BATCH, FIXED_BYTES, GIB, MACHINE_SHARE, MEMORY_CAP, MEMORY_ENV, MEMORY_PARTS, NESTED_TAPE_MAX_ORDER,
    MemoryEstimate, check_memory, memory_cap, memory_estimate,
)
from .problem import Data, Equation, Parameter, Problem
from .training_checks import (  # noqa: F401  (re-exported: pinn.wellposed.minimum_points, ...)
    MIN_POINTS, SCALE_LIMITS, _error, check_domain_scale, check_points, check_weights, minimum_points,
)

#: Seed of the random draws (fixed: the same file always gets the same verdict).
SEED = 20_240_917
#: Random draws per magnitude in the dependence tests.
DRAWS = 16
#: Magnitudes of the random values given to the unknowns: 1 catches most, 1e6
#: separates a tiny but real coefficient (1e-15*y) from rounding.
MAGNITUDES = (1.0, 1e6)


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


def _jacobian(residuals, keys, rng: np.random.Generator, draws: int) -> Tuple[np.ndarray, np.ndarray]:
    """(residuals [conditions, draws], d residual / d key [draws, conditions, keys]) at random values, by central differences."""
    base = {key: _draw(rng, 1.0, draws) for key in keys}
    values = np.array([_values(r, base) for r in residuals])  # [conditions, draws]
    jacobian = np.zeros((draws, len(residuals), len(keys)))
    for j, key in enumerate(keys):
        step = 1e-5 * np.maximum(1.0, np.abs(base[key]))
        up = [_values(r, {**base, key: base[key] + step}) for r in residuals]
        down = [_values(r, {**base, key: base[key] - step}) for r in residuals]
        jacobian[:, :, j] = ((np.array(up) - np.array(down)) / (2 * step)).T
    return values, jacobian


def _check_independent(conditions, residuals, trainable, rng, data, file) -> None:
    """The conditions' Jacobian (point values and trainable parameters) has full rank at random point values."""
    keys = []
    for residual in residuals:
        for key in _point_keys(residual):
            if key not in keys:
                keys.append(key)
    keys += [n for n in trainable if any(isinstance(i, ex.Name) and i.name == n for r in residuals for i in ex.walk(r))]
    count = len(conditions)
    if count < 2:
        return
    draws = 4
    values, jacobian = _jacobian(residuals, keys, rng, draws)
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


# ------------------------------------------------------------------ all of it


def check_problem(problem: Problem) -> None:
    """Every whole-problem check on a built problem (the equations' come earlier, from :func:`check_equations`)."""
    check_conditions(problem)
    check_weights(problem)
    check_points(problem)
    check_domain_scale(problem)
    check_memory(problem)
