"""The progress display (pinn/progress.py): on by default when someone watches (a terminal, a
notebook), off with progress=False, never in a log or a pipe, and the command line's own unchanged."""

import contextlib
import io
import sys
import types

import pytest

import pinn
from pinn.progress import ProgressDisplay, default_display, in_notebook, interactive, progress_reporter
from pinn.training import Progress

from conftest import TINY, Terminal, problem_path

EVENTS = [Progress("adam", 50, 100, 1e-2, 1e-3, 500.0), Progress("adam", 100, 100, 1e-3, 1e-4, 500.0),
          Progress("lbfgs", 10, 10, 1e-6, 1e-6, 50.0)]


@pytest.fixture
def notebook(monkeypatch):
    """This process as a Jupyter kernel sees it: IPython's shell has a kernel."""
    shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))


def test_display_rewrites_one_line_per_phase_on_a_terminal():
    stream = Terminal()
    display = ProgressDisplay(stream)
    for event in EVENTS:
        display(event)
    display.close()
    lines = stream.getvalue().split("\n")
    assert len(lines) == 3 and lines[-1] == ""  # one line per phase (Adam, L-BFGS), ended by close()
    assert "\r" in lines[0] and "Adam" in lines[0] and "100/100" in lines[0].rsplit("\r", 1)[-1]
    assert "L-BFGS" in lines[1] and "10/10" in lines[1] and "steps/s" in lines[1]


def test_display_writes_whole_lines_into_a_log():
    stream = io.StringIO()
    display = ProgressDisplay(stream, interval=3600)
    for event in EVENTS:
        display(event)
    display.close()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    # the first report of a phase and its last step; nothing in between within the interval
    assert [line.split()[:2] for line in lines] == [["Adam", "50/100"], ["Adam", "100/100"], ["L-BFGS", "10/10"]]


def test_interactive_means_a_terminal_or_a_notebook(monkeypatch, notebook):
    assert in_notebook() and interactive()
    display = default_display()
    assert display.stream is sys.stdout and display.tty  # the cell's output, rewritten in place
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))  # plain IPython absent
    assert not in_notebook()
    with contextlib.redirect_stderr(io.StringIO()):
        assert not interactive()
    with contextlib.redirect_stderr(Terminal()):
        assert interactive() and default_display().stream is sys.stderr


def test_progress_argument():
    with contextlib.redirect_stderr(Terminal()):
        with progress_reporter(None) as report:
            assert isinstance(report, ProgressDisplay)
        with progress_reporter(True) as report:
            assert isinstance(report, ProgressDisplay)
        with progress_reporter(False) as report:
            assert report is None
        with progress_reporter(print) as report:
            assert report is print
    with contextlib.redirect_stderr(io.StringIO()):
        with progress_reporter(None) as report:
            assert report is None  # nobody watches a pipe or a log
        with progress_reporter(True) as report:
            assert isinstance(report, ProgressDisplay)
    with pytest.raises(TypeError, match="progress must be True, False, None"):
        with progress_reporter("yes"):
            pass


def test_solve_shows_progress_in_a_terminal_unless_told_not_to():
    problem = pinn.load_problem(problem_path("quadratic"), TINY)
    terminal = Terminal()
    with contextlib.redirect_stderr(terminal):
        pinn.solve(problem)
    shown = terminal.getvalue()
    assert "Adam" in shown and "L-BFGS" in shown and "steps/s" in shown and shown.endswith("\n")

    quiet = Terminal()
    with contextlib.redirect_stderr(quiet):
        pinn.solve(problem, progress=False)
    assert quiet.getvalue() == ""


def test_solve_in_a_notebook_shows_progress_in_the_cell_output(notebook):
    problem = pinn.load_problem(problem_path("quadratic"), TINY)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        pinn.run_problem(problem)
    assert "Adam" in out.getvalue() and "\r" in out.getvalue() and err.getvalue() == ""
