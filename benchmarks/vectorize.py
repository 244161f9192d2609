#!/usr/bin/env python
"""One quadratic solve against a vectorised seed sweep of it: wall time and accuracy.

    python benchmarks/vectorize.py                 # default settings, 64 members, 8 separate runs to compare
    python benchmarks/vectorize.py --members 16 --separate 4
    python benchmarks/vectorize.py --quick         # 8 members, short training (Adam 300, L-BFGS 200)
    python benchmarks/vectorize.py --smoke         # 2 members, tiny training: checks the script runs (figures mean nothing)

Times the whole ``pinn.solve`` of problems/quadratic.yaml (seed 0,
default settings: compile, train, evaluate) and the whole
``pinn.solve_vectorized`` of the same problem over seeds
0..K-1, in one process (the single solve first, so both pay TensorFlow's
start-up alike; the vectorised solve then re-traces its own, stacked steps).
Accuracy is the relative L2 error of y against the exact x^2 on the output
grid, for each member and for separate runs of the first ``--separate`` seeds.
Prints the figures and the ratio of the batch's time to one run's time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
QUICK = ("training.adam.steps=300", "training.lbfgs.steps=200", "training.steps_per_call=100")
SMOKE = ("training.adam.steps=20", "training.lbfgs.steps=5", "training.steps_per_call=10", "training.points=16",
         "output.points=21", "training.jit_compile=false")


def relative_error(solution) -> float:
    exact = solution.x**2
    return float(np.linalg.norm(solution.values["y"][0] - exact) / np.linalg.norm(exact))


def show_progress(progress) -> None:
    print(f"  {progress.phase} {progress.step}/{progress.total_steps}: worst loss {progress.loss:.2e},"
          f" worst best {progress.best_loss:.2e}, {progress.steps_per_second:.1f} steps/s", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=None, help="members of the seed sweep (default 64; 8 with --quick, 2 with --smoke)")
    parser.add_argument("--separate", type=int, default=None, help="separate runs to compare against (default 8; 2 with --quick or --smoke)")
    parser.add_argument("--quick", action="store_true", help="short training (Adam 300, L-BFGS 200): checks the script, not the target")
    parser.add_argument("--smoke", action="store_true",
                        help="2 members, Adam 20, L-BFGS 5, 16 points, XLA off, --progress: checks the script runs, figures mean nothing")
    parser.add_argument("--progress", action="store_true", help="print the batch's progress after each block to stderr")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="extra override for every run")
    args = parser.parse_args(argv)
    if args.smoke and args.quick:
        parser.error("--smoke and --quick are exclusive")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    import pinn

    members = args.members or (2 if args.smoke else 8 if args.quick else 64)
    separate = args.separate if args.separate is not None else (2 if args.quick or args.smoke else 8)
    overrides = [*(SMOKE if args.smoke else QUICK if args.quick else ()), *args.overrides]
    path = ROOT / "problems" / "quadratic.yaml"
    if args.smoke:
        print("SMOKE RUN: tiny budgets; it checks that the script runs, the figures below mean nothing as measurements")
    print(f"quadratic, overrides: {overrides or 'none (default settings)'}; {members} members, {separate} separate runs", flush=True)

    start = time.perf_counter()
    single = pinn.solve(pinn.load_problem(path, overrides))
    single_seconds = time.perf_counter() - start
    single_error = relative_error(single)
    print(f"one run (seed 0):   {single_seconds:7.1f} s   rel L2 {single_error:.2e}   "
          f"{single.training.adam_steps} Adam + {single.training.lbfgs_steps} L-BFGS, {single.status.value}", flush=True)

    problems = [pinn.load_problem(path, [*overrides, f"training.seed={seed}"]) for seed in range(members)]
    start = time.perf_counter()
    solutions = pinn.solve_vectorized(problems, progress=show_progress if args.progress or args.smoke else None)
    batch_seconds = time.perf_counter() - start
    errors = np.array([relative_error(s) for s in solutions])
    training = solutions[0].training
    print(f"{members} members batched: {batch_seconds:7.1f} s   (Adam {training.adam_seconds:.1f} s, L-BFGS {training.lbfgs_seconds:.1f} s,"
          f" L-BFGS iterations per member: median {int(np.median([s.training.lbfgs_steps for s in solutions]))},"
          f" max {max(s.training.lbfgs_steps for s in solutions)})", flush=True)
    print(f"  member rel L2: median {np.median(errors):.2e}, worst {errors.max():.2e} (seed {int(errors.argmax())});"
          f" statuses {sorted({s.status.value for s in solutions})}", flush=True)

    separate_errors = []
    for seed in range(min(separate, members)):
        run = single if seed == 0 else pinn.solve(pinn.load_problem(path, overrides), seed=seed)
        separate_errors.append(relative_error(run))
        print(f"  seed {seed}: member {errors[seed]:.2e}, separate run {separate_errors[-1]:.2e}", flush=True)
    if separate_errors:
        separate_errors = np.array(separate_errors)
        print(f"separate runs rel L2: median {np.median(separate_errors):.2e}, worst {separate_errors.max():.2e}")
        ratio_errors = errors[: len(separate_errors)] / np.maximum(separate_errors, 1e-300)
        print(f"member / separate error on the same seeds: median {np.median(ratio_errors):.2f}, worst {ratio_errors.max():.2f}")
    ratio = batch_seconds / single_seconds
    print(f"time ratio: {members} members / one run = {ratio:.2f} (target < 5); per member {batch_seconds / members:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
