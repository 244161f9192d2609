"""Reading one value of the file: a whole number, a number, a choice, a name, an expression.

Every reader takes the :class:`Context` (the file, for the error), the value
and its location (``training.adam.steps``), and returns the value checked or
raises :class:`~pinn.errors.ProblemError` saying what is wrong and the fix.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from .. import expressions as ex
from ..errors import ExpressionError, ProblemError, cut, did_you_mean, one_of

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass
class Context:
    """The file being read (None for text or a dict) and the folder its data files are named from."""

    file: Optional[str]
    base_dir: Path

    def error(self, message: str, location: Optional[str] = None, fix: str = "", **extra) -> ProblemError:
        return ProblemError(message, file=self.file, location=location, fix=fix, **extra)


def describe(value: Any) -> str:
    """A value as a message names it: ``the boolean true``, ``an empty list``, ``'abc'``."""
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


def check_keys(ctx: Context, mapping: Any, allowed: Sequence[str], location: str) -> Dict[str, Any]:
    """The mapping (``{}`` for nothing), refused if it is not one or has a key outside ``allowed``."""
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise ctx.error(f"expected a mapping (key: value lines), got {describe(mapping)}", location,
                        f"Write it as keys under {location.split('.')[-1] or 'the file'}: {', '.join(allowed)}.")
    for key in mapping:
        if str(key) not in allowed:
            where = f"{location}.{key}" if location else str(key)
            raise ctx.error(f"unknown key '{cut(key)}'", where,
                            f"Allowed keys here: {', '.join(allowed)}.{did_you_mean(str(key), allowed)}")
    return mapping


def integer(ctx: Context, value: Any, location: str, minimum: int, maximum: Optional[int] = None) -> int:
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?[0-9]{1,30}\s*", value):
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ctx.error(f"expected a whole number, got {describe(value)}", location, f"Write a whole number >= {minimum}.")
    if value < minimum:
        raise ctx.error(f"{describe(value)} is too small: it must be at least {minimum}", location, f"Use a whole number >= {minimum}.")
    if maximum is not None and value > maximum:
        raise ctx.error(f"{describe(value)} is beyond the limit of {maximum:,}", location, f"Use at most {maximum:,}.")
    return value


def number(ctx: Context, value: Any, location: str, positive: bool = False) -> float:
    """A finite float; text is read as a constant expression (``2*pi``, ``1e-3``)."""
    if isinstance(value, str):
        try:
            value = ex.constant_value(ex.parse_expression(value))
        except (ExpressionError, ValueError, KeyError):
            raise ctx.error(f"expected a number, got {value!r}", location, "Write a number such as 0.001 or 1e-3.") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ctx.error(f"expected a number, got {describe(value)}", location, "Write a number such as 0.001 or 1e-3.")
    try:
        value = float(value)
    except OverflowError:  # a whole number of more than 308 digits
        raise ctx.error(f"{describe(value)} is too large for a floating-point number", location,
                        "Use a number below 1e308 in size (rescale the problem if needed).") from None
    if not math.isfinite(value):
        raise ctx.error(f"{value} is not a finite number", location, "Write a finite number.")
    if positive and value <= 0:
        raise ctx.error(f"{value:g} must be positive", location, "Write a number greater than 0.")
    return value


def nonnegative(ctx: Context, value: Any, location: str) -> float:
    """A number >= 0 (a loss weight)."""
    value = number(ctx, value, location)
    if value < 0:
        raise ctx.error(f"{value:g} is negative", location, "Loss weights must be >= 0.")
    return value


def boolean(ctx: Context, value: Any, location: str) -> bool:
    if not isinstance(value, bool):
        raise ctx.error(f"expected true or false, got {describe(value)}", location, "Write true or false.")
    return value


def choice(ctx: Context, value: Any, choices: Sequence[str], location: str) -> str:
    if not isinstance(value, str) or value not in choices:
        shown = cut(value) if isinstance(value, str) else describe(value)
        raise ctx.error(f"'{shown}' is not one of {one_of(choices)}", location,
                        f"Use one of: {', '.join(choices)}.{did_you_mean(str(value), choices)}")
    return value


def text(ctx: Context, value: Any, location: str) -> str:
    """The text of an expression or equation (a number is its text too)."""
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        raise ctx.error(f"expected an expression, got {describe(value)}", location,
                        "Write the expression as text, e.g. y'' = 2 (quote it if YAML misreads it).")
    return str(value)


def parse(ctx: Context, source: str, location: str, equation: bool) -> Any:
    """The parsed equation (``left = right``) or expression; a parse error with a caret under its column."""
    try:
        return ex.parse_equation(source) if equation else ex.parse_expression(source)
    except ExpressionError as error:
        raise ctx.error(error.message, location, error.fix, source=source, span=error.span) from None


def identifier(ctx: Context, name: Any, location: str, what: str) -> str:
    """A name for ``what`` (the variable, an unknown, a parameter): not a function's or a constant's."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name) or name.startswith("__"):
        raise ctx.error(f"{describe(name)} is not a valid name for {what}", location,
                        "Use letters, digits and underscores, starting with a letter (e.g. y, u1, omega).")
    if ex.canonical_function(name) or name == "diff":
        raise ctx.error(f"'{name}' is a function name and cannot name {what}", location, "Choose another name.")
    if name in ex.CONSTANTS:
        raise ctx.error(f"'{name}' is the constant {ex.CONSTANTS[name]:.6g} and cannot name {what}", location, "Choose another name.")
    return name


def plain(value: Any) -> Any:
    """A copy made of plain dicts, lists, strings and numbers, for safe_dump."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
