"""Every problem file in problems/ runs end to end through the command line.

A smoke test, not an accuracy test: the files are found by glob (a new file is
covered without touching this one), each is solved in-process with the
shortest settings that still run both phases, and the test checks the exit
status (0 solved or 1 failed, never an invalid problem or an exception) and
the five outputs.  No timing assertions.  About 3 s per problem on a 2-core
CPU (most of it tracing the tf.functions), so the module stays well under
two minutes for a dozen files.

The exit status of each problem is printed on the terminal when the module
is done.
"""

import contextlib
import io
import json

import numpy as np
import pytest

import pinn
from pinn.cli import main

from conftest import PROBLEMS

#: Shortest settings (fixed by the brief): Adam 30 steps, L-BFGS 10, no XLA, 101 output points.
SMOKE = ("training.adam.steps=30", "training.lbfgs.steps=10", "training.jit_compile=false", "output.points=101")
FILES = sorted(PROBLEMS.glob("*.yaml")) + sorted(PROBLEMS.glob("*.yml"))
OUTPUTS = ("solution.csv", "metrics.json", "plot.png", "model", "problem.yaml")

#: problem -> (exit status, training status), filled as the tests run
EXITS = {}

def test_there_are_problem_files():
    assert len(FILES) >= 10, FILES


@pytest.fixture(scope="module", autouse=True)
def exit_summary(request):
    yield
    if EXITS:
        reporter = request.config.pluginmanager.getplugin("terminalreporter")
        lines = ["", "exit status per problem file (short smoke settings):"]
        lines += [f"  {name:<20} exit {code}  {status}" for name, (code, status) in sorted(EXITS.items())]
        text = "\n".join(lines)
        capture = request.config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            if reporter is not None:
                reporter.write_line(text)
            else:  # pragma: no cover
                print(text)


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
