"""A checked document (overrides applied) to the frozen :class:`~pinn.problem.Problem`, in named steps.

    names        name, description, variable, parameters          (names.py)
    domain       [start, end], or the span of the observations    (equations.py)
    equations    parsed, unknowns inferred, names resolved, orders (equations.py, names.py)
    data         inline or CSV                                    (data_file.py)
    conditions   at points of the domain                          (equations.py)
    exact        closed forms, true values of parameters          (equations.py)
    options      network, training, reference, output, verify     (fields.py)
    checks       counts, activation, hard constraints, and pinn.wellposed before and after
"""

from __future__ import annotations

import math
import re
import warnings
from typing import Any, Dict, Optional, Tuple

import yaml

from .. import expressions as ex
from ..errors import PiecewiseLinearWarning
from ..problem import PIECEWISE_LINEAR_ACTIVATIONS, Data, NetworkSpec, Parameter, Problem, TrainingSpec
from ..wellposed import check_equations, check_problem
from .data_file import read_data, with_inline_data
from ..domain import Interval
from .equations import exact_shape, parse_equations, read_conditions, read_domain, read_exact, resolve_equations
from .fields import TOP_LEVEL_KEYS, read_options
from .limits import MAX_NAME
from .names import Names, read_parameters, read_unknowns
from .values import Context, check_keys, describe, identifier, plain as _plain

#: (test, fault) for a problem name, which becomes a folder name (runs/NAME).
_NAME_FAULTS = (
    (lambda name: len(name) > MAX_NAME, f"it is longer than {MAX_NAME} characters"),
    (lambda name: not name.isprintable(), "it contains a control character (a newline, a tab, ...)"),
    (lambda name: re.search(r"[/\\]", name), "it contains a path separator (/ or \\)"),
    (lambda name: name in (".", ".."), "it is a special folder name"),
)


def build(ctx: Context, document: Dict[str, Any], file: Optional[str], default_name: str) -> Problem:
    """Check a document (overrides applied) and build the Problem."""
    check_keys(ctx, document, TOP_LEVEL_KEYS, "")
    name, description = _name_and_description(ctx, document, default_name)
    if "variables" in document:  # two independent variables: a PDE on a rectangle
        from ..pde.load import build_pde

        return build_pde(ctx, document, file, name, description)
    variable = identifier(ctx, document.get("variable", "x"), "variable", "the variable")
    parameters = read_parameters(ctx, document.get("parameters"), variable)
    constants = dict(ex.CONSTANTS)
    constants.update({p.name: p.value for p in parameters if not p.trainable})
    data_raw = document.get("data")
    # without a domain, a problem with data spans its observations (decided once the unknowns are known)
    domain = None if document.get("domain") is None and data_raw is not None else read_domain(ctx, document.get("domain"), constants, parameters)

    parsed_equations = parse_equations(ctx, document.get("equations"))
    exact_raw = exact_shape(ctx, document.get("exact"))
    parameter_names = tuple(p.name for p in parameters)
    unknowns = read_unknowns(ctx, document.get("unknowns"), parsed_equations, variable, parameter_names, exact_raw, data_raw)
    names = Names(variable, unknowns, parameters)
    equations, orders = resolve_equations(ctx, parsed_equations, names)
    data, domain = _data_and_domain(ctx, data_raw, variable, unknowns, domain)
    conditions = read_conditions(ctx, document.get("conditions"), names, constants, domain)
    exact, parameters = _exact_and_true_values(ctx, exact_raw, names, constants, parameters)
    network, training, reference, output, verify = read_options(ctx, document)

    check_equations(equations, unknowns, variable, domain, parameters, data, file)  # pinn.wellposed, before the counts
    _check_whole(ctx, equations, conditions, unknowns, orders, parameters, data, network, training)
    kind = _kind(equations, conditions)
    _check_windows(ctx, training.windows, kind, conditions, domain, parameters, data)
    _check_subdomains(ctx, training, kind, domain, parameters, data)
    as_run = yaml.safe_dump(_plain({"name": name, **with_inline_data(document, data, variable)}), sort_keys=False, allow_unicode=True)
    problem = Problem(
        name=name, description=description.strip(), variable=variable, domain=Interval(*domain), unknowns=unknowns,
        parameters=parameters, equations=equations, conditions=conditions, exact=exact, data=data,
        network=network, training=training, reference=reference, output=output, orders=orders, kind=kind,
        file=file, as_run=as_run, verify=verify,
    )
    check_problem(problem)  # pinn.wellposed: no repeated or contradicting conditions, weights, points, scale, memory
    return problem


def _name_and_description(ctx: Context, document: Dict[str, Any], default_name: str) -> Tuple[str, str]:
    """The name (it names the run folder, so it must be a plain folder name) and the description."""
    name = document.get("name", default_name)
    if not isinstance(name, (str, int)) or isinstance(name, bool) or not str(name).strip():
        raise ctx.error(f"expected a name as text, got {describe(name)}", "name", "Write a short name such as decay.")
    name = str(name).strip()
    fault = next((fault for test, fault in _NAME_FAULTS if test(name)), None)
    if fault:
        raise ctx.error(f"{describe(name)} cannot name a run folder: {fault}", "name",
                        f"Write a plain name of letters, digits, '-' and '_', at most {MAX_NAME} characters, e.g. name: decay.")
    description = document.get("description", "") or ""
    if not isinstance(description, str):
        raise ctx.error(f"expected text, got {describe(description)}", "description", "Write the description as text (quote it if YAML misreads it).")
    return name, description


def _data_and_domain(ctx: Context, data_raw: Any, variable: str, unknowns: Tuple[str, ...],
                     domain: Optional[Tuple[float, float]]) -> Tuple[Optional[Data], Tuple[float, float]]:
    """The observations, and the domain: as written, or (when none is written) the span of the observations."""
    if domain is not None:
        return read_data(ctx, data_raw, variable, unknowns, domain), domain
    data = read_data(ctx, data_raw, variable, unknowns, (-math.inf, math.inf))
    domain = (float(data.variable.min()), float(data.variable.max()))
    if not domain[0] < domain[1]:
        raise ctx.error(f"the observations span no interval (all at {variable} = {domain[0]:g}), so they cannot set the domain",
                        "domain", "Write domain: [start, end].")
    return data, domain


def _exact_and_true_values(ctx: Context, exact_raw: Dict[str, Any], names: Names, constants: Dict[str, float], parameters):
    """The exact solutions, and the parameters with the true values ``exact:`` gives them."""
    exact, true_values = read_exact(ctx, exact_raw, names, constants, parameters)
    if true_values:
        parameters = tuple(
            Parameter(p.name, p.value, p.trainable, true_values.get(p.name, p.true_value)) for p in parameters
        )
    return exact, parameters


def _check_whole(ctx: Context, equations, conditions, unknowns, orders, parameters, data, network: NetworkSpec,
                 training: TrainingSpec) -> None:
    """What no single field shows: the counts, the activation against the orders, hard constraints."""
    _check_counts(ctx, equations, conditions, unknowns, orders, parameters, data)
    max_order = max([*orders.values()] + [n.order for c in conditions for n in ex.walk(c.equation) if isinstance(n, ex.PointValue)] + [0])
    if training.smoothness.weight > 0:
        max_order = max(max_order, training.smoothness.order)
    _check_activation(ctx, network.activation, max_order, data)
    if training.constraints == "hard":
        _check_hard(ctx, conditions, unknowns, orders)


def _check_counts(ctx: Context, equations, conditions, unknowns, orders, parameters, data) -> None:
    """As many equations as unknowns; conditions enough for the orders (data may stand in)."""
    if equations and len(equations) != len(unknowns):
        raise ctx.error(
            f"{len(equations)} equation{'s' if len(equations) != 1 else ''} for {len(unknowns)} unknown{'s' if len(unknowns) != 1 else ''} ({', '.join(unknowns)})",
            "equations", "Give one equation per unknown, or list the unknowns with unknowns: [...].")
    if not equations:
        if conditions:
            raise ctx.error("a data fit (no equations) takes no conditions", "conditions", "Remove conditions:, or add the equations they belong to.")
        if data is None:
            raise ctx.error("there are no equations", "equations", "Add equations: (or data: for a plain fit).")
        return
    needed = sum(orders[u] for u in unknowns)
    trainable = [p.name for p in parameters if p.trainable]
    order_text = ", ".join(f"{u} of order {orders[u]}" for u in unknowns)
    if len(conditions) > needed + len(trainable):
        extra = f" plus one per trainable parameter ({len(trainable)})" if trainable else ""
        raise ctx.error(f"too many conditions: {len(conditions)} given, but the equations ({order_text}) take {needed}{extra}",
                        "conditions", "Remove the extra conditions, or mark a parameter trainable to be determined by them.")
    if data is None:
        if len(conditions) < needed:
            raise ctx.error(f"too few conditions: {len(conditions)} given, but the equations ({order_text}) need {needed}",
                            "conditions", f"Add {needed - len(conditions)} more (a second-order equation needs two, e.g. y(0) = 0 and y(1) = 1).")
        if trainable and len(conditions) < needed + len(trainable):
            raise ctx.error(f"nothing determines the trainable parameter{'s' if len(trainable) > 1 else ''} {', '.join(trainable)}",
                            "parameters", "Add data: with observations, or one more condition per trainable parameter.")


def _check_activation(ctx: Context, activation: str, max_order: int, data) -> None:
    """Refuse a piecewise-linear activation where a derivative of order >= 2 is used; warn otherwise."""
    if activation not in PIECEWISE_LINEAR_ACTIVATIONS:
        return
    if max_order >= 2:
        raise ctx.error(
            f"'{activation}' is piecewise linear, so the network's second derivative is zero everywhere it exists, "
            f"and the equations (or the smoothness penalty) need derivatives up to order {max_order}", "network.activation",
            "Use a smooth activation such as tanh (the default), sin or silu.")
    warnings.warn(
        f"{ctx.file or 'problem'}: network.activation: '{activation}' is piecewise linear: the first derivative is piecewise constant "
        "and higher ones are zero; use tanh, sin or silu for accurate derivatives.", PiecewiseLinearWarning,
        stacklevel=4)  # at pinn.problem_file.problem_from_dict, as before the loader was split


def _check_hard(ctx: Context, conditions, unknowns, orders) -> None:
    from ..constraints import split_conditions

    _, left_over = split_conditions(conditions, unknowns, orders)
    if left_over:
        condition = left_over[0]
        raise ctx.error("training.constraints is hard, but this condition cannot be built into the network's output",
                        condition.location,
                        "Use constraints: auto (built in where possible, penalised otherwise) or soft.", source=condition.source)


def _check_windows(ctx: Context, windows, kind: str, conditions, domain, parameters, data) -> None:
    """training.windows other than auto or 1: an initial-value problem at the start of the domain, nothing learned.

    The windows march from the initial point (pinn.windows); boundaries, if
    listed, run from the start of the domain to its end.
    """
    if windows == "auto" or windows == 1:
        return
    location, fix = "training.windows", "Use training.windows: auto (one window where the march does not apply)."
    if kind != "ivp" or {p for c in conditions for p in c.points} != {float(domain[0])}:
        raise ctx.error("time windows march an initial-value problem from the start of the domain, and this problem's "
                        "conditions are not all there", location, fix)
    if data is not None or any(p.trainable for p in parameters):
        raise ctx.error("time windows do not take observations or trainable parameters (each window would learn its own "
                        "value)", location, "Solve the inverse problem on one window (training.windows: auto), or give the "
                        "parameter's value.")
    if isinstance(windows, tuple) and (windows[0] != float(domain[0]) or windows[-1] != float(domain[1])):
        raise ctx.error(f"the window boundaries run from {windows[0]:g} to {windows[-1]:g}, but the domain is "
                        f"[{domain[0]:g}, {domain[1]:g}]", location,
                        f"Start the list at {domain[0]:g} and end it at {domain[1]:g}.")


def _check_subdomains(ctx: Context, training, kind: str, domain, parameters, data) -> None:
    """training.subdomains other than 1: a boundary-value problem, nothing learned, not marched, boundaries on the domain."""
    pieces = training.subdomains
    if pieces == 1:
        return
    location = "training.subdomains"
    if kind != "bvp":
        raise ctx.error(f"subdomains split a boundary-value problem, and this is {'an initial-value problem' if kind == 'ivp' else 'a fit'}",
                        location, "Use training.windows for an initial-value problem over a long horizon, or "
                        "training.subdomains: 1.")
    if data is not None or any(p.trainable for p in parameters):
        raise ctx.error("subdomains do not take observations or trainable parameters", location,
                        "Solve the inverse problem on one domain (training.subdomains: 1), or give the parameter's value.")
    if training.windows not in ("auto", 1):
        raise ctx.error("training.windows and training.subdomains cannot both split the domain", location,
                        "Keep one of them.")
    if isinstance(pieces, tuple) and (pieces[0] != float(domain[0]) or pieces[-1] != float(domain[1])):
        raise ctx.error(f"the subdomain boundaries run from {pieces[0]:g} to {pieces[-1]:g}, but the domain is "
                        f"[{domain[0]:g}, {domain[1]:g}]", location,
                        f"Start the list at {domain[0]:g} and end it at {domain[1]:g}.")


def _kind(equations, conditions) -> str:
    """``fit`` (no equations), ``ivp`` (every condition at one point) or ``bvp``."""
    if not equations:
        return "fit"
    if conditions and len({p for c in conditions for p in c.points}) == 1:
        return "ivp"
    return "bvp"
