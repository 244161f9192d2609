"""The tokenizer of the expression language (pinn.expressions): text to tokens, and the
characters outside the language explained (lookalikes, code points)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Tuple

from .errors import ExpressionError
from .expression_nodes import Span

# ----------------------------------------------------------------------- tokenizer

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<primes>'+)
  | (?P<operator>\*\*|[-+*/^(),=])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # number | name | primes | operator | end
    text: str
    start: int

    @property
    def span(self) -> Span:
        return (self.start, self.start + max(1, len(self.text)))


_EXPLAINED_CHARACTERS = {
    '"': ("strings are not part of the language", "Remove the quotes; write y'' for a second derivative."),
    "[": ("subscripts are not allowed", "Name each quantity separately (y1, y2) instead of indexing."),
    "]": ("subscripts are not allowed", "Name each quantity separately (y1, y2) instead of indexing."),
    ".": ("attribute access is not allowed", "Expressions contain numbers, names and the listed functions only."),
    ":": ("':' is not part of the language (no lambdas or slices)", "Write a plain expression such as 2*x + 1."),
    "{": ("braces are not part of the language", "Use parentheses ( ) for grouping."),
    "}": ("braces are not part of the language", "Use parentheses ( ) for grouping."),
    "<": ("comparisons are not allowed", "Write an equation as left = right."),
    ">": ("comparisons are not allowed", "Write an equation as left = right."),
    "!": ("'!' is not part of the language", "Write an equation as left = right."),
    "%": ("'%' is not part of the language", "Use + - * / and ^ only."),
    "@": ("'@' is not part of the language", "Use + - * / and ^ only."),
    "&": ("'&' is not part of the language", "Use + - * / and ^ only."),
    "|": ("'|' is not part of the language", "Use abs(...) for an absolute value."),
    ";": ("';' is not part of the language", "Write one expression per field."),
    "#": ("'#' is not part of the language", "Write comments in YAML outside the expression."),
    "\\": ("'\\' is not part of the language", "Write one expression per field."),
}


#: Non-ASCII characters that look like a character of the language, and that character.
_LOOKALIKES = {
    "\u2212": "-", "\u2013": "-", "\u2014": "-", "\u2010": "-", "\u2011": "-", "\ufe63": "-", "\uff0d": "-",
    "\u00d7": "*", "\u22c5": "*", "\u00b7": "*", "\u2217": "*", "\uff0a": "*",
    "\u00f7": "/", "\u2215": "/", "\uff0f": "/", "\uff0b": "+", "\uff1d": "=",
    "\u2032": "'", "\u2019": "'", "\u2018": "'", "\u02b9": "'", "\u2033": "''",
    "\uff08": "(", "\uff09": ")", "\uff0c": ",", "\u03c0": "pi",
}


def _unexpected_character(char: str) -> Tuple[str, str]:
    """Message and fix for a character outside the language, naming its code point."""
    if char in _EXPLAINED_CHARACTERS:
        return _EXPLAINED_CHARACTERS[char]
    shown = f"unexpected character {char!r} (U+{ord(char):04X})"
    if char in _LOOKALIKES:
        return f"{shown}, which looks like {_LOOKALIKES[char]!r}", f"Write {_LOOKALIKES[char]!r} instead (plain ASCII)."
    category = unicodedata.category(char)
    if category == "Nd" or char.isdigit():
        return shown, "Write digits as 0-9."
    if category.startswith("L"):
        return shown, "Names are made of ASCII letters, digits and underscores (a-z, A-Z, 0-9, _), e.g. omega."
    return shown, "Use numbers, names, + - * / ^, parentheses and primes."


#: Longest expression read, in characters; checked before tokenizing (a huge text never reaches the parser).
MAX_LENGTH = 10_000


def tokenize(text: str) -> Tuple[Token, ...]:
    """Split ``text`` into tokens, refusing any character outside the language."""
    if not isinstance(text, str):
        raise ExpressionError(f"expected an expression as text, got {type(text).__name__}", "Write the expression as text, e.g. 2*x + 1.")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is {len(text):,} characters long, beyond the limit of {MAX_LENGTH:,}",
                              "Shorten it: give constant parts names under parameters:, or split it into more equations.",
                              (MAX_LENGTH, MAX_LENGTH + 1))
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            message, fix = _unexpected_character(text[position])
            raise ExpressionError(message, fix, (position, position + 1))
        kind = match.lastgroup
        if kind != "space":
            token = Token(kind, match.group(), position)
            if kind == "primes" and (not tokens or tokens[-1].kind != "name" or tokens[-1].start + len(tokens[-1].text) != position):
                raise ExpressionError(
                    "strings are not part of the language; a prime ' must follow an unknown's name directly",
                    "Write y' or y'' for derivatives, with no space before the prime.",
                    token.span,
                )
            if kind in ("name", "number") and tokens and tokens[-1].kind == "number" and tokens[-1].start + len(tokens[-1].text) == position:
                raise ExpressionError(
                    f"a number directly followed by {token.text!r}",
                    f"Write the multiplication out: {tokens[-1].text}*{token.text}.",
                    (tokens[-1].start, position + len(token.text)),
                )
            tokens.append(token)
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tuple(tokens)


# -------------------------------------------------------------------------- parser

#: Highest derivative order an expression may use.  Orders above 3 are computed
#: in Taylor mode (pinn.taylor), whose cost grows as the square of the order:
