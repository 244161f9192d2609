"""Every problem file in problems/ runs end to end through the command line.

A smoke test, not an accuracy test: the files are found by glob (a new file is
covered without touching this one), each is solved in-process with the
shortest settings that still run both phases, and the test checks the exit
status (0 solved or 1 failed, never an invalid problem or an exception) and
the five outputs.  No timing assertions.  About 3 s per problem on a 2-core
CPU (most of it tracing the tf.functions), so the module stays well under
two minutes for a dozen files.

The exit status of each problem is printed in pytest's closing summary
(conftest.pytest_terminal_summary), after the progress dots.
"""

import contextlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pinn
from pinn.cli import main

from conftest import PROBLEMS, SMOKE_EXITS, one_variable

#: Shortest settings (fixed by the brief): Adam 30 steps, L-BFGS 10, no XLA, 101 output points; one window (no march); and no growth
#: steps, so that an initial-value problem whose 30-step solve fails its check is not retried with the
#: 8000 Adam steps of training.growth (the retry is tested in test_collocation.py).
SMOKE = ("training.adam.steps=30", "training.lbfgs.steps=10", "training.jit_compile=false", "output.points=101",
         "training.growth=0", "training.windows=1")
FILES = one_variable(sorted(PROBLEMS.glob("*.yaml")) + sorted(PROBLEMS.glob("*.yml")))  # two variables: test_pde_problems.py
OUTPUTS = ("solution.csv", "metrics.json", "plot.png", "model", "problem.yaml")

#: problem -> (exit status, training status), filled as the tests run, printed at the end by conftest
EXITS = SMOKE_EXITS


def test_there_are_problem_files():
    assert len(FILES) >= 10, FILES


def test_exit_table_is_printed_after_the_progress_dots(tmp_path):
    # it was written from a module fixture's teardown, so it landed among the dots of the next test file
    tests = Path(__file__).resolve().parent
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'inner'}",
               f"{tests / 'test_problems.py'}::test_problem_file_runs_end_to_end[quadratic]", str(tests / "test_domain.py")]
    result = subprocess.run(command, cwd=tests.parent, capture_output=True, text=True, timeout=600)
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    table = next(i for i, line in enumerate(lines) if "exit status per problem file" in line)
    dots_end = next(i for i, line in enumerate(lines) if "[100%]" in line)
    assert dots_end < table, result.stdout
    assert re.match(r"^  quadratic\s+exit [01]  \w+$", lines[table + 1]), result.stdout


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_problem_file_runs_end_to_end(path, tmp_path):
    problem = pinn.load_problem(path, SMOKE)  # a shipped problem file must be valid
    folder = tmp_path / problem.name
    argv = [str(path), "--out", str(folder), "--quiet"]
    for item in SMOKE:
        argv += ["--set", item]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as exit:  # pragma: no cover - would be a command-line error
            status = exit.code
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8")) if (folder / "metrics.json").exists() else {}
    EXITS[path.stem] = (status, metrics.get("status"))

    assert status in (0, 1), err.getvalue()
    assert out.getvalue() == ""  # --quiet
    assert "Traceback" not in err.getvalue()
    missing = [name for name in OUTPUTS if not (folder / name).exists()]
    assert not missing, missing

    # the exit status and the recorded status tell the same story
    assert metrics["problem"] == problem.name
    if status == 0:
        assert metrics["status"] in ("converged", "max_steps"), metrics
    else:
        assert metrics["status"] not in ("converged", "max_steps"), metrics
        assert "the solve failed" in err.getvalue()

    # solution.csv: the variable, each unknown and its derivatives, one row per output point
    header = (folder / "solution.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    expected = [problem.variable] + [u + "'" * k for u in problem.unknowns for k in range(problem.reported_orders[u] + 1)]
    assert header[: len(expected)] == expected, header
    table = np.loadtxt(folder / "solution.csv", delimiter=",", skiprows=1, ndmin=2)
    assert table.shape == (101, len(header))

    # the model reloads; the problem as run keeps the overrides
    again = pinn.load_problem(folder / "problem.yaml")
    assert again.training.adam.steps == 30 and again.output.points == 101
    assert (folder / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
