"""Names: the parameters (numbers or constant expressions, in any order), the unknowns (listed or inferred), and
the faults every expression can have (an unknown name, a call of no known function, a part that is not finite).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .. import expressions as ex
from ..errors import ProblemError, cut, did_you_mean
from ..problem import Parameter
from .values import Context, boolean, check_keys, describe, identifier, number, parse


@dataclass(frozen=True)
class Names:
    """The names an expression may use: the variable, the unknowns, the parameters (and pi, e)."""

    variable: str
    unknowns: Tuple[str, ...]
    parameters: Tuple[Parameter, ...]

    @property
    def parameter_names(self) -> Tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @property
    def constants(self) -> Dict[str, float]:
        """Values of the fixed parameters (trainable ones are not constants)."""
        return {p.name: p.value for p in self.parameters if not p.trainable}

    def known(self, *, variable: bool, unknowns: bool) -> List[str]:
        names = ([self.variable] if variable else []) + (list(self.unknowns) if unknowns else [])
        return names + list(self.parameter_names) + list(ex.CONSTANTS)


# ------------------------------------------------------------- common faults


#: Why a constant is not finite: inf or nan -> the fix.
_NONFINITE_FIXES = {
    "inf": "check for a division by zero or an overflow (a value beyond 1e308, such as exp(1000)).",
    "nan": "check for 0/0, inf - inf, or a logarithm or square root of a negative number.",
}


def check_finite(ctx: Context, node, source: str, location: str, constants: Mapping[str, float]) -> None:
    """Refuse a part free of the variable, unknowns and trainable parameters whose value is not finite (1/0), caret under it.

    A part that is not finite only at some points (sin(x)/x at 0) is not constant, so it is not refused here.
    """
    bad = ex.nonfinite_constant(node, constants)
    if bad is None:
        return
    value = ex.constant_value(ex.substitute(bad, {**ex.CONSTANTS, **constants}))
    kind = "nan" if math.isnan(value) else "inf"
    what = "not a number (nan)" if kind == "nan" else f"{'minus ' if value < 0 else ''}infinite"
    raise ctx.error(f"'{cut(source[bad.span[0]:bad.span[1]], 60)}' is {what}, not a finite number", location,
                    f"Write a finite number: {_NONFINITE_FIXES[kind]}", source=source, span=bad.span)


def unknown_name_error(ctx: Context, node, source: str, location: str, allowed: Sequence[str], variable: str,
                       in_equation: bool = False) -> ProblemError:
    """An unknown name: a missing parameter, or (in an equation) an unknown whose own equation is missing, or a typo."""
    if in_equation:  # u' = -u*v with no equation for v: v is an unknown function the system lacks, not only a constant
        fix = (f"Add {node.name} under parameters if it is a constant, or an equation for {node.name} if it is an "
               f"unknown function (one equation per unknown, e.g. {node.name}' = ...); or use one of: {', '.join(allowed)}.")
    else:
        fix = f"Add {node.name} under parameters, or use one of: {', '.join(allowed)}."
    fix += did_you_mean(node.name, allowed)
    if node.name in ("t", "x", "s", "r", "z", "tau") and node.name != variable:
        fix = f"If {node.name} is the independent variable, add 'variable: {node.name}' to the file (the variable is now {variable})."
    return ctx.error(f"unknown name '{node.name}'", location, fix, source=source, span=node.span)


def not_a_function(ctx: Context, node, source: str, location: str) -> ProblemError:
    """``gamma(x)`` parses as a value of ``gamma`` at a point; outside conditions it is a call of an unlisted function."""
    arguments = (node.point,) if node.order == 0 else ()  # cot'(x) is no rewrite of cot(x)
    return ctx.error(f"'{node.unknown}' is not a known function", location, ex.unknown_function_fix(node.unknown, arguments),
                     source=source, span=node.span)


# ---------------------------------------------------------------- parameters

#: A parameter as written, before its value is known: (value or expression, location, trainable, true value).
_Pending = Tuple[Any, str, bool, Optional[float]]


def read_parameters(ctx: Context, raw: Any, variable: str) -> Tuple[Parameter, ...]:
    """Named constants (numbers or constant expressions, in any order) and trainable ones."""
    pending = _pending_parameters(ctx, raw, variable)
    values = _parameter_values(ctx, pending)
    return tuple(Parameter(name, values[name], trainable, true_value) for name, (_, _, trainable, true_value) in pending.items())


def _pending_parameters(ctx: Context, raw: Any, variable: str) -> Dict[str, _Pending]:
    """Each parameter's name checked and its entry read (``k: 0.5`` or ``k: {initial: 1, trainable: true}``)."""
    if raw is not None and not isinstance(raw, dict):
        raise ctx.error(f"expected a mapping of names to values, got {describe(raw)}", "parameters",
                        "Write, e.g., parameters: {k: 0.5, omega: 2*pi}.")
    raw = raw or {}
    pending: Dict[str, _Pending] = {}
    for name, value in raw.items():
        location = f"parameters.{name}"
        identifier(ctx, name, location, "a parameter")
        if name == variable:
            raise ctx.error(f"'{name}' is the variable and cannot also be a parameter", location, "Rename the parameter.")
        trainable, true_value = False, None
        if isinstance(value, dict):
            check_keys(ctx, value, ("initial", "value", "trainable", "exact"), location)
            if "initial" in value and "value" in value:
                raise ctx.error("give either initial or value, not both", location, "Keep initial: for a trainable parameter.")
            trainable = boolean(ctx, value.get("trainable", False), f"{location}.trainable")
            if "exact" in value:
                true_value = number(ctx, value["exact"], f"{location}.exact")
            key = "initial" if "initial" in value else "value"
            if key not in value:
                raise ctx.error("the parameter has no value", location, "Write initial: 1.0 (and trainable: true to learn it).")
            value, location = value[key], f"{location}.{key}"
        if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
            raise ctx.error(f"expected a number or a constant expression, got {describe(value)}", location, "Write, e.g., k: 0.5 or omega: 2*pi.")
        pending[name] = (value, location, trainable, true_value)
    return pending


def _parameter_values(ctx: Context, pending: Dict[str, _Pending]) -> Dict[str, float]:
    """The value of each parameter: numbers first, then expressions of other parameters, in any order (no cycles)."""
    values: Dict[str, float] = {}
    parsed = {}
    for name, (value, location, _, _) in pending.items():
        if isinstance(value, (int, float)):
            values[name] = number(ctx, value, location)
        else:
            parsed[name] = parse(ctx, str(value), location, equation=False)
    while parsed:  # resolve expressions that use other parameters, in any order
        progress = False
        for name, node in list(parsed.items()):
            location = pending[name][1]
            source = str(pending[name][0])
            _check_parameter_expression(ctx, node, name, source, location, pending)
            folded = ex.substitute(node, {**ex.CONSTANTS, **values})
            if isinstance(folded, ex.Number):
                if not math.isfinite(folded.value):
                    bad = ex.nonfinite_constant(node, values) or node
                    raise ctx.error(f"the value is not finite ({folded.value})", location, "Check for division by zero or overflow.",
                                    source=source, span=bad.span)
                values[name] = folded.value
                del parsed[name]
                progress = True
        if not progress:
            raise ctx.error("these parameters are defined in terms of each other in a cycle: " + ", ".join(parsed),
                            f"parameters.{next(iter(parsed))}", "Give at least one of them a number.")
    return values


def _check_parameter_expression(ctx: Context, node, name: str, source: str, location: str, pending: Dict[str, _Pending]) -> None:
    """A parameter's expression uses numbers, constants and other fixed parameters only."""
    for inner in ex.walk(node):
        if isinstance(inner, ex.PointValue) and inner.order == 0:
            raise not_a_function(ctx, inner, source, location)
        if isinstance(inner, (ex.Derivative, ex.PointValue)):
            raise ctx.error("a parameter's value must be a constant expression", location,
                            "Use numbers, constants and other parameters only.", source=source, span=inner.span)
        if isinstance(inner, ex.Name) and inner.name not in pending and inner.name not in ex.CONSTANTS:
            allowed = [n for n in pending if n != name] + list(ex.CONSTANTS)
            raise ctx.error(f"unknown name '{inner.name}'", location,
                            f"A parameter's value may use numbers, pi, e and other parameters: {', '.join(allowed)}.{did_you_mean(inner.name, allowed)}",
                            source=source, span=inner.span)
        if isinstance(inner, ex.Name) and inner.name in pending and pending[inner.name][2]:
            raise ctx.error(f"'{inner.name}' is trainable, so it cannot define another parameter", location,
                            "Use fixed parameters and numbers only.", source=source, span=inner.span)


# ------------------------------------------------------------------ unknowns


def read_unknowns(ctx: Context, raw: Any, parsed_equations, variable: str, parameter_names, exact_raw, data_raw) -> Tuple[str, ...]:
    """The unknowns as given, or inferred: names differentiated in the equations, else data/exact columns."""
    if raw is not None:
        return _listed_unknowns(ctx, raw, variable, parameter_names)
    unknowns = []
    for equation, _, _ in parsed_equations:
        for node in ex.walk(equation):
            if isinstance(node, ex.Derivative) and node.unknown not in unknowns and node.unknown != variable and node.unknown not in parameter_names:
                unknowns.append(node.unknown)
    if not parsed_equations:
        if isinstance(data_raw, dict) and "file" not in data_raw:
            unknowns += [str(k) for k in data_raw if str(k) not in (variable, *unknowns)]
        unknowns += [str(k) for k in exact_raw if str(k) not in (*parameter_names, *unknowns) and str(k) != variable]
        if isinstance(data_raw, dict) and "file" in data_raw and not unknowns:
            raise ctx.error("cannot tell the unknowns of a data fit from a file alone", "unknowns", "Add unknowns: [y] naming the CSV columns to fit.")
    if not unknowns:
        raise _no_unknowns(ctx, parsed_equations, data_raw)
    for name in unknowns:
        identifier(ctx, name, "unknowns", "an unknown")
    return tuple(unknowns)


def _listed_unknowns(ctx: Context, raw: Any, variable: str, parameter_names) -> Tuple[str, ...]:
    """``unknowns: [u, v]`` (or one name): valid names, each once, none the variable's or a parameter's."""
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise ctx.error(f"expected a list of names, got {describe(raw)}", "unknowns", "Write, e.g., unknowns: [u, v].")
    unknowns = []
    for index, name in enumerate(raw):
        location = f"unknowns[{index}]"
        identifier(ctx, name, location, "an unknown")
        if name == variable or name in parameter_names:
            raise ctx.error(f"'{name}' is already the {'variable' if name == variable else 'name of a parameter'}", location, "Rename one of them.")
        if name in unknowns:
            raise ctx.error(f"'{name}' is listed twice", location, "List each unknown once.")
        unknowns.append(name)
    return tuple(unknowns)


def _no_unknowns(ctx: Context, parsed_equations, data_raw) -> ProblemError:
    """Why no unknown could be inferred: no equations, a value at a point in an equation, or nothing differentiated."""
    if not parsed_equations and data_raw is None:
        return ctx.error("there are no equations", "equations",
                         "Add equations: with at least one differential equation, e.g. - y'' = 2 (or data: for a plain fit).")
    for equation, source, location in parsed_equations:
        for node in ex.walk(equation):
            if isinstance(node, ex.PointValue):
                return ctx.error(
                    f"'{ex.to_text(node)}' is a value at a point, which is allowed in conditions only", location,
                    f"Move it under conditions:, or write {node.unknown}{chr(39) * max(node.order, 1)} for a derivative over the domain.",
                    source=source, span=node.span)
    return ctx.error("no unknown is differentiated in the equations, so the unknowns cannot be inferred", "unknowns",
                     "Add unknowns: [y] listing the functions to solve for.")
