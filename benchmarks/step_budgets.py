#!/usr/bin/env python
"""Accuracy of every problem file under several Adam step counts (not part of run.py).

    python benchmarks/step_budgets.py                        # Adam 1000 and 2000 (pinn's default)
    python benchmarks/step_budgets.py --adam 0 1000 3000 --set training.jit_compile=false problems/decay.yaml

For each problems/*.yaml and each Adam step count: the training time, the
L-BFGS iterations run and the relative L2 error of each unknown against the
problem's reference (exact solution or scipy), as pinn's CLI reports it.
All other settings are the file's own, plus any --set overrides.  With
pinn's defaults (L-BFGS up to 4000 iterations) two step counts over all the
problem files take about 10-15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adam", type=int, nargs="+", default=[1000, 2000], help="Adam step counts to compare")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="extra override")
    parser.add_argument("problems", nargs="*", help="problem files (default: problems/*.yaml)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    import pinn
    from pinn.metrics import metrics_dict
    from pinn.reference import reference_solution

    paths = [Path(p) for p in args.problems] or sorted((ROOT / "problems").glob("*.yaml"))
    print(f"overrides: {args.overrides or 'none'}; OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    print("| problem | Adam steps | L-BFGS its | training s | relative L2 per unknown |")
    print("|---|---|---|---|---|")
    for path in paths:
        for adam in args.adam:
            try:
                problem = pinn.load_problem(path, [*args.overrides, f"training.adam.steps={adam}"])
                solution = pinn.solve(problem)
                reference = reference_solution(problem, solution.x)
                metrics = metrics_dict(problem, solution, reference, solution.equation_residuals)
                errors = {u: e.get("relative_l2") for u, e in metrics.get("errors", {}).items()}
                text = ", ".join(f"{u} {e:.1e}" if e is not None else f"{u} -" for u, e in errors.items()) or "-"
                training = solution.training
                print(f"| {path.stem} | {adam} | {training.lbfgs_steps} | {training.adam_seconds + training.lbfgs_seconds:.1f} | {text} |", flush=True)
            except Exception as error:  # keep going: one broken file must not hide the others
                print(f"| {path.stem} | {adam} | - | - | error: {type(error).__name__}: {str(error)[:120]} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
