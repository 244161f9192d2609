"""YAML text to plain values: safe loading only, with faults said in the user's terms.

:class:`Loader` is a :class:`yaml.SafeLoader` (never a Python object) that
reads only true/false as booleans, 1e-3 as a number, no implicit dates, and
refuses a key given twice.  :func:`load_yaml` turns every YAML fault into a
:class:`~pinn.errors.ProblemError` at its line and column, with a fix.
"""

from __future__ import annotations

import re
from typing import Any, Optional

import yaml

from ..errors import ProblemError, cut
from .limits import MAX_PROBLEM_BYTES

PROBLEM_FIX = "Problem files are YAML, e.g. problems/quadratic.yaml."
TOO_BIG_FIX = "A problem file is a page of text: put observations in a CSV beside it (data: {file: observations.csv})."


class Loader(yaml.SafeLoader):
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
Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers
          if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp")]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
Loader.add_implicit_resolver(
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


Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


#: A piece of PyYAML's problem text and the fix to suggest for it.
_YAML_FIXES = (
    ("appears twice", "Keep one of them (merge their contents)."),
    ("digits cannot be read", "Write a number below 1e308 in size, e.g. 1.5e20."),
    ("cannot be read as", "Write a valid value there, or quote it to make it text (and drop any !!tag)."),
    ("expected a mapping or list of mappings for merging", "Merge (<<: *name) only mappings defined with &name."),
)


def load_yaml(text: str, file: Optional[str]) -> Any:
    """The plain value (mapping, list, scalar) the YAML ``text`` holds; a fault as a ProblemError at its line."""
    if len(text) > MAX_PROBLEM_BYTES:
        raise too_big(file, len(text))
    try:
        return yaml.load(text, Loader=Loader)  # Loader is a yaml.SafeLoader subclass: no Python objects
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


def too_big(file: Optional[str], size: int) -> ProblemError:
    return ProblemError(f"the problem is {size:,} characters of text, beyond the limit of {MAX_PROBLEM_BYTES:,} (1 MB)",
                        file=file, fix=TOO_BIG_FIX)
