"""Subdomains for long boundary-value problems: one system on [0, 1], trained together, stitched back.

``training.subdomains: N | [x0, x1, ..., xN]`` splits the domain [a, b] at
a = x_0 < x_1 < ... < x_N = b.  Piece i maps s in [0, 1] onto its subdomain,
x = x_i + h_i s (h_i = x_i+1 - x_i), and its unknowns u_i(s) = u(x_i + h_i s)
obey the problem's equations with

    u^(k)(x) = u_i^(k)(s) / h_i^k,

each piece's equations multiplied through by h_i^n (n the highest order), so
that its terms are the size of the s-derivatives, and each piece sees a few oscillations or a layer at its own scale.  The
interfaces are conditions of the system, values and derivatives below each
unknown's order continuous:

    u_i^(j)(1) = (h_i / h_i+1)^j u_i+1^(j)(0),   j = 0 .. order(u) - 1

(u^(j)(x) from both sides, in the left piece's units).

The problem's own conditions move to the piece holding their points (a
condition that can be built in stays built in, its value times h_i^j).  The
system (N x U unknowns, one equation per piece and equation) is an ordinary
:class:`~pinn.problem.Problem`: one network with N x U outputs trains every
piece at once, by every phase pinn has (LM included), and the interface rows
sit in the loss with the other conditions.  The trained system is stitched
back into one model over [a, b] (:class:`SubdomainModel`) and checked as one
solve of the problem itself: its equations at fresh points, its conditions
and the reference (:func:`solve_subdomains`).
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence, Tuple

import numpy as np

from . import expressions as ex
from .domain import Interval
from .problem import Condition, Equation, FixedValue, Problem


def boundaries(problem: Problem) -> Optional[Tuple[float, ...]]:
    """The subdomain boundaries ``training.subdomains`` asks for (N equal pieces, or a list); None for one."""
    from .windows import equal_or_listed

    return equal_or_listed(problem.training.subdomains, problem.domain)


def piece_name(unknown: str, piece: int) -> str:
    """The system's unknown for ``unknown`` on subdomain ``piece`` (a ':' keeps it apart from any name a file can use)."""
    return f"{unknown}:{piece}"


def _piece_of(point: float, bounds: Sequence[float]) -> int:
    """The subdomain holding ``point`` (an interior boundary belongs to the piece it starts)."""
    return int(min(max(np.searchsorted(bounds, point, side="right") - 1, 0), len(bounds) - 2))


def _mapped(node, piece: int, low: float, width: float, variable: str, unknowns):
    """``node`` on piece ``piece``: x -> low + width s, u -> u_i, u^(k) -> u_i^(k) / width^k."""
    def scaled(inner, order):
        return inner if order == 0 else ex.Binary("/", inner, ex.Number(width ** order))

    if isinstance(node, ex.Name):
        if node.name == variable:
            return ex.Binary("+", ex.Number(low), ex.Binary("*", ex.Number(width), ex.Name(variable)))
        if node.name in unknowns:
            return ex.Name(piece_name(node.name, piece))
        return node
    if isinstance(node, ex.Derivative):
        return scaled(ex.Derivative(piece_name(node.unknown, piece), node.order), node.order)
    if isinstance(node, ex.Unary):
        return ex.Unary(node.operator, _mapped(node.operand, piece, low, width, variable, unknowns))
    if isinstance(node, ex.Binary):
        return ex.Binary(node.operator, _mapped(node.left, piece, low, width, variable, unknowns),
                         _mapped(node.right, piece, low, width, variable, unknowns))
    if isinstance(node, ex.Call):
        return ex.Call(node.function, tuple(_mapped(a, piece, low, width, variable, unknowns) for a in node.arguments))
    return node  # a number


def _point_mapped(node, bounds):
    """A condition's side with each ``u^(j)(p)`` on the piece holding p: u_i^(j)(s) / h_i^j."""
    if isinstance(node, ex.PointValue):
        point = ex.constant_value(node.point)
        piece = _piece_of(point, bounds)
        low, width = bounds[piece], bounds[piece + 1] - bounds[piece]
        inner = ex.PointValue(piece_name(node.unknown, piece), node.order, ex.Number((point - low) / width))
        return inner if node.order == 0 else ex.Binary("/", inner, ex.Number(width ** node.order))
    if isinstance(node, ex.Unary):
        return ex.Unary(node.operator, _point_mapped(node.operand, bounds))
    if isinstance(node, ex.Binary):
        return ex.Binary(node.operator, _point_mapped(node.left, bounds), _point_mapped(node.right, bounds))
    if isinstance(node, ex.Call):
        return ex.Call(node.function, tuple(_point_mapped(a, bounds) for a in node.arguments))
    return node


def _condition(condition: Condition, bounds) -> Condition:
    """The problem's condition on the pieces holding its points; a built-in one stays built in."""
    equation = ex.Equation(_point_mapped(condition.equation.left, bounds), _point_mapped(condition.equation.right, bounds),
                           condition.source)
    points = tuple(sorted({(p - bounds[i]) / (bounds[i + 1] - bounds[i]) for p in condition.points
                           for i in [_piece_of(p, bounds)]}))
    fixed = None
    if condition.fixed is not None:
        f = condition.fixed
        piece = _piece_of(f.point, bounds)
        low, width = bounds[piece], bounds[piece + 1] - bounds[piece]
        value = f.value if f.order == 0 else ex.Binary("*", f.value, ex.Number(width ** f.order))
        fixed = FixedValue(piece_name(f.unknown, piece), f.order, (f.point - low) / width, value)
    return Condition(equation, condition.source, condition.location, points, fixed)


def _interface(unknown: str, order: int, piece: int, bounds) -> Condition:
    """u_i^(j)(1) / h_i^j = u_i+1^(j)(0) / h_i+1^j: the unknown continuous to order ``order`` at the interface."""
    left_width, right_width = bounds[piece + 1] - bounds[piece], bounds[piece + 2] - bounds[piece + 1]
    derivative = f"{unknown}{chr(39) * order}"

    left = ex.PointValue(piece_name(unknown, piece), order, ex.Number(1.0))
    right = ex.PointValue(piece_name(unknown, piece + 1), order, ex.Number(0.0))
    if order:  # in the left piece's units: u_i^(j)(1) = (h_i / h_i+1)^j u_i+1^(j)(0)
        right = ex.Binary("*", ex.Number((left_width / right_width) ** order), right)
    source = f"{derivative} continuous at x = {bounds[piece + 1]:.17g} (subdomains {piece} and {piece + 1})"
    equation = ex.Equation(left, right, source)
    return Condition(equation, source, f"interface {piece}", (0.0, 1.0), None)


def _equation(equation: Equation, piece: int, bounds, variable: str, unknowns, highest: int) -> Equation:
    """The equation on piece ``piece``, both sides times h_i^highest so that its terms stay the size of the s-derivatives."""
    low, width = bounds[piece], bounds[piece + 1] - bounds[piece]
    factor = ex.Number(width ** highest)

    def side(node):
        return ex.Binary("*", factor, _mapped(node, piece, low, width, variable, unknowns))

    mapped = ex.Equation(side(equation.equation.left), side(equation.equation.right), equation.source)
    return Equation(mapped, equation.source, f"{equation.location} on subdomain {piece}")


def subdomain_system(problem: Problem, bounds: Sequence[float]) -> Problem:
    """The problem on the subdomains ``bounds`` as one system on [0, 1] (the module's docstring gives the map)."""
    bounds = tuple(float(b) for b in bounds)
    count = len(bounds) - 1
    unknowns = tuple(piece_name(u, i) for i in range(count) for u in problem.unknowns)
    highest = max(problem.orders.values())
    equations = tuple(_equation(e, i, bounds, problem.variable, problem.unknowns, highest)
                      for i in range(count) for e in problem.equations)
    conditions = tuple(_condition(c, bounds) for c in problem.conditions) + tuple(
        _interface(u, j, i, bounds) for i in range(count - 1) for u in problem.unknowns for j in range(problem.orders[u]))
    training = dataclasses.replace(problem.training, subdomains=1, windows=1, causal="off")
    return dataclasses.replace(problem, domain=Interval(0.0, 1.0), unknowns=unknowns, equations=equations,
                               conditions=conditions, orders={piece_name(u, i): problem.orders[u] for i in range(count)
                                                              for u in problem.unknowns},
                               exact={}, reference="none", training=training)


class _Piece:
    """Subdomain ``index`` of a trained system as a model of the problem's own unknowns over x: u(x) = u_i((x - x_i) / h_i)."""

    def __init__(self, system_model, index: int, low: float, width: float, unknowns: Sequence[str]):
        self.system = system_model
        self.unknowns = tuple(unknowns)
        self.dtype = system_model.dtype
        self.low, self.width = float(low), float(width)
        self.columns = list(range(index * len(unknowns), (index + 1) * len(unknowns)))

    def __call__(self, x):
        import tensorflow as tf

        return tf.gather(self.system((x - self.low) / self.width), self.columns, axis=1)

    @property
    def weights(self):
        return []


def stitched_model(problem: Problem, system_model, bounds: Sequence[float]):
    """The trained system as one model over the problem's domain (piece i on [x_i, x_i+1)); its weights are the system's."""
    from .network import WindowedModel

    class SubdomainModel(WindowedModel):
        """A WindowedModel whose pieces share one network: the system's (saved and loaded as its weights)."""

        @property
        def weights(self):
            return system_model.weights

    pieces = [_Piece(system_model, i, bounds[i], bounds[i + 1] - bounds[i], problem.unknowns) for i in range(len(bounds) - 1)]
    return SubdomainModel(pieces, bounds)


def rebuild(problem: Problem):
    """The stitched model with fresh weights (for loading a saved solve): its weights are the system network's."""
    from .assembly import build_model

    bounds = boundaries(problem)
    return stitched_model(problem, build_model(subdomain_system(problem, bounds))[0], bounds)


def solve_subdomains(problem: Problem, progress=None):
    """Train the subdomain system of ``problem`` and return the problem's checked Solution over its whole domain."""
    from .assembly import build_model, make_solution
    from .collocation import schedule_for
    from .training import train

    bounds = boundaries(problem)
    system = subdomain_system(problem, bounds)
    system_model, system_residuals = build_model(system)
    result = train(system_model, system_residuals, system.training, system.domain, progress=progress,
                   schedule=schedule_for(system, grow=False))
    model = stitched_model(problem, system_model, bounds)
    points = system.domain.sample(system.training.points, system.training.sampler,
                                  np.random.default_rng(system.training.seed + 1))
    training_points = np.concatenate([bounds[i] + (bounds[i + 1] - bounds[i]) * points for i in range(len(bounds) - 1)])
    _, residuals = build_model(problem)  # the problem's own residuals, for the check over the whole domain
    solution = make_solution(problem, model, result, residuals, training_points=training_points)
    return with_interfaces(solution, interface_check(problem, model))


def interface_jumps(problem: Problem, model) -> list:
    """[(x_b, u, j, jump, scale)] at every interface: u^(j) from the right piece less from the left, and the size it is
    judged by (|u^(j)| on both sides plus max |u^(j)| over the output grid, in x units)."""
    from .solution import evaluate_model

    highest = max(problem.orders.values()) - 1
    grid = evaluate_model(model, problem.unknowns, np.linspace(problem.domain.low, problem.domain.high, 201), max(highest, 0))
    jumps = []
    for index, at in enumerate(model.boundaries[1:-1]):
        left = evaluate_model(model.pieces[index], problem.unknowns, np.array([at]), max(highest, 0))
        right = evaluate_model(model.pieces[index + 1], problem.unknowns, np.array([at]), max(highest, 0))
        for u in problem.unknowns:
            for j in range(problem.orders[u]):
                a, b = float(left[u][j, 0]), float(right[u][j, 0])
                jumps.append((at, u, j, b - a, abs(a) + abs(b) + float(np.max(np.abs(grid[u][j])))))
    return jumps


def interface_check(problem: Problem, model):
    """One check: the largest relative jump of a value or derivative below the order at an interface (verify.conditions)."""
    from .verification import Check

    jumps = interface_jumps(problem, model)
    relative = [abs(jump) / scale if scale > 0 else abs(jump) for _, _, _, jump, scale in jumps]
    worst = int(np.argmax(relative)) if relative else 0
    figure = float(relative[worst]) if relative else 0.0
    threshold = problem.verify.conditions
    passed = bool(np.isfinite(figure) and figure <= threshold)
    if jumps:
        at, u, j, jump, _ = jumps[worst]
        detail = (f"{len(model.pieces)} subdomains; largest at x = {at:.4g}: {u}{chr(39) * j} jumps by {jump:.1e}")
    else:
        detail = "one subdomain"
    return Check("interface jump", "condition", figure, threshold, passed, detail)


def with_interfaces(solution, check):
    """``solution`` with the interface check added to its verification (a failed one fails the solve: Solution.status)."""
    verification = solution.verification
    if verification is None:
        return solution
    return dataclasses.replace(solution, verification=dataclasses.replace(verification, checks=verification.checks + (check,)))
