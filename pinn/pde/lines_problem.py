"""An evolution problem u(x, t) read for the method of lines: which variable is time, each equation solved for
its highest time derivative, the initial and boundary conditions, and why a problem is refused (:class:`Refused`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np

from .. import expressions as ex
from .problem import PDECondition, PDEProblem


class Refused(Exception):
    """The problem is outside what the method of lines here handles; the message says why."""


def _orders(space_axis: int, space: int, time: int) -> Tuple[int, int]:
    """The multi-index (aligned with the problem's variables) of d^space/dx^space d^time/dt^time."""
    orders = [0, 0]
    orders[space_axis] = space
    orders[1 - space_axis] = time
    return tuple(orders)


@dataclass(frozen=True)
class _Boundary:
    """A boundary condition at one end (``end`` 0 = low, 1 = high), its unknowns, and whether it is periodic."""

    condition: PDECondition
    end: int
    unknowns: Tuple[str, ...]


@dataclass(frozen=True)
class Evolution:
    """An evolution problem read for the method of lines: per unknown its time order, equation and space order."""

    problem: PDEProblem
    space: str
    time: str
    space_axis: int
    low: float
    high: float
    start: float
    unknowns: Tuple[str, ...]
    time_order: Mapping[str, int]        # 1 or 2
    space_order: Mapping[str, int]       # highest x-derivative in the equations
    equation: Mapping[str, ex.Node]      # the residual solved for that unknown's highest time derivative
    space_keys: Tuple[Tuple[str, int], ...]  # (unknown, x order) the equations use, values included
    initial: Mapping[Tuple[str, int], PDECondition]  # (unknown, time order 0 or 1) -> its initial condition
    boundaries: Tuple[_Boundary, ...]
    periodic: bool
    constants: Mapping[str, float]

    def key(self, unknown: str, space: int, time: int = 0) -> Tuple[str, Tuple[int, int]]:
        return unknown, _orders(self.space_axis, space, time)

    def target(self, unknown: str) -> Tuple[str, Tuple[int, int]]:
        """The key an equation is solved for: the unknown's highest time derivative."""
        return self.key(unknown, 0, self.time_order[unknown])


def read_evolution(problem: PDEProblem) -> Evolution:
    """Check that the method of lines applies and gather what it needs; :class:`Refused` says why not."""
    if problem.kind != "evolution" or problem.time is None:
        raise Refused("the method of lines is for evolution problems (a time variable with initial conditions only)")
    time = problem.time
    space = next(v for v in problem.variables if v != time)
    space_axis = problem.variables.index(space)
    time_axis = 1 - space_axis
    low, high = problem.domain.interval(space)
    start = problem.domain.interval(time).low
    partials = _equation_partials(problem)
    equation, time_order = _assign_equations(problem, partials, space_axis)
    space_order = {u: max([o[space_axis] for v, o in problem.partials if v == u] + [0]) for u in problem.unknowns}
    space_keys = tuple(sorted({(u, 0) for u in problem.unknowns} |
                              {(u, o[space_axis]) for v, o in problem.partials for u in [v] if o[time_axis] == 0}))
    evolution = Evolution(problem, space, time, space_axis, float(low), float(high), float(start), tuple(problem.unknowns),
                          time_order, space_order, equation, space_keys, {}, (), False, problem.constants)
    for u in problem.unknowns:
        _check_affine(evolution, u)
    initial = _initial_conditions(problem, evolution)
    boundaries, periodic = _boundary_conditions(problem, evolution)
    return Evolution(problem, space, time, space_axis, float(low), float(high), float(start), tuple(problem.unknowns),
                     time_order, space_order, equation, space_keys, initial, boundaries, periodic, problem.constants)


def _equation_partials(problem: PDEProblem) -> List[List[Tuple[str, Tuple[int, int]]]]:
    """Per equation, the (unknown, orders) of every partial derivative in it."""
    return [[(n.unknown, tuple(n.orders)) for n in ex.walk(eq.residual) if isinstance(n, ex.Partial)] for eq in problem.equations]


def _assign_equations(problem: PDEProblem, partials, space_axis: int):
    """Each equation to the one unknown it differentiates in time; refuse mixed derivatives and orders above 2."""
    time_axis = 1 - space_axis
    time, space = problem.variables[time_axis], problem.variables[space_axis]
    equation, time_order = {}, {}
    for eq, used in zip(problem.equations, partials):
        in_time = {(u, o[time_axis]) for u, o in used if o[time_axis] > 0}
        mixed = [(u, o) for u, o in used if o[time_axis] > 0 and o[space_axis] > 0]
        if mixed:
            raise Refused(f"'{eq.source}' has the mixed derivative {problem.partial_name(*mixed[0])}; the method of lines "
                          f"here takes equations solved for d{time} of an unknown with {space}-derivatives only")
        unknowns = sorted({u for u, _ in in_time})
        if len(unknowns) != 1:
            what = "no time derivative" if not unknowns else f"time derivatives of {', '.join(unknowns)}"
            raise Refused(f"'{eq.source}' has {what}; the method of lines needs each equation to give the time "
                          "derivative of one unknown")
        u = unknowns[0]
        if u in equation:
            raise Refused(f"two equations give the time derivative of {u}; each unknown needs its own equation")
        order = max(k for _, k in in_time)
        if order > 2:
            raise Refused(f"'{eq.source}' is of order {order} in {time}; the method of lines here takes orders 1 and 2")
        equation[u], time_order[u] = eq.residual, order
    missing = [u for u in problem.unknowns if u not in equation]
    if missing:
        raise Refused(f"no equation gives the time derivative of {', '.join(missing)}")
    return equation, time_order


def _check_affine(evolution: Evolution, unknown: str) -> None:
    """The residual must be affine in the unknown's highest time derivative, with a coefficient that is not zero."""
    rng = np.random.default_rng(0)
    scope = dict(evolution.constants)
    scope[evolution.space] = evolution.low + (evolution.high - evolution.low) * rng.random(7)
    scope[evolution.time] = evolution.start + rng.random(7)
    for u in evolution.unknowns:
        scope[u] = 0.5 + rng.random(7)
        for m in range(0, evolution.space_order[u] + 1):
            scope[evolution.key(u, m)] = 0.5 + rng.random(7)
        for k in range(1, evolution.time_order.get(u, 1) + 1):
            scope[evolution.key(u, 0, k)] = 0.5 + rng.random(7)
    target = evolution.target(unknown)
    residuals = []
    with np.errstate(all="ignore"):
        for value in (0.0, 1.0, 2.0):
            scope[target] = value
            residuals.append(np.asarray(ex.evaluate(evolution.equation[unknown], scope), dtype=float) + 0.0 * scope[evolution.space])
    r0, r1, r2 = residuals
    name = evolution.problem.partial_name(*target)
    if not all(np.all(np.isfinite(r)) for r in residuals):
        raise Refused(f"the equation for {name} is not finite at test values; cannot tell whether it can be solved for {name}")
    scale = np.abs(r0) + np.abs(r1) + np.abs(r2) + 1.0
    if np.any(np.abs(r2 - 2.0 * r1 + r0) > 1e-8 * scale):
        raise Refused(f"the equation is not linear in {name}, so it cannot be solved for {name} pointwise")
    if np.any(np.abs(r1 - r0) <= 1e-12 * scale):
        raise Refused(f"the coefficient of {name} in its equation vanishes, so it cannot be solved for {name}")


def _initial_conditions(problem: PDEProblem, evolution: Evolution) -> Dict[Tuple[str, int], PDECondition]:
    """(unknown, time order) -> the initial condition giving it; u and, for order 2, u_t, each exactly once."""
    found: Dict[Tuple[str, int], PDECondition] = {}
    for condition in problem.conditions:
        if condition.kind == "point":
            raise Refused(f"'{condition.source}' holds at a point; the method of lines takes conditions on lines only")
        if condition.kind != "initial":
            continue
        values = condition.field_values
        if any(v.orders[evolution.space_axis] > 0 for v in values):
            raise Refused(f"'{condition.source}' has a {evolution.space}-derivative at the start; write the initial "
                          "values themselves")
        targets = {(v.unknown, v.orders[1 - evolution.space_axis]) for v in values}
        if len(targets) != 1:
            raise Refused(f"'{condition.source}' relates several initial values; give each one its own condition")
        target = targets.pop()
        if target in found:
            raise Refused(f"two initial conditions give {target[0]}" + ("" if target[1] == 0 else "'s time derivative"))
        found[target] = condition
    for u in evolution.unknowns:
        for k in range(evolution.time_order[u]):
            if (u, k) not in found:
                what = problem.partial_name(*evolution.key(u, 0, k)) if k else u
                raise Refused(f"no initial condition gives {what}({evolution.space}, {evolution.start:g})")
    extra = [c.source for (u, k), c in found.items() if k >= evolution.time_order[u]]
    if extra:
        raise Refused(f"'{extra[0]}' gives a time derivative the equation does not need at the start")
    return found


def _boundary_conditions(problem: PDEProblem, evolution: Evolution) -> Tuple[Tuple[_Boundary, ...], bool]:
    """The boundary conditions at each end, checked: all periodic, or none; at the ends only; no time derivatives."""
    boundaries = []
    periodic_count = 0
    for condition in problem.conditions:
        if condition.kind != "boundary":
            continue
        values = condition.field_values
        if any(v.orders[1 - evolution.space_axis] > 0 for v in values):
            raise Refused(f"'{condition.source}' has a time derivative on the boundary; the method of lines here takes "
                          "conditions on values and space derivatives")
        if condition.periodic:
            if not (near(condition.at[0], evolution.low) and near(condition.at[1], evolution.high)):
                raise Refused(f"'{condition.source}' relates two places that are not the ends of {evolution.space}")
            periodic_count += 1
            continue
        end = 0 if near(condition.at[0], evolution.low) else 1 if near(condition.at[0], evolution.high) else None
        if end is None:
            raise Refused(f"'{condition.source}' holds inside the interval; the method of lines takes conditions at "
                          f"{evolution.space} = {evolution.low:g} and {evolution.high:g}")
        unknowns = tuple(dict.fromkeys(v.unknown for v in values))
        boundaries.append(_Boundary(condition, end, unknowns))
    if periodic_count and boundaries:
        raise Refused(f"periodic conditions and '{boundaries[0].condition.source}' together; use either kind, not both")
    if not periodic_count:
        _check_boundary_counts(evolution, boundaries)
    return tuple(boundaries), periodic_count > 0


def near(a: float, b: float) -> bool:
    """a == b up to rounding: |a - b| <= 1e-12 max(1, |a|, |b|)."""
    return abs(a - b) <= 1e-12 * max(1.0, abs(a), abs(b))


def _check_boundary_counts(evolution: Evolution, boundaries: Sequence[_Boundary]) -> None:
    """An unknown differentiated in space needs boundary conditions (how many is checked per grid, by _removed_points)."""
    for u in evolution.unknowns:
        count = sum(1 for b in boundaries if u in b.unknowns)
        needed = evolution.space_order[u]
        if needed and not count:
            raise Refused(f"{u} has {evolution.space}-derivatives up to order {needed} but no boundary conditions")

