"""Shared test setup: quiet TensorFlow, paths, and a cache of solved problems.

TF_CPP_MIN_LOG_LEVEL must be set before TensorFlow is first imported, which
is why it is set here at import time (pytest imports conftest first).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = ROOT / "problems"

#: Short training where accuracy is not the point (XLA off: it costs ~2 s of
#: compilation per solve and changes nothing but speed on such short runs).
SHORT = ("training.adam.steps=300", "training.lbfgs.steps=100", "training.jit_compile=false")

#: Shortest training that still runs both phases (smoke tests).
TINY = (
    "training.adam.steps=50", "training.lbfgs.steps=10", "training.steps_per_call=50",
    "training.points=32", "output.points=51", "training.jit_compile=false",
)


def problem_path(name: str) -> Path:
    return PROBLEMS / f"{name}.yaml"


_SOLVED = {}


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
