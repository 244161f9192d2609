#!/usr/bin/env python
"""The PDE targets of issues 15 and 16, measured at each problem file's settings, one subprocess per problem.

    python benchmarks/pde.py                       # every target (about an hour on 2 busy cores)
    python benchmarks/pde.py --only heat poisson   # some of them
    python benchmarks/pde.py --timeout 900         # seconds allowed per problem (default 900)
    python benchmarks/pde.py --json out.json       # also keep every figure
    python benchmarks/pde.py --smoke               # heat and the inverse problem at tiny settings: checks the script runs

Per problem: relative L2 error against the exact solution (or the reference:
the method of lines, or finite differences), the reference's own accuracy,
training seconds, steps, the self-check's verdict, a learned parameter's error,
and the verdict against the issue's target.  Times include compiling.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: name -> (problem file, overrides, target relative L2 error (or parameter error), what the target is)
TARGETS = {
    "heat": ("problems/heat.yaml", [], 1e-6, "u rel. L2 vs exact <= 1e-6"),
    "burgers": ("problems/burgers.yaml", [], 1e-4, "u rel. L2 vs reference <= 1e-4"),
    "allen_cahn": ("problems/allen_cahn.yaml", [], 1e-3, "u rel. L2 vs reference <= 1e-3"),
    "poisson": ("problems/poisson.yaml", [], 1e-6, "u rel. L2 vs exact <= 1e-6"),
    "helmholtz": ("problems/helmholtz.yaml", [], 1e-6, "u rel. L2 vs exact <= 1e-6"),
    "inverse_noisy": ("problems/inverse_diffusivity.yaml", [], 1e-2, "D within 1% (1% noise)"),
    "inverse_clean": ("problems/inverse_diffusivity.yaml", ["data.file=inverse_diffusivity_clean.csv", "verify.parameters=1e-6"],
                      1e-6, "D within 1e-6 (clean data)"),
    # the other shipped problems: verified (the self-check's default tolerance) within ten minutes of training
    "advection_diffusion": ("problems/advection_diffusion.yaml", [], 1e-3, "verified, u rel. L2 <= 1e-3"),
    "wave": ("problems/wave.yaml", [], 1e-3, "verified, u rel. L2 <= 1e-3"),
    "reaction_diffusion": ("problems/reaction_diffusion.yaml", [], 1e-3, "verified, u, v rel. L2 <= 1e-3"),
    "laplace_neumann": ("problems/laplace_neumann.yaml", [], 1e-3, "verified, u rel. L2 <= 1e-3"),
    "nonlinear_elliptic": ("problems/nonlinear_elliptic.yaml", [], 1e-3, "verified, u rel. L2 <= 1e-3"),
}
#: --smoke: tiny settings (the figures mean nothing), on these targets by default.
SMOKE_OVERRIDES = ["training.adam.steps=20", "training.lbfgs.steps=5", "training.lm.steps=2", "training.points=64",
                   "output.points=[11, 11]", "network.hidden=[8, 8]", "training.jit_compile=false"]
SMOKE_TARGETS = ["heat", "inverse_noisy"]
#: Every shipped problem must train within this many seconds here.
TIME_LIMIT = 600.0


def measure(name: str, smoke: bool = False) -> dict:
    """Solve one target in this process and return its figures."""
    import pinn

    path, overrides, target, what = TARGETS[name]
    problem = pinn.load_problem(ROOT / path, [*overrides, *(SMOKE_OVERRIDES if smoke else [])])
    start = time.perf_counter()
    run = pinn.run_problem(problem, progress=False, plot=False)
    wall = time.perf_counter() - start
    solution, metrics = run.solution, run.metrics
    errors = metrics["errors"]
    figure = None
    if name.startswith("inverse"):
        learned = solution.parameters["D"]
        figure = abs(learned - 0.5) / 0.5
    elif errors:
        figure = max(e["relative_l2"] for e in errors.values() if e["relative_l2"] is not None)
    reference = metrics.get("reference", {})
    verification = solution.verification
    failed = [c.name for c in verification.checks if not c.passed] if verification else []
    reached = figure is not None and figure <= target and solution.training.train_seconds <= TIME_LIMIT
    return {
        "name": name, "what": what, "target": target, "figure": figure,
        # a "verified" target also needs the self-check passed, not only the error
        "met": reached and (bool(verification and verification.passed) or not what.startswith("verified")),
        "against": ",".join(sorted({e["against"] for e in errors.values()})) or "none",
        "reference": reference.get("source"), "reference_accuracy": reference.get("accuracy"),
        "train_seconds": solution.training.train_seconds, "wall_seconds": wall, "steps": solution.training.summary(),
        "status": solution.status.value, "verified": verification.passed if verification else None,
        "failed_checks": failed,
        "parameters": {k: v for k, v in solution.parameters.items() if problem.parameter(k).trainable},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=sorted(TARGETS), default=None)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--json", default=None)
    parser.add_argument("--smoke", action="store_true", help="tiny settings: checks the script runs (figures mean nothing)")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # the child process
    arguments = parser.parse_args(argv)
    if arguments.one:
        print("@@RESULT " + json.dumps(measure(arguments.one, arguments.smoke)), flush=True)
        return 0
    names = arguments.only or (SMOKE_TARGETS if arguments.smoke else list(TARGETS))
    if arguments.smoke:
        print("SMOKE RUN: tiny settings, the figures mean nothing")
    results = []
    print(f"{'problem':15} {'target':32} {'reached':>9}  {'against':9} {'ref. acc.':>9} {'train s':>8}  {'verdict':8} steps / status")
    for name in names:
        command = [sys.executable, __file__, "--one", name, *(["--smoke"] if arguments.smoke else [])]
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=arguments.timeout, cwd=ROOT, env=env)
            line = next((l for l in done.stdout.splitlines() if l.startswith("@@RESULT ")), None)
            result = json.loads(line[len("@@RESULT "):]) if line else {"name": name, "error": done.stderr[-400:]}
        except subprocess.TimeoutExpired:
            result = {"name": name, "error": f"did not finish in {arguments.timeout:.0f} s"}
        results.append(result)
        if "error" in result:
            print(f"{name:15} {TARGETS[name][3]:32} {'-':>9}  {'-':9} {'-':>9} {'-':>8}  NOT MET  {result['error'].strip()[-160:]}")
        else:
            accuracy = result["reference_accuracy"]
            print(f"{name:15} {result['what']:32} {result['figure'] if result['figure'] is not None else float('nan'):9.2e}  "
                  f"{result['against']:9} {accuracy if accuracy is not None else float('nan'):9.1e} {result['train_seconds']:8.1f}  "
                  f"{'met' if result['met'] else 'NOT MET':8} {result['steps']} / {result['status']}"
                  f"{'' if result['verified'] else ' (failed: ' + '; '.join(result.get('failed_checks', [])) + ')'}")
        sys.stdout.flush()
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
