"""Errors a user can act on.

A :class:`ProblemError` says which file, which place in it (``equations[1]``,
``--set training.seed``), what is wrong and how to fix it, and, for an
expression, shows the text with a caret under the offending column.  A solve
that fails on a valid problem is not an exception: it is the Solution's status.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence, Tuple


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


#: Characters of the quoted source shown either side of the caret; the rest is cut to "...".
SOURCE_WINDOW = 80
#: Longest message or fix printed whole; longer ones (a huge value echoed back) are cut in the middle.
MAX_MESSAGE = 2_000


def cut(text: str, limit: int = 40) -> str:
    """``text`` if at most ``limit`` characters, else its start and end around ``...``."""
    text = str(text)
    if len(text) <= limit:
        return text
    keep = max(1, limit - 3)
    return text[: keep - keep // 3] + "..." + text[len(text) - keep // 3:]


def _printable(text: str) -> str:
    """Control characters (a newline in a quoted expression) as spaces, so the caret stays aligned."""
    return "".join(c if c.isprintable() else " " for c in text)


def source_window(source: str, start: int, end: int) -> Tuple[str, int, int]:
    """The shown part of ``source`` around columns [start, end) and the caret's columns in it."""
    low = max(0, start - SOURCE_WINDOW)
    high = min(len(source), min(end, start + SOURCE_WINDOW) + SOURCE_WINDOW)
    shown = _printable(source[low:high])
    offset = start - low
    if low > 0:
        shown, offset = "..." + shown, offset + 3
    if high < len(source):
        shown += "..."
    width = max(1, min(end, start + SOURCE_WINDOW, high + 1) - start)
    return shown, offset, width


def one_of(choices: Sequence[str]) -> str:
    """``"a, b or c"`` for a message listing valid choices."""
    choices = [str(c) for c in choices]
    if not choices:
        return "(none)"
    if len(choices) == 1:
        return choices[0]
    return ", ".join(choices[:-1]) + " or " + choices[-1]


class PinnError(Exception):
    """Base class of the errors pinn raises on purpose."""


@dataclass(eq=False)  # not frozen: raising sets __traceback__, which a frozen instance refuses inside a @contextmanager
class ExpressionError(PinnError):
    """A fault inside one expression: the message, a fix and the columns it spans.

    Raised by the parser and resolver, which know nothing of files; the
    problem loader turns it into a :class:`ProblemError` with file and field.
    """

    message: str
    fix: str = ""
    span: Tuple[int, int] = (0, 0)

    def __str__(self) -> str:
        return self.message + (f" {self.fix}" if self.fix else "")


class ProblemError(PinnError):
    """An invalid problem: file, location, message, fix and the offending text."""

    def __init__(
        self,
        message: str,
        *,
        file: Optional[str] = None,
        location: Optional[str] = None,
        fix: str = "",
        source: Optional[str] = None,
        span: Optional[Tuple[int, int]] = None,
    ):
        self.message = message
        self.file = file
        self.location = location
        self.fix = fix
        self.source = source
        self.span = span
        super().__init__(self.render())

    def with_file(self, file: Optional[str]) -> "ProblemError":
        """A copy that names ``file`` (if it named none)."""
        if self.file or not file:
            return self
        return ProblemError(
            self.message, file=file, location=self.location, fix=self.fix,
            source=self.source, span=self.span,
        )

    def render(self) -> str:
        """The message as printed to the user, on several lines."""
        head = ": ".join(p for p in (self.file, self.location and cut(self.location, 200)) if p)
        text = f"{head}: " if head else ""
        if self.source is not None and self.span is None:
            text += f'"{_printable(cut(self.source, 2 * SOURCE_WINDOW))}": '
        text += cut(self.message, MAX_MESSAGE)
        lines = [text]
        if self.source is not None and self.span is not None:
            start, end = self.span
            start = max(0, min(start, len(self.source)))
            shown, offset, width = source_window(self.source, start, min(end, len(self.source) + 1))
            lines.append("    " + shown)
            lines.append("    " + " " * offset + "^" * width)
        if self.fix:
            lines.append("  " + cut(self.fix, MAX_MESSAGE))
        return "\n".join(lines)

    def __str__(self) -> str:  # the rendered text, not the bare message
        return self.render()


class PiecewiseLinearWarning(UserWarning):
    """A network with piecewise-linear activations: its second derivative is zero almost everywhere."""
