"""Smoke runs of every benchmark script, so that none can rot unnoticed.

The scripts in benchmarks/ import pinn's internals and nothing else runs
them.  Each test runs one script with ``--smoke`` (tiny budgets that still go
through every code path; the figures mean nothing) in a fresh interpreter
from the repository root, as a user would, and checks its exit status and
that its tables came out.  ``benchmarks/derivative_orders.py`` has no
``--smoke`` (yet) and runs with ``--quick``.

Temporary files go to the test's own folder (``TMPDIR``), ``run.py --json``
writes there too, and each test checks that the script left no new file in
the repository.  A script that hangs is stopped, with all its children, after
its time limit and fails.  The whole file takes 1.5-3 minutes on 2 shared
cores.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
MARK = "@@RESULT "  # the JSON line of run.py's workers and peer_deepxde.py --json


def _repo_paths():
    """The files a benchmark could leave behind: the repository's top level, runs/ and benchmarks/ (no caches)."""
    paths = {p.name for p in ROOT.iterdir()}
    for folder in ("runs", "benchmarks"):
        if (ROOT / folder).is_dir():
            paths |= {str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob("*") if "__pycache__" not in p.parts}
    return paths


def run_script(name, *args, tmp_path, timeout):
    """Run benchmarks/<name> with ``args`` from the repository root; its stdout, after checking it succeeded."""
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    env = dict(os.environ, TMPDIR=str(scratch), TF_CPP_MIN_LOG_LEVEL="3", PYTHONDONTWRITEBYTECODE="1")
    before = _repo_paths()
    # A session of its own, so that a hung run is stopped with every process it started (workers, batches).
    process = subprocess.Popen([sys.executable, str(BENCHMARKS / name), *args], cwd=str(ROOT), env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"{name} {' '.join(args)} did not finish within {timeout} s (stopped)\n"
                    f"--- stdout\n{stdout[-3000:]}\n--- stderr\n{stderr[-3000:]}")
    assert process.returncode == 0, (f"{name} {' '.join(args)} exited with {process.returncode}\n"
                                     f"--- stdout\n{stdout[-3000:]}\n--- stderr\n{stderr[-5000:]}")
    new = _repo_paths() - before
    assert not new, f"{name} wrote into the repository: {sorted(new)}"
    return stdout


def _has_peer() -> bool:
    """What peer_deepxde.py checks: DeepXDE and TensorFlow Probability importable."""
    return all(importlib.util.find_spec(m) is not None for m in ("deepxde", "tensorflow_probability"))


def test_run_smoke(tmp_path):
    """Every measurement of run.py, one worker process; --peer takes the path with or without DeepXDE; --json."""
    out = tmp_path / "results.json"
    stdout = run_script("run.py", "--smoke", "--peer", "--json", str(out), tmp_path=tmp_path, timeout=180)
    assert stdout.startswith("# pinn benchmark (smoke)")
    assert "SMOKE RUN" in stdout
    for header in ("## Adam: time per step", "| dtype ", "## A typical Adam run", "## L-BFGS: time per iteration",
                   "| BLAS threads ", "## Accuracy", "| problem ", "| L-BFGS budget ", "Lowest-loss weights kept",
                   "## Start-up", "## scipy's BLAS threads", "scipy's L-BFGS-B alone", "## Step budgets",
                   "## Peer: DeepXDE", "## Targets", "| target "):
        assert header in stdout, f"no {header!r} in run.py's output"
    results = json.loads(out.read_text())
    assert results["mode"] == "smoke"
    assert {"startup", "adam", "lbfgs", "blas", "scipy_lbfgs", "first_solve", "accuracy", "budgets", "peer"} <= set(results)
    peer = results["peer"]
    if _has_peer():
        assert peer["available"], peer
    else:  # the script's own "not installed" answer, not a failure to run it
        assert not peer["available"] and "not installed" in peer["reason"], peer
        assert "Using the issue's figures (quoted)" in stdout


def test_peer_deepxde_smoke(tmp_path):
    """With DeepXDE: two tiny cases and the table; without it (this project's default): says so and exits 0."""
    stdout = run_script("peer_deepxde.py", "--smoke", "--json", tmp_path=tmp_path, timeout=180)
    result = json.loads(next(line for line in stdout.splitlines() if line.startswith(MARK))[len(MARK):])
    if _has_peer():
        assert result["available"] and not result["failures"], result
        assert "SMOKE RUN" in stdout and "Adam ms/step" in stdout
        assert {r["case"] for r in result["results"]} == {"quadratic", "lotka_volterra"}
    else:
        assert "peer_deepxde: skipped:" in stdout and "is not installed" in stdout
        assert result == {"available": False, "reason": result["reason"]}


def test_peer_deepxde_pde_smoke(tmp_path):
    """With DeepXDE: Burgers and Poisson at tiny budgets, pinn and DeepXDE side by side; without it: says so, exits 0."""
    stdout = run_script("peer_deepxde_pde.py", "--smoke", "--json", tmp_path=tmp_path, timeout=180)
    result = json.loads(next(line for line in stdout.splitlines() if line.startswith(MARK))[len(MARK):])
    if _has_peer():
        assert result["available"] and not result["failures"], result
        assert "SMOKE RUN" in stdout and "DeepXDE / pinn" in stdout and "MISMATCH" not in stdout
        assert {(r["side"], r["case"]) for r in result["results"]} == {
            (side, case) for side in ("pinn", "deepxde") for case in ("burgers", "poisson")}
    else:
        assert "peer_deepxde_pde: skipped:" in stdout and "is not installed" in stdout
        assert result == {"available": False, "reason": result["reason"]}


def test_pde_smoke(tmp_path):
    """The PDE targets' script at tiny settings: heat and the inverse problem, each in its own process, a table row each."""
    figures = tmp_path / "pde.json"
    stdout = run_script("pde.py", "--smoke", "--timeout", "240", "--json", str(figures), tmp_path=tmp_path, timeout=300)
    assert "SMOKE RUN" in stdout
    results = json.loads(figures.read_text())
    assert [r["name"] for r in results] == ["heat", "inverse_noisy"]
    assert all("error" not in r and r["figure"] is not None and r["train_seconds"] > 0 for r in results), results


def test_batch_smoke(tmp_path):
    """Two tiny runs one by one (scripts/solve.py) and as one scripts/batch.py --jobs 2, into temporary folders."""
    stdout = run_script("batch.py", "--smoke", tmp_path=tmp_path, timeout=150)
    assert "# Batch benchmark: 2 quadratic runs (smoke training)" in stdout
    assert "SMOKE RUN" in stdout
    assert "| what | wall s | / one run |" in stdout
    assert "| 2 x scripts/solve.py, one by one |" in stdout
    assert "| scripts/batch.py --jobs 2 |" in stdout
    assert "target: 2 runs with --jobs 2" in stdout


def test_vectorize_smoke(tmp_path):
    """One solve, a 2-member vectorised sweep (its progress lines on stderr too) and 2 separate runs."""
    stdout = run_script("vectorize.py", "--smoke", tmp_path=tmp_path, timeout=120)
    assert "SMOKE RUN" in stdout
    for line in ("one run (seed 0):", "2 members batched:", "member rel L2:", "  seed 1: member",
                 "separate runs rel L2:", "member / separate error", "time ratio: 2 members / one run"):
        assert line in stdout, f"no {line!r} in vectorize.py's output"


def test_step_budgets_smoke(tmp_path):
    """Adam 10 and 20 on the quadratic (exact reference) and Lotka-Volterra (scipy's); no row may fail."""
    stdout = run_script("step_budgets.py", "--smoke", tmp_path=tmp_path, timeout=120)
    assert "SMOKE RUN" in stdout
    assert "| problem | Adam steps | L-BFGS its | training s | relative L2 per unknown |" in stdout
    rows = [line for line in stdout.splitlines() if line.startswith("| ") and not line.startswith("| problem")]
    assert [row.split(" | ")[:2] for row in rows] == [["| quadratic", "10"], ["| quadratic", "20"],
                                                      ["| lotka_volterra", "10"], ["| lotka_volterra", "20"]]
    assert not any("error:" in row for row in rows), rows
    assert " y " in rows[0] and " u " in rows[2] and " v " in rows[2]  # an error per unknown


def test_gpu_check_smoke(tmp_path):
    """Without a GPU: the single solve, the sweep and the placement check on the CPU; batch_on_gpus is left out."""
    stdout = run_script("gpu_check.py", "--smoke", tmp_path=tmp_path, timeout=120)
    assert "SMOKE RUN" in stdout
    assert "no GPU found: running on the CPU" in stdout or "GPUs: " in stdout
    device = "/CPU:0" if "no GPU found" in stdout else "/GPU:0"
    for line in (f"one quadratic solve on {device}:", f"2-member vectorised sweep on {device}:", "placement check:",
                 f"every operation of the vectorised Adam and L-BFGS steps ran on {device}"):
        assert line in stdout, f"no {line!r} in gpu_check.py's output"
    if device == "/CPU:0":
        assert "pinn batch --gpus all: not run (no GPU)" in stdout
    else:
        assert "devices the workers reported" in stdout


def test_derivative_orders_quick(tmp_path):
    """derivative_orders.py has no --smoke; its --quick (orders 1..5, 3 repeats) takes about 15-30 s here."""
    stdout = run_script("derivative_orders.py", "--quick", tmp_path=tmp_path, timeout=120)
    assert "# Derivatives up to order n" in stdout
    assert "| order | method |" in stdout
    for order in range(1, 6):
        for method in ("tape", "taylor"):
            assert f"| {order} | {method} |" in stdout, f"no row for order {order}, {method}"


def test_verification_smoke(tmp_path):
    """The self-check benchmark on the quadratic and the logistic, tiny settings: one row each, the JSON complete."""
    out = tmp_path / "verification.json"
    stdout = run_script("verification.py", "--smoke", "--json", str(out), tmp_path=tmp_path, timeout=180)
    assert stdout.startswith("# pinn self-check benchmark (smoke): 2 problems")
    rows = [line for line in stdout.splitlines() if line.startswith("| ") and not line.startswith("| problem")]
    assert [row.split(" | ")[0] for row in rows] == ["| quadratic", "| logistic"]
    result = json.loads(out.read_text())
    assert result["mode"] == "smoke" and [r["problem"] for r in result["results"]] == ["quadratic", "logistic"]
    for record in result["results"]:
        for side in ("before", "after"):
            assert record[side]["verdict"] in ("verified", "failed") and record[side]["checks"]


def test_gauss_newton_smoke(tmp_path):
    """The LM benchmark, tiny settings: the iteration split, one target row, two shipped rows and the summary."""
    stdout = run_script("gauss_newton.py", "--smoke", tmp_path=tmp_path, timeout=240)
    assert "one LM iteration, quadratic" in stdout and "= Jacobian" in stdout
    assert "  quadratic.yaml " in stdout.split("every shipped problem")[0]
    shipped = stdout.split("every shipped problem")[1]
    assert [line.split()[0] for line in shipped.splitlines()[2:4]] == ["inverse_decay.yaml", "quadratic.yaml"]
    assert "candidate at least as accurate on" in shipped


def test_long_bvp_smoke(tmp_path):
    """The long-BVP benchmark, tiny settings: one problem at the defaults and with subdomains, each in a fresh process."""
    out = tmp_path / "long_bvp.json"
    stdout = run_script("long_bvp.py", "--smoke", "--json", str(out), tmp_path=tmp_path, timeout=300)
    assert stdout.startswith("# pinn long-BVP benchmark (smoke)") and "SMOKE RUN" in stdout
    rows = json.loads(out.read_text())
    assert [(r["stem"], r["configuration"]) for r in rows] == [("boundary_layer_thin", "default"),
                                                               ("boundary_layer_thin", "subdomains")]
    assert all("error" not in r and set(r["errors"]) == {"y"} for r in rows), rows
    assert "| subdomains | training.subdomains" in stdout


def test_windows_smoke(tmp_path):
    """The issue-14 benchmark, tiny settings: one target row in a fresh process; the slowdown part runs its two
    solves of decay where pinn has training.windows, and says it is skipped where it has not."""
    out = tmp_path / "windows.json"
    stdout = run_script("windows.py", "--smoke", "--json", str(out), tmp_path=tmp_path, timeout=300)
    assert stdout.startswith("# pinn windows benchmark (smoke)")
    assert "SMOKE RUN" in stdout
    targets = stdout.split("## Slowdown")[0]
    assert "| problem | target | relative L2 per unknown | max | train s |" in targets
    rows = [line for line in targets.splitlines() if line.startswith("| ") and not line.startswith("| problem")]
    assert [row.split(" | ")[:2] for row in rows] == [["| van_der_pol", "1e-04"]], rows
    assert "error:" not in rows[0] and "| y " in rows[0]  # the worker ran and reported the error of each unknown
    result = json.loads(out.read_text())
    assert result["mode"] == "smoke" and [r["problem"] for r in result["targets"]] == ["van_der_pol"]
    record = result["targets"][0]
    assert record["verdict"] in ("verified", "failed") and record["windows"] >= 1 and set(record["errors"]) == {"y"}
    slowdown = result["slowdown"]
    if slowdown["available"]:
        assert "| problem | auto train s | windows | one-window train s | ratio auto/one |" in stdout
        assert [r["problem"] for r in slowdown["rows"]] == ["decay"] and slowdown["rows"][0]["ratio"] is not None
        assert "training time auto / one window: median ratio" in stdout
    else:
        assert "training.windows not available in this pinn" in stdout and "windows" in slowdown["reason"]
