#!/usr/bin/env python
"""Accuracy of every problem file under several Adam step counts (not part of run.py).

    python benchmarks/step_budgets.py                        # Adam 1000 and 2000 (pinn's default)
    python benchmarks/step_budgets.py --adam 0 1000 3000 --set training.jit_compile=false problems/decay.yaml
    python benchmarks/step_budgets.py --smoke                # tiny budgets on two files: checks the script runs

For each problems/*.yaml and each Adam step count: the training time, the
L-BFGS iterations run and the relative L2 error of each unknown against the
problem's reference (exact solution or scipy), as pinn's CLI reports it.
All other settings are the file's own, plus any --set overrides.  With
pinn's defaults (L-BFGS up to 4000 iterations) two step counts over all the
problem files take about 10-15 minutes on 2 cores.  ``--smoke`` runs Adam 10
and 20 steps, L-BFGS 5, 16 points, 21 output points, XLA off, on
quadratic.yaml (exact reference) and lotka_volterra.yaml (scipy reference)
unless files are named: its figures mean nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ["training.lbfgs.steps=5", "training.steps_per_call=10", "training.points=16", "output.points=21",
         "training.jit_compile=false", "training.windows=1"]
SMOKE_ADAM = [10, 20]
SMOKE_PROBLEMS = ["quadratic.yaml", "lotka_volterra.yaml"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adam", type=int, nargs="+", default=None, help="Adam step counts to compare (default 1000 2000; 10 20 with --smoke)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="extra override")
    parser.add_argument("--smoke", action="store_true", help="tiny budgets on two problem files: checks the script, figures mean nothing")
    parser.add_argument("problems", nargs="*", help="problem files (default: problems/*.yaml)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    import pinn

    adam_counts = args.adam or (SMOKE_ADAM if args.smoke else [1000, 2000])
    overrides = [*(SMOKE if args.smoke else ()), *args.overrides]
    default = [ROOT / "problems" / name for name in SMOKE_PROBLEMS] if args.smoke else sorted((ROOT / "problems").glob("*.yaml"))
    paths = [Path(p) for p in args.problems] or default
    if args.smoke:
        print("SMOKE RUN: tiny budgets; it checks that the script runs, the figures below mean nothing as measurements")
    print(f"overrides: {overrides or 'none'}; OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    print("| problem | Adam steps | L-BFGS its | training s | relative L2 per unknown |")
    print("|---|---|---|---|---|")
    failed = 0
    for path in paths:
        for adam in adam_counts:
            try:
                problem = pinn.load_problem(path, [*overrides, f"training.adam.steps={adam}"])
                solution = pinn.solve(problem)
                reference = pinn.reference_solution(problem, solution.x)
                metrics = pinn.metrics_dict(problem, solution, reference, solution.equation_residuals)
                errors = {u: e.get("relative_l2") for u, e in metrics.get("errors", {}).items()}
                text = ", ".join(f"{u} {e:.1e}" if e is not None else f"{u} -" for u, e in errors.items()) or "-"
                training = solution.training
                print(f"| {path.stem} | {adam} | {training.lbfgs_steps} | {training.train_seconds:.1f} | {text} |", flush=True)
            except Exception as error:  # keep going: one broken file must not hide the others
                failed += 1
                print(f"| {path.stem} | {adam} | - | - | error: {type(error).__name__}: {str(error)[:120]} |", flush=True)
    # A smoke run is a check: a row that failed fails it (a full run reports the row and carries on).
    return 1 if args.smoke and failed else 0


if __name__ == "__main__":
    sys.exit(main())
