"""The progress display: phase, step, loss and steps per second while a solve trains.

    pinn.solve(problem)                  # a display in a terminal or a notebook, none in a log or a pipe
    pinn.solve(problem, progress=False)  # none
    pinn.solve(problem, progress=True)   # always one (on stderr; a line every few seconds when not a terminal)
    pinn.solve(problem, progress=print)  # your own callable, given a pinn.training.Progress after each block

:func:`progress_reporter` turns the ``progress=`` argument of :func:`pinn.solve`,
:func:`pinn.run_problem` and :func:`pinn.solve_vectorized` into the callable
training reports to; the command line makes its own :class:`ProgressDisplay`
on stderr.  No TensorFlow here.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Callable, Iterator, Optional, TextIO, Union

from .problem import PHASE_LABELS

#: What ``progress=`` takes: None (on in interactive use), True, False, or a callable.
ProgressOption = Union[None, bool, Callable]


class ProgressDisplay:
    """Shows phase, step, loss and steps per second: one rewritten line on a
    terminal (or in a notebook), a line every few seconds otherwise (logs)."""

    def __init__(self, stream: TextIO, interval: float = 5.0, rewrite: Optional[bool] = None):
        self.stream = stream
        self.tty = _is_terminal(stream) if rewrite is None else rewrite
        self.interval = 0.2 if self.tty else interval
        self.last = 0.0
        self.phase = None
        self.width = 0

    def __call__(self, progress) -> None:
        now = time.monotonic()
        phase_done = progress.step >= progress.total_steps
        if progress.phase == self.phase and now - self.last < self.interval and not phase_done:
            return
        if self.phase is not None and progress.phase != self.phase and self.tty:
            self.stream.write("\n")
        self.phase = progress.phase
        self.last = now
        name = PHASE_LABELS.get(progress.phase, progress.phase).ljust(max(map(len, PHASE_LABELS.values())))
        text = (f"  {name} {progress.step:>7d}/{progress.total_steps:<7d} loss {progress.loss:9.3e}  "
                f"best {progress.best_loss:9.3e}  {progress.steps_per_second:8.0f} steps/s")
        if self.tty:
            self.stream.write("\r" + text.ljust(self.width))
            self.width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.phase is not None:
            self.stream.write("\n")
            self.stream.flush()


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def in_notebook() -> bool:
    """Running in a Jupyter (IPython kernel) notebook: Jupyter, JupyterLab, VS Code, Colab."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return getattr(shell, "kernel", None) is not None


def interactive() -> bool:
    """Someone is watching: stderr is a terminal, or this is a notebook."""
    return in_notebook() or _is_terminal(sys.stderr)


def default_display() -> ProgressDisplay:
    """The library's display: in a notebook on stdout (stderr cells look like errors), rewritten in place
    (notebooks honour the carriage return); elsewhere on stderr, as the command line shows it."""
    if in_notebook():
        return ProgressDisplay(sys.stdout, rewrite=True)
    return ProgressDisplay(sys.stderr)


@contextlib.contextmanager
def progress_reporter(progress: ProgressOption) -> Iterator[Optional[Callable]]:
    """The callable training reports to for ``progress=`` (None: a display if :func:`interactive`;
    True: a display; False: none; a callable: itself), the display's last line ended on leaving."""
    if callable(progress):
        yield progress
        return
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False, None (on in a terminal or notebook) or a callable, "
                        f"got {progress!r}")
    if progress is False or (progress is None and not interactive()):
        yield None
        return
    display = default_display()
    try:
        yield display
    finally:
        display.close()
