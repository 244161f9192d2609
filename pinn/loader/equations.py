"""The expressions of a problem: its domain, equations, conditions and exact solutions, parsed and resolved.

Each is parsed (never executed), its names resolved against :class:`~pinn.loader.names.Names`,
and stored with its source text and location, so a later stage can still point at it.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Dict, List, Optional, Tuple

from .. import expressions as ex
from ..errors import did_you_mean
from ..problem import Condition, Equation, Expression, FixedValue
from .names import Names, check_finite, not_a_function, unknown_name_error
from .values import Context, describe, number, parse, text

#: An equation parsed before the unknowns are known: (equation, source text, location).
ParsedEquation = Tuple[ex.Equation, str, str]


# -------------------------------------------------------------------- domain


def read_domain(ctx: Context, raw: Any, constants: Dict[str, float], parameters) -> Tuple[float, float]:
    """``[start, end]``, each a number or a constant expression (``2*pi``), start < end."""
    fix = "Write domain: [start, end] with start < end, e.g. [0, 1] or [0, 2*pi]."
    if raw is None:
        raise ctx.error("the domain is missing", "domain", fix)
    if not isinstance(raw, list) or len(raw) != 2:
        raise ctx.error(f"expected two ends, got {describe(raw)}", "domain", fix)
    ends = []
    for index, value in enumerate(raw):
        location = f"domain[{index}]"
        if isinstance(value, str):
            node = parse(ctx, value, location, equation=False)
            for inner in ex.walk(node):
                if isinstance(inner, ex.Name) and inner.name not in constants:
                    trainable = any(p.name == inner.name and p.trainable for p in parameters)
                    raise ctx.error(f"'{inner.name}' is {'trainable' if trainable else 'not a constant'}, so it cannot set the domain",
                                    location, f"Use numbers, pi, e and fixed parameters.{did_you_mean(inner.name, constants)}", source=value, span=inner.span)
                if isinstance(inner, ex.PointValue) and inner.order == 0:
                    raise not_a_function(ctx, inner, value, location)
                if isinstance(inner, (ex.Derivative, ex.PointValue)):
                    raise ctx.error("a domain end must be a constant expression", location, fix, source=value, span=inner.span)
            check_finite(ctx, node, value, location, constants)
            value = ex.constant_value(ex.substitute(node, constants))
        ends.append(number(ctx, value, location))
    low, high = ends
    if not low < high:
        what = "zero width" if low == high else "reversed"
        raise ctx.error(f"the domain [{low:g}, {high:g}] is {what}", "domain", fix)
    if (high - low) < 1e-12 * max(1.0, abs(low), abs(high)):
        raise ctx.error(f"the domain [{low:g}, {high:g}] is too narrow to resolve in floating point", "domain", fix)
    return (low, high)


# ----------------------------------------------------------------- equations


def parse_equations(ctx: Context, raw: Any) -> List[ParsedEquation]:
    """The equations parsed (one text or a list), before their names can be resolved."""
    if isinstance(raw, str):
        raw = [raw]
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise ctx.error(f"expected a list of equations, got {describe(raw)}", "equations", "Write each equation on a line starting with '- '.")
    parsed = []
    for index, item in enumerate(raw):
        location = f"equations[{index}]"
        source = text(ctx, item, location)
        parsed.append((parse(ctx, source, location, equation=True), source, location))
    return parsed


def resolve_equations(ctx: Context, parsed: List[ParsedEquation], names: Names) -> Tuple[Tuple[Equation, ...], Dict[str, int]]:
    """The equations, names checked, and the highest derivative of each unknown in them."""
    equations = []
    for equation, source, location in parsed:
        _check_equation(ctx, equation, source, location, names)
        equations.append(Equation(equation, source, location))
    orders = {u: 0 for u in names.unknowns}
    for equation in equations:
        for node in ex.walk(equation.equation):
            if isinstance(node, ex.Derivative):
                orders[node.unknown] = max(orders[node.unknown], node.order)
    return tuple(equations), orders


def _check_equation(ctx: Context, equation, source: str, location: str, names: Names) -> None:
    """Names resolve; derivatives are of unknowns, in the variable; no point values."""
    allowed = names.known(variable=True, unknowns=True)
    for node in ex.walk(equation):
        if isinstance(node, ex.Name) and node.name not in allowed:
            raise unknown_name_error(ctx, node, source, location, allowed, names.variable, in_equation=True)
        if isinstance(node, ex.Derivative):
            _check_derivative(ctx, node, source, location, names)
        if isinstance(node, ex.PointValue):
            if node.unknown in names.unknowns:
                raise ctx.error(
                    f"'{ex.to_text(node)}' is a value at a point, which is allowed in conditions only", location,
                    f"Move it under conditions:, or write {node.unknown}{chr(39) * node.order} for the function over the domain.",
                    source=source, span=node.span)
            raise not_a_function(ctx, node, source, location)
    check_finite(ctx, equation, source, location, names.constants)


def _check_derivative(ctx: Context, node, source: str, location: str, names: Names) -> None:
    if node.unknown not in names.unknowns:
        what = "the variable" if node.unknown == names.variable else ("a parameter" if node.unknown in names.parameter_names else "not an unknown")
        raise ctx.error(f"'{node.unknown}' is {what}, so it has no derivative here", location,
                        f"Differentiate an unknown: {', '.join(names.unknowns) or '(none)'}.{did_you_mean(node.unknown, names.unknowns)}",
                        source=source, span=node.span)
    if node.variable is not None and node.variable != names.variable:
        raise ctx.error(f"diff(...) with respect to '{node.variable}', but the variable is '{names.variable}'", location,
                        f"Write diff({node.unknown}, {names.variable}, ...), or set 'variable: {node.variable}'.", source=source, span=node.span)


# ---------------------------------------------------------------- conditions


def read_conditions(ctx: Context, raw: Any, names: Names, constants: Dict[str, float], domain: Tuple[float, float]) -> Tuple[Condition, ...]:
    """The conditions (one text or a list), each relating unknowns at points of the domain."""
    raw = raw or []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise ctx.error(f"expected a list of conditions, got {describe(raw)}", "conditions", "Write each condition on a line starting with '- ', e.g. - y(0) = 1.")
    return tuple(_condition(ctx, item, f"conditions[{i}]", names, constants, domain) for i, item in enumerate(raw))


def _condition(ctx: Context, raw: Any, location: str, names: Names, constants: Dict[str, float], domain: Tuple[float, float]) -> Condition:
    source = text(ctx, raw, location)
    equation = parse(ctx, source, location, equation=True)
    allowed = names.known(variable=False, unknowns=False)
    points = []
    for node in ex.walk(equation):
        if isinstance(node, ex.PointValue):
            points.append(_condition_point(ctx, node, source, location, names, constants, domain))
        elif isinstance(node, ex.Derivative):
            if node.unknown in names.unknowns and node.variable is None:
                fix = f"Give the point: {node.unknown}{chr(39) * node.order}(0), for example."
            else:
                fix = f"Evaluate derivatives at a point with primes: {names.unknowns[0] if names.unknowns else 'y'}'(0)."
            raise ctx.error(f"'{ex.to_text(node)}' in a condition needs a point", location, fix, source=source, span=node.span)
        elif isinstance(node, ex.Name) and node.name not in allowed:
            if node.name in names.unknowns:
                raise ctx.error(f"'{node.name}' in a condition needs a point", location,
                                f"Write {node.name}(0) = ..., with the point where it holds.", source=source, span=node.span)
            if node.name == names.variable:
                raise ctx.error(f"the variable '{node.name}' has no value in a condition", location,
                                "Conditions hold at points: write y(0) = 1, not x = 0.", source=source, span=node.span)
            raise unknown_name_error(ctx, node, source, location, allowed, names.variable)
    if not points:
        raise ctx.error("a condition must involve an unknown at a point", location,
                        f"Write, for example, {names.unknowns[0] if names.unknowns else 'y'}(0) = 1.", source=source)
    check_finite(ctx, equation, source, location, constants)
    folded = _fold_points(equation, constants)
    return Condition(folded, source, location, tuple(sorted(set(points))), _fixed_value(folded, names))


def _condition_point(ctx: Context, node, source: str, location: str, names: Names, constants: Dict[str, float],
                     domain: Tuple[float, float]) -> float:
    """The point of ``u^(k)(point)``: an unknown's, constant, inside the domain (moved onto it if within rounding)."""
    if node.unknown not in names.unknowns:
        if node.unknown == names.variable or node.unknown in names.parameter_names:
            message = f"'{node.unknown}' is not an unknown, so it has no value at a point"
        else:
            message = f"'{node.unknown}' is neither an unknown nor a known function"
        rewrite = ex.function_rewrite(node.unknown, (node.point,)) if node.order == 0 else None  # y(0) = cot(1)
        fix = f"The language has no {node.unknown}; write {rewrite}. " if rewrite else ""
        raise ctx.error(message, location, f"{fix}Unknowns: {', '.join(names.unknowns)}.{did_you_mean(node.unknown, names.unknowns)}",
                        source=source, span=node.span)
    point_names = list(constants)
    for inner in ex.walk(node.point):
        if isinstance(inner, (ex.PointValue, ex.Derivative)) or (isinstance(inner, ex.Name) and inner.name not in point_names):
            bad = inner.name if isinstance(inner, ex.Name) else ex.to_text(inner)
            raise ctx.error(f"the point must be a constant, but it contains '{bad}'", location,
                            "Write a number or an expression of constant parameters, e.g. y(pi/2).", source=source, span=inner.span)
    point = ex.constant_value(ex.substitute(node.point, constants))
    low, high = domain
    tolerance = 1e-9 * (high - low)
    if not (math.isfinite(point) and low - tolerance <= point <= high + tolerance):
        raise ctx.error(f"the point {point:g} lies outside the domain [{low:g}, {high:g}]", location,
                        "Put conditions at points inside the domain, or widen the domain.", source=source, span=node.point.span)
    return min(max(point, low), high)


def _fold_points(node, constants):
    """Replace every point expression by its number (points only, not the rest)."""
    def fold(inner):
        if isinstance(inner, ex.PointValue):
            return replace(inner, point=ex.Number(ex.constant_value(ex.substitute(inner.point, constants)), inner.point.span))
        return None

    return ex.rewrite(node, fold)


def _fixed_value(equation, names: Names) -> Optional[FixedValue]:
    """``y^(k)(p) = value`` (either side) with a value free of unknowns, else None."""
    for side, other in ((equation.left, equation.right), (equation.right, equation.left)):
        if isinstance(side, ex.PointValue) and not any(isinstance(n, ex.PointValue) for n in ex.walk(other)):
            return FixedValue(side.unknown, side.order, side.point.value, other)
    return None


# --------------------------------------------------------------------- exact


def exact_shape(ctx: Context, raw: Any) -> Dict[str, Any]:
    """``exact:`` as a mapping (``{}`` if absent), checked before the unknowns are inferred from it."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ctx.error(f"expected a mapping from unknowns to expressions, got {describe(raw)}", "exact", "Write, e.g., exact: {y: x^2}.")
    return raw


def read_exact(ctx: Context, raw: Dict[str, Any], names: Names, constants: Dict[str, float], parameters):
    """Closed forms of unknowns (expressions in the variable) and true values of parameters."""
    exact: Dict[str, Expression] = {}
    true_values: Dict[str, float] = {}
    trainable = {p.name for p in parameters if p.trainable}
    for key, value in raw.items():
        key = str(key)
        location = f"exact.{key}"
        if key in names.parameter_names:
            true_values[key] = number(ctx, value, location)
            continue
        if key not in names.unknowns:
            choices = list(names.unknowns) + list(names.parameter_names)
            raise ctx.error(f"'{key}' is not an unknown or a parameter", location, f"Give closed forms of: {', '.join(choices)}.{did_you_mean(key, choices)}")
        source = value if isinstance(value, str) else text(ctx, value, location) if not isinstance(value, (int, float)) else repr(value)
        node = parse(ctx, source, location, equation=False)
        check_finite(ctx, node, source, location, {n: v for n, v in constants.items() if n not in trainable})
        allowed = [names.variable] + [n for n in constants if n not in trainable]
        for inner in ex.walk(node):
            if isinstance(inner, ex.PointValue) and inner.order == 0 and inner.unknown not in names.unknowns:
                raise not_a_function(ctx, inner, source, location)
            if isinstance(inner, (ex.Derivative, ex.PointValue)):
                raise ctx.error("an exact solution is an expression of the variable and parameters only", location,
                                f"Write it in {names.variable}, e.g. {names.variable}^2.", source=source, span=inner.span)
            if isinstance(inner, ex.Name) and inner.name not in allowed:
                if inner.name in trainable:
                    continue  # resolved with its true value below
                raise unknown_name_error(ctx, inner, source, location, allowed, names.variable)
        exact[key] = Expression(node, source, location)
    for key, expression in exact.items():
        for inner in ex.walk(expression.node):
            if isinstance(inner, ex.Name) and inner.name in trainable and inner.name not in true_values:
                true_value = next(p.true_value for p in parameters if p.name == inner.name)
                if true_value is None:
                    raise ctx.error(f"'{inner.name}' is trainable, so its value in the exact solution is not known", expression.location,
                                    f"Give its true value: exact: {{{inner.name}: ...}}.", source=expression.source, span=inner.span)
    return exact, true_values
