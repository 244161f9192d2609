"""A problem file with ``variables: [x, t]`` (or ``[x, y]``) to the frozen :class:`~pinn.pde.problem.PDEProblem`.

Called by :func:`pinn.loader.build.build` when the document has ``variables:``; the
same steps as one variable (names, domain, equations, conditions, exact, data,
options, whole-problem checks), each fault a :class:`~pinn.errors.ProblemError`
naming the field, what is wrong and the fix.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import yaml

from .. import expressions as ex
from ..domain import Interval, Rectangle
from ..errors import ExpressionError, ProblemError, did_you_mean
from ..problem import Equation, Expression, Parameter
from ..loader.equations import read_domain
from ..loader.fields import read_options
from ..loader.names import check_finite, read_parameters
from ..loader.values import Context, describe, identifier, integer, number, plain as _plain, text
from .problem import DEFAULT_OUTPUT_POINTS, PDE_REFERENCE_MODES, PDECondition, PDEData, PDEProblem

#: Interior collocation points when training.points is not given (DeepXDE's Burgers example uses 2,540).
DEFAULT_POINTS = 2500
#: Largest output grid per variable (solution.csv holds n1 * n2 rows).
MAX_OUTPUT_POINTS = 2001
#: Where a number counts as a rectangle's edge: |value - end| <= EDGE_SLACK * width.
EDGE_SLACK = 1e-12


def build_pde(ctx: Context, document: Dict[str, Any], file: Optional[str], name: str, description: str) -> PDEProblem:
    """Check a two-variable document (overrides applied) and build the PDEProblem."""
    variables = _variables(ctx, document.get("variables"), document)
    parameters = read_parameters(ctx, document.get("parameters"), variables[0])
    for p in parameters:
        if p.name in variables:
            raise ctx.error(f"'{p.name}' is a variable and cannot also be a parameter", f"parameters.{p.name}", "Rename the parameter.")
    constants = dict(ex.CONSTANTS)
    constants.update({p.name: p.value for p in parameters if not p.trainable})
    domain = _rectangle(ctx, document.get("domain"), variables, constants, parameters)
    parameter_names = tuple(p.name for p in parameters)

    parsed = _parse_list(ctx, document.get("equations"), "equations", variables, equation=True)
    unknowns = _unknowns(ctx, document.get("unknowns"), parsed, variables, parameter_names, document)
    equations = tuple(_equation(ctx, eq, source, location, variables, unknowns, parameters) for eq, source, location in parsed)
    partials = _partials(equations, unknowns)
    orders = {u: tuple(max([o[i] for v, o in partials if v == u] + [0]) for i in range(2)) for u in unknowns}
    time = "t" if "t" in variables else None
    conditions = tuple(_condition(ctx, eq, source, location, variables, unknowns, parameters, constants, domain, time)
                       for eq, source, location in _parse_list(ctx, document.get("conditions"), "conditions", variables, equation=True))
    kind = "evolution" if time is not None and all(c.fixed != time or c.kind == "initial" for c in conditions) and \
        any(c.kind == "initial" for c in conditions) else "steady"
    if time is not None and kind == "steady":
        time = None
    exact = _exact(ctx, document.get("exact"), variables, unknowns, parameters, constants)
    data = _data(ctx, document.get("data"), variables, unknowns, domain)
    options = {k: v for k, v in document.items() if k not in ("output", "reference")}
    network, training, _, _, verify = read_options(ctx, options)
    written = document.get("training") if isinstance(document.get("training"), dict) else {}
    if "points" not in written:  # one variable's 128 points are far too few for a rectangle
        training = dataclasses.replace(training, points=DEFAULT_POINTS)
    reference = _choice(ctx, document.get("reference", "auto"), PDE_REFERENCE_MODES, "reference")
    output_points = _output_points(ctx, document.get("output"))
    if not equations:
        raise ctx.error("there are no equations", "equations", "Add equations:, e.g. - u_t = u_xx.")
    if len(equations) != len(unknowns):
        raise ctx.error(f"{len(equations)} equation{'s' if len(equations) != 1 else ''} for {len(unknowns)} unknowns "
                        f"({', '.join(unknowns)})", "equations", "Give one equation per unknown, or list them with unknowns: [...].")
    _check_counts(ctx, conditions, unknowns, orders, variables, "t" if "t" in variables else None, data, domain)
    _check_activation(ctx, network.activation, max([sum(o) for _, o in partials] + [0]))
    if training.windows not in ("auto", 1):
        raise ctx.error("time windows are for problems in one variable", "training.windows", "Remove training.windows.")
    if training.subdomains != 1:
        raise ctx.error("subdomains are for boundary-value problems in one variable", "training.subdomains",
                        "Remove training.subdomains.")
    as_run = yaml.safe_dump(_plain({"name": name, **document}), sort_keys=False, allow_unicode=True)
    return PDEProblem(
        name=name, description=description.strip(), variables=variables, domain=domain, unknowns=unknowns,
        parameters=_true_values(ctx, document.get("exact"), parameters), equations=equations, conditions=conditions,
        exact=exact, data=data, network=network, training=training, reference=reference, output_points=output_points,
        orders=orders, partials=partials, kind=kind, time=time, file=file, as_run=as_run, verify=verify,
    )


# ------------------------------------------------------------------ names, domain


def _variables(ctx: Context, raw: Any, document: Dict[str, Any]) -> Tuple[str, str]:
    fix = "Write variables: [x, t] (space and time) or variables: [x, y] (a steady field)."
    if "variable" in document:
        raise ctx.error("give either variable: (one) or variables: (two), not both", "variable", "Remove variable:.")
    if not isinstance(raw, list) or len(raw) != 2:
        if isinstance(raw, list) and len(raw) == 1:
            raise ctx.error("one variable is written variable: x", "variables", f"Write variable: {raw[0]}, or name two variables.")
        raise ctx.error(f"expected two names, got {describe(raw)}", "variables", fix)
    names = tuple(identifier(ctx, v, f"variables[{i}]", "a variable") for i, v in enumerate(raw))
    if names[0] == names[1]:
        raise ctx.error(f"the variable '{names[0]}' is named twice", "variables", fix)
    return names


def _rectangle(ctx: Context, raw: Any, variables, constants, parameters) -> Rectangle:
    fix = f"Write domain: {{{variables[0]}: [a, b], {variables[1]}: [c, d]}}, one interval per variable."
    if not isinstance(raw, dict):
        raise ctx.error(f"expected one interval per variable, got {describe(raw)}", "domain", fix)
    for key in raw:
        if str(key) not in variables:
            raise ctx.error(f"'{key}' is not a variable ({', '.join(variables)})", f"domain.{key}", fix + did_you_mean(str(key), variables))
    intervals = []
    for v in variables:
        if v not in raw:
            raise ctx.error(f"no interval for the variable '{v}'", "domain", fix)
        try:
            low, high = read_domain(ctx, raw[v], constants, parameters)
        except ProblemError as error:  # the same checks as one variable, pointed at domain.v
            where = f"domain.{v}" + (error.location[len("domain"):] if error.location else "")
            raise ProblemError(error.message, file=error.file, location=where, fix=error.fix, source=error.source,
                               span=error.span) from None
        intervals.append(Interval(low, high))
    return Rectangle(tuple(variables), tuple(intervals))


def _parse_list(ctx: Context, raw: Any, field: str, variables, equation: bool) -> List[Tuple[Any, str, str]]:
    if isinstance(raw, str):
        raw = [raw]
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise ctx.error(f"expected a list, got {describe(raw)}", field, "Write each entry on a line starting with '- '.")
    out = []
    for index, item in enumerate(raw):
        location = f"{field}[{index}]"
        source = text(ctx, item, location)
        out.append((_parse(ctx, source, location, variables, equation), source, location))
    return out


def _parse(ctx: Context, source: str, location: str, variables, equation: bool):
    try:
        return ex.parse_equation(source, variables) if equation else ex.parse_expression(source, variables)
    except ExpressionError as error:
        raise ctx.error(error.message, location, error.fix, source=source, span=error.span) from None


def _unknowns(ctx: Context, raw: Any, parsed, variables, parameter_names, document) -> Tuple[str, ...]:
    if raw is not None:
        raw = [raw] if isinstance(raw, str) else raw
        if not isinstance(raw, list) or not raw:
            raise ctx.error(f"expected a list of names, got {describe(raw)}", "unknowns", "Write, e.g., unknowns: [u, v].")
        names = []
        for index, name in enumerate(raw):
            identifier(ctx, name, f"unknowns[{index}]", "an unknown")
            if name in variables or name in parameter_names or name in names:
                raise ctx.error(f"'{name}' is already a variable, a parameter or listed", f"unknowns[{index}]", "Rename one of them.")
            names.append(name)
        return tuple(_check_unknown_names(ctx, names, variables))
    names = []
    for equation, _, _ in parsed:
        for node in ex.walk(equation):
            if isinstance(node, ex.Partial) and node.unknown not in names and node.unknown not in variables:
                if node.written and node.written in parameter_names:
                    continue  # a parameter named like a partial (k_x)
                names.append(node.unknown)
    if not names:
        raise ctx.error("no unknown is differentiated in the equations, so the unknowns cannot be inferred", "unknowns",
                        f"Add unknowns: [u] listing the functions to solve for, or write a derivative such as u_{variables[0]}.")
    return tuple(_check_unknown_names(ctx, names, variables))


def _check_unknown_names(ctx: Context, names, variables):
    for name in names:
        head, orders = ex.split_subscript(name, variables)
        if any(orders):
            raise ctx.error(f"the unknown '{name}' ends in '_' and variable letters, so it reads as a derivative of {head}",
                            "unknowns", f"Rename it (e.g. {name.replace('_', '')}).")
    return names


def _equation(ctx: Context, equation, source: str, location: str, variables, unknowns, parameters) -> Equation:
    """Names resolve: variables, unknowns, parameters; partials of unknowns only; no value on a line."""
    parameter_names = [p.name for p in parameters]
    allowed = list(variables) + list(unknowns) + parameter_names + list(ex.CONSTANTS)
    equation = _parameters_named_like_partials(equation, parameter_names)
    for node in ex.walk(equation):
        if isinstance(node, ex.Name) and node.name not in allowed:
            head, _, letters = node.name.rpartition("_")
            if head in unknowns and letters.isalpha():
                wrong = sorted(set(letters) - set(variables))
                raise ctx.error(f"'{node.name}' reads as a derivative of {head}, but {', '.join(repr(w) for w in wrong)} "
                                f"{'is' if len(wrong) == 1 else 'are'} not a variable ({', '.join(variables)})", location,
                                f"Differentiate by the variables: e.g. {head}_{variables[0] * 2} or diff({head}, {variables[0]}, 2).",
                                source=source, span=node.span)
            fix = f"Add {node.name} under parameters, or use one of: {', '.join(allowed)}.{did_you_mean(node.name, allowed)}"
            raise ctx.error(f"unknown name '{node.name}'", location, fix, source=source, span=node.span)
        if isinstance(node, ex.Partial) and node.unknown not in unknowns:
            what = "a variable" if node.unknown in variables else "a parameter" if node.unknown in parameter_names else "not an unknown"
            raise ctx.error(f"'{node.unknown}' is {what}, so it has no partial derivative here", location,
                            f"Differentiate an unknown: {', '.join(unknowns)}.{did_you_mean(node.unknown, unknowns)}",
                            source=source, span=node.span)
        if isinstance(node, ex.FieldValue):
            if node.unknown in unknowns:
                raise ctx.error(f"'{ex.to_text(node)}' is a value on a line or at a point, allowed in conditions only", location,
                                f"Move it under conditions:, or write {ex.partial_text(node.unknown, node.orders, variables)} "
                                "for the field over the rectangle.", source=source, span=node.span)
            raise ctx.error(f"'{node.unknown}' is not a known function", location,
                            ex.unknown_function_fix(node.unknown, node.arguments[:1]), source=source, span=node.span)
    check_finite(ctx, equation, source, location, {p.name: p.value for p in parameters if not p.trainable})
    return Equation(equation, source, location)


def _parameters_named_like_partials(node, parameter_names):
    """A Partial written as a parameter's name (``k_x`` declared under parameters) back to that Name."""
    return ex.rewrite(node, lambda n: ex.Name(n.written, n.span) if isinstance(n, ex.Partial) and n.written in parameter_names else None)


def _partials(equations, unknowns) -> Tuple[Tuple[str, Tuple[int, int]], ...]:
    """Every (unknown, multi-index) the equations use, values (u, (0, 0)) first, in a stable order."""
    found = [(u, (0, 0)) for u in unknowns]
    for equation in equations:
        for node in ex.walk(equation.equation):
            if isinstance(node, ex.Partial) and (node.unknown, node.orders) not in found:
                found.append((node.unknown, tuple(node.orders)))
    return tuple(sorted(found, key=lambda k: (unknowns.index(k[0]), sum(k[1]), k[1][::-1])))


# ------------------------------------------------------------------ conditions


def _condition(ctx: Context, equation, source: str, location: str, variables, unknowns, parameters, constants, domain: Rectangle,
               time) -> PDECondition:
    """A condition on a line (one variable held) or at a point (both held), inside the rectangle."""
    trainable = {p.name for p in parameters if p.trainable}
    folded = ex.substitute(equation, {k: v for k, v in constants.items() if k not in trainable})
    values = [n for n in ex.walk(folded) if isinstance(n, ex.FieldValue)]
    example = f"{unknowns[0]}({variables[0]}, 0) = ... or {unknowns[0]}(0, {variables[1]}) = ..."
    if not values:
        raise ctx.error("a condition must hold an unknown on a line or at a point", location,
                        f"Write for example {example}.", source=source)
    where = dict(source=source, location=location, variables=variables, unknowns=unknowns, example=example)
    lines = {_held_variables(ctx, node, domain, **where) for node in values}
    if len(lines) > 1:
        raise ctx.error("the values in this condition lie on different lines (one holds "
                        f"{' and '.join(sorted(lines)[0])}, another {' and '.join(sorted(lines)[1])})", location,
                        "Write one condition per line of the rectangle, e.g. u(0, t) = 0 and u(x, 0) = 1 separately.", source=source)
    fixed = lines.pop()
    _check_condition_names(ctx, folded, fixed, [p.name for p in parameters], **where)
    if len(fixed) == 2:
        point = tuple(next(float(n.arguments[i].value) for n in values) for i in range(2))
        return PDECondition(folded, source, location, None, point, "point")
    held = fixed[0]
    at = tuple(sorted({float(n.arguments[variables.index(held)].value) for n in values}))
    if len(at) > 2:
        raise ctx.error(f"this condition relates {held} at {len(at)} places; pinn takes one or two (periodic)", location,
                        "Split it into conditions at one place each.", source=source)
    # held == time elsewhere than at its start: a final-time condition, which makes the problem steady (checked by the caller)
    kind = "initial" if held == time and at == (domain.interval(held).low,) else "boundary"
    return PDECondition(folded, source, location, held, at, kind)


def _held_variables(ctx: Context, node, domain: Rectangle, *, source, location, variables, unknowns, example) -> tuple:
    """The variables one value u(a, b) of a condition holds at a number (each inside the rectangle), in order."""
    if node.unknown not in unknowns:
        raise ctx.error(f"'{node.unknown}' is not an unknown ({', '.join(unknowns)})", location,
                        f"Use one of: {', '.join(unknowns)}.{did_you_mean(node.unknown, unknowns)}", source=source, span=node.span)
    fixed = []
    for variable, argument in zip(variables, node.arguments):
        if isinstance(argument, ex.Number):
            if not math.isfinite(argument.value):
                raise ctx.error(f"the point {ex.to_text(argument)} is not finite", location, "Write a finite number.",
                                source=source, span=node.span)
            if not domain.contains(variable, argument.value, EDGE_SLACK):
                interval = domain.interval(variable)
                raise ctx.error(f"{variable} = {argument.value:g} is outside the rectangle ({variable} in {interval})", location,
                                f"Hold {variable} at a value in {interval}, e.g. one of its ends.", source=source, span=node.span)
            fixed.append(variable)
        elif not (isinstance(argument, ex.Name) and argument.name == variable):
            names = [n.name for n in ex.walk(argument) if isinstance(n, ex.Name)]
            other = next((v for v in variables if v in names), None)
            if other is not None and other != variable:
                raise ctx.error(f"the arguments of {node.unknown}(...) go in the order of variables: ({', '.join(variables)})",
                                location, f"Write {node.unknown}({', '.join(variables)}) with each variable in its own place, "
                                f"e.g. {example}.", source=source, span=node.span)
            raise ctx.error(f"'{ex.to_text(argument)}' holds {variable} at a value that is not a constant", location,
                            f"Write a number or a constant expression for {variable}, or {variable} itself to leave it free.",
                            source=source, span=node.span)
    if not fixed:
        raise ctx.error(f"'{ex.to_text(node)}' fixes no variable: it would hold everywhere, like an equation", location,
                        f"Hold one variable at a number: {example}.", source=source, span=node.span)
    return tuple(fixed)


def _check_condition_names(ctx: Context, folded, fixed, parameter_names, *, source, location, variables, unknowns, example):
    """Every name of a condition is known, a held variable does not appear free, and no unknown appears off its line."""
    for node in ex.walk(folded):  # the held variable cannot appear free on the right side
        if isinstance(node, ex.Name) and node.name in fixed and not _inside_field_value(folded, node):
            raise ctx.error(f"'{node.name}' is held at a number in this condition, so it cannot appear free", location,
                            "Write the condition in the free variable only.", source=source, span=node.span)
    allowed = list(variables) + list(unknowns) + list(parameter_names) + list(ex.CONSTANTS)
    for node in ex.walk(folded):
        if isinstance(node, ex.Name) and node.name not in allowed:
            raise ctx.error(f"unknown name '{node.name}'", location,
                            f"Add {node.name} under parameters, or use one of: {', '.join(allowed)}.{did_you_mean(node.name, allowed)}",
                            source=source, span=node.span)
        if isinstance(node, ex.Name) and node.name in unknowns:
            raise ctx.error(f"'{node.name}' alone is the whole field; a condition holds it on a line", location,
                            f"Write {node.name}({', '.join(variables)}) with one variable held, e.g. {example}.", source=source, span=node.span)
        if isinstance(node, ex.Partial):
            raise ctx.error(f"'{ex.to_text(node)}' without arguments is the field over the rectangle", location,
                            f"Write it on the line: {ex.to_text(node)}({variables[0]}, 0) or (0, {variables[1]}).",
                            source=source, span=node.span)


def _inside_field_value(tree, target) -> bool:
    for node in ex.walk(tree):
        if isinstance(node, ex.FieldValue) and any(target is a for a in node.arguments):
            return True
    return False


def _check_counts(ctx: Context, conditions, unknowns, orders, variables, time, data, domain: Rectangle) -> None:
    """Enough conditions: per unknown, its order in t at the start (evolution), and its order in each space variable."""
    if data is not None:
        return  # observations may stand in for conditions (an inverse problem)
    for u in unknowns:
        for i, variable in enumerate(variables):
            needed = orders[u][i]
            if needed == 0:
                continue
            on = [c for c in conditions if c.fixed == variable and any(n.unknown == u for n in c.field_values)]
            if variable == time:
                have = len(on)
                if have < needed:
                    derivative = ex.partial_text(u, tuple(1 if v == time else 0 for v in variables), variables)
                    hint = f"{u}({', '.join('0' if v == time else v for v in variables)}) = ..."
                    if needed == 2:
                        hint += f" and {derivative}({', '.join('0' if v == time else v for v in variables)}) = ..."
                    raise ctx.error(f"{u} is of order {needed} in {variable}, so it needs {needed} initial condition"
                                    f"{'s' if needed > 1 else ''} at {variable} = start; {have} given", "conditions",
                                    f"Add {hint}.")
                continue
            have = sum(1 for c in on)
            if have < needed:
                other = next(v for v in variables if v != variable)
                interval = domain.interval(variable)
                ends = [f"{u}({', '.join(f'{end:g}' if v == variable else v for v in variables)})" for end in (interval.low, interval.high)]
                raise ctx.error(f"{u} is of order {needed} in {variable}, so it needs {needed} boundary condition"
                                f"{'s' if needed > 1 else ''} holding {variable} (for every {other}); {have} given", "conditions",
                                f"Add conditions at the ends of {variable}, e.g. {ends[0]} = 0" + (f" and {ends[1]} = 0" if needed > 1 else "")
                                + f"; a periodic pair is {ends[0]} = {ends[1]} and the same for the first derivative.")


def _check_activation(ctx: Context, activation: str, max_order: int) -> None:
    from ..problem import PIECEWISE_LINEAR_ACTIVATIONS

    if activation in PIECEWISE_LINEAR_ACTIVATIONS and max_order >= 2:
        raise ctx.error(f"'{activation}' is piecewise linear, so every second derivative is zero, and the equations need order "
                        f"{max_order}", "network.activation", "Use a smooth activation such as tanh (the default), sin or silu.")


# ------------------------------------------------------------- exact, data, options


def _exact(ctx: Context, raw: Any, variables, unknowns, parameters, constants) -> Dict[str, Expression]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ctx.error(f"expected a mapping from unknowns to expressions, got {describe(raw)}", "exact",
                        f"Write, e.g., exact: {{{unknowns[0]}: sin(pi*{variables[0]})}}.")
    parameter_names = [p.name for p in parameters]
    exact = {}
    allowed = list(variables) + [n for n in constants]
    for key, value in raw.items():
        key, location = str(key), f"exact.{key}"
        if key in parameter_names:
            continue
        if key not in unknowns:
            raise ctx.error(f"'{key}' is not an unknown or a parameter", location,
                            f"Give closed forms of: {', '.join(unknowns)}.{did_you_mean(key, list(unknowns))}")
        source = value if isinstance(value, str) else repr(number(ctx, value, location))
        node = _parse(ctx, source, location, variables, equation=False)
        true_values = {p.name: p.true_value for p in parameters if p.trainable and p.true_value is not None}
        true_values.update({k: float(v) for k, v in raw.items() if k in parameter_names and isinstance(v, (int, float))})
        for inner in ex.walk(node):
            if isinstance(inner, (ex.Partial, ex.FieldValue)):
                raise ctx.error("an exact solution is an expression of the variables and parameters only", location,
                                f"Write it in {' and '.join(variables)}.", source=source, span=inner.span)
            if isinstance(inner, ex.Name) and inner.name not in allowed and inner.name not in true_values:
                raise ctx.error(f"unknown name '{inner.name}'", location, f"Use the variables and parameters: {', '.join(allowed)}."
                                + did_you_mean(inner.name, allowed), source=source, span=inner.span)
        check_finite(ctx, node, source, location, constants)
        exact[key] = Expression(ex.substitute(node, true_values), source, location)
    return exact


def _true_values(ctx: Context, raw: Any, parameters) -> Tuple[Parameter, ...]:
    if not isinstance(raw, dict):
        return parameters
    out = []
    for p in parameters:
        if p.name in raw:
            out.append(Parameter(p.name, p.value, p.trainable, number(ctx, raw[p.name], f"exact.{p.name}")))
        else:
            out.append(p)
    return tuple(out)


def _data(ctx: Context, raw: Any, variables, unknowns, domain: Rectangle) -> Optional[PDEData]:
    """Observations: columns for both variables and the observed unknowns, inline or from a CSV beside the file."""
    if raw is None:
        return None
    from ..loader.data_file import _columns

    allowed_first = variables[0]
    columns, source = _columns(ctx, raw, allowed_first, (variables[1], *unknowns))
    for v in variables:
        if v not in columns:
            raise ctx.error(f"the observations have no column '{v}'", "data", f"Give both variables' columns: {', '.join(variables)}.")
    lengths = {k: len(c) for k, c in columns.items()}
    if len(set(lengths.values())) != 1:
        raise ctx.error(f"the columns have different lengths ({lengths})", "data", "Give every column the same number of entries.")
    points = np.stack([columns[v] for v in variables], axis=1)
    if not np.all(np.isfinite(points)):
        raise ctx.error("an observation has no coordinate (an empty or non-finite cell)", "data", "Give every row both coordinates.")
    for i, v in enumerate(variables):
        interval = domain.intervals[i]
        outside = (points[:, i] < interval.low) | (points[:, i] > interval.high)
        if outside.any():
            raise ctx.error(f"{int(outside.sum())} observation(s) lie outside the rectangle ({v} = {points[outside, i][0]:g} is not "
                            f"in {interval})", "data", "Drop them or widen the domain.")
    values = {u: columns[u] for u in unknowns if u in columns}
    if not values:
        raise ctx.error("the observations have no column of an unknown", "data", f"Add a column for one of: {', '.join(unknowns)}.")
    return PDEData(points, values, source)


def _choice(ctx: Context, value: Any, choices, location: str) -> str:
    if value not in choices:
        raise ctx.error(f"expected one of {', '.join(choices)}, got {describe(value)}", location,
                        f"Write {location}: auto (the method of lines or finite differences) or none.")
    return value


def _output_points(ctx: Context, raw: Any) -> Tuple[int, int]:
    if raw is None:
        return DEFAULT_OUTPUT_POINTS
    if not isinstance(raw, dict):
        raise ctx.error(f"expected a mapping, got {describe(raw)}", "output", "Write output: {points: [101, 101]}.")
    for key in raw:
        if key != "points":
            raise ctx.error(f"unknown field '{key}'", f"output.{key}", "output: takes points: [n1, n2].")
    points = raw.get("points", list(DEFAULT_OUTPUT_POINTS))
    if isinstance(points, int) and not isinstance(points, bool):
        points = [points, points]
    if not isinstance(points, list) or len(points) != 2:
        raise ctx.error(f"expected two numbers of points (one per variable), got {describe(points)}", "output.points",
                        "Write output: {points: [101, 101]}.")
    return tuple(integer(ctx, p, f"output.points[{i}]", 2, MAX_OUTPUT_POINTS) for i, p in enumerate(points))
