"""The option sections (network, training and its parts, output), read by one table over the spec dataclasses.

A section's keys and defaults are its dataclass's fields (:mod:`pinn.problem`);
how each value is read is one row of :data:`FIELDS`.  A new option is a field
on the dataclass and one row here, e.g. for ``TrainingSpec.patience: int = 0``::

    "patience": whole(0, "training.adam.steps"),

A field without a row (or a row without a field) fails at import.  A
section's rows are read in the table's order, which is the order its faults
are reported in; checks across fields (:data:`SECTION_CHECKS`) run after.
"""

from __future__ import annotations

from dataclasses import MISSING, Field, fields
from typing import Any, Callable, Dict, Sequence, Tuple, Union

from .. import expressions as ex
from ..problem import (
    ACTIVATIONS, CAUSAL_MODES, CONSTRAINT_MODES, DTYPES, PHASE_LABELS, REFERENCE_MODES, SAMPLERS, SCHEDULES, AdamSpec, LbfgsSpec, LmSpec, LossWeights,
    NetworkSpec, OutputSpec, SmoothnessSpec, TrainingSpec, VerifySpec,
)
from .limits import LIMITS
from .values import Context, boolean, check_keys, choice, describe, integer, nonnegative, number

TOP_LEVEL_KEYS = (
    "name", "description", "variable", "variables", "domain", "unknowns", "parameters", "equations",
    "conditions", "exact", "data", "network", "training", "reference", "output", "verify",
)

#: Reads one value: (context, value as written or the default, location such as "training.points") -> the value.
Reader = Callable[[Context, Any, str], Any]


def whole(minimum: int, maximum: Union[int, str, None] = None) -> Reader:
    """A whole number in [minimum, maximum]; ``maximum`` a number or a key of LIMITS (looked up when read)."""
    def read(ctx: Context, value: Any, location: str) -> int:
        return integer(ctx, value, location, minimum, LIMITS[maximum] if isinstance(maximum, str) else maximum)
    return read


def real(positive: bool = False) -> Reader:
    """A finite number (> 0 if ``positive``); text is read as a constant expression."""
    return lambda ctx, value, location: number(ctx, value, location, positive=positive)


def share(ctx: Context, value: Any, location: str) -> float:
    """A number in [0, 1]."""
    result = number(ctx, value, location)
    if not 0.0 <= result <= 1.0:
        raise ctx.error(f"must be between 0 and 1, not {result:g}", location, "Use a share such as 0.5 (0 turns it off).")
    return result


def pick(choices: Sequence[str], fold_case: bool = False) -> Reader:
    """One of ``choices``; with ``fold_case``, written in any case and with spaces around."""
    def read(ctx: Context, value: Any, location: str) -> str:
        if fold_case and isinstance(value, str):
            value = value.strip().lower()
        return choice(ctx, value, choices, location)
    return read


def optional(reader: Reader) -> Reader:
    """Nothing (null, or absent when the default is None) stays None; anything else is read by ``reader``."""
    return lambda ctx, value, location: None if value is None else reader(ctx, value, location)


def section(spec: type) -> Reader:
    """A nested section, read by its own rows."""
    return lambda ctx, value, location: read_section(ctx, spec, value, location)


def hidden_layers(ctx: Context, hidden: Any, location: str) -> Tuple[int, ...]:
    """Layer widths: a list (or one number), at most LIMITS["network.depth"] of at most LIMITS["network.width"]."""
    if isinstance(hidden, int) and not isinstance(hidden, bool):
        hidden = [hidden]
    if not isinstance(hidden, list) or not hidden:
        raise ctx.error(f"expected a list of layer widths, got {describe(hidden)}", location, "Write, e.g., hidden: [32, 32, 32].")
    if len(hidden) > LIMITS["network.depth"]:
        raise ctx.error(f"{len(hidden)} hidden layers are beyond the limit of {LIMITS['network.depth']}", location, "Use fewer layers.")
    return tuple(integer(ctx, w, f"{location}[{i}]", 1, LIMITS["network.width"]) for i, w in enumerate(hidden))


#: For each spec dataclass, a reader per field, in the order they are read.
def phase_list(ctx: Context, phases: Any, location: str) -> Tuple[str, ...]:
    """training.phases: a list of phase names from PHASE_LABELS, each at most once, run in that order."""
    if isinstance(phases, str):
        phases = [phases]
    if not isinstance(phases, (list, tuple)) or not phases:
        raise ctx.error(f"expected a list of phases, got {describe(phases)}", location,
                        f"Write, e.g., phases: [adam, lbfgs] (phases: {', '.join(PHASE_LABELS)}).")
    names = tuple(choice(ctx, name, tuple(PHASE_LABELS), f"{location}[{i}]") for i, name in enumerate(phases))
    if len(set(names)) != len(names):
        raise ctx.error("a phase is listed twice", location, "List each phase once, in the order to run them.")
    return names


def _boundaries(ctx: Context, value: Any, location: str, noun: str, example: str) -> Tuple[float, ...]:
    """A list of boundaries [x0, x1, ..., xN], increasing, at most LIMITS[location] pieces (``noun``: windows, subdomains)."""
    if len(value) < 2:
        raise ctx.error(f"a list of {noun[:-1]} boundaries needs at least the two ends, got {describe(value)}", location,
                        f"Write the boundaries from the start of the domain to its end, e.g. {noun}: {example}.")
    bounds = tuple(number(ctx, v, f"{location}[{i}]") for i, v in enumerate(value))
    if any(b <= a for a, b in zip(bounds, bounds[1:])):
        raise ctx.error(f"the {noun[:-1]} boundaries {list(bounds)} do not increase", location,
                        "List each boundary once, from the start of the domain to its end.")
    if len(bounds) - 1 > LIMITS[location]:
        raise ctx.error(f"{len(bounds) - 1} {noun} are beyond the limit of {LIMITS[location]}", location,
                        f"Use fewer, longer {noun}.")
    return bounds


def _count_or_boundaries(ctx: Context, value: Any, location: str, noun: str, example: str, usage: str):
    """A number of equal pieces (1 .. LIMITS[location]) or their boundaries (:func:`_boundaries`)."""
    if isinstance(value, (list, tuple)):
        return _boundaries(ctx, value, location, noun, example)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, str) or isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ctx.error(f"expected {usage}, got {describe(value)}", location, _usage_fix(noun, example))
    return integer(ctx, value, location, 1, LIMITS[location])


def _usage_fix(noun: str, example: str) -> str:
    """How to write the field: windows also take auto, their default; subdomains default to 1."""
    return ("Write windows: auto (the default), windows: 4, or windows: [0, 10, 20, 30]." if noun == "windows" else
            f"Write {noun}: 1 (the default), {noun}: 10, or {noun}: {example}.")


def window_choice(ctx: Context, windows: Any, location: str) -> Union[str, int, Tuple[float, ...]]:
    """training.windows: auto, a number of equal windows, or the boundaries [t0, t1, ..., tN] (increasing)."""
    if isinstance(windows, str) and windows.strip().lower() == "auto":
        return "auto"
    return _count_or_boundaries(ctx, windows, location, "windows", "[0, 10, 20, 30]",
                                "auto, a number of windows or a list of boundaries")


def subdomain_choice(ctx: Context, pieces: Any, location: str) -> Union[int, Tuple[float, ...]]:
    """training.subdomains: a number of equal subdomains, or the boundaries [x0, x1, ..., xN] (increasing)."""
    return _count_or_boundaries(ctx, pieces, location, "subdomains", "[0, 0.05, 1]",
                                "a number of subdomains or a list of boundaries")


FIELDS: Dict[type, Dict[str, Reader]] = {
    NetworkSpec: {
        "hidden": hidden_layers,
        "activation": pick(ACTIVATIONS, fold_case=True),
    },
    AdamSpec: {
        "schedule": pick(SCHEDULES),
        "steps": whole(0, "training.adam.steps"),
        "learning_rate": real(positive=True),
        "final_learning_rate": optional(real(positive=True)),
    },
    LbfgsSpec: {
        "steps": whole(0, "training.lbfgs.steps"),
        "history": whole(1, "training.lbfgs.history"),
    },
    LmSpec: {
        "steps": whole(0, "training.lm.steps"),
        "damping": real(positive=True),
    },
    SmoothnessSpec: {
        "order": whole(1, ex.MAX_DERIVATIVE_ORDER),
        "weight": nonnegative,
    },
    LossWeights: {
        "equations": nonnegative,
        "conditions": nonnegative,
        "data": nonnegative,
    },
    TrainingSpec: {
        "phases": phase_list,
        "adam": section(AdamSpec),
        "lbfgs": section(LbfgsSpec),
        "lm": section(LmSpec),
        "smoothness": section(SmoothnessSpec),
        "weights": section(LossWeights),
        "points": whole(1, "training.points"),
        "sampler": pick(SAMPLERS),
        "resample_every": whole(0, "training.adam.steps"),
        "causal": pick(CAUSAL_MODES),
        "growth": whole(0, "training.adam.steps"),
        "windows": window_choice,
        "subdomains": subdomain_choice,
        "window_phases": phase_list,
        "refine": share,
        "constraints": pick(CONSTRAINT_MODES),
        "dtype": pick(DTYPES),
        "seed": whole(0, 2**31 - 1),
        "steps_per_call": whole(1, "training.steps_per_call"),
        "jit_compile": boolean,
        "eager": boolean,
    },
    OutputSpec: {
        "points": whole(2, "output.points"),
    },
    VerifySpec: {
        "tolerance": real(positive=True),
        "residual": real(positive=True),
        "generalisation": real(positive=True),
        "conditions": real(positive=True),
        "parameters": real(positive=True),
    },
}


def _learning_rate_is_sane(ctx: Context, adam: AdamSpec, location: str) -> None:
    if adam.learning_rate > 10:
        raise ctx.error(f"a learning rate of {adam.learning_rate:g} is far too large", f"{location}.learning_rate", "Use something like 1e-3.")


#: Checks across a section's fields, run once they are all read: (context, spec, location) -> None.
SECTION_CHECKS: Dict[type, Tuple[Callable[[Context, Any, str], None], ...]] = {
    AdamSpec: (_learning_rate_is_sane,),
}


def _default(spec_field: Field) -> Any:
    """A field's default as the file would give it: a list for a tuple, nothing for a nested section."""
    if spec_field.default_factory is not MISSING:
        return None  # a nested section: absent reads as an empty mapping, so all its defaults
    default = spec_field.default
    return list(default) if isinstance(default, tuple) else default


def read_section(ctx: Context, spec: type, raw: Any, location: str) -> Any:
    """The ``spec`` dataclass from the mapping ``raw`` at ``location`` (None: all defaults)."""
    spec_fields = {f.name: f for f in fields(spec)}
    raw = check_keys(ctx, raw, list(spec_fields), location)
    values = {name: read(ctx, raw.get(name, _default(spec_fields[name])), f"{location}.{name}") for name, read in FIELDS[spec].items()}
    result = spec(**values)
    for check in SECTION_CHECKS.get(spec, ()):
        check(ctx, result, location)
    return result


def read_options(ctx: Context, document: Dict[str, Any]) -> Tuple[NetworkSpec, TrainingSpec, str, OutputSpec, VerifySpec]:
    """The network, training, reference, output and verify sections, defaults filled in."""
    network = read_section(ctx, NetworkSpec, document.get("network"), "network")
    training = read_section(ctx, TrainingSpec, document.get("training"), "training")
    reference = choice(ctx, document.get("reference", "auto"), REFERENCE_MODES, "reference")
    output = read_section(ctx, OutputSpec, document.get("output"), "output")
    verify = read_section(ctx, VerifySpec, document.get("verify"), "verify")
    return network, training, reference, output, verify


def _check_table() -> None:
    """Every field of every spec has a row, and every row a field (at import: a forgotten row fails at once)."""
    for spec, rows in FIELDS.items():
        names = {f.name for f in fields(spec)}
        if set(rows) != names:
            missing, extra = sorted(names - set(rows)), sorted(set(rows) - names)
            raise TypeError(f"pinn.loader.fields.FIELDS[{spec.__name__}]: no row for {missing}, rows for no field {extra}")
        for f in fields(spec):
            if f.default is MISSING and f.default_factory is MISSING:
                raise TypeError(f"{spec.__name__}.{f.name} has no default: every option of a problem file has one")


_check_table()
