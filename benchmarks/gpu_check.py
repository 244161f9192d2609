#!/usr/bin/env python
"""On a GPU box: does pinn run on the GPU, how fast, how accurate (runs on a CPU-only box too).

    python benchmarks/gpu_check.py                  # default settings, a 64-member seed sweep
    python benchmarks/gpu_check.py --members 16 --quick
    python benchmarks/gpu_check.py --smoke          # tiny budgets, 2 members: checks the script runs (figures mean nothing)

Prints the visible GPUs (or that none was found, then runs on the CPU), then
times one default quadratic solve and a vectorised seed sweep on that device
with their relative L2 errors against x^2, and finally checks placement: a
short vectorised solve runs with soft device placement off inside
``tf.device(device)``, so any operation without a kernel for the device
raises instead of falling back to the CPU silently; the variables' and
results' devices are printed too.  With GPUs it last runs ``pinn batch
--gpus all`` (two workers per GPU) and prints the device each worker saw.  (The single solve's L-BFGS bookkeeping is
scipy on the CPU by design; the vectorised L-BFGS is TensorFlow throughout.)  Without a GPU everything but
that batch runs, on the CPU.  ``--smoke`` uses tiny budgets everywhere (Adam 20, L-BFGS 5, 16 points, 21
output points, XLA off) and 2 members.
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
PLACEMENT = ("training.adam.steps=20", "training.lbfgs.steps=5", "training.steps_per_call=10", "output.points=11")


def relative_error(solution) -> float:
    exact = solution.x**2
    return float(np.linalg.norm(solution.values["y"][0] - exact) / np.linalg.norm(exact))


def placement_check(tf, device: str, path, overrides) -> bool:
    """Run a short vectorised solve with soft placement off on ``device``; True when every op had a kernel there."""
    import pinn
    from pinn.vectorized import build_stacked_model, train_members

    problems = [pinn.load_problem(path, [*overrides, *PLACEMENT, f"training.seed={seed}"]) for seed in range(4)]
    tf.config.set_soft_device_placement(False)
    try:
        with tf.device(device):
            model, residuals = build_stacked_model(problems)
            train_members(model, residuals, problems)
            values = residuals.loss_terms(model, tf.zeros([4, 8, 1], dtype=model.dtype))
        print(f"  variables on {sorted({v.device for v in model.weights})}; loss terms on {values.device}")
        print(f"  every operation of the vectorised Adam and L-BFGS steps ran on {device} (soft placement off)")
        return True
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as error:
        print(f"  an operation could not run on {device}: {str(error).splitlines()[0][:300]}")
        return False
    finally:
        tf.config.set_soft_device_placement(True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=None, help="members of the seed sweep (default 64; 2 with --smoke)")
    parser.add_argument("--quick", action="store_true", help="short training (Adam 300, L-BFGS 200)")
    parser.add_argument("--smoke", action="store_true", help="tiny budgets, 2 members: checks the script runs, figures mean nothing")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="extra override")
    args = parser.parse_args(argv)
    if args.smoke and args.quick:
        parser.error("--smoke and --quick are exclusive")
    members = args.members or (2 if args.smoke else 64)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(ROOT))
    import tensorflow as tf

    import pinn

    if args.smoke:
        print("SMOKE RUN: tiny budgets; it checks that the script runs, the figures below mean nothing as measurements")
    gpus = tf.config.list_physical_devices("GPU")
    print(f"TensorFlow {tf.__version__}, built with CUDA: {tf.test.is_built_with_cuda()}")
    if gpus:
        print("GPUs: " + ", ".join(f"{g.name} ({tf.config.experimental.get_device_details(g).get('device_name', '?')})" for g in gpus))
        device = "/GPU:0"
    else:
        print("no GPU found: running on the CPU")
        device = "/CPU:0"
    budget = SMOKE if args.smoke else QUICK if args.quick else ()
    overrides = [*budget, *args.overrides]
    path = ROOT / "problems" / "quadratic.yaml"

    with tf.device(device):
        start = time.perf_counter()
        single = pinn.solve(pinn.load_problem(path, overrides))
        single_seconds = time.perf_counter() - start
        print(f"one quadratic solve on {device}: {single_seconds:.1f} s, rel L2 {relative_error(single):.2e},"
              f" {single.training.adam_steps} Adam + {single.training.lbfgs_steps} L-BFGS ({single.status.value})", flush=True)
        problems = [pinn.load_problem(path, [*overrides, f"training.seed={seed}"]) for seed in range(members)]
        start = time.perf_counter()
        solutions = pinn.solve_vectorized(problems)
        batch_seconds = time.perf_counter() - start
    errors = np.array([relative_error(s) for s in solutions])
    print(f"{members}-member vectorised sweep on {device}: {batch_seconds:.1f} s"
          f" (Adam {solutions[0].training.adam_seconds:.1f} s, L-BFGS {solutions[0].training.lbfgs_seconds:.1f} s),"
          f" rel L2 median {np.median(errors):.2e}, worst {errors.max():.2e}; {batch_seconds / single_seconds:.2f}x one solve", flush=True)
    print("placement check:")
    placed = placement_check(tf, device, path, overrides)
    if gpus:
        batch_on_gpus(len(gpus), SMOKE if args.smoke else QUICK)
    else:
        print("pinn batch --gpus all: not run (no GPU)")
    return 0 if placed else 1


def batch_on_gpus(count: int, budget=QUICK) -> None:
    """pinn batch --gpus all: two workers per GPU, each seeing only its GPU; prints where each run ran."""
    import csv
    import subprocess
    import tempfile

    jobs = 2 * count
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, str(ROOT / "scripts" / "batch.py"), str(ROOT / "problems" / "quadratic.yaml"),
                   "--sweep", f"training.seed=0:{2 * jobs - 1}", "--gpus", "all", "--jobs", str(jobs), "--no-plot",
                   "--quiet", "--out", out, *(f"--set={o}" for o in budget)]
        start = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        print(f"pinn batch --gpus all --jobs {jobs}, {2 * jobs} short runs: {seconds:.1f} s, exit status {completed.returncode}")
        if completed.returncode != 0:
            print(completed.stderr[-2000:])
            return
        with open(Path(out) / "summary.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        devices = sorted({row["device"] for row in rows})
        print(f"  devices the workers reported: {', '.join(devices)} (each worker should name one GPU)")


if __name__ == "__main__":
    sys.exit(main())
