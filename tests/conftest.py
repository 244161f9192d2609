"""Shared test setup: quiet TensorFlow, paths, and a cache of solved problems.

TF_CPP_MIN_LOG_LEVEL must be set before TensorFlow is first imported, which
is why it is set here at import time (pytest imports conftest first).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import io  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = ROOT / "problems"

#: The self-check's thresholds so loose that only non-finite figures fail: for runs
#: too short to be accurate, where what is tested is not the accuracy.  Tests of
#: the checks themselves (tests/test_verification.py) use the defaults.
UNCHECKED = ("verify.tolerance=1e9", "verify.residual=1e9", "verify.generalisation=1e9", "verify.conditions=1e9",
             "verify.parameters=1e9")

#: Short training where accuracy is not the point (XLA off: it costs ~2 s of
#: compilation per solve and changes nothing but speed on such short runs).
SHORT = ("training.adam.steps=300", "training.lbfgs.steps=100", "training.jit_compile=false", "training.growth=0", *UNCHECKED)

#: Shortest training that still runs both phases (smoke tests).
TINY = (
    "training.adam.steps=50", "training.lbfgs.steps=10", "training.steps_per_call=50",
    "training.points=32", "output.points=51", "training.jit_compile=false", "training.growth=0", *UNCHECKED,
)


class Terminal(io.StringIO):
    """A text stream that says it is a terminal (for progress displays, which show only to a watcher)."""

    def isatty(self) -> bool:
        return True


def problem_path(name: str) -> Path:
    return PROBLEMS / f"{name}.yaml"


_SOLVED = {}

#: problem -> (exit status, training status) of tests/test_problems.py's smoke runs, filled as they run.
SMOKE_EXITS = {}


def pytest_terminal_summary(terminalreporter):
    """The smoke runs' exit status per problem file, in the closing summary (not among the progress dots)."""
    if SMOKE_EXITS:
        terminalreporter.write_sep("-", "exit status per problem file (short smoke settings)")
        for name, (code, status) in sorted(SMOKE_EXITS.items()):
            terminalreporter.write_line(f"  {name:<20} exit {code}  {status}")


def solved(name: str, overrides=()):
    """pinn.solve of problems/<name>.yaml with ``overrides``, solved once per session."""
    import pinn

    key = (name, tuple(overrides))
    if key not in _SOLVED:
        _SOLVED[key] = pinn.solve(pinn.load_problem(problem_path(name), list(overrides)))
    return _SOLVED[key]


@pytest.fixture(scope="session")
def solve_once():
    """The session cache of solved problem files: ``solve_once(name, overrides)``."""
    return solved


def is_two_variable(path) -> bool:
    """A problem file with ``variables:`` (a PDE on a rectangle), read as YAML without pinn."""
    import yaml

    document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return isinstance(document, dict) and "variables" in document


def one_variable(paths):
    """The one-variable problem files among ``paths`` (the two-variable ones have tests of their own: test_pde_*.py)."""
    return [p for p in paths if not is_two_variable(p)]
