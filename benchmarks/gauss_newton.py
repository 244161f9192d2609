#!/usr/bin/env python
"""Levenberg–Marquardt (the phase ``lm``) against pinn's defaults: the Gauss–Newton issue's targets, side by side.

    python benchmarks/gauss_newton.py                    # all three parts: ~30-40 min on 2 cores
    python benchmarks/gauss_newton.py --part iteration   # one LM iteration and its split
    python benchmarks/gauss_newton.py --part targets     # quadratic, harmonic, Lotka-Volterra, inverse decay
    python benchmarks/gauss_newton.py --part shipped --candidate "training.phases=[adam,lm,refine]"
    python benchmarks/gauss_newton.py --smoke            # tiny settings: checks the script runs, figures mean nothing

Parts:

* ``iteration``: one LM iteration at 1-64-64-1, 128 points, float64 (the
  quadratic), median of 20 after 3 warm-up iterations, split into the
  Jacobian (the compiled vectorised per-point Jacobian and the normal
  matrix), the solve (its Cholesky and the step) and the rest (the trial
  loss and the bookkeeping).
* ``targets``: each target problem with the candidate phases: its relative L2
  error against the exact solution (or the DOP853 reference at 1e-12 pinn
  computes), the training time and the steps.
* ``shipped``: every problems/*.yaml (noisy data fits and the ReLU demo
  aside) with pinn's defaults and with the candidate: error, verdict and
  training time of each, the medians and the total times.

One run each, on whatever machine runs it; the figures in docs/benchmarks.md
say which.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CANDIDATE = ["training.phases=[adam,lm,refine]"]
SMOKE = ["training.adam.steps=60", "training.lbfgs.steps=5", "training.lm.steps=4", "training.steps_per_call=20",
         "training.points=16", "output.points=21", "training.jit_compile=false", "training.growth=0", "network.hidden=[8,8]"]
LEFT_OUT = {"inverse_decay_noisy.yaml", "seed_relu_fit.yaml"}  # a noisy fit has no exact answer; ReLU cannot solve an ODE
TARGETS = [  # (problem file, extra overrides, what the issue asks)
    ("quadratic.yaml", [], "1e-12; 1e-10 within 3 s"),
    ("harmonic.yaml", [], "1e-10"),
    ("lotka_volterra.yaml", [], "1e-9 within 30 s"),
    ("inverse_decay.yaml", [], "k to 1e-9 relative"),
]


def solve(path: Path, overrides):
    """{error, parameter error, verdict, seconds, steps} of one run_problem with ``overrides``."""
    import pinn

    problem = pinn.load_problem(path, overrides)
    run = pinn.run_problem(problem, None, plot=False)
    solution = run.solution
    errors = [e.get("relative_l2") for e in run.metrics.get("errors", {}).values()]
    errors = [e for e in errors if e is not None]
    parameters = [p.get("relative_error") for p in run.metrics.get("parameter_errors", {}).values()]
    parameters = [p for p in parameters if p is not None]
    return {"error": max(errors) if errors else None, "parameter": max(parameters) if parameters else None,
            "verdict": solution.verification.verdict, "seconds": solution.training.train_seconds,
            "steps": solution.training.summary()}


def _e(value) -> str:
    return "-" if value is None else f"{value:.1e}"


def part_iteration(overrides) -> None:
    """Time one LM iteration and its parts on the quadratic (1-64-64-1, 128 points unless overridden)."""
    import numpy as np

    import pinn
    import pinn.levenberg_marquardt as lm

    timings = {"jacobian": [], "solve": [], "iteration": []}
    original_jacobian, original_solver, original_iterate = lm.residual_jacobian, lm.damped_solver, lm._LmRun.iterate

    def timed(name, function):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            out = function(*args, **kwargs)
            timings[name].append(time.perf_counter() - start)
            return out
        return wrapper

    def solver(jacobian, damping, normal=None):
        start = time.perf_counter()
        solve = original_solver(jacobian, damping, normal)
        factor_time = time.perf_counter() - start
        if solve is None:
            return None

        def apply(vector):
            begin = time.perf_counter()
            out = solve(vector)
            timings["solve"].append(factor_time + time.perf_counter() - begin)
            return out
        return apply

    lm.residual_jacobian = lambda context: timed("jacobian", original_jacobian(context))
    lm.damped_solver = solver
    lm._LmRun.iterate = timed("iteration", original_iterate)
    try:
        problem = pinn.load_problem(ROOT / "problems" / "quadratic.yaml",
                                    ["training.phases=[lm]", "training.lm.steps=23", *overrides])
        pinn.solve(problem)
    finally:
        lm.residual_jacobian, lm.damped_solver, lm._LmRun.iterate = original_jacobian, original_solver, original_iterate
    warm = 3
    median = {name: float(np.median(values[warm:] if len(values) > warm else values)) * 1e3 for name, values in timings.items()}
    rest = median["iteration"] - median["jacobian"] - median["solve"]
    print(f"\none LM iteration, quadratic, network {list(problem.network.hidden)}, {problem.training.points} points, "
          f"{problem.training.dtype} (median of {max(len(timings['iteration']) - warm, 1)}):")
    print(f"  total {median['iteration']:.1f} ms = Jacobian {median['jacobian']:.1f} ms + solve {median['solve']:.1f} ms "
          f"+ rest {rest:.1f} ms   (target <= 50 ms: {'met' if median['iteration'] <= 50 else 'not met'})")


def part_targets(overrides, candidate) -> None:
    print(f"\ntargets, phases as {' '.join(candidate)}:")
    print(f"  {'problem':22s} {'error':>8s} {'param':>8s} {'train s':>8s}  {'verdict':8s} steps   (target)")
    for name, extra, target in TARGETS:
        result = solve(ROOT / "problems" / name, [*candidate, *extra, *overrides])
        print(f"  {name:22s} {_e(result['error']):>8s} {_e(result['parameter']):>8s} {result['seconds']:8.1f}  "
              f"{result['verdict']:8s} {result['steps']}   ({target})", flush=True)


def part_shipped(overrides, candidate, only=None) -> None:
    files = sorted(p for p in (ROOT / "problems").glob("*.yaml") if p.name not in LEFT_OUT)
    if only:
        files = [f for f in files if f.name in only]
    print(f"\nevery shipped problem: defaults against {' '.join(candidate)}")
    print(f"  {'problem':22s} {'defaults':>9s} {'s':>6s} {'candidate':>9s} {'s':>6s}  verdicts")
    rows = []
    for path in files:
        before = solve(path, overrides)
        after = solve(path, [*candidate, *overrides])
        rows.append((before, after))
        print(f"  {path.name:22s} {_e(before['error']):>9s} {before['seconds']:6.1f} {_e(after['error']):>9s} "
              f"{after['seconds']:6.1f}  {before['verdict']} / {after['verdict']}", flush=True)
    for label, k in (("defaults", 0), ("candidate", 1)):
        errors = [r[k]["error"] for r in rows if r[k]["error"] is not None]
        seconds = sum(r[k]["seconds"] for r in rows)
        print(f"  {label:9s}: median error {_e(statistics.median(errors) if errors else None)}, "
              f"worst {_e(max(errors) if errors else None)}, total training {seconds:.0f} s, "
              f"{sum(r[k]['verdict'] == 'verified' for r in rows)}/{len(rows)} passed")
    better = sum(1 for b, a in rows if b["error"] is not None and a["error"] is not None and a["error"] <= b["error"])
    print(f"  candidate at least as accurate on {better}/{len(rows)}; time ratio candidate/defaults "
          f"{sum(r[1]['seconds'] for r in rows) / max(sum(r[0]['seconds'] for r in rows), 1e-9):.2f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["iteration", "targets", "shipped"], action="append", help="default: all three")
    parser.add_argument("--candidate", action="append", default=None, metavar="KEY=VALUE",
                        help=f"the phases to compare with the defaults (default: {' '.join(CANDIDATE)})")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="extra override")
    parser.add_argument("--smoke", action="store_true", help="tiny settings: checks the script runs, figures mean nothing")
    parser.add_argument("problems", nargs="*", help="shipped part: only these file names")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    overrides = [*(SMOKE if args.smoke else []), *args.overrides]
    candidate = args.candidate or CANDIDATE
    parts = args.part or ["iteration", "targets", "shipped"]
    only = args.problems or (["quadratic.yaml", "inverse_decay.yaml"] if args.smoke else None)
    if args.smoke:
        TARGETS[:] = TARGETS[:1]
    import pinn  # noqa: F401  (TensorFlow's start-up before the first timing)

    if "iteration" in parts:
        part_iteration(overrides)
    if "targets" in parts:
        part_targets(overrides, candidate)
    if "shipped" in parts:
        part_shipped(overrides, candidate, only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
