"""Which conditions can be built into the network's output, and how.

For an unknown u with network output N(x), a length scale L and an output
scale s, the trial solution is

    u(x) = P(x) + s * D(x) * N(x)

where P satisfies the built-in conditions and D vanishes where they hold:

* Taylor form, for u(p) = v0, u'(p) = v1, ..., u^(j-1)(p) = v_{j-1} at one point:
  P(x) = sum_k v_k (x - p)^k / k!,  D(x) = ((x - p) / L)^j.
* Lagrange form, for values u(p_i) = v_i at distinct points:
  P(x) = sum_i v_i l_i(x) (Lagrange basis),  D(x) = prod_i (x - p_i) / L.

All other conditions become penalty terms in the loss.  Pure Python: the
TensorFlow side lives in :mod:`pinn.network`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping, Sequence, Tuple

from .expressions import Node
from .problem import Condition


@dataclass(frozen=True)
class BuiltIn:
    """Conditions built into one unknown's output: ``form`` is ``"taylor"`` or ``"lagrange"``.

    ``points`` and ``orders`` list each condition's point and derivative order;
    ``values`` the expressions they equal (free of unknowns, may hold parameters).
    """

    unknown: str
    form: str
    points: Tuple[float, ...]
    orders: Tuple[int, ...]
    values: Tuple[Node, ...]
    locations: Tuple[str, ...]


def split_conditions(
    conditions: Sequence[Condition], unknowns: Sequence[str], orders: Mapping[str, int]
) -> Tuple[Dict[str, BuiltIn], List[Condition]]:
    """Choose, per unknown, the largest set of conditions with a built-in form.

    Returns the built-in forms by unknown and the conditions left to penalise.
    """
    built: Dict[str, BuiltIn] = {}
    used = set()
    for unknown in unknowns:
        fixed = [(i, c.fixed) for i, c in enumerate(conditions) if c.fixed is not None and c.fixed.unknown == unknown]
        if not fixed or orders.get(unknown, 0) == 0:
            continue
        taylor = _best_taylor(fixed)
        lagrange = _lagrange(fixed)
        chosen, form = (taylor, "taylor") if len(taylor) >= len(lagrange) else (lagrange, "lagrange")
        if not chosen:
            continue
        used.update(i for i, _ in chosen)
        built[unknown] = BuiltIn(
            unknown=unknown,
            form=form,
            points=tuple(f.point for _, f in chosen),
            orders=tuple(f.order for _, f in chosen),
            values=tuple(f.value for _, f in chosen),
            locations=tuple(conditions[i].location for i, _ in chosen),
        )
    left_over = [c for i, c in enumerate(conditions) if i not in used]
    return built, left_over


def _best_taylor(fixed):
    """The longest run u(p), u'(p), ..., u^(j-1)(p) at a single point p."""
    best: list = []
    for point in sorted({f.point for _, f in fixed}):
        at_point = {}
        for index, f in fixed:
            if f.point == point and f.order not in at_point:
                at_point[f.order] = (index, f)
        run = []
        while len(run) in at_point:
            run.append(at_point[len(run)])
        if len(run) > len(best):
            best = run
    return best


def _lagrange(fixed):
    """Value conditions u(p_i) at distinct points (first one wins at a repeated point)."""
    chosen, seen = [], set()
    for index, f in fixed:
        if f.order == 0 and f.point not in seen:
            seen.add(f.point)
            chosen.append((index, f))
    return chosen


def output_scales(
    unknowns: Sequence[str],
    built: Mapping[str, BuiltIn],
    length: float,
    constants: Mapping[str, float],
    data_values: Mapping[str, "object"] | None = None,
) -> Dict[str, float]:
    """A magnitude for each unknown, so the network's raw output stays O(1).

    s_u = max(1, |v_k| L^k / k! over the built-in values v_k, max |data of u|):
    the size of the built-in polynomial over the domain, or of the observations.
    """
    import math

    import numpy as np

    from .expressions import constant_value, substitute

    scales = {}
    for unknown in unknowns:
        scale = 1.0
        form = built.get(unknown)
        if form is not None:
            for order, value in zip(form.orders, form.values):
                try:
                    magnitude = abs(constant_value(substitute(value, constants)))
                except (ValueError, KeyError):
                    continue  # depends on a trainable parameter: no a-priori size
                scale = max(scale, magnitude * length**order / math.factorial(order))
        if data_values and unknown in data_values:
            observed = np.asarray(data_values[unknown], dtype=float)
            observed = observed[np.isfinite(observed)]
            if observed.size:
                scale = max(scale, float(np.max(np.abs(observed))))
        scales[unknown] = scale
    return scales
