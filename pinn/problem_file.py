"""Read a problem file (YAML) into a validated :class:`~pinn.problem.Problem`.

The only module that reads YAML.  Steps: safe-load the file, apply dotted-path
overrides (``training.adam.steps=500``), check every key and value, parse the
expressions, resolve names, infer unknowns and orders, classify the problem,
and fill defaults.  Every fault raises :class:`~pinn.errors.ProblemError`
naming the file, the field, what is wrong and the fix.
"""

from __future__ import annotations

import csv
import errno
import math
import os
import re
import stat
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union
import warnings

import numpy as np
import yaml

from . import expressions as ex
from .errors import ExpressionError, PiecewiseLinearWarning, ProblemError, cut, did_you_mean, one_of
from .problem import (
    ACTIVATIONS, CONSTRAINT_MODES, DTYPES, PIECEWISE_LINEAR_ACTIVATIONS, REFERENCE_MODES,
    SAMPLERS, SCHEDULES, AdamSpec, Condition, Data, Equation, Expression, FixedValue,
    LbfgsSpec, LossWeights, NetworkSpec, SmoothnessSpec, OutputSpec, Parameter, Problem, TrainingSpec,
)
from .wellposed import check_equations, check_problem

TOP_LEVEL_KEYS = (
    "name", "description", "variable", "domain", "unknowns", "parameters", "equations",
    "conditions", "exact", "data", "network", "training", "reference", "output",
)
LIMITS = {
    "training.points": 100_000,
    "output.points": 1_000_000,
    "training.adam.steps": 10_000_000,
    "training.lbfgs.steps": 1_000_000,
    "training.lbfgs.history": 1_000,
    "training.steps_per_call": 10_000,
    "network.width": 4_096,
    "network.depth": 64,
    "data.rows": 1_000_000,
}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: Largest problem file read (bytes), checked before reading: a problem file is a page of text.
MAX_PROBLEM_BYTES = 1_000_000
#: Largest data CSV read (bytes), checked before reading; rows are also counted while streaming.
MAX_DATA_BYTES = 50_000_000
#: Longest problem name: it names the run folder.
MAX_NAME = 100


# ----------------------------------------------------------------------- YAML


class _Loader(yaml.SafeLoader):
    """Safe YAML with only true/false as booleans and 1e-3 read as a number."""

    def construct_object(self, node, deep=False):
        """Any constructor's failure (a bad date, !!float abc, a 5,000-digit integer) as a YAML error at its line."""
        try:
            return super().construct_object(node, deep=deep)
        except (yaml.YAMLError, RecursionError, MemoryError):
            raise
        except Exception as error:  # ValueError, IndexError, AttributeError...: PyYAML's constructors are not defensive
            raise yaml.constructor.ConstructorError(None, None, _constructor_problem(node, error), node.start_mark) from None


# no implicit dates either: name: 2024-02-30 is text (no field takes a date; an explicit !!timestamp still is one)
_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers
          if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp")]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)"
               r"|\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."),
)


#: What a scalar tag's constructor makes, for messages: ``'abc' cannot be read as a number (!!float)``.
_TAG_WHAT = {"int": "a whole number", "float": "a number", "timestamp": "a date", "bool": "true or false",
             "null": "nothing (null)", "binary": "base64 binary data"}
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _constructor_problem(node, error: Exception) -> str:
    """Why a scalar could not be made into a value, without Python's wording where it misleads."""
    tag = str(node.tag).rsplit(":", 1)[-1]
    text = str(node.value) if isinstance(node, yaml.ScalarNode) else ""
    digits = sum(c.isdigit() for c in text)
    if tag == "int" and digits > 300:
        return f"a whole number with {digits:,} digits cannot be read (numbers beyond 1e308 are not usable)"
    reason = f": {cut(error, 80)}" if tag == "timestamp" else ""
    return f"'{cut(text, 40)}' cannot be read as {_TAG_WHAT.get(tag, tag)} (!!{tag}){reason}"


def _construct_mapping(loader, node, deep=False):
    """A mapping that refuses a key given twice (YAML would silently keep the last).

    Merge keys (``<<: *defaults``) work as in YAML 1.1: the merged keys come
    first and the mapping's own keys override them (that is not a repetition).
    """
    own = [key_node for key_node, _ in node.value if key_node.tag != _MERGE_TAG]
    loader.flatten_mapping(node)
    seen = {}
    for key_node in own:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            continue  # let PyYAML report an unhashable key
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key '{key}' appears twice (first on line {seen[key] + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


#: A piece of PyYAML's problem text and the fix to suggest for it.
_YAML_FIXES = (
    ("appears twice", "Keep one of them (merge their contents)."),
    ("digits cannot be read", "Write a number below 1e308 in size, e.g. 1.5e20."),
    ("cannot be read as", "Write a valid value there, or quote it to make it text (and drop any !!tag)."),
    ("expected a mapping or list of mappings for merging", "Merge (<<: *name) only mappings defined with &name."),
)


def _load_yaml(text: str, file: Optional[str]) -> Any:
    if len(text) > MAX_PROBLEM_BYTES:
        raise _too_big(file, len(text))
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader is a yaml.SafeLoader subclass: no Python objects
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(error, "problem", None) or str(error)
        fix = next((fix for piece, fix in _YAML_FIXES if piece in problem),
                   "Check the indentation and quoting there; quote expressions that contain ': ' or start with a quote.")
        raise ProblemError(f"this is not valid YAML: {problem}", file=file, location=where, fix=fix) from None
    except RecursionError:
        raise ProblemError("this YAML is nested too deeply to read", file=file,
                           fix="A problem file needs only a few levels of nesting; see problems/quadratic.yaml.") from None


# ------------------------------------------------------------------ overrides


def parse_override(text: str) -> Tuple[str, Any]:
    """``"training.adam.steps=500"`` -> ``("training.adam.steps", 500)``; the value is read as YAML."""
    if "=" not in text:
        raise ProblemError(f"'{text}' is not KEY=VALUE", location="--set",
                           fix="Write it as --set training.adam.steps=500.")
    key, _, value = text.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ProblemError(f"'{text}' has an empty key", location="--set", fix="Write it as --set training.adam.steps=500.")
    # the value's text is kept whole: an equation such as "y'' = 2" contains '=' too
    try:
        parsed = yaml.load(value, Loader=_Loader) if value.strip() else ""  # safe: SafeLoader subclass
    except (yaml.YAMLError, RecursionError):
        parsed = value
    return key, parsed


def apply_overrides(document: Dict[str, Any], overrides: Iterable[Union[str, Tuple[str, Any]]]) -> Dict[str, Any]:
    """Set each dotted path (list items by index) in a copy of ``document``."""
    import copy

    document = copy.deepcopy(document)
    items = overrides.items() if isinstance(overrides, Mapping) else overrides
    for item in items:
        key, value = parse_override(item) if isinstance(item, str) else item
        location = f"--set {key}"
        parts = key.split(".")
        if parts[0] not in TOP_LEVEL_KEYS:
            raise ProblemError(f"there is no field '{parts[0]}'", location=location,
                               fix=f"Fields are: {', '.join(TOP_LEVEL_KEYS)}.{did_you_mean(parts[0], TOP_LEVEL_KEYS)}")
        target: Any = document
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if isinstance(target, list):
                if not part.isdigit() or int(part) >= len(target):
                    raise ProblemError(f"'{part}' is not an index of the list at {'.'.join(parts[:depth])} "
                                       f"(it has {len(target)} items)", location=location, fix="Use 0, 1, ...")
                part = int(part)
            elif not isinstance(target, dict):
                raise ProblemError(f"{'.'.join(parts[:depth])} is not a mapping, so it has no field '{part}'", location=location,
                                   fix=f"Set {'.'.join(parts[:depth])} itself, e.g. --set {'.'.join(parts[:depth])}=VALUE.")
            if last:
                target[part] = value
            else:
                if isinstance(target, dict) and not isinstance(target.get(part), (dict, list)):
                    target[part] = {}
                target = target[part]
    return document


# ------------------------------------------------------------------ checking


@dataclass
class _Context:
    file: Optional[str]
    base_dir: Path

    def error(self, message: str, location: Optional[str] = None, fix: str = "", **extra) -> ProblemError:
        return ProblemError(message, file=self.file, location=location, fix=fix, **extra)


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (dict, list)):
        if not value:
            return "an empty mapping" if isinstance(value, dict) else "an empty list"
        return "a mapping" if isinstance(value, dict) else "a list"
    if value is None:
        return "nothing"
    if isinstance(value, int) and abs(value) >= 10 ** 40:  # str() of a huge int is slow, or refused past 4,300 digits
        return f"a whole number with about {int((value.bit_length() - 1) * math.log10(2)) + 1:,} digits"
    return cut(repr(value), 60)


def _check_keys(ctx: _Context, mapping: Any, allowed: Sequence[str], location: str) -> Dict[str, Any]:
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise ctx.error(f"expected a mapping (key: value lines), got {_describe(mapping)}", location,
                        f"Write it as keys under {location.split('.')[-1] or 'the file'}: {', '.join(allowed)}.")
    for key in mapping:
        if str(key) not in allowed:
            where = f"{location}.{key}" if location else str(key)
            raise ctx.error(f"unknown key '{cut(key)}'", where,
                            f"Allowed keys here: {', '.join(allowed)}.{did_you_mean(str(key), allowed)}")
    return mapping


def _integer(ctx: _Context, value: Any, location: str, minimum: int, maximum: Optional[int] = None) -> int:
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?[0-9]{1,30}\s*", value):
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ctx.error(f"expected a whole number, got {_describe(value)}", location, f"Write a whole number >= {minimum}.")
    if value < minimum:
        raise ctx.error(f"{_describe(value)} is too small: it must be at least {minimum}", location, f"Use a whole number >= {minimum}.")
    if maximum is not None and value > maximum:
        raise ctx.error(f"{_describe(value)} is beyond the limit of {maximum:,}", location, f"Use at most {maximum:,}.")
    return value


def _number(ctx: _Context, value: Any, location: str, positive: bool = False) -> float:
    if isinstance(value, str):
        try:
            value = ex.constant_value(ex.parse_expression(value))
        except (ExpressionError, ValueError, KeyError):
            raise ctx.error(f"expected a number, got {value!r}", location, "Write a number such as 0.001 or 1e-3.") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ctx.error(f"expected a number, got {_describe(value)}", location, "Write a number such as 0.001 or 1e-3.")
    try:
        value = float(value)
    except OverflowError:  # a whole number of more than 308 digits
        raise ctx.error(f"{_describe(value)} is too large for a floating-point number", location,
                        "Use a number below 1e308 in size (rescale the problem if needed).") from None
    if not math.isfinite(value):
        raise ctx.error(f"{value} is not a finite number", location, "Write a finite number.")
    if positive and value <= 0:
        raise ctx.error(f"{value:g} must be positive", location, "Write a number greater than 0.")
    return value


def _boolean(ctx: _Context, value: Any, location: str) -> bool:
    if not isinstance(value, bool):
        raise ctx.error(f"expected true or false, got {_describe(value)}", location, "Write true or false.")
    return value


def _choice(ctx: _Context, value: Any, choices: Sequence[str], location: str) -> str:
    if not isinstance(value, str) or value not in choices:
        shown = cut(value) if isinstance(value, str) else _describe(value)
        raise ctx.error(f"'{shown}' is not one of {one_of(choices)}", location,
                        f"Use one of: {', '.join(choices)}.{did_you_mean(str(value), choices)}")
    return value


def _text(ctx: _Context, value: Any, location: str) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        raise ctx.error(f"expected an expression, got {_describe(value)}", location,
                        "Write the expression as text, e.g. y'' = 2 (quote it if YAML misreads it).")
    return str(value)


def _parse(ctx: _Context, text: str, location: str, equation: bool) -> Any:
    try:
        return ex.parse_equation(text) if equation else ex.parse_expression(text)
    except ExpressionError as error:
        raise ctx.error(error.message, location, error.fix, source=text, span=error.span) from None


def _identifier(ctx: _Context, name: Any, location: str, what: str) -> str:
    if not isinstance(name, str) or not _IDENTIFIER.match(name) or name.startswith("__"):
        raise ctx.error(f"{_describe(name)} is not a valid name for {what}", location,
                        "Use letters, digits and underscores, starting with a letter (e.g. y, u1, omega).")
    if ex.canonical_function(name) or name == "diff":
        raise ctx.error(f"'{name}' is a function name and cannot name {what}", location, "Choose another name.")
    if name in ex.CONSTANTS:
        raise ctx.error(f"'{name}' is the constant {ex.CONSTANTS[name]:.6g} and cannot name {what}", location, "Choose another name.")
    return name


# ------------------------------------------------------------------ the builder


#: What an OSError met on a user's path means: errno -> (message, fix).
_PATH_ERRORS = {
    errno.ENOENT: ("no such file", "Check the path."),
    errno.ENOTDIR: ("no such file: a part of the path is a file, not a folder", "Check the path."),
    errno.ELOOP: ("the path is a symbolic link loop (links that lead back to themselves)", "Point the link at the real file, or give the real path."),
    errno.ENAMETOOLONG: ("the path is too long for the file system (a name over 255 characters, or over 4,096 in all)",
                         "Use shorter folder and file names."),
    errno.EACCES: ("permission denied: a folder on the path cannot be searched", "Check the folders' permissions with ls -ld (chmod u+x FOLDER)."),
    errno.EPERM: ("the operation is not permitted on this path", "Check the permissions with ls -l."),
}
_PROBLEM_FIX = "Problem files are YAML, e.g. problems/quadratic.yaml."
_TOO_BIG_FIX = "A problem file is a page of text: put observations in a CSV beside it (data: {file: observations.csv})."


class _Unreadable(Exception):
    """Why a file given by the user cannot be read: a message, a fix, and whether it is simply missing."""

    def __init__(self, message: str, fix: str, missing: bool = False):
        super().__init__(message)
        self.message, self.fix, self.missing = message, fix, missing


def _check_user_file(path: Path, limit: int) -> None:
    """Refuse (:class:`_Unreadable`) a path that is missing, a link loop, not a file or over ``limit`` bytes, before opening it."""
    try:
        info = os.stat(path)
    except OSError as error:
        if error.errno == errno.ENOENT and os.path.islink(path):
            raise _Unreadable("the path is a symbolic link to a file that does not exist", "Point the link at the real file.") from None
        message, fix = _PATH_ERRORS.get(error.errno, (f"cannot open it: {error.strerror or error}", "Check the path and its permissions."))
        raise _Unreadable(message, fix, error.errno == errno.ENOENT) from None
    except ValueError:  # a NUL character
        raise _Unreadable("the path is not valid (it contains a NUL character)", "Check the path.") from None
    if not stat.S_ISREG(info.st_mode):
        raise _Unreadable("this is a folder, not a file" if stat.S_ISDIR(info.st_mode) else "this is not a file (a device, pipe or socket)",
                          "Give the path of a file.")
    if info.st_size > limit:
        raise _too_large(info.st_size, limit)


def _too_large(size: int, limit: int) -> _Unreadable:
    return _Unreadable(f"the file is {size:,} bytes, beyond the limit of {limit / 1e6:g} MB ({limit:,} bytes)", "")


def _unopenable(error: OSError) -> _Unreadable:
    """A file that exists but cannot be opened or read (permission denied): never a matter of its encoding."""
    return _Unreadable(f"the file cannot be read: {error.strerror or error}",
                       "Check its permissions with ls -l (chmod u+r FILE), or copy it where you can read it.")


def _read_user_file(path: Path, limit: int) -> bytes:
    """The bytes of the regular file at ``path``, refusing (:class:`_Unreadable`) before reading more than ``limit``."""
    _check_user_file(path, limit)
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as error:
        raise _unopenable(error) from None
    if len(data) > limit:
        raise _too_large(len(data), limit)
    return data


def _too_big(file: Optional[str], size: int) -> ProblemError:
    return ProblemError(f"the problem is {size:,} characters of text, beyond the limit of {MAX_PROBLEM_BYTES:,} (1 MB)",
                        file=file, fix=_TOO_BIG_FIX)


def load_problem(path: Union[str, Path], overrides: Iterable[Union[str, Tuple[str, Any]]] = ()) -> Problem:
    """Read, override and validate the problem file at ``path``.

    ``overrides`` are ``"dotted.key=value"`` strings (values read as YAML) or
    ``(key, value)`` pairs, applied before validation.
    """
    path = Path(path)
    file = str(path)
    try:
        data = _read_user_file(path, MAX_PROBLEM_BYTES)
    except _Unreadable as problem:
        raise ProblemError(problem.message, file=file, fix=f"{problem.fix} {_PROBLEM_FIX}" if problem.fix else _TOO_BIG_FIX) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ProblemError(f"cannot read the file: {error}", file=file, fix="Save it as UTF-8 text.") from None
    document = _load_yaml(text, file)
    return problem_from_dict(document, file=file, base_dir=path.parent, default_name=path.stem, overrides=overrides)


def problem_from_text(text: str, overrides: Iterable = (), *, name: str = "problem", base_dir: Union[str, Path] = ".") -> Problem:
    """Validate a problem given as YAML text (for notebooks and tests)."""
    return problem_from_dict(_load_yaml(text, None), base_dir=base_dir, default_name=name, overrides=overrides)


def problem_from_dict(
    document: Any,
    *,
    file: Optional[str] = None,
    base_dir: Union[str, Path, None] = None,
    default_name: str = "problem",
    overrides: Iterable = (),
) -> Problem:
    """Validate a problem given as a mapping shaped like the YAML file."""
    ctx = _Context(file, Path(base_dir) if base_dir is not None else Path("."))
    if document is None:
        raise ctx.error("the file is empty", fix="Write at least equations: and conditions: (see problems/quadratic.yaml).")
    if not isinstance(document, dict):
        raise ctx.error(f"the file must be a mapping of fields (name:, equations:, ...), got {_describe(document)}",
                        fix="Start lines with field names such as equations: and conditions:.")
    overrides = list(overrides.items()) if isinstance(overrides, Mapping) else list(overrides)
    try:
        document = apply_overrides(document, overrides)
    except ProblemError as error:
        raise error.with_file(file) from None
    try:
        return _build(ctx, document, file, default_name)
    except ProblemError as error:
        raise _blame_override(error, overrides) from None


def _blame_override(error: ProblemError, overrides: Sequence) -> ProblemError:
    """Point an error in a value that came from ``--set KEY=VALUE`` at that --set, not at the file's field."""
    if not error.location:
        return error
    for item in reversed(overrides):  # the last override of a path is the one in force
        key = parse_override(item)[0] if isinstance(item, str) else str(item[0])
        path = re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", key)  # equations.0 -> equations[0], as locations are written
        if error.location == path:
            location = f"--set {key}"
        elif error.location.startswith((path + ".", path + "[", path + " ")):
            location = f"{error.location} (from --set {key})"
        else:
            continue
        return ProblemError(error.message, file=error.file, location=location, fix=error.fix, source=error.source, span=error.span)
    return error


#: (test, fault) for a problem name, which becomes a folder name (runs/NAME).
_NAME_FAULTS = (
    (lambda name: len(name) > MAX_NAME, f"it is longer than {MAX_NAME} characters"),
    (lambda name: not name.isprintable(), "it contains a control character (a newline, a tab, ...)"),
    (lambda name: re.search(r"[/\\]", name), "it contains a path separator (/ or \\)"),
    (lambda name: name in (".", ".."), "it is a special folder name"),
)


def _build(ctx: _Context, document: Dict[str, Any], file: Optional[str], default_name: str) -> Problem:
    """Check a document (overrides applied) and build the Problem."""
    _check_keys(ctx, document, TOP_LEVEL_KEYS, "")

    name = document.get("name", default_name)
    if not isinstance(name, (str, int)) or isinstance(name, bool) or not str(name).strip():
        raise ctx.error(f"expected a name as text, got {_describe(name)}", "name", "Write a short name such as decay.")
    name = str(name).strip()
    fault = next((fault for test, fault in _NAME_FAULTS if test(name)), None)
    if fault:
        raise ctx.error(f"{_describe(name)} cannot name a run folder: {fault}", "name",
                        f"Write a plain name of letters, digits, '-' and '_', at most {MAX_NAME} characters, e.g. name: decay.")
    description = document.get("description", "") or ""
    if not isinstance(description, str):
        raise ctx.error(f"expected text, got {_describe(description)}", "description", "Write the description as text (quote it if YAML misreads it).")

    variable = _identifier(ctx, document.get("variable", "x"), "variable", "the variable")
    parameters = _parameters(ctx, document.get("parameters"), variable)
    constants = dict(ex.CONSTANTS)
    constants.update({p.name: p.value for p in parameters if not p.trainable})
    data_raw = document.get("data")
    # without a domain, a problem with data spans its observations (decided once the unknowns are known)
    domain = None if document.get("domain") is None and data_raw is not None else _domain(ctx, document.get("domain"), constants, parameters)

    equations_raw = document.get("equations")
    if isinstance(equations_raw, str):
        equations_raw = [equations_raw]
    if equations_raw is None:
        equations_raw = []
    if not isinstance(equations_raw, list):
        raise ctx.error(f"expected a list of equations, got {_describe(equations_raw)}", "equations", "Write each equation on a line starting with '- '.")
    parsed_equations = []
    for index, raw in enumerate(equations_raw):
        location = f"equations[{index}]"
        source = _text(ctx, raw, location)
        parsed_equations.append((_parse(ctx, source, location, equation=True), source, location))

    parameter_names = tuple(p.name for p in parameters)
    exact_raw = _check_exact_shape(ctx, document.get("exact"))

    unknowns = _unknowns(ctx, document.get("unknowns"), parsed_equations, variable, parameter_names, exact_raw, data_raw)
    names = _Names(variable, unknowns, parameters)

    equations = []
    for equation, source, location in parsed_equations:
        _check_equation(ctx, equation, source, location, names)
        equations.append(Equation(equation, source, location))
    orders = {u: 0 for u in unknowns}
    for equation in equations:
        for node in ex.walk(equation.equation):
            if isinstance(node, ex.Derivative):
                orders[node.unknown] = max(orders[node.unknown], node.order)
    if domain is None:
        data = _data(ctx, data_raw, variable, unknowns, (-math.inf, math.inf))
        domain = (float(data.variable.min()), float(data.variable.max()))
        if not domain[0] < domain[1]:
            raise ctx.error(f"the observations span no interval (all at {variable} = {domain[0]:g}), so they cannot set the domain",
                            "domain", "Write domain: [start, end].")
    else:
        data = _data(ctx, data_raw, variable, unknowns, domain)

    conditions_raw = document.get("conditions") or []
    if isinstance(conditions_raw, str):
        conditions_raw = [conditions_raw]
    if not isinstance(conditions_raw, list):
        raise ctx.error(f"expected a list of conditions, got {_describe(conditions_raw)}", "conditions", "Write each condition on a line starting with '- ', e.g. - y(0) = 1.")
    conditions = tuple(_condition(ctx, raw, f"conditions[{i}]", names, constants, domain) for i, raw in enumerate(conditions_raw))

    exact, true_values = _exact(ctx, exact_raw, names, constants, parameters)
    if true_values:
        parameters = tuple(
            Parameter(p.name, p.value, p.trainable, true_values.get(p.name, p.true_value)) for p in parameters
        )

    network = _network(ctx, document.get("network"))
    training = _training(ctx, document.get("training"))
    reference = _choice(ctx, document.get("reference", "auto"), REFERENCE_MODES, "reference")
    output_raw = _check_keys(ctx, document.get("output"), ("points",), "output")
    output = OutputSpec(points=_integer(ctx, output_raw.get("points", OutputSpec.points), "output.points", 2, LIMITS["output.points"]))

    check_equations(equations, unknowns, variable, domain, parameters, data, file)  # pinn.wellposed, before the counts
    _check_counts(ctx, equations, conditions, unknowns, orders, parameters, data)
    max_order = max([*orders.values()] + [n.order for c in conditions for n in ex.walk(c.equation) if isinstance(n, ex.PointValue)] + [0])
    if training.smoothness.weight > 0:
        max_order = max(max_order, training.smoothness.order)
    _check_activation(ctx, network.activation, max_order, data)
    if training.constraints == "hard":
        _check_hard(ctx, conditions, unknowns, orders)

    if not equations:
        kind = "fit"
    elif conditions and len({p for c in conditions for p in c.points}) == 1:
        kind = "ivp"
    else:
        kind = "bvp"

    as_run = yaml.safe_dump(_plain({"name": name, **_with_inline_data(document, data, variable)}), sort_keys=False, allow_unicode=True)
    problem = Problem(
        name=name, description=description.strip(), variable=variable, domain=domain, unknowns=unknowns,
        parameters=parameters, equations=tuple(equations), conditions=conditions, exact=exact, data=data,
        network=network, training=training, reference=reference, output=output, orders=orders, kind=kind,
        file=file, as_run=as_run,
    )
    check_problem(problem)  # pinn.wellposed: no repeated or contradicting conditions, weights, points, scale, memory
    return problem


def _with_inline_data(document: Dict[str, Any], data: Optional[Data], variable: str) -> Dict[str, Any]:
    """The document with data from a CSV written inline, so the problem as run stands alone."""
    if data is None or data.source == "inline":
        return document
    columns = {variable: data.variable.tolist()}
    columns.update({u: [None if np.isnan(v) else float(v) for v in values] for u, values in data.values.items()})
    return {**document, "data": columns}


def _plain(value: Any) -> Any:
    """A copy made of plain dicts, lists, strings and numbers, for safe_dump."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class _Names:
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


#: Why a constant is not finite: inf or nan -> the fix.
_NONFINITE_FIXES = {
    "inf": "check for a division by zero or an overflow (a value beyond 1e308, such as exp(1000)).",
    "nan": "check for 0/0, inf - inf, or a logarithm or square root of a negative number.",
}


def _check_finite(ctx: _Context, node, source: str, location: str, constants: Mapping[str, float]) -> None:
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


def _unknown_name_error(ctx: _Context, node, source: str, location: str, allowed: Sequence[str], variable: str) -> ProblemError:
    fix = f"Add {node.name} under parameters, or use one of: {', '.join(allowed)}.{did_you_mean(node.name, allowed)}"
    if node.name in ("t", "x", "s", "r", "z", "tau") and node.name != variable:
        fix = f"If {node.name} is the independent variable, add 'variable: {node.name}' to the file (the variable is now {variable})."
    return ctx.error(f"unknown name '{node.name}'", location, fix, source=source, span=node.span)


def _not_a_function(ctx: _Context, node, source: str, location: str) -> ProblemError:
    """``gamma(x)`` parses as a value of ``gamma`` at a point; outside conditions it is a call of an unlisted function."""
    return ctx.error(f"'{node.unknown}' is not a known function", location,
                     f"Known functions: {', '.join(ex.FUNCTION_NAMES)}.{did_you_mean(node.unknown, ex.FUNCTION_NAMES)}",
                     source=source, span=node.span)


def _check_equation(ctx: _Context, equation, source: str, location: str, names: _Names) -> None:
    """Names resolve; derivatives are of unknowns, in the variable; no point values."""
    allowed = names.known(variable=True, unknowns=True)
    for node in ex.walk(equation):
        if isinstance(node, ex.Name) and node.name not in allowed:
            raise _unknown_name_error(ctx, node, source, location, allowed, names.variable)
        if isinstance(node, ex.Derivative):
            _check_derivative(ctx, node, source, location, names)
        if isinstance(node, ex.PointValue):
            if node.unknown in names.unknowns:
                raise ctx.error(
                    f"'{ex.to_text(node)}' is a value at a point, which is allowed in conditions only", location,
                    f"Move it under conditions:, or write {node.unknown}{chr(39) * node.order} for the function over the domain.",
                    source=source, span=node.span)
            raise ctx.error(f"'{node.unknown}' is not a known function", location,
                            f"Known functions: {', '.join(ex.FUNCTION_NAMES)}.{did_you_mean(node.unknown, ex.FUNCTION_NAMES)}",
                            source=source, span=node.span)
    _check_finite(ctx, equation, source, location, names.constants)


def _check_derivative(ctx: _Context, node, source: str, location: str, names: _Names) -> None:
    if node.unknown not in names.unknowns:
        what = "the variable" if node.unknown == names.variable else ("a parameter" if node.unknown in names.parameter_names else "not an unknown")
        raise ctx.error(f"'{node.unknown}' is {what}, so it has no derivative here", location,
                        f"Differentiate an unknown: {', '.join(names.unknowns) or '(none)'}.{did_you_mean(node.unknown, names.unknowns)}",
                        source=source, span=node.span)
    if node.variable is not None and node.variable != names.variable:
        raise ctx.error(f"diff(...) with respect to '{node.variable}', but the variable is '{names.variable}'", location,
                        f"Write diff({node.unknown}, {names.variable}, ...), or set 'variable: {node.variable}'.", source=source, span=node.span)


def _condition(ctx: _Context, raw: Any, location: str, names: _Names, constants: Dict[str, float], domain: Tuple[float, float]) -> Condition:
    source = _text(ctx, raw, location)
    equation = _parse(ctx, source, location, equation=True)
    allowed = names.known(variable=False, unknowns=False)
    point_names = list(constants)
    points = []
    for node in ex.walk(equation):
        if isinstance(node, ex.PointValue):
            if node.unknown not in names.unknowns:
                if node.unknown == names.variable or node.unknown in names.parameter_names:
                    message = f"'{node.unknown}' is not an unknown, so it has no value at a point"
                else:
                    message = f"'{node.unknown}' is neither an unknown nor a known function"
                raise ctx.error(message, location, f"Unknowns: {', '.join(names.unknowns)}.{did_you_mean(node.unknown, names.unknowns)}",
                                source=source, span=node.span)
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
            points.append(min(max(point, low), high))
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
            raise _unknown_name_error(ctx, node, source, location, allowed, names.variable)
    if not points:
        raise ctx.error("a condition must involve an unknown at a point", location,
                        f"Write, for example, {names.unknowns[0] if names.unknowns else 'y'}(0) = 1.", source=source)
    _check_finite(ctx, equation, source, location, constants)
    folded = _fold_points(equation, constants)
    return Condition(folded, source, location, tuple(sorted(set(points))), _fixed_value(folded, names))


def _fold_points(node, constants):
    """Replace every point expression by its number (points only, not the rest)."""
    from dataclasses import replace

    def fold(inner):
        if isinstance(inner, ex.PointValue):
            return replace(inner, point=ex.Number(ex.constant_value(ex.substitute(inner.point, constants)), inner.point.span))
        return None

    return ex.rewrite(node, fold)


def _fixed_value(equation, names: _Names) -> Optional[FixedValue]:
    """``y^(k)(p) = value`` (either side) with a value free of unknowns, else None."""
    for side, other in ((equation.left, equation.right), (equation.right, equation.left)):
        if isinstance(side, ex.PointValue) and not any(isinstance(n, ex.PointValue) for n in ex.walk(other)):
            return FixedValue(side.unknown, side.order, side.point.value, other)
    return None


def _parameters(ctx: _Context, raw: Any, variable: str) -> Tuple[Parameter, ...]:
    """Named constants (numbers or constant expressions, in any order) and trainable ones."""
    if raw is not None and not isinstance(raw, dict):
        raise ctx.error(f"expected a mapping of names to values, got {_describe(raw)}", "parameters",
                        "Write, e.g., parameters: {k: 0.5, omega: 2*pi}.")
    raw = raw or {}
    pending: Dict[str, Tuple[Any, str, bool, Optional[float]]] = {}
    for name, value in raw.items():
        location = f"parameters.{name}"
        _identifier(ctx, name, location, "a parameter")
        if name == variable:
            raise ctx.error(f"'{name}' is the variable and cannot also be a parameter", location, "Rename the parameter.")
        trainable, true_value = False, None
        if isinstance(value, dict):
            _check_keys(ctx, value, ("initial", "value", "trainable", "exact"), location)
            if "initial" in value and "value" in value:
                raise ctx.error("give either initial or value, not both", location, "Keep initial: for a trainable parameter.")
            trainable = _boolean(ctx, value.get("trainable", False), f"{location}.trainable")
            if "exact" in value:
                true_value = _number(ctx, value["exact"], f"{location}.exact")
            key = "initial" if "initial" in value else "value"
            if key not in value:
                raise ctx.error("the parameter has no value", location, "Write initial: 1.0 (and trainable: true to learn it).")
            value, location = value[key], f"{location}.{key}"
        if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
            raise ctx.error(f"expected a number or a constant expression, got {_describe(value)}", location, "Write, e.g., k: 0.5 or omega: 2*pi.")
        pending[name] = (value, location, trainable, true_value)

    values: Dict[str, float] = {}
    parsed = {}
    for name, (value, location, _, _) in pending.items():
        if isinstance(value, (int, float)):
            values[name] = _number(ctx, value, location)
        else:
            parsed[name] = _parse(ctx, str(value), location, equation=False)
    while parsed:  # resolve expressions that use other parameters, in any order
        progress = False
        for name, node in list(parsed.items()):
            location = pending[name][1]
            source = str(pending[name][0])
            for inner in ex.walk(node):
                if isinstance(inner, ex.PointValue) and inner.order == 0:
                    raise _not_a_function(ctx, inner, source, location)
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
    return tuple(Parameter(name, values[name], trainable, true_value) for name, (_, _, trainable, true_value) in pending.items())


def _domain(ctx: _Context, raw: Any, constants: Dict[str, float], parameters) -> Tuple[float, float]:
    fix = "Write domain: [start, end] with start < end, e.g. [0, 1] or [0, 2*pi]."
    if raw is None:
        raise ctx.error("the domain is missing", "domain", fix)
    if not isinstance(raw, list) or len(raw) != 2:
        raise ctx.error(f"expected two ends, got {_describe(raw)}", "domain", fix)
    ends = []
    for index, value in enumerate(raw):
        location = f"domain[{index}]"
        if isinstance(value, str):
            node = _parse(ctx, value, location, equation=False)
            for inner in ex.walk(node):
                if isinstance(inner, ex.Name) and inner.name not in constants:
                    trainable = any(p.name == inner.name and p.trainable for p in parameters)
                    raise ctx.error(f"'{inner.name}' is {'trainable' if trainable else 'not a constant'}, so it cannot set the domain",
                                    location, f"Use numbers, pi, e and fixed parameters.{did_you_mean(inner.name, constants)}", source=value, span=inner.span)
                if isinstance(inner, ex.PointValue) and inner.order == 0:
                    raise _not_a_function(ctx, inner, value, location)
                if isinstance(inner, (ex.Derivative, ex.PointValue)):
                    raise ctx.error("a domain end must be a constant expression", location, fix, source=value, span=inner.span)
            _check_finite(ctx, node, value, location, constants)
            value = ex.constant_value(ex.substitute(node, constants))
        ends.append(_number(ctx, value, location))
    low, high = ends
    if not low < high:
        what = "zero width" if low == high else "reversed"
        raise ctx.error(f"the domain [{low:g}, {high:g}] is {what}", "domain", fix)
    if (high - low) < 1e-12 * max(1.0, abs(low), abs(high)):
        raise ctx.error(f"the domain [{low:g}, {high:g}] is too narrow to resolve in floating point", "domain", fix)
    return (low, high)


def _check_exact_shape(ctx: _Context, raw: Any) -> Dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ctx.error(f"expected a mapping from unknowns to expressions, got {_describe(raw)}", "exact", "Write, e.g., exact: {y: x^2}.")
    return raw


def _unknowns(ctx: _Context, raw: Any, parsed_equations, variable: str, parameter_names, exact_raw, data_raw) -> Tuple[str, ...]:
    """The unknowns as given, or inferred: names differentiated in the equations, else data/exact columns."""
    if raw is not None:
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not raw:
            raise ctx.error(f"expected a list of names, got {_describe(raw)}", "unknowns", "Write, e.g., unknowns: [u, v].")
        unknowns = []
        for index, name in enumerate(raw):
            location = f"unknowns[{index}]"
            _identifier(ctx, name, location, "an unknown")
            if name == variable or name in parameter_names:
                raise ctx.error(f"'{name}' is already the {'variable' if name == variable else 'name of a parameter'}", location, "Rename one of them.")
            if name in unknowns:
                raise ctx.error(f"'{name}' is listed twice", location, "List each unknown once.")
            unknowns.append(name)
        return tuple(unknowns)
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
        if not parsed_equations and data_raw is None:
            raise ctx.error("there are no equations", "equations",
                            "Add equations: with at least one differential equation, e.g. - y'' = 2 (or data: for a plain fit).")
        for equation, source, location in parsed_equations:
            for node in ex.walk(equation):
                if isinstance(node, ex.PointValue):
                    raise ctx.error(
                        f"'{ex.to_text(node)}' is a value at a point, which is allowed in conditions only", location,
                        f"Move it under conditions:, or write {node.unknown}{chr(39) * max(node.order, 1)} for a derivative over the domain.",
                        source=source, span=node.span)
        raise ctx.error("no unknown is differentiated in the equations, so the unknowns cannot be inferred", "unknowns",
                        "Add unknowns: [y] listing the functions to solve for.")
    for name in unknowns:
        _identifier(ctx, name, "unknowns", "an unknown")
    return tuple(unknowns)


def _exact(ctx: _Context, raw: Dict[str, Any], names: _Names, constants: Dict[str, float], parameters):
    """Closed forms of unknowns (expressions in the variable) and true values of parameters."""
    exact: Dict[str, Expression] = {}
    true_values: Dict[str, float] = {}
    trainable = {p.name for p in parameters if p.trainable}
    for key, value in raw.items():
        key = str(key)
        location = f"exact.{key}"
        if key in names.parameter_names:
            true_values[key] = _number(ctx, value, location)
            continue
        if key not in names.unknowns:
            choices = list(names.unknowns) + list(names.parameter_names)
            raise ctx.error(f"'{key}' is not an unknown or a parameter", location, f"Give closed forms of: {', '.join(choices)}.{did_you_mean(key, choices)}")
        source = value if isinstance(value, str) else _text(ctx, value, location) if not isinstance(value, (int, float)) else repr(value)
        node = _parse(ctx, source, location, equation=False)
        _check_finite(ctx, node, source, location, {n: v for n, v in constants.items() if n not in trainable})
        allowed = [names.variable] + [n for n in constants if n not in trainable]
        for inner in ex.walk(node):
            if isinstance(inner, ex.PointValue) and inner.order == 0 and inner.unknown not in names.unknowns:
                raise _not_a_function(ctx, inner, source, location)
            if isinstance(inner, (ex.Derivative, ex.PointValue)):
                raise ctx.error("an exact solution is an expression of the variable and parameters only", location,
                                f"Write it in {names.variable}, e.g. {names.variable}^2.", source=source, span=inner.span)
            if isinstance(inner, ex.Name) and inner.name not in allowed:
                if inner.name in trainable:
                    continue  # resolved with its true value below
                raise _unknown_name_error(ctx, inner, source, location, allowed, names.variable)
        exact[key] = Expression(node, source, location)
    for key, expression in exact.items():
        for inner in ex.walk(expression.node):
            if isinstance(inner, ex.Name) and inner.name in trainable and inner.name not in true_values:
                true_value = next(p.true_value for p in parameters if p.name == inner.name)
                if true_value is None:
                    raise ctx.error(f"'{inner.name}' is trainable, so its value in the exact solution is not known", expression.location,
                                    f"Give its true value: exact: {{{inner.name}: ...}}.", source=expression.source, span=inner.span)
    return exact, true_values


def _data(ctx: _Context, raw: Any, variable: str, unknowns: Tuple[str, ...], domain) -> Optional[Data]:
    """Observations inline ({x: [...], y: [...]}) or from a CSV beside the file ({file: obs.csv})."""
    if raw is None:
        return None
    columns_allowed = (variable, *unknowns)
    if not isinstance(raw, dict):
        raise ctx.error(f"expected a mapping, got {_describe(raw)}", "data",
                        f"Write data: {{{variable}: [...], {unknowns[0]}: [...]}} or data: {{file: observations.csv}}.")
    if "file" in raw:
        _check_keys(ctx, raw, ("file",), "data")
        columns, source = _read_csv(ctx, raw["file"], columns_allowed)
    else:
        _check_keys(ctx, raw, (*columns_allowed, "file"), "data")
        columns, source = {}, "inline"
        for key, values in raw.items():
            location = f"data.{key}"
            if not isinstance(values, list):
                values = [values]
            try:
                columns[str(key)] = np.array([_number(ctx, v, location) if v is not None else np.nan for v in values], dtype=float)
            except ProblemError as error:
                raise ctx.error(f"every entry must be a number: {error.message}", location, "Write a list of numbers, e.g. [0, 0.5, 1].") from None
    location = "data" if source == "inline" else f"data.file ({source})"
    if variable not in columns:
        raise ctx.error(f"there is no column for the variable '{variable}'", location, f"Add a column named {variable}.")
    observed = [u for u in unknowns if u in columns]
    if not observed:
        raise ctx.error(f"no column names an unknown ({', '.join(unknowns)})", location, f"Add a column named {unknowns[0]}.")
    lengths = {len(columns[c]) for c in (variable, *observed)}
    if len(lengths) != 1:
        raise ctx.error("the columns have different lengths: " + ", ".join(f"{c}: {len(columns[c])}" for c in (variable, *observed)),
                        location, "Give one value per observation in every column (leave a CSV cell empty if missing).")
    x = columns[variable]
    if len(x) == 0:
        raise ctx.error("there are no observations", location, "Add at least one row.")
    if len(x) > LIMITS["data.rows"]:
        raise ctx.error(f"{len(x):,} observations are beyond the limit of {LIMITS['data.rows']:,}", location, "Subsample the data.")
    if not np.all(np.isfinite(x)):
        raise ctx.error(f"the column '{variable}' has missing or non-finite values", location, f"Give every observation a value of {variable}.")
    low, high = domain
    outside = (x < low - 1e-9 * (high - low)) | (x > high + 1e-9 * (high - low))
    if outside.any():
        raise ctx.error(f"{int(outside.sum())} observations lie outside the domain [{low:g}, {high:g}], e.g. {variable} = {x[outside][0]:g}",
                        location, "Widen the domain or drop those rows.")
    values = {u: columns[u] for u in observed}
    for u, column in values.items():
        if np.isinf(column).any():
            raise ctx.error(f"the column '{u}' has infinite values", location, "Use finite numbers (leave missing cells empty).")
        if np.isnan(column).all():
            raise ctx.error(f"the column '{u}' has no values", location, "Fill it in, or remove the column.")
        _warn_contradictions(ctx, x, column, variable, u, location)
    return Data(np.clip(x, low, high), values, source)


def _warn_contradictions(ctx: _Context, x: np.ndarray, column: np.ndarray, variable: str, unknown: str, location: str) -> None:
    """Warn when one value of the variable has observations that disagree (repeated measurements, or a typo)."""
    order = np.argsort(x, kind="stable")
    xs, vs = x[order], column[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.fmin.reduceat(vs, starts), np.fmax.reduceat(vs, starts)  # NaN (missing) ignored
    clash = np.flatnonzero(np.isfinite(low) & (low != high))
    if clash.size:
        first = clash[0]
        warnings.warn(
            f"{ctx.file or 'problem'}: {location}: {clash.size} value{'s' if clash.size > 1 else ''} of {variable} "
            f"{'have' if clash.size > 1 else 'has'} observations of {unknown} that disagree (e.g. {variable} = {xs[starts[first]]:g}: "
            f"{low[first]:g} and {high[first]:g}); the fit passes between them. Average them or drop one if that is not intended.",
            stacklevel=4)


def _data_path(ctx: _Context, name: Any) -> Path:
    """The CSV named by data.file: relative, inside the problem file's folder (or below it)."""
    fix = "Put the CSV in the problem file's folder (or a folder below it) and give its name from there, e.g. data: {file: observations.csv}."
    if not isinstance(name, str) or not name.strip():
        raise ctx.error(f"expected a file name, got {_describe(name)}", "data.file", "Write data: {file: observations.csv}.")
    if not name.isprintable():
        raise ctx.error(f"the file name {_describe(name)} contains a control character", "data.file", fix)
    relative = Path(name)
    if relative.is_absolute() or name.startswith("~"):
        raise ctx.error(f"'{cut(name)}' is an absolute path: a data file must be inside the problem file's folder", "data.file", fix)
    if ".." in relative.parts:
        raise ctx.error(f"'{cut(name)}' goes up out of the problem file's folder ('..')", "data.file", fix)
    path = ctx.base_dir / relative
    try:
        inside = path.resolve().is_relative_to(ctx.base_dir.resolve())
    except (OSError, RuntimeError):  # a link loop: reported when the file is opened
        inside = True
    if not inside:
        raise ctx.error(f"'{cut(name)}' leads out of the problem file's folder (through a symbolic link)", "data.file", fix)
    return path


def _read_csv(ctx: _Context, name: Any, allowed: Sequence[str]) -> Tuple[Dict[str, np.ndarray], str]:
    """The wanted columns of the CSV, streamed row by row (refused past MAX_DATA_BYTES or the row limit)."""
    path = _data_path(ctx, name)
    shown = str(path)
    where = "data.file"
    rows_limit = LIMITS["data.rows"]
    try:
        _check_user_file(path, MAX_DATA_BYTES)
        try:
            handle = open(path, newline="", encoding="utf-8-sig")
        except OSError as error:
            raise _unopenable(error) from None
        with handle:
            reader = csv.reader(handle)
            header, columns, rows = None, {}, 0
            for row in reader:
                if not row or not any(cell.strip() for cell in row):
                    continue
                while len(row) > (len(header) if header else 1) and not row[-1].strip():
                    row = row[:-1]  # empty cells past the last column (a trailing comma) are no column
                if header is None:
                    header = _csv_header(ctx, row, allowed, shown)
                    columns = {c: (header.index(c), []) for c in header if c in allowed}
                    continue
                if len(row) != len(header):
                    raise ctx.error(f"{shown} line {reader.line_num} has {len(row)} cell{'s' if len(row) != 1 else ''}, "
                                    f"but the header has {len(header)} columns", where,
                                    "Give every row one cell per column; leave a cell empty (as in 0.5,,1) where a value is missing.")
                rows += 1
                if rows > rows_limit:
                    raise ctx.error(f"{shown} has more than {rows_limit:,} rows, the limit", where, "Subsample the data.")
                for column, (index, values) in columns.items():
                    values.append(_csv_number(ctx, row[index].strip(), shown, reader.line_num, column))
    except _Unreadable as problem:
        if problem.missing:
            raise ctx.error(f"the data file {shown} does not exist", where, "Put the CSV beside the problem file, or fix the name.") from None
        raise ctx.error(f"the data file {shown}: {problem.message}", where,
                        problem.fix or f"Subsample the data: a data file is read up to {MAX_DATA_BYTES / 1e6:g} MB.") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ctx.error(f"cannot read {shown}: {cut(error, 120)}", where, "Save it as comma-separated UTF-8 text with a header row.") from None
    if header is None:
        raise ctx.error(f"{shown} is empty", where, "Write a header row, then one row per observation.")
    return {c: np.array(v, dtype=float) for c, (_, v) in columns.items()}, shown


def _csv_header(ctx: _Context, row: List[str], allowed: Sequence[str], shown: str) -> List[str]:
    """The column names of the first row; refused if it names no wanted column or names one twice."""
    header = [cell.strip() for cell in row]
    if not any(c in allowed for c in header):
        raise ctx.error(f"{shown} has no column named {one_of(list(allowed))}: its first line is not a header of column names "
                        f"(it starts '{_start(','.join(header))}')", "data.file",
                        f"Name the columns {', '.join(allowed)} in the header row.{did_you_mean(header[0], allowed) if header else ''}")
    twice = next((c for i, c in enumerate(header) if c in allowed and c in header[:i]), None)
    if twice:
        raise ctx.error(f"{shown}: the column '{twice}' appears twice in the header", "data.file", "Keep one column per name.")
    ignored = [cut(c, 20) for c in header if c not in allowed]
    if ignored:
        more = f" and {len(ignored) - 10} more" if len(ignored) > 10 else ""
        warnings.warn(f"{ctx.file or 'problem'}: data.file: ignoring columns of {shown} that name no unknown: "
                      f"{', '.join(ignored[:10])}{more}", stacklevel=4)
    return header


def _start(text: str, limit: int = 40) -> str:
    """The first ``limit`` characters of a line of the user's file, never more."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _csv_number(ctx: _Context, cell: str, shown: str, line: int, column: str) -> float:
    """One cell as a number (NaN if empty); only ASCII spellings such as 1.5e-3."""
    if cell == "":
        return np.nan
    try:
        if not cell.isascii():
            raise ValueError(cell)
        return float(cell)
    except ValueError:
        raise ctx.error(f"{shown} line {line}, column '{column}': '{cut(cell, 20)}' is not a number", "data.file",
                        "Every cell must be a number (or empty if missing).") from None


def _network(ctx: _Context, raw: Any) -> NetworkSpec:
    raw = _check_keys(ctx, raw, ("hidden", "activation"), "network")
    hidden = raw.get("hidden", list(NetworkSpec.hidden))
    if isinstance(hidden, int) and not isinstance(hidden, bool):
        hidden = [hidden]
    if not isinstance(hidden, list) or not hidden:
        raise ctx.error(f"expected a list of layer widths, got {_describe(hidden)}", "network.hidden", "Write, e.g., hidden: [32, 32, 32].")
    if len(hidden) > LIMITS["network.depth"]:
        raise ctx.error(f"{len(hidden)} hidden layers are beyond the limit of {LIMITS['network.depth']}", "network.hidden", "Use fewer layers.")
    widths = tuple(_integer(ctx, w, f"network.hidden[{i}]", 1, LIMITS["network.width"]) for i, w in enumerate(hidden))
    activation = raw.get("activation", NetworkSpec.activation)
    if isinstance(activation, str):
        activation = activation.strip().lower()
    activation = _choice(ctx, activation, ACTIVATIONS, "network.activation")
    return NetworkSpec(hidden=widths, activation=activation)


def _training(ctx: _Context, raw: Any) -> TrainingSpec:
    keys = [f.name for f in fields(TrainingSpec)]
    raw = _check_keys(ctx, raw, keys, "training")
    default = TrainingSpec()
    adam_raw = _check_keys(ctx, raw.get("adam"), [f.name for f in fields(AdamSpec)], "training.adam")
    schedule = _choice(ctx, adam_raw.get("schedule", AdamSpec.schedule), SCHEDULES, "training.adam.schedule")
    final = adam_raw.get("final_learning_rate")
    adam = AdamSpec(
        steps=_integer(ctx, adam_raw.get("steps", AdamSpec.steps), "training.adam.steps", 0, LIMITS["training.adam.steps"]),
        learning_rate=_number(ctx, adam_raw.get("learning_rate", AdamSpec.learning_rate), "training.adam.learning_rate", positive=True),
        schedule=schedule,
        final_learning_rate=None if final is None else _number(ctx, final, "training.adam.final_learning_rate", positive=True),
    )
    if adam.learning_rate > 10:
        raise ctx.error(f"a learning rate of {adam.learning_rate:g} is far too large", "training.adam.learning_rate", "Use something like 1e-3.")
    lbfgs_raw = _check_keys(ctx, raw.get("lbfgs"), [f.name for f in fields(LbfgsSpec)], "training.lbfgs")
    lbfgs = LbfgsSpec(
        steps=_integer(ctx, lbfgs_raw.get("steps", LbfgsSpec.steps), "training.lbfgs.steps", 0, LIMITS["training.lbfgs.steps"]),
        history=_integer(ctx, lbfgs_raw.get("history", LbfgsSpec.history), "training.lbfgs.history", 1, LIMITS["training.lbfgs.history"]),
    )
    smoothness_raw = _check_keys(ctx, raw.get("smoothness"), [f.name for f in fields(SmoothnessSpec)], "training.smoothness")
    smoothness = SmoothnessSpec(
        order=_integer(ctx, smoothness_raw.get("order", SmoothnessSpec.order), "training.smoothness.order", 1, ex.MAX_DERIVATIVE_ORDER),
        weight=_nonnegative(ctx, smoothness_raw.get("weight", SmoothnessSpec.weight), "training.smoothness.weight"),
    )
    weights_raw = _check_keys(ctx, raw.get("weights"), [f.name for f in fields(LossWeights)], "training.weights")
    weights = LossWeights(**{
        f.name: _nonnegative(ctx, weights_raw.get(f.name, getattr(LossWeights, f.name)), f"training.weights.{f.name}") for f in fields(LossWeights)
    })
    seed = raw.get("seed", default.seed)
    return TrainingSpec(
        points=_integer(ctx, raw.get("points", default.points), "training.points", 1, LIMITS["training.points"]),
        sampler=_choice(ctx, raw.get("sampler", default.sampler), SAMPLERS, "training.sampler"),
        resample_every=_integer(ctx, raw.get("resample_every", default.resample_every), "training.resample_every", 0, LIMITS["training.adam.steps"]),
        constraints=_choice(ctx, raw.get("constraints", default.constraints), CONSTRAINT_MODES, "training.constraints"),
        adam=adam, lbfgs=lbfgs, weights=weights, smoothness=smoothness,
        dtype=_choice(ctx, raw.get("dtype", default.dtype), DTYPES, "training.dtype"),
        seed=_integer(ctx, seed, "training.seed", 0, 2**31 - 1),
        steps_per_call=_integer(ctx, raw.get("steps_per_call", default.steps_per_call), "training.steps_per_call", 1, LIMITS["training.steps_per_call"]),
        jit_compile=_boolean(ctx, raw.get("jit_compile", default.jit_compile), "training.jit_compile"),
        eager=_boolean(ctx, raw.get("eager", default.eager), "training.eager"),
    )


def _nonnegative(ctx: _Context, value: Any, location: str) -> float:
    value = _number(ctx, value, location)
    if value < 0:
        raise ctx.error(f"{value:g} is negative", location, "Loss weights must be >= 0.")
    return value


def _check_counts(ctx: _Context, equations, conditions, unknowns, orders, parameters, data) -> None:
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


def _check_activation(ctx: _Context, activation: str, max_order: int, data) -> None:
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
        "and higher ones are zero; use tanh, sin or silu for accurate derivatives.", PiecewiseLinearWarning, stacklevel=3)


def _check_hard(ctx: _Context, conditions, unknowns, orders) -> None:
    from .constraints import split_conditions

    _, left_over = split_conditions(conditions, unknowns, orders)
    if left_over:
        condition = left_over[0]
        raise ctx.error("training.constraints is hard, but this condition cannot be built into the network's output",
                        condition.location,
                        "Use constraints: auto (built in where possible, penalised otherwise) or soft.", source=condition.source)
