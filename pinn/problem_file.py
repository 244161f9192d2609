"""Read a problem file (YAML) into a validated :class:`~pinn.problem.Problem`.

With :mod:`pinn.loader`, the only code that reads YAML.  Steps: safe-load the
file, apply dotted-path overrides (``training.adam.steps=500``), check every
key and value, parse the expressions, resolve names, infer unknowns and
orders, classify the problem, and fill defaults.  Every fault raises
:class:`~pinn.errors.ProblemError` naming the file, the field, what is wrong
and the fix.

These are the entry points; the steps, one concern per module, are in
:mod:`pinn.loader` (its docstring maps them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Tuple, Union

from .errors import ProblemError
from .loader.build import build
from .loader.fields import TOP_LEVEL_KEYS
from .loader.limits import LIMITS, MAX_DATA_BYTES, MAX_NAME, MAX_PROBLEM_BYTES
from .loader.overrides import apply_overrides, blame_override, parse_override
from .loader.user_files import Unreadable, read_user_file
from .loader.values import Context, describe
from .loader.yaml_text import PROBLEM_FIX, TOO_BIG_FIX, load_yaml
from .problem import Problem

__all__ = [
    "LIMITS", "MAX_DATA_BYTES", "MAX_NAME", "MAX_PROBLEM_BYTES", "TOP_LEVEL_KEYS", "apply_overrides", "load_problem",
    "parse_override", "problem_from_dict", "problem_from_text",
]


def load_problem(path: Union[str, Path], overrides: Iterable[Union[str, Tuple[str, Any]]] = ()) -> Problem:
    """Read, override and validate the problem file at ``path``.

    ``overrides`` are ``"dotted.key=value"`` strings (values read as YAML) or
    ``(key, value)`` pairs, applied before validation.
    """
    path = Path(path)
    file = str(path)
    try:
        data = read_user_file(path, MAX_PROBLEM_BYTES)
    except Unreadable as problem:
        raise ProblemError(problem.message, file=file, fix=f"{problem.fix} {PROBLEM_FIX}" if problem.fix else TOO_BIG_FIX) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ProblemError(f"cannot read the file: {error}", file=file, fix="Save it as UTF-8 text.") from None
    document = load_yaml(text, file)
    return problem_from_dict(document, file=file, base_dir=path.parent, default_name=path.stem, overrides=overrides)


def problem_from_text(text: str, overrides: Iterable = (), *, name: str = "problem", base_dir: Union[str, Path] = ".") -> Problem:
    """Validate a problem given as YAML text (for notebooks and tests)."""
    return problem_from_dict(load_yaml(text, None), base_dir=base_dir, default_name=name, overrides=overrides)


def problem_from_dict(
    document: Any,
    *,
    file: Optional[str] = None,
    base_dir: Union[str, Path, None] = None,
    default_name: str = "problem",
    overrides: Iterable = (),
) -> Problem:
    """Validate a problem given as a mapping shaped like the YAML file."""
    ctx = Context(file, Path(base_dir) if base_dir is not None else Path("."))
    if document is None:
        raise ctx.error("the file is empty", fix="Write at least equations: and conditions: (see problems/quadratic.yaml).")
    if not isinstance(document, dict):
        raise ctx.error(f"the file must be a mapping of fields (name:, equations:, ...), got {describe(document)}",
                        fix="Start lines with field names such as equations: and conditions:.")
    overrides = list(overrides.items()) if isinstance(overrides, Mapping) else list(overrides)
    try:
        document = apply_overrides(document, overrides)
    except ProblemError as error:
        raise error.with_file(file) from None
    try:
        return build(ctx, document, file, default_name)
    except ProblemError as error:
        raise blame_override(error, overrides) from None
