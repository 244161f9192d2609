"""``--set KEY=VALUE``: dotted paths into the document (list items by index), applied before it is checked.

A fault in a value set this way is reported at its ``--set``, not at the file's
field (:func:`blame_override`).
"""

from __future__ import annotations

import copy
import difflib
import re
from typing import Any, Dict, Iterable, Mapping, Sequence, Tuple, Union

import yaml

from ..errors import ExpressionError, ProblemError, did_you_mean, one_of
from ..expression_tokens import tokenize
from .fields import TOP_LEVEL_KEYS
from .yaml_text import Loader

#: The sections whose text is expressions (where a parameter's name is used).
_EXPRESSION_SECTIONS = ("equations", "conditions", "exact", "domain", "parameters")


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
        parsed = yaml.load(value, Loader=Loader) if value.strip() else ""  # safe: SafeLoader subclass
    except (yaml.YAMLError, RecursionError):
        parsed = value
    return key, parsed


def apply_overrides(document: Dict[str, Any], overrides: Iterable[Union[str, Tuple[str, Any]]]) -> Dict[str, Any]:
    """Set each dotted path (list items by index) in a copy of ``document``.

    A ``parameters.NAME`` the file does not declare must be used by some
    expression once every override is applied (``parameters.a=3`` with
    ``equations.0=y'' = a`` declares a parameter); otherwise it is refused.
    """
    document = copy.deepcopy(document)
    items = overrides.items() if isinstance(overrides, Mapping) else overrides
    undeclared = []  # (name, location, the names declared then) of each --set parameters.NAME the file lacked
    for item in items:
        key, value = parse_override(item) if isinstance(item, str) else item
        location = f"--set {key}"
        parts = key.split(".")
        if parts[0] not in TOP_LEVEL_KEYS:
            raise ProblemError(f"there is no field '{parts[0]}'", location=location,
                               fix=f"Fields are: {', '.join(TOP_LEVEL_KEYS)}.{did_you_mean(parts[0], TOP_LEVEL_KEYS)}")
        declared = document.get("parameters") or {}
        if parts[0] == "parameters" and len(parts) > 1 and isinstance(declared, dict) and parts[1] not in declared:
            undeclared.append((parts[1], location, [str(name) for name in declared]))
        _set_path(document, parts, value, location)
    used = _names_used(document) if undeclared else set()
    for name, location, declared in undeclared:
        if name not in used:
            raise _unused_parameter(name, location, declared)
    return document


def _set_path(document: Dict[str, Any], parts: Sequence[str], value: Any, location: str) -> None:
    """Set ``document[parts[0]][parts[1]]...`` to ``value`` (list items by index), making mappings on the way."""
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


def _unused_parameter(name: str, location: str, declared: Sequence[str]) -> ProblemError:
    """``--set parameters.NAME`` of a NAME the file neither declares nor uses would change nothing,
    so a misspelt name (or a sweep over it) would run unchanged copies of the problem: refused."""
    close = difflib.get_close_matches(name, declared, n=1, cutoff=0.6)
    declares = f"the file declares {one_of(declared)}" if declared else "the file declares no parameters"
    if declared:
        fix = (f"Did you mean '{close[0]}'? " if close else "") + f"Set one the file declares: {', '.join(declared)}."
    else:
        fix = f"Check the name; to add a parameter, declare {name} under parameters: and use it in an equation."
    return ProblemError(f"there is no parameter '{name}': {declares}, and no expression uses '{name}', "
                        "so setting it would change nothing", location=location, fix=fix)


def _names_used(document: Dict[str, Any]) -> set:
    """Every name in the expressions of the document (text that does not tokenize is refused later, when parsed).

    Each list, mapping and text is read once: YAML aliases can share one many times, or hold itself (&a [*a]).
    """
    names, seen, texts = set(), set(), set()
    pending = [document.get(section) for section in _EXPRESSION_SECTIONS]
    while pending:
        item = pending.pop()
        if isinstance(item, (dict, list)):
            if id(item) in seen:
                continue
            seen.add(id(item))
            pending.extend(item.values() if isinstance(item, dict) else item)
        elif isinstance(item, str) and item not in texts:
            texts.add(item)
            try:
                names.update(token.text for token in tokenize(item) if token.kind == "name")
            except ExpressionError:
                continue
    return names


def blame_override(error: ProblemError, overrides: Sequence) -> ProblemError:
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
