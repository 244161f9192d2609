"""The validated problem in two variables: what every later stage of a PDE solve consumes.

Built by :mod:`pinn.pde.load` from a problem file with ``variables: [x, t]`` (or ``[x, y]``).
Derivatives are multi-indices aligned with ``variables``: ``u_xxt`` in (x, t) is ("u", (2, 1)).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Tuple

import numpy as np

from .. import expressions as ex
from ..domain import Rectangle
from ..problem import Equation, Expression, NetworkSpec, Parameter, TrainingSpec, VerifySpec

#: reference: auto (method of lines for an evolution problem, finite differences for a steady one) or none.
PDE_REFERENCE_MODES = ("auto", "none")
#: output.points default in two variables: a grid per variable.
DEFAULT_OUTPUT_POINTS = (101, 101)


@dataclass(frozen=True)
class PDECondition:
    """A condition on a line (one variable held at a number, the other free) or at a point (both held).

    ``equation`` has the parameters folded in, so every FieldValue's arguments are numbers or the free
    variable's own name; ``fixed`` is the held variable (None at a point); ``at`` the numbers it is held at
    (two for a periodic condition ``u(-1, t) = u(1, t)``; at a point, the point); ``kind`` is ``initial``
    (the time variable at its start), ``boundary`` (a space variable at a number) or ``point``.
    """

    equation: ex.Equation
    source: str
    location: str
    fixed: Optional[str]
    at: Tuple[float, ...]
    kind: str

    @property
    def residual(self) -> ex.Node:
        return self.equation.residual

    @property
    def field_values(self) -> Tuple[ex.FieldValue, ...]:
        return tuple(n for n in ex.walk(self.equation) if isinstance(n, ex.FieldValue))

    @property
    def periodic(self) -> bool:
        return self.fixed is not None and len(self.at) == 2


@dataclass(frozen=True, eq=False)
class PDEData:
    """Observations at points of the rectangle: coordinates [N, 2] and each observed unknown [N] (NaN where missing)."""

    points: np.ndarray
    values: Mapping[str, np.ndarray]
    source: str

    def __len__(self) -> int:
        return int(self.points.shape[0])


@dataclass(frozen=True)
class PDEProblem:
    """A problem in two variables, checked and complete.

    ``orders[u]`` is the highest order of each variable in which ``u`` is
    differentiated by the equations, e.g. (2, 1) for Burgers' u in (x, t);
    ``partials`` lists every (unknown, multi-index) the equations use, the
    values themselves included as (u, (0, 0)); ``kind`` is ``evolution`` (a
    variable named t whose conditions sit at its start only: ``time`` names
    it) or ``steady``.
    """

    name: str
    description: str
    variables: Tuple[str, str]
    domain: Rectangle
    unknowns: Tuple[str, ...]
    parameters: Tuple[Parameter, ...]
    equations: Tuple[Equation, ...]
    conditions: Tuple[PDECondition, ...]
    exact: Mapping[str, Expression]
    data: Optional[PDEData]
    network: NetworkSpec
    training: TrainingSpec
    reference: str
    output_points: Tuple[int, int]
    orders: Mapping[str, Tuple[int, int]]
    partials: Tuple[Tuple[str, Tuple[int, int]], ...]
    kind: str
    time: Optional[str] = None
    file: Optional[str] = None
    as_run: str = ""
    verify: VerifySpec = field(default_factory=VerifySpec)

    dimension = 2

    @property
    def constants(self) -> Dict[str, float]:
        """Values of the named constants and non-trainable parameters."""
        values = dict(ex.CONSTANTS)
        values.update({p.name: p.value for p in self.parameters if not p.trainable})
        return values

    @property
    def trainable_parameters(self) -> Tuple[Parameter, ...]:
        return tuple(p for p in self.parameters if p.trainable)

    @property
    def max_order(self) -> int:
        """Highest total derivative order of the equations and conditions."""
        orders = [sum(o) for _, o in self.partials]
        orders += [sum(n.orders) for c in self.conditions for n in c.field_values]
        return max(orders, default=0)

    @property
    def space(self) -> Tuple[str, ...]:
        """The variables other than time (both, for a steady problem)."""
        return tuple(v for v in self.variables if v != self.time)

    def reported_partials(self) -> Tuple[Tuple[str, Tuple[int, int]], ...]:
        """The derivative columns of solution.csv: per unknown, the partials the equations use, values excluded."""
        return tuple((u, o) for u, o in self.partials if any(o))

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    def partial_name(self, unknown: str, orders: Tuple[int, int]) -> str:
        """The column name of a partial: ``u_xx`` (subscript form), or ``diff(u, x, 2)`` for longer variable names."""
        return ex.partial_text(unknown, tuple(orders), self.variables)
