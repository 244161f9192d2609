#!/usr/bin/env python
"""Adam step time, pinn against DeepXDE (TensorFlow backend), on two PDEs in two variables.

    python benchmarks/peer_deepxde_pde.py            # full: about 13 minutes on 2 cores shared with other work (load 5-6)
    python benchmarks/peer_deepxde_pde.py --quick    # short budgets, pinn and DeepXDE at their defaults only
    python benchmarks/peer_deepxde_pde.py --smoke    # tiny budgets: checks the script runs (figures mean nothing)
    python benchmarks/peer_deepxde_pde.py --json     # also print one '@@RESULT {json}' line

Optional: if DeepXDE is not installed, this says so and exits 0.  Install
with ``pip install deepxde tensorflow-probability tf-keras``.

The problems are pinn's own files, ``problems/burgers.yaml`` (u_t + u u_x =
nu u_xx on [-1, 1] x [0, 1], nu = 0.01/pi, u(x, 0) = -sin(pi x), u(+-1, t) = 0)
and ``problems/poisson.yaml`` (-(u_xx + u_yy) = 2 pi^2 sin(pi x) sin(pi y) on
the unit square, u = 0 on every edge).  Both sides compute the same thing:

* network: pinn's default (read from the loaded problem: 2-64-64-1 tanh),
  Glorot-normal weights, inputs scaled to [-1, 1] per variable ((X - centre) /
  half-width, DeepXDE: ``apply_feature_transform``);
* the conditions built into the output as pinn builds them
  (pinn/pde/network.py), DeepXDE: ``apply_output_transform``:
  Burgers u = -sin(pi x) + tau 4 s (1 - s) c N with s = (x - a) / (b - a),
  tau = (t - t0) / T; Poisson u = 16 s (1 - s) r (1 - r) c N (s, r = x, y on
  [0, 1]); c is pinn's output scale, the largest |value| the conditions give on
  64 points of their lines (Burgers: max |sin(pi x)| there; Poisson: 1);
  no penalty terms on either side, so the loss is the mean squared residual
  of the equation alone (DeepXDE: ``TimePDE`` / ``PDE`` with no ic/bc);
* as many collocation points as pinn trains on (training.points, default 2500:
  pinn's 50 x 50 grid; DeepXDE: ``num_domain`` of the same count, its default
  Hammersley sampling), the count each side actually used is printed;
* Adam at pinn's default learning rate (1e-3), in the float type of the row.

pinn runs at its defaults: ``training.phases=[adam]`` only, its default
steps per compiled call and ``training.jit_compile`` (both printed; XLA on,
500 steps per call as shipped).  Its steady ms/step is benchmarks/run.py's:
the median over the blocks after the first (which includes tracing and XLA
compilation) of the wall time between two progress reports divided by the
block's steps.  DeepXDE runs at its defaults (XLA off on a CPU-only machine,
one Python call of its compiled step per iteration): after a warm-up
``model.train(iterations=warm)``, ms/step = wall time of
``model.train(iterations=N)`` / N.  The full run adds pinn with
``training.jit_compile=false`` (DeepXDE's setting), to show how much of the
difference is XLA.  DeepXDE with XLA on (``dde.config.enable_xla_jit()``) is
not measured: with DeepXDE 1.15 and TensorFlow 2.21 on CPU it took seconds per
step here (it appears to compile again at every step), far slower than its
default.

Every measurement runs in its own fresh subprocess (DeepXDE's float type is
process-wide), pinn then DeepXDE for each case, one at a time.  The target is
the performance issue's: pinn's Adam step at least 3x faster than DeepXDE's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_deepxde import missing  # noqa: E402  (why the peer cannot run here: the same check as the ODE peer's)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:  # the pinn of this repository (run as python benchmarks/peer_deepxde_pde.py)
    sys.path.insert(0, ROOT)
MARK = "@@RESULT "
TARGET = 3.0  # pinn's Adam step at least this many times faster than DeepXDE's

PROBLEMS = {"burgers": os.path.join(ROOT, "problems", "burgers.yaml"),
            "poisson": os.path.join(ROOT, "problems", "poisson.yaml")}

BUDGETS = {
    # pinn: Adam steps (at the default 500 steps per call: the first block, then the timed ones), extra
    # overrides, and the steps of the other setting (full run); DeepXDE: (warm-up steps, timed steps)
    "full": {"pinn": 1500, "pinn_overrides": [], "deepxde": (30, 300), "pinn_other": 1000},
    "quick": {"pinn": 1000, "pinn_overrides": [], "deepxde": (20, 200)},
    "smoke": {"pinn": 20, "pinn_overrides": ["training.steps_per_call=10", "training.points=16", "training.jit_compile=false"],
              "deepxde": (3, 10)},
}
DTYPES = ("float32", "float64")
#: The cases run: (problem, float type); a smoke run takes one float type so that each side runs in one process.
CASES = [(p, d) for p in PROBLEMS for d in DTYPES]
SMOKE_CASES = [("burgers", "float32"), ("poisson", "float32")]
#: Settings besides the defaults (full run only): pinn without XLA, as DeepXDE runs on a CPU.
OTHER_SETTINGS = {"pinn": "xla-off"}




def pinn_overrides(mode: str, dtype: str, setting: str):
    budget = BUDGETS[mode]
    steps = budget["pinn"] if setting == "default" else budget["pinn_other"]
    overrides = ["training.phases=[adam]", f"training.adam.steps={steps}", f"training.dtype={dtype}",
                 "reference=none",  # no numerical reference for the self-check after training (not timed anyway)
                 *budget["pinn_overrides"]]
    if setting == "xla-off":
        overrides.append("training.jit_compile=false")
    return overrides


def pinn_setup(problem_name: str, mode: str, dtype: str = "float64", setting: str = "default") -> dict:
    """What pinn will train on: network, points actually used, learning rate (TensorFlow is not imported)."""
    import numpy as np

    import pinn
    from pinn.collocation import Schedule

    problem = pinn.load_problem(PROBLEMS[problem_name], pinn_overrides(mode, dtype, setting))
    spec = problem.training
    # the points train_field starts from (the grid sampler rounds to a square)
    points = Schedule(problem.domain, spec.points, spec.sampler, spec.resample_every).initial(np.random.default_rng(spec.seed + 1))
    return {
        "hidden": list(problem.network.hidden), "activation": problem.network.activation,
        "widths": [len(problem.variables), *problem.network.hidden, len(problem.unknowns)],
        "points_asked": int(spec.points), "points": int(len(points)), "sampler": spec.sampler,
        "learning_rate": float(spec.adam.learning_rate), "steps_per_call": int(spec.steps_per_call),
        "jit_compile": bool(spec.jit_compile), "adam_steps": int(spec.adam.steps),
        "center": [float(c) for c in problem.domain.center], "half_width": [float(h) for h in problem.domain.half_width],
        "lows": [float(v) for v in problem.domain.lows], "highs": [float(v) for v in problem.domain.highs],
    }


# ------------------------------------------------------------------ pinn


def run_pinn(problem_name: str, dtype: str, mode: str, setting: str) -> dict:
    """Adam only, at pinn's defaults; per-block wall-clock stamps from the progress hook (as benchmarks/run.py)."""
    import numpy as np

    import pinn

    problem = pinn.load_problem(PROBLEMS[problem_name], pinn_overrides(mode, dtype, setting))
    setup = pinn_setup(problem_name, mode, dtype, setting)
    stamps = []

    def progress(p):
        stamps.append((time.perf_counter(), p.step, p.steps_per_second))

    start = time.perf_counter()
    solution = pinn.solve(problem, progress=progress)
    wall = time.perf_counter() - start
    import tensorflow as tf

    times = np.array([s[0] for s in stamps])
    steps = np.array([s[1] for s in stamps])
    first_size = int(steps[0])
    first_call = first_size / stamps[0][2]
    if len(stamps) > 1:
        per_block = np.diff(times) / np.diff(steps)
        steady = float(np.median(per_block))
        in_call = float(np.median([1.0 / s[2] for s in stamps[1:]]))
    else:
        per_block, steady = np.array([]), float("nan")
        in_call = float("nan")
    model = solution.model
    history = solution.training.history
    terms = [k for k in history if k not in ("step", "phase", "total")]
    return {
        "side": "pinn", "case": problem_name, "dtype": dtype, "setting": setting,
        "xla": bool(problem.training.jit_compile), "steps_per_call": int(problem.training.steps_per_call),
        "network": "-".join(str(w) for w in setup["widths"]) + " " + setup["activation"],
        "parameters": int(sum(int(np.prod(v.shape)) for v in model.weights)),
        "points": setup["points"], "learning_rate": setup["learning_rate"],
        "steady_ms": 1e3 * steady, "in_call_ms": 1e3 * in_call, "block_ms": [1e3 * float(b) for b in per_block],
        "first_call_s": first_call, "first_block_steps": first_size, "blocks": len(stamps),
        "timed_steps": int(steps[-1] - steps[0]) if len(stamps) > 1 else 0, "steps": int(solution.training.steps),
        "adam_seconds": float(solution.training.adam_seconds), "wall_seconds": wall,
        "hard": {u: f.description for u, f in model.forms.items()}, "scales": [float(s) for s in model.scales.numpy()],
        "loss_terms": terms, "final_loss": float(history["total"][-1]), "tensorflow": tf.__version__,
    }


# ------------------------------------------------------------------ DeepXDE


def output_scale(problem_name: str) -> float:
    """pinn's output scale c (pinn.pde.network.output_scales): the largest |value| of the condition data on 64
    points of each condition's line."""
    import numpy as np

    if problem_name == "burgers":
        return float(np.max(np.abs(-np.sin(np.pi * np.linspace(-1.0, 1.0, 64)))))  # u(x, 0) = -sin(pi x); the ends give 0
    return 1.0  # u = 0 on every edge: nothing known, pinn uses 1


def run_deepxde(problem_name: str, dtype: str, mode: str, setting: str, setup: dict) -> dict:
    """The same trial solution, points and learning rate in DeepXDE; ms/step of model.train after a warm-up."""
    os.environ["DDE_BACKEND"] = "tensorflow"
    import numpy as np

    import deepxde as dde
    import tensorflow as tf

    warm, timed = BUDGETS[mode]["deepxde"]
    dde.config.set_default_float(dtype)
    dde.config.set_random_seed(0)
    real = tf.float32 if dtype == "float32" else tf.float64
    lows, highs = setup["lows"], setup["highs"]
    center = tf.constant(setup["center"], dtype=real)
    half_width = tf.constant(setup["half_width"], dtype=real)
    scale = output_scale(problem_name)
    pi = np.pi
    if problem_name == "burgers":
        nu = 0.01 / pi
        geometry = dde.geometry.GeometryXTime(dde.geometry.Interval(lows[0], highs[0]), dde.geometry.TimeDomain(lows[1], highs[1]))

        def pde(X, u):
            u_x = dde.grad.jacobian(u, X, i=0, j=0)
            u_t = dde.grad.jacobian(u, X, i=0, j=1)
            u_xx = dde.grad.hessian(u, X, i=0, j=0)
            return u_t + u * u_x - nu * u_xx

        a, width = lows[0], highs[0] - lows[0]
        t0, duration = lows[1], highs[1] - lows[1]

        def hard(X, N):  # pinn's G + D c N: the initial value and both ends
            x, t = X[:, 0:1], X[:, 1:2]
            s = (x - a) / width
            tau = (t - t0) / duration
            return -tf.sin(pi * x) + tau * 4.0 * s * (1.0 - s) * scale * N

        data = dde.data.TimePDE(geometry, pde, [], num_domain=setup["points"], num_boundary=0, num_initial=0)
    else:
        geometry = dde.geometry.Rectangle(lows, highs)

        def pde(X, u):
            x, y = X[:, 0:1], X[:, 1:2]
            u_xx = dde.grad.hessian(u, X, i=0, j=0)
            u_yy = dde.grad.hessian(u, X, i=1, j=1)
            return -(u_xx + u_yy) - 2.0 * pi**2 * tf.sin(pi * x) * tf.sin(pi * y)

        def hard(X, N):  # pinn's product of edge factors (the Coons patch of zero edge data is 0)
            s = (X[:, 0:1] - lows[0]) / (highs[0] - lows[0])
            r = (X[:, 1:2] - lows[1]) / (highs[1] - lows[1])
            return 16.0 * s * (1.0 - s) * r * (1.0 - r) * scale * N

        data = dde.data.PDE(geometry, pde, [], num_domain=setup["points"], num_boundary=0)
    net = dde.nn.FNN(setup["widths"], setup["activation"], "Glorot normal")
    net.apply_feature_transform(lambda X: (X - center) / half_width)
    net.apply_output_transform(hard)
    model = dde.Model(data, net)
    model.compile("adam", lr=setup["learning_rate"])

    start = time.perf_counter()
    model.train(iterations=warm, display_every=10**9, verbose=0)
    first_call = time.perf_counter() - start
    start = time.perf_counter()
    model.train(iterations=timed, display_every=10**9, verbose=0)
    seconds = time.perf_counter() - start
    losses = np.atleast_1d(np.asarray(model.train_state.loss_train, dtype=float))
    return {
        "side": "deepxde", "case": problem_name, "dtype": dtype, "setting": setting, "xla": bool(dde.config.xla_jit),
        "network": "-".join(str(w) for w in setup["widths"]) + " " + setup["activation"],
        "parameters": int(sum(int(np.prod(v.shape)) for v in net.trainable_variables)), "points": int(len(data.train_x)),
        "learning_rate": setup["learning_rate"], "warmup_steps": warm, "first_call_s": first_call,
        "timed_steps": timed, "steady_ms": 1e3 * seconds / timed, "timed_seconds": seconds,
        "loss_terms": len(losses), "final_loss": float(losses.sum()), "scale": scale,
        "input_dtype": str(data.train_x.dtype), "tensorflow": tf.__version__,
    }


# ------------------------------------------------------------------ processes and tables


def worker(spec: dict) -> int:
    results = []
    for problem_name in spec["problems"]:
        if spec["side"] == "pinn":
            results.append(run_pinn(problem_name, spec["dtype"], spec["mode"], spec["setting"]))
        else:
            results.append(run_deepxde(problem_name, spec["dtype"], spec["mode"], spec["setting"], spec["setups"][problem_name]))
    print(MARK + json.dumps(results), flush=True)
    return 0


def launch(spec: dict, env: dict) -> tuple:
    """One worker process; (results, error text)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
    if done.returncode != 0 or not lines:
        return [], (done.stderr or done.stdout).strip()[-3000:]
    results = json.loads(lines[-1][len(MARK):])
    for r in results:
        r["process_s"] = time.perf_counter() - start
    return results, ""


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def table(rows):
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def setting_label(r: dict) -> str:
    if r["side"] == "pinn":
        return f"XLA {'on' if r['xla'] else 'off'}, {r['steps_per_call']} steps/call"
    return f"XLA {'on' if r['xla'] else 'off'}, 1 step/call"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short budgets, the defaults only")
    parser.add_argument("--smoke", action="store_true", help="tiny budgets, one case per problem: checks the script, figures mean nothing")
    parser.add_argument("--json", action="store_true", help="print one '@@RESULT {json}' line at the end")
    parser.add_argument("--worker", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(json.loads(args.worker))

    if args.smoke and args.quick:
        parser.error("--smoke and --quick are exclusive")
    reason = missing()
    if reason:
        print(f"peer_deepxde_pde: skipped: {reason}")
        if args.json:
            print(MARK + json.dumps({"available": False, "reason": reason}))
        return 0
    from importlib.metadata import version

    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    env = dict(os.environ, DDE_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join([ROOT, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    setups = {p: pinn_setup(p, mode) for p in PROBLEMS}
    load_start, began = load_average(), time.perf_counter()

    # the jobs: each (side, setting, dtype, problems) one process; a smoke run puts both problems in one
    jobs = []
    if args.smoke:
        dtype = SMOKE_CASES[0][1]
        problems = [p for p, _ in SMOKE_CASES]
        jobs += [("pinn", "default", dtype, problems), ("deepxde", "default", dtype, problems)]
    else:
        for problem_name, dtype in CASES:
            jobs += [("pinn", "default", dtype, [problem_name]), ("deepxde", "default", dtype, [problem_name])]
        if mode == "full":
            for problem_name, dtype in CASES:
                jobs += [(side, setting, dtype, [problem_name]) for side, setting in OTHER_SETTINGS.items()]
    results, failures = [], []
    for side, setting, dtype, problems in jobs:
        print(f"peer_deepxde_pde: {side} {setting} {dtype} {', '.join(problems)} ...", file=sys.stderr, flush=True)
        spec = {"side": side, "setting": setting, "dtype": dtype, "mode": mode, "problems": problems, "setups": setups}
        got, error = launch(spec, env)
        if error:
            failures.append({"side": side, "setting": setting, "dtype": dtype, "problems": problems, "error": error})
            print(f"peer_deepxde_pde: {side} {setting} {dtype} {', '.join(problems)} failed:\n{error}", file=sys.stderr)
        results += got
        for r in got:  # as it goes, so that an interrupted run still shows what it measured
            print(f"peer_deepxde_pde:   {r['case']} {r['dtype']}: {r['steady_ms']:.3f} ms/step, {r['points']} points, "
                  f"process {r['process_s']:.0f} s, load {load_average()}", file=sys.stderr, flush=True)
    load_end, elapsed = load_average(), time.perf_counter() - began

    def find(side, setting, case, dtype):
        return next((r for r in results if (r["side"], r["setting"], r["case"], r["dtype"]) == (side, setting, case, dtype)), None)

    print(f"pinn against DeepXDE {version('deepxde')} (TensorFlow backend), TensorFlow {version('tensorflow')}, "
          f"Adam step time on two PDEs, {mode} budgets")
    print(f"load average (1, 5, 15 min) at start {load_start}, at end {load_end}; {os.cpu_count()} CPUs; "
          f"{elapsed:.0f} s for all measurements")
    if args.smoke:
        print("SMOKE RUN: tiny budgets; it checks that the script runs, the figures below mean nothing as measurements")
    b = BUDGETS[mode]
    print(f"pinn: training.phases=[adam], {b['pinn']} Adam steps, steady ms/step = median over the blocks after the first; "
          f"DeepXDE: model.train({b['deepxde'][0]}) warm-up, then model.train({b['deepxde'][1]}) / {b['deepxde'][1]}"
          + (f"; pinn with XLA off: {b['pinn_other']} steps" if mode == "full" else ""))
    print()
    cases = SMOKE_CASES if args.smoke else CASES
    header = ("problem", "dtype", "pinn ms/step", "DeepXDE ms/step", "DeepXDE / pinn", f"target >= {TARGET:g}x",
              "pinn points", "DeepXDE points", "pinn network", "DeepXDE network", "pinn setting", "DeepXDE setting")
    rows, verdicts = [header], []
    for case, dtype in cases:
        p, d = find("pinn", "default", case, dtype), find("deepxde", "default", case, dtype)
        if p is None or d is None:
            rows.append((case, dtype, *(["failed" if x is None else f"{x['steady_ms']:.3f}" for x in (p, d)]), "-", "-",
                         *(["-"] * 6)))
            continue
        ratio = d["steady_ms"] / p["steady_ms"]
        verdict = "met" if ratio >= TARGET else "NOT met"
        verdicts.append((case, dtype, ratio, verdict))
        rows.append((case, dtype, f"{p['steady_ms']:.3f}", f"{d['steady_ms']:.3f}", f"{ratio:.2f}", verdict,
                     p["points"], d["points"], f"{p['network']} ({p['parameters']} w)", f"{d['network']} ({d['parameters']} w)",
                     setting_label(p), setting_label(d)))
    print("Defaults (pinn as shipped; DeepXDE as shipped):")
    print(table(rows))
    if mode == "full":
        print()
        print("pinn with XLA off (training.jit_compile=false, still 500 steps per call), as DeepXDE runs here:")
        rows = [("problem", "dtype", "pinn XLA on ms/step", "pinn XLA off ms/step", "DeepXDE ms/step",
                 "pinn XLA off / XLA on", "DeepXDE / pinn XLA off")]
        for case, dtype in cases:
            p0, p1, d0 = (find(side, setting, case, dtype) for side, setting in
                          (("pinn", "default"), ("pinn", "xla-off"), ("deepxde", "default")))

            def ms(r):
                return "failed" if r is None else f"{r['steady_ms']:.3f}"

            def over(x, y):
                return "-" if x is None or y is None else f"{x['steady_ms'] / y['steady_ms']:.2f}"

            rows.append((case, dtype, ms(p0), ms(p1), ms(d0), over(p1, p0), over(d0, p1)))
        print(table(rows))
    print()
    print("Details:")
    for r in sorted(results, key=lambda r: (r["case"], r["dtype"], r["side"], r["setting"])):
        if r["side"] == "pinn":
            print(f"  pinn {r['case']} {r['dtype']} ({r['setting']}): {setting_label(r)}, {r['steps']} Adam steps in "
                  f"{r['blocks']} blocks, first block {r['first_block_steps']} steps in {r['first_call_s']:.2f} s (tracing + "
                  f"compile), blocks after it ms/step {', '.join(f'{m:.3f}' for m in r['block_ms'])}, in-call "
                  f"{r['in_call_ms']:.3f} ms/step; lr {r['learning_rate']:g}; built in: "
                  f"{'; '.join(f'{u}: {h}' for u, h in r['hard'].items()) or 'nothing'}, output scale "
                  f"{', '.join(f'{s:.8g}' for s in r['scales'])}; loss terms {', '.join(r['loss_terms'])}; "
                  f"last loss {r['final_loss']:.3e}; process {r['process_s']:.0f} s")
        else:
            print(f"  DeepXDE {r['case']} {r['dtype']} ({r['setting']}): {setting_label(r)}, warm-up {r['warmup_steps']} steps "
                  f"in {r['first_call_s']:.2f} s, then {r['timed_steps']} steps in {r['timed_seconds']:.2f} s; lr "
                  f"{r['learning_rate']:g}; hard form output scale {r['scale']:.8g}; {r['loss_terms']} loss term(s); "
                  f"last loss {r['final_loss']:.3e}; inputs {r['input_dtype']}; process {r['process_s']:.0f} s")
    mismatches = []
    for case, dtype in cases:
        p, d = find("pinn", "default", case, dtype), find("deepxde", "default", case, dtype)
        if p and d:
            if p["points"] != d["points"] or p["parameters"] != d["parameters"] or p["learning_rate"] != d["learning_rate"]:
                mismatches.append(f"{case} {dtype}: points {p['points']}/{d['points']}, weights {p['parameters']}/{d['parameters']}")
            if abs(p["scales"][0] - d["scale"]) > 1e-6 * max(1.0, abs(p["scales"][0])):
                mismatches.append(f"{case} {dtype}: output scale {p['scales'][0]} (pinn) vs {d['scale']} (DeepXDE)")
            if p["loss_terms"] != ["equation[0]"] or d["loss_terms"] != 1:
                mismatches.append(f"{case} {dtype}: loss terms {p['loss_terms']} (pinn) vs {d['loss_terms']} (DeepXDE)")
    print("Same set-up check: " + ("points, weights, learning rate, output scale and loss terms agree on every row"
                                   if not mismatches else "MISMATCH: " + "; ".join(mismatches)))
    if verdicts:
        met = sum(v == "met" for *_, v in verdicts)
        print(f"Target (pinn's Adam step at least {TARGET:g}x faster than DeepXDE's): met on {met} of {len(verdicts)} rows"
              + (" (smoke run: not a measurement)" if args.smoke else ""))
    for f in failures:
        print(f"FAILED: {f['side']} {f['setting']} {f['dtype']} {', '.join(f['problems'])}: {f['error'].splitlines()[-1] if f['error'] else ''}")
    if args.json:
        print(MARK + json.dumps({"available": True, "version": version("deepxde"), "mode": mode, "load_start": load_start,
                                 "load_end": load_end, "setups": setups, "results": results, "failures": failures}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
