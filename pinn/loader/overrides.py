"""``--set KEY=VALUE``: dotted paths into the document (list items by index), applied before it is checked.

A fault in a value set this way is reported at its ``--set``, not at the file's
field (:func:`blame_override`).
"""

from __future__ import annotations

import copy
import re
from typing import Any, Dict, Iterable, Mapping, Sequence, Tuple, Union

import yaml

from ..errors import ProblemError, did_you_mean
from .fields import TOP_LEVEL_KEYS
from .yaml_text import Loader


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
    """Set each dotted path (list items by index) in a copy of ``document``."""
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
