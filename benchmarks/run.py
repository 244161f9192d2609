#!/usr/bin/env python
"""Speed and accuracy benchmark of pinn: one command, one table of figures and targets.

    python benchmarks/run.py             # full run, about 5 minutes on 2 cores (6.5 with --peer)
    python benchmarks/run.py --quick     # short version, about 2 minutes (longer on a busy machine)
    python benchmarks/run.py --peer      # also run DeepXDE (benchmarks/peer_deepxde.py) if installed
    python benchmarks/run.py --json out.json   # also write every figure as JSON
    python benchmarks/run.py --smoke     # every code path with tiny settings, one worker process: about 40 s;
                                         # checks the script still runs (tests/test_benchmarks.py), its figures mean nothing

Every measurement runs in a fresh subprocess of this script (``--worker``), one
after another, so TensorFlow start-up, XLA's first use and environment
variables such as OPENBLAS_NUM_THREADS are per measurement (a ``--smoke`` run
sends every measurement to one shared worker process, ``--worker-loop``, to
import TensorFlow once).  Speed is measured on the issue's network and
points, 1-32-32-32-1 tanh with 64 collocation points
(``network.hidden=[32,32,32] training.points=64``); accuracy with pinn's own
defaults.  See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
QUADRATIC = ROOT / "problems" / "quadratic.yaml"
LOTKA_VOLTERRA = ROOT / "problems" / "lotka_volterra.yaml"
MARK = "@@RESULT "
BENCH = ["network.hidden=[32,32,32]", "training.points=64"]  # the issue's network and points; checked in the workers

def pinn_defaults():
    """pinn's own defaults, read from its TrainingSpec/NetworkSpec (no TensorFlow import)."""
    sys.path.insert(0, str(ROOT))
    from pinn.problem import NetworkSpec, TrainingSpec

    spec = TrainingSpec()
    return {"jit": spec.jit_compile, "spc": spec.steps_per_call, "adam_steps": spec.adam.steps, "lbfgs_steps": spec.lbfgs.steps,
            "points": spec.points, "dtype": spec.dtype, "hidden": list(NetworkSpec().hidden)}


#: The issue's figures for DeepXDE 1.15 (TensorFlow backend, 2 CPU cores), used when the peer is not run.
QUOTED_PEER = {
    "adam_ms": {"float32": 1.5, "float64": 1.7},
    "lbfgs_s": (0.33, 0.46),
    "quadratic": "1.7e-7 after 91 s of L-BFGS",
    "lotka_volterra_error": 0.99,
}
#: The targets of the issue.
TARGETS = {"adam_speedup": {"float32": 5.0, "float64": 3.0}, "lbfgs_ms": 5.0, "quadratic_error": 1e-8,
           "quadratic_fast_error": 1e-6, "quadratic_fast_seconds": 5.0, "lotka_volterra_error": 1e-4,
           "startup_s": 0.5}

#: Tiny settings of every solve in a smoke run, before each measurement's own overrides (XLA off: each
#: XLA compile costs seconds).
SMOKE_OVERRIDES = ["training.adam.steps=20", "training.lbfgs.steps=5", "training.steps_per_call=10", "training.points=16",
                   "output.points=21", "training.jit_compile=false", "training.windows=1"]

#: Budgets: full, quick and smoke.  "first_solve" rows: (label, overrides) run with each of "first_solve_jit"
#: (XLA on and off unless the plan says otherwise).  Keys missing from a plan take the full run's behaviour.
PLANS = {
    "full": {
        "adam_spc": (1, 10, 100, 500), "adam_steps": {1: 1000, 10: 2000, 100: 3000, 500: 3000}, "adam_soft": True,
        "lbfgs_steps": 500, "lbfgs_variants": [("float64", True), ("float64", False), ("float32", True), ("float32", False)],
        "blas_rounds": 2, "blas_modes": ("default", "no_limit"),
        "ladder": (10, 20, 40, 80, 160, 320), "accuracy_bench": True, "lotka_volterra_lbfgs": None,
        "budgets": [("lotka_volterra", None, 1000), ("lotka_volterra", None, 2000)],
        "first_solve": [("1-32-32-32-1, 64 points, float64, 3000 steps", [*BENCH, "training.adam.steps=3000"]),
                        ("1-32-32-32-1, 64 points, float32, 3000 steps", [*BENCH, "training.dtype=float32", "training.adam.steps=3000"]),
                        ("file defaults", [])],
        "startup_repeats": 3,
    },
    "quick": {
        "adam_spc": (1, 500), "adam_steps": {1: 300, 500: 1500}, "adam_soft": False,
        "lbfgs_steps": 200, "lbfgs_variants": [("float64", True)],
        "blas_rounds": 1, "blas_modes": ("no_limit",),
        "ladder": (40, 80), "accuracy_bench": False, "lotka_volterra_lbfgs": 1000,
        "budgets": [], "first_solve": [],
        "startup_repeats": 1,
    },
    # Every code path once with tiny budgets, all workers in one process (TensorFlow imported once), XLA off
    # (the L-BFGS row keeps jit_compile=true, which with no Adam steps compiles nothing with XLA).
    "smoke": {
        "adam_spc": (10,), "adam_steps": {10: 20}, "adam_soft": True, "adam_dtypes": ("float64",), "adam_jit": (False,),
        "adam_default": (False, 10),  # the configuration the Adam target is judged on (pinn's defaults otherwise)
        "lbfgs_adam_steps": 0, "lbfgs_steps": 5, "lbfgs_variants": [("float64", True)],
        "blas_rounds": 1, "blas_modes": ("no_limit",), "blas_lbfgs_steps": 5, "scipy_rounds": 1, "scipy_iterations": 20,
        "ladder": (5,), "accuracy_bench": False, "lotka_volterra_lbfgs": 5, "noisy_adam_steps": 20,
        "budgets": [("lotka_volterra", None, 5)], "first_solve": [("smoke", [])], "first_solve_jit": (False,),
        "startup_repeats": 1, "startup_tensorflow": False,
        "base_overrides": SMOKE_OVERRIDES, "shared_worker": True,
    },
}


# --------------------------------------------------------------------------- workers (run in subprocesses)

def _quiet_tensorflow():
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf


#: Overrides put before every measurement's own (a smoke run's tiny settings); set from the worker's options.
BASE_OVERRIDES = []


def _problem(path, overrides):
    import pinn

    problem = pinn.load_problem(path, [*BASE_OVERRIDES, *overrides])
    return problem


def _check_network(problem):
    assert problem.network.hidden == (32, 32, 32) and problem.network.activation == "tanh", problem.network


def _adam_run(path, overrides):
    """Solve with Adam only; per-block wall-clock stamps from the progress hook."""
    import pinn

    problem = _problem(path, overrides)
    _check_network(problem)
    stamps = []

    def progress(p):
        stamps.append((time.perf_counter(), p.step, p.steps_per_second))

    start = time.perf_counter()
    solution = pinn.solve(problem, progress=progress)
    wall = time.perf_counter() - start
    training = solution.training
    times = np.array([s[0] for s in stamps])
    steps = np.array([s[1] for s in stamps])
    first_size = int(steps[0])
    first_call = first_size / stamps[0][2]  # time inside the first compiled call
    if len(stamps) > 1:
        per_block = np.diff(times) / np.diff(steps)  # wall clock per step, block by block
        steady = float(np.median(per_block))
        in_call = float(np.median([1.0 / s[2] for s in stamps[1:]]))
    else:
        steady = in_call = float("nan")
    return {  # Adam only (training.lbfgs.steps=0): the public totals are Adam's
        "steps": training.steps, "adam_seconds": training.train_seconds, "wall_seconds": wall,
        "steady_ms": 1e3 * steady, "in_call_ms": 1e3 * in_call, "first_call_s": first_call,
        "compile_s": first_call - first_size * in_call, "first_block_steps": first_size, "blocks": len(stamps),
        "setup_s": float(times[0] - start - first_call),
    }


def worker_adam(options):
    """Adam ms/step for one dtype over XLA on/off and steps_per_call values."""
    tf = _quiet_tensorflow()
    dtype = options["dtype"]
    results = {"dtype": dtype, "tensorflow": tf.__version__, "runs": []}
    jits = options.get("jit", [True, False])
    # Absorb one-off process costs (tracing machinery, XLA's first use) before timing.
    for jit in sorted(jits):  # graph first, so the XLA warm-up shows XLA's own one-off cost
        start = time.perf_counter()
        _adam_run(QUADRATIC, [*BENCH, f"training.dtype={dtype}", f"training.jit_compile={str(jit).lower()}",
                              "training.adam.steps=20", "training.steps_per_call=10", "training.lbfgs.steps=0"])
        results["warmup_xla" if jit else "warmup_graph"] = time.perf_counter() - start
    configs = [("auto", jit, spc) for jit in jits for spc in options["spc"]]
    if "soft" in options["constraints"]:
        # conditions as penalties, like DeepXDE: the default configuration only (the smoke run's in a smoke run)
        configs.append(("soft", *options.get("soft_config", (True, 100))))
    for constraints, jit, spc in configs:
        steps = options["steps"][str(spc)]
        run = _adam_run(QUADRATIC, [*BENCH, f"training.dtype={dtype}", f"training.jit_compile={str(jit).lower()}",
                                    f"training.steps_per_call={spc}", f"training.adam.steps={steps}",
                                    "training.lbfgs.steps=0", f"training.constraints={constraints}"])
        run.update(jit=jit, spc=spc, constraints=constraints)
        results["runs"].append(run)
    return results


def _instrument_minimize(record):
    """Wrap scipy.optimize.minimize (pinn imports it at call time) to time each evaluation."""
    import scipy.optimize

    original = scipy.optimize.minimize

    def minimize(fun, x0, *args, **kwargs):
        calls = []

        def timed(x):
            start = time.perf_counter()
            value = fun(x)
            calls.append(time.perf_counter() - start)
            return value

        start, cpu = time.perf_counter(), time.process_time()
        result = original(timed, x0, *args, **kwargs)
        record.update(total=time.perf_counter() - start, cpu=time.process_time() - cpu, calls=calls, nit=int(result.nit), nfev=int(result.nfev),
                      message=str(result.message))
        return result

    scipy.optimize.minimize = minimize
    return original


def worker_lbfgs(options):
    """L-BFGS ms/iteration: time in TensorFlow, in scipy, first-call compile, iterations before stopping."""
    import scipy.optimize  # (load scipy's OpenBLAS before any thread limit)

    import threadpoolctl

    tf = _quiet_tensorflow()
    record = {}
    minimize, limits = _instrument_minimize(record), threadpoolctl.threadpool_limits
    if options.get("no_limit"):
        # pinn holds scipy's BLAS to one thread with threadpoolctl.threadpool_limits, imported when L-BFGS
        # starts; replacing it with a no-op measures what that limit buys.
        import contextlib

        threadpoolctl.threadpool_limits = lambda *args, **kwargs: contextlib.nullcontext()
    try:
        return _lbfgs_runs(options, record, tf)
    finally:  # as they were, for the next measurement when a smoke run shares this process
        scipy.optimize.minimize, threadpoolctl.threadpool_limits = minimize, limits


def _lbfgs_runs(options, record, tf):
    import pinn

    out = {"tensorflow": tf.__version__, "env_openblas": os.environ.get("OPENBLAS_NUM_THREADS"),
           "no_limit": bool(options.get("no_limit")), "runs": []}
    for dtype, jit in options["variants"]:
        record.clear()
        problem = _problem(QUADRATIC, [*BENCH, f"training.dtype={dtype}", f"training.jit_compile={str(jit).lower()}",
                                       f"training.adam.steps={options['adam_steps']}", f"training.lbfgs.steps={options['lbfgs_steps']}"])
        _check_network(problem)
        solution = pinn.solve(problem)
        training = solution.training
        calls = np.array(record["calls"])
        nit = max(record["nit"], 1)
        error = float(np.max(np.abs(solution.values["y"][0] - solution.x**2)))
        out["runs"].append({
            "dtype": dtype, "jit": jit, "asked": options["lbfgs_steps"], "iterations": training.lbfgs_steps,
            "evaluations": record["nfev"], "stop": training.stops.get("lbfgs", ""),
            "lbfgs_seconds": training.lbfgs_seconds, "overall_ms": 1e3 * training.lbfgs_seconds / nit,
            "steady_ms": 1e3 * (record["total"] - calls[0]) / nit,
            "first_call_s": float(calls[0]), "eval_median_ms": 1e3 * float(np.median(calls[1:])),
            "compile_s": float(calls[0] - np.median(calls[1:])),
            "tf_ms_per_iteration": 1e3 * float(calls[1:].sum()) / nit,
            "scipy_ms_per_iteration": 1e3 * (record["total"] - float(calls.sum())) / nit,
            "cpu_per_wall": record["cpu"] / record["total"],  # CPU seconds of all threads per wall second
            "best_loss": training.best_loss, "error": error,
        })
    return out


def _loss_of_returned_weights(problem, solution):
    """The loss of the weights the solution holds, on the training points (to check 'keep the best')."""
    import tensorflow as tf

    from pinn.residuals import collocation_points
    from pinn.solver import build_model

    spec = problem.training
    _, residuals = build_model(problem)
    x = collocation_points(problem.domain, spec.points, spec.sampler, np.random.default_rng(spec.seed + 1))
    model = solution.model
    terms = residuals.loss_terms(model, tf.constant(x, dtype=model.dtype))
    return float(tf.reduce_sum(tf.constant(residuals.weights, dtype=model.dtype) * terms).numpy())


def _best_check(problem, solution):
    history = solution.training.history
    returned = _loss_of_returned_weights(problem, solution)
    recorded_min = float(np.min(history["total"])) if len(history["total"]) else float("nan")
    last = float(history["total"][-1]) if len(history["total"]) else float("nan")
    best = solution.training.best_loss
    ok = returned <= best * 1.05 and best <= recorded_min * (1 + 1e-9)
    return {"returned_loss": returned, "best_loss": best, "history_min": recorded_min, "last_recorded": last, "ok": bool(ok)}


def _quadratic_traced(overrides):
    """Train the quadratic with the error max|y - x^2| sampled at each progress call, time excluding sampling."""
    import tensorflow as tf

    from pinn.solver import build_model, make_solution
    from pinn.training import train

    problem = _problem(QUADRATIC, overrides)
    model, residuals = build_model(problem)
    grid = np.linspace(0.0, 1.0, 501)
    x = tf.constant(grid.reshape(-1, 1), dtype=model.dtype)
    trace, spent = [], [0.0]
    start = time.perf_counter()

    def progress(p):
        now = time.perf_counter()
        error = float(np.max(np.abs(model(x).numpy()[:, 0] - grid**2)))
        trace.append((now - start - spent[0], p.phase, p.step, error))
        spent[0] += time.perf_counter() - now

    result = train(model, residuals, problem.training, problem.domain, progress=progress)
    wall = time.perf_counter() - start - spent[0]
    solution = make_solution(problem, model, result, residuals)
    error = float(np.max(np.abs(solution.values["y"][0] - solution.x**2)))
    relative_l2 = float(np.linalg.norm(solution.values["y"][0] - solution.x**2) / np.linalg.norm(solution.x**2))

    def first(threshold):
        hit = next((t for t in trace if t[3] <= threshold), None)
        return None if hit is None else {"seconds": hit[0], "phase": hit[1], "step": hit[2]}

    t = result
    return {
        "overrides": list(overrides), "points": problem.training.points, "adam_steps": t.adam_steps,
        "network": "-".join(map(str, [1, *problem.network.hidden, 1])),
        "adam_seconds": t.adam_seconds, "lbfgs_steps": t.lbfgs_steps, "lbfgs_seconds": t.lbfgs_seconds,
        "lbfgs_ms": 1e3 * t.lbfgs_seconds / max(t.lbfgs_steps, 1), "stop": t.stops.get("lbfgs", t.stops.get("adam", "")),
        "status": t.status.value, "train_seconds": t.adam_seconds + t.lbfgs_seconds, "wall_seconds": wall,
        "error": error, "relative_l2": relative_l2, "first_1e-6": first(1e-6), "first_1e-8": first(1e-8),
        "best": _best_check(problem, solution),
    }


def _lotka_volterra(overrides):
    import pinn
    from scipy.integrate import solve_ivp

    problem = _problem(LOTKA_VOLTERRA, overrides)
    start = time.perf_counter()
    solution = pinn.solve(problem)
    wall = time.perf_counter() - start
    p = {q.name: q.value for q in problem.parameters}

    def rhs(_, y):
        u, v = y
        return [p["alpha"] * u - p["beta"] * u * v, p["delta"] * u * v - p["gamma"] * v]

    reference = solve_ivp(rhs, problem.domain, [10.0, 5.0], t_eval=solution.x, method="DOP853", rtol=1e-12, atol=1e-12)
    predicted = np.stack([solution.values["u"][0], solution.values["v"][0]])
    t = solution.training
    return {
        "overrides": list(overrides), "points": problem.training.points, "adam_steps": t.adam_steps,
        "network": "-".join(map(str, [1, *problem.network.hidden, 2])),
        "adam_seconds": t.adam_seconds, "lbfgs_steps": t.lbfgs_steps, "lbfgs_seconds": t.lbfgs_seconds,
        "lbfgs_ms": 1e3 * t.lbfgs_seconds / max(t.lbfgs_steps, 1), "stop": t.stops.get("lbfgs", ""),
        "train_seconds": t.adam_seconds + t.lbfgs_seconds, "wall_seconds": wall,
        "relative_l2": float(np.linalg.norm(predicted - reference.y) / np.linalg.norm(reference.y)),
        "max_relative": float(np.max(np.abs(predicted - reference.y)) / np.max(np.abs(reference.y))),
        "best": _best_check(problem, solution),
    }


def worker_accuracy(options):
    """Quadratic (default training, error trace; an L-BFGS-only budget ladder) and Lotka-Volterra."""
    import pinn

    tf = _quiet_tensorflow()
    out = {"tensorflow": tf.__version__, "env_openblas": os.environ.get("OPENBLAS_NUM_THREADS")}
    # Absorb the process's one-off costs (XLA's first use) so the times below are training times;
    # the 'first solve' worker measures those costs.
    start = time.perf_counter()
    pinn.solve(_problem(QUADRATIC, ["training.adam.steps=20", "training.steps_per_call=10", "training.lbfgs.steps=5"]))
    out["warmup_s"] = time.perf_counter() - start
    if options.get("quadratic", True):
        out["quadratic_default"] = _quadratic_traced([])
        if options["accuracy_bench"]:
            out["quadratic_64"] = _quadratic_traced(BENCH)
        ladder = []
        for steps in options["ladder"]:
            solution = pinn.solve(_problem(QUADRATIC, ["training.adam.steps=0", f"training.lbfgs.steps={steps}"]))
            t = solution.training
            ladder.append({"lbfgs_asked": steps, "lbfgs_steps": t.lbfgs_steps, "train_seconds": t.lbfgs_seconds,
                           "error": float(np.max(np.abs(solution.values["y"][0] - solution.x**2)))})
            if ladder[-1]["error"] <= 1e-6 and len([r for r in ladder if r["error"] <= 1e-6]) >= 2:
                break
        out["quadratic_ladder"] = ladder
    if options.get("quadratic", True) or options.get("lotka_volterra", True):
        # Adam alone with a rate too large for it (the loss ends ~10x above its best): the returned
        # weights must be the best seen, not the last.
        problem = _problem(LOTKA_VOLTERRA, [f"training.adam.steps={options.get('noisy_adam_steps', 600)}", "training.adam.learning_rate=0.05",
                                            "training.steps_per_call=50", "training.lbfgs.steps=0"])
        out["best_weights_noisy_adam"] = _best_check(problem, pinn.solve(problem))
    if options.get("lotka_volterra", True):
        lbfgs = options.get("lotka_volterra_lbfgs")
        out["lotka_volterra_default"] = _lotka_volterra([f"training.lbfgs.steps={lbfgs}"] if lbfgs else [])
    budgets = []
    for problem, adam, lbfgs in options.get("budgets", []):
        overrides = ([f"training.adam.steps={adam}"] if adam is not None else []) + ([f"training.lbfgs.steps={lbfgs}"] if lbfgs is not None else [])
        if problem == "lotka_volterra":
            r = _lotka_volterra(overrides)
            error = r["relative_l2"]
        else:
            solution = pinn.solve(_problem(QUADRATIC, overrides))
            t = solution.training
            r = {"adam_steps": t.adam_steps, "adam_seconds": t.adam_seconds, "lbfgs_seconds": t.lbfgs_seconds, "lbfgs_steps": t.lbfgs_steps,
                 "train_seconds": t.adam_seconds + t.lbfgs_seconds}
            error = float(np.max(np.abs(solution.values["y"][0] - solution.x**2)))
        budgets.append({"problem": problem, "adam": r.get("adam_steps", adam), "lbfgs": lbfgs, "error": error,
                        **{k: r[k] for k in ("adam_seconds", "lbfgs_seconds", "lbfgs_steps", "train_seconds")}})
    if budgets:
        out["budgets"] = budgets
    return out


def worker_first_solve(options):
    """An Adam-only solve of the quadratic as a user's first and second solve in a fresh process."""
    import pinn

    tf = _quiet_tensorflow()
    overrides = [*options["overrides"], f"training.jit_compile={str(options['jit']).lower()}", "training.lbfgs.steps=0"]
    out = {"tensorflow": tf.__version__, **options}
    for key in ("first", "second"):
        problem = _problem(QUADRATIC, overrides)
        start = time.perf_counter()
        solution = pinn.solve(problem)
        # Adam only (training.lbfgs.steps=0): the public totals are Adam's
        out[key] = {"wall_s": time.perf_counter() - start, "adam_seconds": solution.training.train_seconds,
                    "adam_steps": solution.training.steps}
        out["network"] = list(problem.network.hidden)
        out["points"] = problem.training.points
        out["spc"] = problem.training.steps_per_call
        out["dtype"] = problem.training.dtype
    return out


WORKERS = {"first_solve": worker_first_solve, "adam": worker_adam, "lbfgs": worker_lbfgs, "accuracy": worker_accuracy}


# --------------------------------------------------------------------------- the parent: run, collect, print

def base_env():
    env = dict(os.environ)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(name, None)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"  # TensorFlow's C++ start-up chatter; does not change timings
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


FAILED = "@@FAILED "
#: A smoke run's one worker process, started on first use (run_worker then sends it every measurement).
SHARED = {"on": False, "process": None}


def worker_loop() -> int:
    """The smoke run's shared worker: one JSON [name, options] per stdin line, one result line each."""
    import traceback

    for line in sys.stdin:
        name, options = json.loads(line)
        BASE_OVERRIDES[:] = options.get("base_overrides", [])
        try:
            print(MARK + json.dumps(WORKERS[name](options)), flush=True)
        except Exception:  # reported to the parent, which raises as for a failed worker process
            print(FAILED + json.dumps(traceback.format_exc()), flush=True)
    return 0


def _shared_worker(name, options):
    process = SHARED["process"]
    if process is None:
        process = SHARED["process"] = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker-loop"],
                                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                                       env=base_env(), cwd=str(ROOT))
    process.stdin.write(json.dumps([name, options]) + "\n")
    process.stdin.flush()
    for line in process.stdout:
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
        if line.startswith(FAILED):
            raise RuntimeError(f"worker {name} failed:\n{json.loads(line[len(FAILED):])[-3000:]}")
    raise RuntimeError(f"the shared worker process ended ({process.wait()}) during {name}")


def close_shared_worker():
    process = SHARED["process"]
    if process is not None:
        process.stdin.close()
        process.wait()
        SHARED["process"] = None


def run_worker(name, options, env=None, label=""):
    start = time.perf_counter()
    print(f"  ... {label or name}", end="", flush=True, file=sys.stderr)
    if SHARED["on"]:
        result = _shared_worker(name, options)
        print(f" {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        return result
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", name, json.dumps(options)],
                          capture_output=True, text=True, env=env or base_env(), cwd=str(ROOT))
    print(f" {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"worker {name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len(MARK):])


def machine_info():
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def v(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    quota = None
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if text and text[0] != "max":
            quota = int(text[0]) / int(text[1])
    except (OSError, ValueError, IndexError):
        pass
    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty", "--exclude", "*"], capture_output=True, text=True,
                                cwd=str(ROOT), timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"cpu": model, "cores": os.cpu_count(), "usable_cores": affinity, "cgroup_cpu_quota": quota, "commit": commit,
            "python": platform.python_version(), "platform": platform.platform(),
            "tensorflow": v("tensorflow"), "numpy": v("numpy"), "scipy": v("scipy"), "pinn": v("pinn"),
            "threadpoolctl": v("threadpoolctl"), "deepxde": v("deepxde"),
            "openblas_env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS") if os.environ.get(k)},
            "load_average": os.getloadavg()}


def measure_startup(repeats, tensorflow=True):
    """Fresh interpreters: import tensorflow; import tensorflow + pinn's solver modules; import pinn alone.

    ``tensorflow=False`` (a smoke run) leaves out the two that import TensorFlow: their figures are NaN."""
    snippets = {
        "tensorflow": "import time;t=time.perf_counter();import tensorflow;print(time.perf_counter()-t, 0.0)",
        "tensorflow+pinn": ("import time;t=time.perf_counter();import tensorflow;t1=time.perf_counter();"
                            "import pinn, pinn.solver, pinn.training, pinn.network, pinn.residuals;"
                            "print(time.perf_counter()-t, time.perf_counter()-t1)"),
        "pinn": "import time,sys;t=time.perf_counter();import pinn;print(time.perf_counter()-t, int('tensorflow' in sys.modules))",
    }
    if not tensorflow:
        snippets = {"pinn": snippets["pinn"]}
    env = base_env()
    samples = {k: [] for k in snippets}
    for _ in range(repeats):
        for key, code in snippets.items():
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(HERE))
            process = time.perf_counter() - start
            if done.returncode != 0:
                raise RuntimeError(done.stderr[-2000:])
            first, second = (float(x) for x in done.stdout.split()[-2:])
            samples[key].append((first, second, process))
    med = lambda key, i: statistics.median(s[i] for s in samples[key]) if key in samples else float("nan")  # noqa: E731
    return {
        "repeats": repeats, "samples": samples,
        "tensorflow_s": med("tensorflow", 0), "tensorflow_process_s": med("tensorflow", 2),
        "tensorflow_pinn_s": med("tensorflow+pinn", 0), "tensorflow_pinn_process_s": med("tensorflow+pinn", 2),
        "pinn_over_tensorflow_s": med("tensorflow+pinn", 1),
        "difference_s": med("tensorflow+pinn", 0) - med("tensorflow", 0),
        "pinn_alone_s": med("pinn", 0), "pinn_alone_imports_tensorflow": any(s[1] for s in samples["pinn"]),
    }


BLAS_LABELS = {"default": "pinn as is (default environment)", "no_limit": "pinn's BLAS limit disabled"}


SCIPY_LABELS = {"default": "no limit (default environment)", "openblas1": "OPENBLAS_NUM_THREADS=1",
                "threadpoolctl": "threadpoolctl limit 1"}


def _has_threadpoolctl():
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        return False
    return True


def blas_samples(results):
    """{mode: [runs]} for float64 + XLA L-BFGS: the BLAS rounds plus the default-environment L-BFGS run."""
    samples = {}
    for r in results["lbfgs"][0]["runs"]:
        if r["dtype"] == "float64" and r["jit"]:
            samples.setdefault("default", []).append(r)
    for r in results.get("blas", []):
        samples.setdefault(r["mode"], []).append(r)
    return samples


SCIPY_LBFGS = """
import sys, time, numpy as np, scipy.optimize
n, maxcor, iterations, limit = 2209, 50, int(sys.argv[2]), sys.argv[1] == "threadpoolctl"
d = np.random.default_rng(0).uniform(1.0, 100.0, n)
x0 = np.random.default_rng(1).normal(size=n)
fun = lambda x: (0.5 * float((d * x * x).sum()), d * x)  # no BLAS call in the objective itself
options = {"maxiter": iterations, "maxfun": 4 * iterations, "ftol": 0.0, "gtol": 0.0, "maxcor": maxcor, "maxls": 50}
if limit:
    from threadpoolctl import threadpool_limits
    limiter = threadpool_limits(limits=1, user_api="blas")
start = time.perf_counter()
result = scipy.optimize.minimize(fun, x0, jac=True, method="L-BFGS-B", options=options)
print(1e3 * (time.perf_counter() - start) / result.nit, result.nit)
"""


def measure_scipy_lbfgs(rounds, modes, iterations=300):
    """scipy's L-BFGS-B alone (no TensorFlow) on a diagonal quadratic of pinn's size: n = 2209, maxcor 50."""
    samples = {m: [] for m in modes}
    for _ in range(rounds):
        for blas in modes:
            env = {**base_env(), **({"OPENBLAS_NUM_THREADS": "1"} if blas == "openblas1" else {})}
            done = subprocess.run([sys.executable, "-c", SCIPY_LBFGS, blas, str(iterations)], capture_output=True, text=True, env=env)
            if done.returncode != 0:
                raise RuntimeError(done.stderr[-2000:])
            samples[blas].append((float(done.stdout.split()[0]), os.getloadavg()[0]))
    return samples


def run_peer(mode):
    script = HERE / "peer_deepxde.py"
    done = subprocess.run([sys.executable, str(script), "--json", *([f"--{mode}"] if mode in ("quick", "smoke") else [])],
                          capture_output=True, text=True, env=base_env(), cwd=str(ROOT))
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
    if done.returncode != 0 or not lines:
        return {"available": False, "reason": f"peer script failed: {done.stderr[-1500:]}"}
    return json.loads(lines[-1][len(MARK):])


# --------------------------------------------------------------------------- printing

def table(header, rows):
    """A markdown pipe table (readable in a terminal, pastes into docs)."""
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    fmt = lambda row: "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |"  # noqa: E731
    lines = [fmt(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [fmt(r) for r in cells[1:]]
    return "\n".join(lines)


def f(value, spec=".3f"):
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return format(value, spec)


def peer_figures(peer):
    """Peer Adam ms/step by dtype and L-BFGS s/iteration, measured if the peer ran, else quoted."""
    if peer and peer.get("available") and peer.get("results"):
        adam = {r["dtype"]: r["adam_ms_per_step"] for r in peer["results"] if r["case"] == "quadratic"}
        lbfgs = [r["lbfgs_s_per_iteration"] for r in peer["results"]]
        if adam:
            return adam, (min(lbfgs), max(lbfgs)), "measured here"
    return dict(QUOTED_PEER["adam_ms"]), QUOTED_PEER["lbfgs_s"], "quoted from the issue"


def report(results, mode):
    out = []
    add = out.append
    m = results["machine"]
    add(f"# pinn benchmark ({mode})")
    add("")
    if mode == "smoke":
        add("SMOKE RUN: tiny settings (" + " ".join(SMOKE_OVERRIDES) + " unless a measurement sets its own), every"
            " worker in one process, XLA off.  It checks that the script runs; every figure below is meaningless"
            " as a measurement.")
        add("")
    quota = f", cgroup quota {m['cgroup_cpu_quota']:g} CPUs" if m["cgroup_cpu_quota"] else ""
    add(f"Machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable{quota}); {m['platform']}")
    add(f"pinn {m['pinn']} at commit {m.get('commit') or 'unknown'} (pinn/ and problems/ as checked out; benchmarks/ may differ)")
    add(f"Python {m['python']}, TensorFlow {m['tensorflow']}, numpy {m['numpy']}, scipy {m['scipy']}, "
        f"threadpoolctl {m['threadpoolctl'] or 'not installed'}, DeepXDE {m['deepxde'] or 'not installed'}")
    add(f"Load average at start {', '.join(f'{x:.2f}' for x in m['load_average'])}; at end "
        f"{', '.join(f'{x:.2f}' for x in results['load_average_end'])}"
        + ("  (other work was running: figures are noisier)" if m["load_average"][0] > 0.5 * m["usable_cores"] else ""))
    d = results["pinn_defaults"]
    add(f"pinn defaults: network 1-{'-'.join(map(str, d['hidden']))}-N, {d['points']} points, {d['dtype']},"
        f" Adam {d['adam_steps']} steps in blocks of {d['spc']}, L-BFGS up to {d['lbfgs_steps']}, jit_compile {d['jit']}")
    add(f"Total benchmark time {results['seconds']:.0f} s")
    peer_adam, peer_lbfgs, peer_source = peer_figures(results.get("peer"))
    add("")

    # 1. Adam
    add("## Adam: time per step (quadratic, 1-32-32-32-1 tanh, 64 points)")
    add("")
    add(f"Steady = median wall-clock per step over the blocks after the first (the compiled call plus pinn's loop);"
        f" in-call = inside the compiled call only; first call = the first block (tracing + compile + its steps);"
        f" compile = first call minus its steps at the in-call rate.  Peer: DeepXDE {peer_source}"
        f" ({', '.join(f'{k} {v:.2f} ms' for k, v in sorted(peer_adam.items()))}).")
    add("")
    rows = []
    for block in results["adam"]:
        for r in block["runs"]:
            peer = peer_adam.get(block["dtype"])
            speedup = peer / r["steady_ms"] if peer and r["steady_ms"] == r["steady_ms"] else None
            rows.append((block["dtype"], "on" if r["jit"] else "off", r["spc"],
                         r["constraints"] if r["constraints"] != "auto" else "hard (auto)",
                         f(r["steady_ms"]), f(r["in_call_ms"]), f(r["first_call_s"], ".2f"), f(r["compile_s"], ".2f"),
                         f"{f(r['adam_seconds'], '.2f')} ({r['steps']})", f(speedup, ".1f") + "x"))
    add(table(("dtype", "XLA", "steps/call", "conditions", "steady ms/step", "in-call ms/step", "first call s",
               "compile s", "Adam total s (steps)", "vs peer"), rows))
    add("")
    add("Process start-up cost absorbed before timing (first tiny solve in the process): "
        + "; ".join(f"{b['dtype']}: XLA {f(b.get('warmup_xla'), '.2f')} s, graph {f(b.get('warmup_graph'), '.2f')} s"
                    for b in results["adam"]))
    add("")

    if results.get("first_solve"):
        add("## A typical Adam run, as the first and the second solve of a fresh process")
        add("")
        add("Quadratic, Adam only, pinn's default steps per call; 'Adam s' is pinn's adam_seconds (all compiled calls),"
            " 'solve s' the whole pinn.solve call (model building, tracing, XLA's first use in the process, output)."
            "  One process per row.")
        add("")
        rows = [(r["label"], "-".join(map(str, [1, *r["network"], 1])), r["points"], r["dtype"], r["spc"], r["first"]["adam_steps"],
                 "on" if r["jit"] else "off", f(r["first"]["adam_seconds"], ".2f"), f(r["first"]["wall_s"], ".2f"),
                 f(r["second"]["adam_seconds"], ".2f"), f(r["second"]["wall_s"], ".2f")) for r in results["first_solve"]]
        add(table(("run", "network", "points", "dtype", "steps/call", "Adam steps", "XLA", "1st solve: Adam s", "1st solve: solve s",
                   "2nd solve: Adam s", "2nd solve: solve s"), rows))
        add("")

    # 2. L-BFGS
    add(f"## L-BFGS: time per iteration (quadratic, 1-32-32-32-1, 64 points, after {results.get('lbfgs_adam_steps', 200)} Adam steps)")
    add("")
    add("Steady = (minimize's time - first evaluation) / iterations; overall = pinn's lbfgs_seconds / iterations"
        " (includes the first call's compile); TF = time in pinn's compiled loss-and-gradient;"
        " scipy = the rest of minimize (L-BFGS-B itself, conversions).  jit_compile is the problem's setting;"
        " since commit 94544b1 pinn compiles L-BFGS's function without XLA whatever it says.")
    add("")
    rows = []
    for block in results["lbfgs"]:
        env = block["label"]
        for r in block["runs"]:
            rows.append((env, r["dtype"], "true" if r["jit"] else "false", f(r["steady_ms"], ".2f"), f(r["overall_ms"], ".2f"),
                         f(r["tf_ms_per_iteration"], ".2f"), f(r["scipy_ms_per_iteration"], ".2f"),
                         f(r["evaluations"] / max(r["iterations"], 1), ".2f"), f(r["compile_s"], ".2f"),
                         f"{r['iterations']} / {r['asked']}", r["stop"].split("(")[-1].rstrip(")")[:48],
                         f(r["error"], ".1e")))
    add(table(("BLAS threads", "dtype", "jit_compile", "steady ms/it", "overall ms/it", "TF ms/it", "scipy ms/it", "evals/it",
               "compile s", "iterations / asked", "stop", "max error"), rows))
    add("")
    add(f"Peer L-BFGS: {peer_lbfgs[0]:.3f}-{peer_lbfgs[1]:.3f} s per iteration ({peer_source}).")
    add("")

    # 3. Accuracy
    acc = results["accuracy"]
    add("## Accuracy")
    add("")
    rows = []
    def described(name, r):
        return f"{name}, {'file defaults' if not r['overrides'] else ' '.join(r['overrides'])} ({r['network']}, {r['points']} points)"

    for key in ("quadratic_default", "quadratic_64"):
        if key in acc:
            r = acc[key]
            label = described("quadratic", r)
            hit6, hit8 = r["first_1e-6"], r["first_1e-8"]
            rows.append((label, f"{r['adam_steps']} + {r['lbfgs_steps']}", f(r["adam_seconds"], ".2f"), f(r["lbfgs_seconds"], ".2f"),
                         f(r["lbfgs_ms"], ".2f"), f(r["error"], ".2e") + " (max abs)",
                         f"{hit6['seconds']:.2f} s ({'Adam' if hit6['phase'] == 'adam' else 'L-BFGS'} {hit6['step']})" if hit6 else "not reached",
                         f"{hit8['seconds']:.2f} s" if hit8 else "not reached", r["stop"][:60]))
    for key in ("lotka_volterra_default",):
        if key in acc:
            r = acc[key]
            rows.append((described("Lotka-Volterra", r), f"{r['adam_steps']} + {r['lbfgs_steps']}", f(r["adam_seconds"], ".2f"), f(r["lbfgs_seconds"], ".2f"),
                         f(r["lbfgs_ms"], ".2f"), f(r["relative_l2"], ".2e") + " (rel. L2 vs solve_ivp)", "-", "-", r["stop"][:60]))
    add(table(("problem", "Adam + L-BFGS steps", "Adam s", "L-BFGS s", "L-BFGS ms/it (incl. compile)", "error",
               "time to 1e-6", "time to 1e-8", "L-BFGS stop"), rows))
    add("")
    add(f"After a warm-up solve in the same process ({acc['warmup_s']:.1f} s, XLA's one-off start), so these are training times.")
    add("Time to 1e-6 / 1e-8: training time (Adam + L-BFGS, compile included, error sampling excluded) at the first"
        " progress report whose max|y - x^2| on 501 points is below the threshold (Adam reports every block,"
        " L-BFGS every 0.25 s).")
    add("")
    add("Quadratic with L-BFGS only (training.adam.steps=0, file defaults otherwise), increasing budgets:")
    add("")
    add(table(("L-BFGS budget", "iterations", "training s (incl. compile)", "max error"),
              [(r["lbfgs_asked"], r["lbfgs_steps"], f(r["train_seconds"], ".2f"), f(r["error"], ".2e")) for r in acc["quadratic_ladder"]]))
    add("")
    checks = [(k, acc[k]["best"]) for k in ("quadratic_default", "quadratic_64", "lotka_volterra_default") if k in acc]
    checks.append(("Lotka-Volterra, Adam only at lr 0.05", acc["best_weights_noisy_adam"]))
    add("Lowest-loss weights kept (loss of the returned weights vs best loss seen vs last recorded loss):")
    add("")
    add(table(("run", "returned-weights loss", "best loss", "min recorded", "last recorded", "kept best"),
              [(k, f(c["returned_loss"], ".3e"), f(c["best_loss"], ".3e"), f(c["history_min"], ".3e"), f(c["last_recorded"], ".3e"),
                "yes" if c["ok"] else "NO") for k, c in checks]))
    add("")

    # 4. Start-up
    s = results["startup"]
    add(f"## Start-up (fresh interpreters, median of {s['repeats']})")
    add("")
    add(table(("measure", "seconds"), [
        ("import tensorflow", f(s["tensorflow_s"], ".2f")),
        ("import tensorflow; import pinn (+ solver, training, network, residuals)", f(s["tensorflow_pinn_s"], ".2f")),
        ("  of which pinn, after tensorflow (same process)", f(s["pinn_over_tensorflow_s"], ".3f")),
        ("  difference of the medians of the two rows above", f(s["difference_s"], ".2f")),
        ("import pinn alone", f(s["pinn_alone_s"], ".3f")),
        ("import pinn alone imports tensorflow?", "yes" if s["pinn_alone_imports_tensorflow"] else "no"),
        ("whole process: python -c 'import tensorflow'", f(s["tensorflow_process_s"], ".2f")),
    ]))
    add("")

    # 5. BLAS threads
    add(f"## scipy's BLAS threads and L-BFGS (1-32-32-32-1, 64 points, float64, {results.get('lbfgs_adam_steps', 200)} Adam steps"
        f" then {results.get('blas_lbfgs_steps', 300)} L-BFGS)")
    add("")
    add("scipy's L-BFGS-B calls OpenBLAS, whose threads compete with TensorFlow's for the cores.  pinn holds"
        " scipy's BLAS to one thread during L-BFGS (threadpoolctl); 'limit disabled' replaces that limit with a"
        " no-op to show what it buys.  A sample is one fresh process; rounds alternate the settings; the"
        " L-BFGS table's float64 XLA run counts as one more 'as is' sample.  cpu/wall = CPU seconds of the"
        " whole process per wall second during minimize.")
    add("")
    rows = []
    for mode, runs in blas_samples(results).items():
        steady = [r["steady_ms"] for r in runs]
        rows.append((BLAS_LABELS[mode], len(runs), f(statistics.median(steady), ".2f"), f"{min(steady):.2f}-{max(steady):.2f}",
                     f(statistics.median(r["tf_ms_per_iteration"] for r in runs), ".2f"),
                     f(statistics.median(r["scipy_ms_per_iteration"] for r in runs), ".2f"),
                     f(statistics.median(r.get("cpu_per_wall", float("nan")) for r in runs), ".2f")))
    add(table(("BLAS threads", "samples", "steady ms/it (median)", "range", "TF ms/it", "scipy ms/it", "cpu/wall"), rows))
    if results.get("scipy_lbfgs"):
        add("")
        add("scipy's L-BFGS-B alone, no TensorFlow in the process: a diagonal quadratic with n = 2209 (pinn's weight"
            " count for this network) whose objective makes no BLAS call, maxcor 50 (pinn's lbfgs.history),"
            f" {results.get('scipy_iterations', 300)} iterations; ms per iteration:")
        add("")
        add(table(("BLAS threads", "samples: ms/it (1-min load average)", "median ms/it"),
                  [(SCIPY_LABELS[k], ", ".join(f"{x:.2f} ({load:.1f})" for x, load in v), f(statistics.median(x for x, _ in v), ".2f"))
                   for k, v in results["scipy_lbfgs"].items() if v]))
    add("")

    if results.get("budgets"):
        add("## Step budgets (file defaults otherwise)")
        add("")
        add(table(("problem", "Adam steps", "L-BFGS asked", "L-BFGS run", "Adam s", "L-BFGS s", "training s", "error"),
                  [(r["problem"], r["adam"], r["lbfgs"], r["lbfgs_steps"], f(r["adam_seconds"], ".2f"), f(r["lbfgs_seconds"], ".2f"),
                    f(r["train_seconds"], ".2f"),
                    f(r["error"], ".2e") + (" (max abs)" if r["problem"] == "quadratic" else " (rel. L2)")) for r in results["budgets"]]))
        add("")

    # 6. Peer
    peer = results.get("peer")
    add("## Peer: DeepXDE")
    add("")
    if peer is None:
        add("Not run (pass --peer).  The issue's figures (quoted): Adam 1.5 ms/step float32, 1.7 ms/step float64;"
            " L-BFGS 0.33-0.46 s/iteration; quadratic 1.7e-7 only after 91 s of L-BFGS; Lotka-Volterra rel. error 0.99.")
    elif not peer.get("available"):
        add(f"Skipped: {peer.get('reason')}.  Using the issue's figures (quoted).")
    else:
        rows = [(r["case"], r["dtype"], "on" if r["xla"] else "off", f(r["adam_ms_per_step"]), f(r["adam_first_call_s"], ".2f"),
                 f(r["lbfgs_s_per_iteration"], ".3f"), f"{r['lbfgs_iterations']} / {r['lbfgs_asked']}",
                 f"{r['adam_warmup_steps'] + r['adam_steps']} + {r['lbfgs_iterations_short'] + r['lbfgs_iterations']}",
                 f(r["error"], ".2e") + (" (max abs)" if r["case"] == "quadratic" else " (rel. L2)"))
                for r in peer["results"]]
        add(f"DeepXDE {peer['version']}, TensorFlow backend, {peer['mode']} budgets, measured here:")
        add("")
        add(table(("case", "dtype", "XLA", "Adam ms/step", "first call s", "L-BFGS s/it", "L-BFGS its / asked",
                   "Adam + L-BFGS steps", "error"), rows))
        for failure in peer.get("failures", []):
            add(f"failed: {failure['case']} {failure['dtype']}: {failure['error'][-300:]}")
    add("")

    # 7. Targets
    add("## Targets" + (" (smoke run: tiny budgets, the verdicts mean nothing)" if mode == "smoke" else ""))
    add("")
    add(table(("target", "figure", "verdict"), targets(results, peer_adam, peer_source)))
    return "\n".join(out)


def _adam_default(results, dtype, constraints="auto"):
    jit, spc = results.get("adam_default") or (DEFAULTS["jit"], DEFAULTS["spc"])
    for block in results["adam"]:
        if block["dtype"] == dtype:
            for r in block["runs"]:
                if r["jit"] == jit and r["spc"] == spc and r["constraints"] == constraints:
                    return r
    return None


def _adam_best(results, dtype):
    runs = [r for b in results["adam"] if b["dtype"] == dtype for r in b["runs"] if r["constraints"] == "auto"]
    return min(runs, key=lambda r: r["steady_ms"]) if runs else None


def targets(results, peer_adam, peer_source):
    rows = []
    verdict = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    for dtype in ("float32", "float64"):
        need = TARGETS["adam_speedup"][dtype]
        d, b = _adam_default(results, dtype), _adam_best(results, dtype)
        peer = peer_adam.get(dtype)
        if d and peer:
            ratio = peer / d["steady_ms"]
            best = peer / b["steady_ms"]
            quoted = QUOTED_PEER["adam_ms"][dtype]
            text = (f"default ({'XLA' if d['jit'] else 'graph'}, {d['spc']}/call) {d['steady_ms']:.3f} ms = {ratio:.1f}x;"
                    f" best ({'XLA' if b['jit'] else 'graph'},"
                    f" {b['spc']}/call) {b['steady_ms']:.3f} ms = {best:.1f}x; peer {peer:.2f} ms ({peer_source})")
            if peer_source == "measured here":
                text += f"; against the issue's {quoted:g} ms: {quoted / d['steady_ms']:.1f}x default, {quoted / b['steady_ms']:.1f}x best"
            rows.append((f"Adam step >= {need:g}x faster than the peer, {dtype}", text,
                         verdict(ratio >= need) + ("" if ratio >= need or best < need else " by default (met with the best setting)")))
    samples = blas_samples(results)
    default = next((r for r in results["lbfgs"][0]["runs"] if r["dtype"] == "float64" and r["jit"]), None)
    if samples.get("default"):
        typical = statistics.median(r["steady_ms"] for r in samples["default"])
        spread = [r["steady_ms"] for r in samples["default"]]
        text = (f"{typical:.2f} ms/it steady, median of {len(spread)} (range {min(spread):.2f}-{max(spread):.2f};"
                f" 1-32-32-32-1, 64 points, float64)")
        unlimited = [r["steady_ms"] for r in samples.get("no_limit", [])]
        if unlimited:
            text += f"; {statistics.median(unlimited):.2f} ms/it with pinn's BLAS limit disabled (range {min(unlimited):.2f}-{max(unlimited):.2f})"
        ok = typical < TARGETS["lbfgs_ms"]
        note = ""
        if ok and max(spread) >= TARGETS["lbfgs_ms"]:
            note = f" (median; {sum(x >= TARGETS['lbfgs_ms'] for x in spread)} of {len(spread)} samples over 5 ms)"
        rows.append(("L-BFGS iteration < 5 ms", text, verdict(ok) + note))
    if default:
        stalled = [r for r in results["lbfgs"][0]["runs"] if r["iterations"] < min(50, r["asked"])]
        rows.append(("L-BFGS does not stall after a few iterations",
                     f"float64: {default['iterations']} of {default['asked']} iterations; "
                     + ("; ".join(f"{r['dtype']} (jit_compile {str(r['jit']).lower()}) stopped after {r['iterations']}" for r in stalled)
                        or "no run stopped before 50"),
                     verdict(default["iterations"] >= min(50, default["asked"]))
                     + (" in float64 (float32 stops early)" if any(r["dtype"] == "float32" for r in stalled) else "")))
    acc = results["accuracy"]
    q = acc["quadratic_default"]
    rows.append(("quadratic to 1e-8 (default training)", f"max error {q['error']:.2e}", verdict(q["error"] <= TARGETS["quadratic_error"])))
    hit = q["first_1e-6"]
    ladder = [r for r in acc["quadratic_ladder"] if r["error"] <= 1e-6]
    fast = min(ladder, key=lambda r: r["train_seconds"]) if ladder else None
    text = f"default training: {hit['seconds']:.2f} s" if hit else "default training: not reached"
    if fast:
        text += f"; L-BFGS only ({fast['lbfgs_steps']} its): {fast['train_seconds']:.2f} s, error {fast['error']:.1e}"
    ok_default = bool(hit and hit["seconds"] <= TARGETS["quadratic_fast_seconds"])
    ok_fast = bool(fast and fast["train_seconds"] <= TARGETS["quadratic_fast_seconds"])
    rows.append(("quadratic to 1e-6 within 5 s of training", text,
                 verdict(ok_default) + ("" if ok_default or not ok_fast else " by default (met with training.adam.steps=0)")))
    lv = acc["lotka_volterra_default"]
    rows.append(("Lotka-Volterra to 1e-4 vs scipy", f"relative L2 {lv['relative_l2']:.2e} (max rel. {lv['max_relative']:.2e})",
                 verdict(lv["relative_l2"] <= TARGETS["lotka_volterra_error"])))
    checks = [acc[k]["best"]["ok"] for k in ("quadratic_default", "quadratic_64", "lotka_volterra_default") if k in acc]
    if "best_weights_noisy_adam" in acc:
        checks.append(acc["best_weights_noisy_adam"]["ok"])
    rows.append(("keeps the lowest-loss weights", f"{sum(checks)} of {len(checks)} runs return their best-loss weights", verdict(all(checks))))
    s = results["startup"]
    rows.append(("start-up over import tensorflow < 0.5 s",
                 f"{s['pinn_over_tensorflow_s']:.3f} s in-process ({s['difference_s']:+.2f} s between process medians);"
                 f" import pinn alone {s['pinn_alone_s']:.3f} s, imports tensorflow: {'yes' if s['pinn_alone_imports_tensorflow'] else 'no'}",
                 verdict(s["pinn_over_tensorflow_s"] < TARGETS["startup_s"] and not s["pinn_alone_imports_tensorflow"])))
    return rows


# --------------------------------------------------------------------------- main

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="pinn speed/accuracy benchmark")
    parser.add_argument("--quick", action="store_true", help="short version (about 2 minutes)")
    parser.add_argument("--peer", action="store_true", help="also run DeepXDE (benchmarks/peer_deepxde.py) if installed")
    parser.add_argument("--json", metavar="FILE", help="write every figure to FILE as JSON")
    parser.add_argument("--smoke", action="store_true",
                        help="every code path with tiny settings in one worker process (about 40 s): checks the script, figures mean nothing")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--worker-loop", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        name, options = args.worker
        options = json.loads(options)
        BASE_OVERRIDES[:] = options.get("base_overrides", [])
        result = WORKERS[name](options)
        print(MARK + json.dumps(result), flush=True)
        return 0
    if args.worker_loop:
        return worker_loop()
    if args.smoke and args.quick:
        parser.error("--smoke and --quick are exclusive")

    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    plan = PLANS[mode]
    SHARED["on"] = plan.get("shared_worker", False)
    base = {"base_overrides": plan["base_overrides"]} if plan.get("base_overrides") else {}
    start = time.perf_counter()
    results = {"mode": mode, "machine": machine_info(), "pinn_defaults": DEFAULTS}
    if plan.get("adam_default"):
        results["adam_default"] = list(plan["adam_default"])
    print(f"pinn benchmark ({mode}); progress on stderr", file=sys.stderr)
    try:
        measure(plan, base, results, args)
    finally:
        close_shared_worker()
    results["load_average_end"] = os.getloadavg()
    results["seconds"] = time.perf_counter() - start
    text = report(results, mode)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


def measure(plan, base, results, args) -> None:
    """Every measurement of ``plan`` into ``results``; ``base`` goes into every worker's options."""
    results["startup"] = measure_startup(plan["startup_repeats"], plan.get("startup_tensorflow", True))
    steps = {str(k): v for k, v in plan["adam_steps"].items()}
    constraints = ["auto", "soft"] if plan["adam_soft"] else ["auto"]
    adam_extra = {}
    if plan.get("adam_jit"):
        adam_extra["jit"] = list(plan["adam_jit"])
    if plan.get("adam_default"):
        adam_extra["soft_config"] = list(plan["adam_default"])
    results["adam"] = [run_worker("adam", {**base, "dtype": dtype, "spc": list(plan["adam_spc"]), "steps": steps,
                                           "constraints": constraints, **adam_extra},
                                  label=f"Adam {dtype}") for dtype in plan.get("adam_dtypes", ("float32", "float64"))]

    lbfgs_adam = results["lbfgs_adam_steps"] = plan.get("lbfgs_adam_steps", 200)
    results["blas_lbfgs_steps"] = plan.get("blas_lbfgs_steps", 300)
    lbfgs_options = {**base, "adam_steps": lbfgs_adam, "lbfgs_steps": plan["lbfgs_steps"]}
    block = run_worker("lbfgs", {**lbfgs_options, "variants": plan["lbfgs_variants"]}, label="L-BFGS")
    block.update(key="default", label="default")
    results["lbfgs"] = [block]

    # scipy's BLAS threads: alternate fresh processes with pinn's limit and without it, several rounds.
    results["blas"] = []
    for round_ in range(plan["blas_rounds"]):
        for blas in plan["blas_modes"]:
            options = {**base, "adam_steps": lbfgs_adam, "lbfgs_steps": results["blas_lbfgs_steps"], "variants": [("float64", True)],
                       "no_limit": blas == "no_limit"}
            out = run_worker("lbfgs", options, label=f"BLAS round {round_ + 1}: {BLAS_LABELS[blas]}")
            results["blas"].append({"mode": blas, "round": round_, **out["runs"][0]})
    scipy_modes = ["default", "openblas1"] + (["threadpoolctl"] if _has_threadpoolctl() else [])
    results["scipy_iterations"] = plan.get("scipy_iterations", 300)
    results["scipy_lbfgs"] = measure_scipy_lbfgs(plan.get("scipy_rounds", 2), scipy_modes, results["scipy_iterations"])

    results["first_solve"] = [
        run_worker("first_solve", {**base, "label": label, "overrides": overrides, "jit": jit},
                   label=f"first solve: {label}, XLA {'on' if jit else 'off'}")
        for label, overrides in plan["first_solve"] for jit in plan.get("first_solve_jit", (True, False))]
    noisy = {"noisy_adam_steps": plan["noisy_adam_steps"]} if plan.get("noisy_adam_steps") else {}
    results["accuracy"] = run_worker("accuracy", {**base, **noisy, "ladder": list(plan["ladder"]), "accuracy_bench": plan["accuracy_bench"],
                                                  "lotka_volterra_lbfgs": plan["lotka_volterra_lbfgs"]}, label="accuracy")
    if plan["budgets"]:
        extra = run_worker("accuracy", {**base, "quadratic": False, "lotka_volterra": False, "ladder": [], "accuracy_bench": False,
                                        "budgets": plan["budgets"]}, label="step budgets")
        results["budgets"] = extra.get("budgets", [])

    if args.peer:
        print("  ... DeepXDE peer", file=sys.stderr, flush=True)
        results["peer"] = run_peer(results["mode"])


DEFAULTS = pinn_defaults()

if __name__ == "__main__":
    sys.exit(main())
