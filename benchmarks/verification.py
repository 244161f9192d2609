#!/usr/bin/env python
"""Every problem file checked by pinn's self-check, before and after causal training (issue: never silently wrong).

    python benchmarks/verification.py                 # every problems/*.yaml, defaults and growth off: ~15 min on 2 cores
    python benchmarks/verification.py problems/logistic.yaml --set training.points=256
    python benchmarks/verification.py --json out.json # also write every figure
    python benchmarks/verification.py --smoke         # tiny settings on two files: checks the script runs

For each problem: the verdict of pinn's checks (pinn.verification), the
relative L2 error of each unknown against its exact solution or scipy
reference, each check's figure, and the training time, with pinn's defaults
("after") and with ``training.causal=off training.refine=0`` ("before": no
repairs, which is pinn's training before this issue, step for step).  A
problem whose solve passed without a repair trains the same way both ways, so
it is run once.  Prints
the ratio of training times after/before.  Figures from one machine, one run each.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ["training.adam.steps=80", "training.growth=70", "training.lbfgs.steps=5", "training.steps_per_call=10",
         "training.points=16", "output.points=21", "training.jit_compile=false", "training.lm.steps=5"]  # the logistic fails and is repaired
SMOKE_PROBLEMS = ["quadratic.yaml", "logistic.yaml"]
BEFORE = ["training.causal=off", "training.refine=0", "training.windows=1"]


def solve_once(path: Path, overrides):
    """(verdict, errors, checks, train seconds, steps, growth used) of one solve."""
    import pinn

    problem = pinn.load_problem(path, overrides)
    run = pinn.run_problem(problem, None, plot=False)
    solution = run.solution
    errors = {u: e.get("relative_l2") for u, e in run.metrics.get("errors", {}).items()}
    checks = [c.as_dict() for c in solution.verification.checks]
    return {"verdict": solution.verification.verdict, "status": solution.status.value, "errors": errors, "checks": checks,
            "train_seconds": solution.training.train_seconds, "steps": solution.training.summary(),
            "repaired": bool(solution.attempts) or any(p.name == "refine" for p in solution.training.phases),
            "attempts": [dict(a) for a in solution.attempts]}


def _worst(errors) -> str:
    values = [v for v in errors.values() if v is not None]
    return f"{max(values):.1e}" if values else "-"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="extra override")
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    parser.add_argument("--smoke", action="store_true", help="tiny settings on two files: checks the script, figures mean nothing")
    parser.add_argument("problems", nargs="*", help="problem files (default: problems/*.yaml)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    overrides = (SMOKE if args.smoke else []) + args.overrides
    if args.problems:
        paths = [Path(p) for p in args.problems]
    elif args.smoke:
        paths = [ROOT / "problems" / name for name in SMOKE_PROBLEMS]
    else:
        paths = sorted((ROOT / "problems").glob("*.yaml"))
    print(f"# pinn self-check benchmark{' (smoke)' if args.smoke else ''}: {len(paths)} problems, overrides {overrides or 'none'}")
    if args.smoke:
        print("SMOKE RUN: tiny budgets; it checks that the script runs, the figures below mean nothing as measurements")
    print("| problem | verdict before | verdict after | worst rel. L2 before | after | train s before | after | ratio | failed checks after |")
    print("|---|---|---|---|---|---|---|---|---|")
    results, started = [], time.time()
    for path in paths:
        after = solve_once(path, overrides)
        if after["attempts"]:
            first = after["attempts"][0]
            after["train_seconds"] += first["train_seconds"]  # the failed attempt's time counts
        before = solve_once(path, overrides + BEFORE) if after["repaired"] else after
        ratio = after["train_seconds"] / before["train_seconds"] if before["train_seconds"] else float("nan")
        failed = "; ".join(f"{c['name']} {c['figure'] if c['figure'] is None else format(c['figure'], '.1e')}"
                           for c in after["checks"] if not c["passed"]) or "-"
        print(f"| {path.stem} | {before['verdict']} | {after['verdict']} | {_worst(before['errors'])} | {_worst(after['errors'])} | "
              f"{before['train_seconds']:.1f} | {after['train_seconds']:.1f} | {ratio:.2f} | {failed} |", flush=True)
        results.append({"problem": path.stem, "before": before, "after": after, "time_ratio": ratio})
    verified = sum(r["after"]["verdict"] == "verified" for r in results)
    print(f"\n{verified} of {len(results)} verified with the defaults; {time.time() - started:.0f} s in all.")
    if args.json:
        args.json.write_text(json.dumps({"mode": "smoke" if args.smoke else "full", "overrides": overrides, "results": results},
                                        indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
