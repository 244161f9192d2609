#!/usr/bin/env python
"""Batch throughput: twenty small runs through ``--jobs 2`` against the same runs one by one.

    python benchmarks/batch.py                 # 20 small quadratic runs (seeds 0..19), about 8 minutes on 2 cores
    python benchmarks/batch.py --defaults      # the same with pinn's default training (much longer)
    python benchmarks/batch.py --runs 8        # fewer runs
    python benchmarks/batch.py --smoke         # 2 tiny runs, then only the --jobs 2 batch: checks the script runs

The twenty "small problems" are the quadratic with seeds 0..19 and a small
budget (Adam 1000 steps, L-BFGS up to 500 iterations), so every run does
about the same work.  What is timed is what a user waits for, as whole
commands in fresh processes:

* one by one: ``scripts/solve.py problems/quadratic.yaml --seed S`` for each
  seed (Python start-up, TensorFlow import, XLA compilation, training,
  reference, report, every time); "one run" is their mean;
* the batch: ``scripts/batch.py problems/quadratic.yaml --sweep
  training.seed=0:19 --jobs J`` into a fresh folder, for J = 1 and 2.

The target of the batch issue: twenty small problems through ``--jobs 2``
finish in well under twenty times one problem's wall time.  The ratio printed
is batch time / one run (20 would be no gain at all); the accuracy of every
run in the batch is compared with the same seed run one by one (the
largest ratio is printed; 1 means identical).  Run
it on an otherwise idle machine; the load average is printed.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBLEM = ROOT / "problems" / "quadratic.yaml"
SMALL = ["--set", "training.adam.steps=1000", "--set", "training.lbfgs.steps=500"]
# The smoke runs are far too short to pass the self-check (pinn/verification.py), and a run that fails its
# checks makes scripts/solve.py and scripts/batch.py exit 1: --smoke loosens every threshold (verify.*=1e9, only
# non-finite figures fail), since it checks that the script runs, not the accuracy.
SMOKE_UNCHECKED = ("verify.tolerance=1e9", "verify.residual=1e9", "verify.generalisation=1e9", "verify.conditions=1e9",
                   "verify.parameters=1e9")
SMOKE = [item for o in ("training.adam.steps=20", "training.lbfgs.steps=5", "training.steps_per_call=10", "training.points=16",
                        "output.points=21", "training.jit_compile=false", *SMOKE_UNCHECKED) for item in ("--set", o)]


def timed(command, cwd) -> float:
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"benchmark: {' '.join(map(str, command))} failed ({completed.returncode}):\n{completed.stderr[-2000:]}")
    return seconds


def batch_errors(folder: Path):
    with open(folder / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [float(row["y.relative_l2"]) for row in rows], [row["status"] for row in rows]


def single_error(folder: Path) -> float:
    import json

    return float(json.loads((folder / "metrics.json").read_text())["errors"]["y"]["relative_l2"])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--runs", type=int, default=None, help="runs (seeds 0..runs-1; default 20, 2 with --smoke)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes of the parallel batch (default 2)")
    parser.add_argument("--defaults", action="store_true", help="pinn's default training instead of the small budget")
    parser.add_argument("--smoke", action="store_true",
                        help="2 runs of Adam 20, L-BFGS 5, XLA off, and only the --jobs batch (not --jobs 1): checks the script, figures mean nothing")
    arguments = parser.parse_args(argv)
    if arguments.smoke and arguments.defaults:
        parser.error("--smoke and --defaults are exclusive")

    settings = SMOKE if arguments.smoke else [] if arguments.defaults else SMALL
    python = sys.executable
    runs = arguments.runs if arguments.runs is not None else 2 if arguments.smoke else 20
    training = "smoke" if arguments.smoke else "default" if arguments.defaults else "small"
    print(f"# Batch benchmark: {runs} quadratic runs ({training} training), "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start\n")
    if arguments.smoke:
        print("SMOKE RUN: tiny budgets; it checks that the script runs, the figures below mean nothing as measurements\n")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        singles, single_errors = [], []
        for seed in range(runs):
            out = scratch / f"single{seed}"
            singles.append(timed([python, ROOT / "scripts" / "solve.py", PROBLEM, "--quiet", "--no-plot", "--seed", str(seed),
                                  "--out", out, *settings], ROOT))
            single_errors.append(single_error(out))
            print(f"one run, seed {seed}: {singles[-1]:.1f} s", file=sys.stderr)
        one = statistics.mean(singles)
        rows = [(f"{runs} x scripts/solve.py, one by one", sum(singles), sum(singles) / one, single_errors, ["-"])]
        # A smoke run leaves out --jobs 1: the same code here, one more TensorFlow start-up.
        for jobs in ([arguments.jobs] if arguments.smoke else sorted({1, arguments.jobs})):
            out = scratch / f"batch{jobs}"
            seconds = timed([python, ROOT / "scripts" / "batch.py", PROBLEM, "--sweep", f"training.seed=0:{runs - 1}",
                             "--jobs", str(jobs), "--quiet", "--no-plot", "--out", out, *settings], ROOT)
            errors, statuses = batch_errors(out)
            print(f"batch of {runs}, --jobs {jobs}: {seconds:.1f} s", file=sys.stderr)
            rows.append((f"scripts/batch.py --jobs {jobs}", seconds, seconds / one, errors, statuses))
    print("| what | wall s | / one run | y rel. L2 median / worst | largest error ratio to the same seed one by one |")
    print("|---|---|---|---|---|")
    for name, seconds, ratio, errors, statuses in rows:
        same = "-" if errors is single_errors else f"{max(a / b for a, b in zip(errors, single_errors)):.3g}"
        print(f"| {name} | {seconds:.1f} | {ratio:.2f} | {statistics.median(errors):.1e} / {max(errors):.1e} | {same} |")
    ratio = rows[-1][2]
    print(f"\none run: mean {one:.1f} s (min {min(singles):.1f}, max {max(singles):.1f}); "
          f"load average {os.getloadavg()[0]:.2f} at end")
    print(f"target: {runs} runs with --jobs {arguments.jobs} in well under {runs}x one run: {ratio:.1f}x -> "
          f"{'met' if ratio < runs / 2 else 'NOT met'} (counting 'well under' as below half)")


if __name__ == "__main__":
    main()
