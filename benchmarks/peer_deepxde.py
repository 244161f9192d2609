#!/usr/bin/env python
"""The peer: the same two problems in DeepXDE (TensorFlow backend), timed the same way.

    python benchmarks/peer_deepxde.py            # full: about 1.5 minutes on 2 cores
    python benchmarks/peer_deepxde.py --quick    # short budgets
    python benchmarks/peer_deepxde.py --smoke    # tiny budgets, two cases: checks the script runs (figures mean nothing)
    python benchmarks/peer_deepxde.py --json     # also print one '@@RESULT {json}' line (for run.py)

Optional: if DeepXDE (or TensorFlow Probability, which its TensorFlow
L-BFGS needs) is not installed, this says so and exits 0.  Install with
``pip install deepxde tensorflow-probability tf-keras``.

Set-up, matching benchmarks/run.py: network 1-32-32-32-N tanh, Glorot normal,
64 uniform collocation points (``num_domain=64``) plus the 2 boundary/initial
points, Adam at lr 1e-3, then DeepXDE's L-BFGS (tfp.optimizer.lbfgs_minimize
with DeepXDE's default options).  DeepXDE's conditions are soft (penalty
terms); DeepXDE leaves XLA off on a CPU-only machine, as here.

Each case runs in its own subprocess (DeepXDE's float type is process-wide).
Figures per case:

* Adam ms/step: wall time of ``model.train(iterations=N)`` / N after a
  warm-up ``train`` call that traced and compiled the step;
* first train call: the warm-up call (tracing + first steps);
* L-BFGS s/iteration: (T2 - T1) / (n2 - n1) between a short and a longer
  ``train()`` under L-BFGS, so the per-call tracing cancels out; iterations
  before stopping from the longer call (fewer than asked means tfp stopped);
* error: quadratic: max |y - x^2| on 501 points; Lotka-Volterra: relative L2
  error of (u, v) against scipy's solve_ivp (DOP853, rtol = atol = 1e-12).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MARK = "@@RESULT "

BUDGETS = {
    # case: (warm-up Adam steps, timed Adam steps, short L-BFGS, long L-BFGS)
    "full": {"quadratic": (100, 2000, 5, 40), "lotka_volterra": (100, 3000, 5, 40)},
    "quick": {"quadratic": (20, 300, 3, 10), "lotka_volterra": (20, 500, 3, 10)},
    "smoke": {"quadratic": (5, 20, 2, 5), "lotka_volterra": (5, 20, 2, 5)},
}
#: The cases run: (problem, float type); a smoke run takes one of each problem.
CASES = [("quadratic", "float32"), ("quadratic", "float64"), ("lotka_volterra", "float32")]
SMOKE_CASES = [("quadratic", "float64"), ("lotka_volterra", "float32")]


def missing() -> str:
    """Why the peer cannot run here, or '' if it can."""
    for module, package in (("deepxde", "deepxde"), ("tensorflow_probability", "tensorflow-probability")):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"{package} is not installed (pip install deepxde tensorflow-probability tf-keras)"
    return ""


def lotka_volterra_reference(t):
    import numpy as np
    from scipy.integrate import solve_ivp

    def rhs(_, y):
        u, v = y
        return [u - 0.1 * u * v, 0.075 * u * v - 1.5 * v]

    ref = solve_ivp(rhs, (0.0, 5.0), [10.0, 5.0], t_eval=t, method="DOP853", rtol=1e-12, atol=1e-12)
    return np.asarray(ref.y)


def run_case(case: str, dtype: str, budget) -> dict:
    """One case in this process; returns its figures."""
    os.environ["DDE_BACKEND"] = "tensorflow"
    import numpy as np

    import deepxde as dde

    warm, adam_steps, lbfgs_short, lbfgs_long = budget
    dde.config.set_default_float(dtype)
    dde.config.set_random_seed(0)
    if case == "quadratic":
        geom = dde.geometry.TimeDomain(0.0, 1.0)

        def ode(x, y):
            return dde.grad.hessian(y, x) - 2.0

        bc = dde.icbc.DirichletBC(geom, lambda x: x**2, lambda x, on_boundary: on_boundary)
        data = dde.data.PDE(geom, ode, [bc], num_domain=64, num_boundary=2, train_distribution="uniform")
        outputs = 1
    else:
        geom = dde.geometry.TimeDomain(0.0, 5.0)

        def ode(t, y):
            u, v = y[:, 0:1], y[:, 1:2]
            du = dde.grad.jacobian(y, t, i=0)
            dv = dde.grad.jacobian(y, t, i=1)
            return [du - (u - 0.1 * u * v), dv - (0.075 * u * v - 1.5 * v)]

        ic_u = dde.icbc.IC(geom, lambda x: np.full((len(x), 1), 10.0), lambda _, on_initial: on_initial, component=0)
        ic_v = dde.icbc.IC(geom, lambda x: np.full((len(x), 1), 5.0), lambda _, on_initial: on_initial, component=1)
        data = dde.data.PDE(geom, ode, [ic_u, ic_v], num_domain=64, num_boundary=2, train_distribution="uniform")
        outputs = 2
    net = dde.nn.FNN([1, 32, 32, 32, outputs], "tanh", "Glorot normal")
    model = dde.Model(data, net)
    model.compile("adam", lr=1e-3)

    start = time.perf_counter()
    model.train(iterations=warm, display_every=10**9, verbose=0)
    first_call = time.perf_counter() - start
    start = time.perf_counter()
    model.train(iterations=adam_steps, display_every=10**9, verbose=0)
    adam_seconds = time.perf_counter() - start

    dde.optimizers.set_LBFGS_options(maxiter=lbfgs_short)
    model.compile("L-BFGS")
    step0 = model.train_state.step
    start = time.perf_counter()
    model.train(verbose=0)
    t1, n1 = time.perf_counter() - start, model.train_state.step - step0
    dde.optimizers.set_LBFGS_options(maxiter=lbfgs_long)
    model.compile("L-BFGS")
    step0 = model.train_state.step
    start = time.perf_counter()
    model.train(verbose=0)
    t2, n2 = time.perf_counter() - start, model.train_state.step - step0
    per_iteration = (t2 - t1) / (n2 - n1) if n2 > n1 else t2 / max(n2, 1)

    if case == "quadratic":
        x = np.linspace(0.0, 1.0, 501).reshape(-1, 1)
        error = float(np.max(np.abs(model.predict(x)[:, 0] - x[:, 0] ** 2)))
        error_kind = "max |y - x^2|"
    else:
        t = np.linspace(0.0, 5.0, 501)
        predicted = np.asarray(model.predict(t.reshape(-1, 1)), dtype=float).T
        reference = lotka_volterra_reference(t)
        error = float(np.linalg.norm(predicted - reference) / np.linalg.norm(reference))
        error_kind = "relative L2 vs solve_ivp"
    return {
        "case": case, "dtype": dtype, "xla": bool(dde.config.xla_jit),
        "adam_first_call_s": first_call, "adam_warmup_steps": warm,
        "adam_ms_per_step": 1e3 * adam_seconds / adam_steps, "adam_steps": adam_steps,
        "lbfgs_s_per_iteration": per_iteration, "lbfgs_iterations_short": int(n1), "lbfgs_seconds_short": t1,
        "lbfgs_iterations": int(n2), "lbfgs_asked": lbfgs_long, "lbfgs_seconds": t2,
        "error": error, "error_kind": error_kind,
        "train_seconds": first_call + adam_seconds + t1 + t2,
    }


def worker(argv) -> int:
    case, dtype, mode = argv
    result = run_case(case, dtype, BUDGETS[mode][case])
    print(MARK + json.dumps(result), flush=True)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short budgets")
    parser.add_argument("--smoke", action="store_true", help="tiny budgets, one case per problem: checks the script, figures mean nothing")
    parser.add_argument("--json", action="store_true", help="print one '@@RESULT {json}' line at the end")
    parser.add_argument("--worker", nargs=3, metavar=("CASE", "DTYPE", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker)

    if args.smoke and args.quick:
        parser.error("--smoke and --quick are exclusive")
    reason = missing()
    if reason:
        print(f"peer_deepxde: skipped: {reason}")
        if args.json:
            print(MARK + json.dumps({"available": False, "reason": reason}))
        return 0
    from importlib.metadata import version

    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    env = dict(os.environ, DDE_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    cases = SMOKE_CASES if args.smoke else CASES
    results, failures = [], []
    for case, dtype in cases:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", case, dtype, mode],
                              capture_output=True, text=True, env=env, cwd=HERE)
        lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
        if done.returncode != 0 or not lines:
            failures.append({"case": case, "dtype": dtype, "error": (done.stderr or done.stdout).strip()[-2000:]})
            print(f"peer_deepxde: {case} {dtype} failed:\n{failures[-1]['error']}", file=sys.stderr)
            continue
        result = json.loads(lines[-1][len(MARK):])
        result["wall_s"] = time.perf_counter() - start
        results.append(result)

    print(f"DeepXDE {version('deepxde')} (TensorFlow backend, TensorFlow {version('tensorflow')}), {mode} budgets")
    if args.smoke:
        print("SMOKE RUN: tiny budgets; it checks that the script runs, the figures below mean nothing as measurements")
    header = ("case", "dtype", "XLA", "Adam ms/step", "first call s", "L-BFGS s/it", "L-BFGS its (asked)", "error", "error kind")
    rows = [header]
    for r in results:
        rows.append((r["case"], r["dtype"], "on" if r["xla"] else "off", f"{r['adam_ms_per_step']:.3f}",
                     f"{r['adam_first_call_s']:.2f}", f"{r['lbfgs_s_per_iteration']:.3f}",
                     f"{r['lbfgs_iterations']} ({r['lbfgs_asked']})", f"{r['error']:.2e}", r["error_kind"]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))
    for r in results:
        if r["case"] == "quadratic":
            print(f"  {r['dtype']}: {r['adam_warmup_steps'] + r['adam_steps']} Adam steps, then L-BFGS "
                  f"{r['lbfgs_iterations_short']} + {r['lbfgs_iterations']} iterations")
    if args.json:
        print(MARK + json.dumps({"available": True, "version": version("deepxde"), "mode": mode,
                                 "results": results, "failures": failures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
