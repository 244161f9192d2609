#!/usr/bin/env python
"""What derivatives of order n cost: nested tapes against Taylor mode, orders 1..N.

    python benchmarks/derivative_orders.py              # orders 1..10, both methods, 120 s budget per order
    python benchmarks/derivative_orders.py --quick      # orders 1..5, fewer repeats: about 30 s
    python benchmarks/derivative_orders.py --orders 12 --budget 60 --method taylor
    python benchmarks/derivative_orders.py --xla        # also the gradient compiled with XLA (as Adam's steps are)
    python benchmarks/derivative_orders.py --solve 6 8  # also solve y^(n) = -y on [0, 1] (1000 Adam steps) per order
    python benchmarks/derivative_orders.py --orders 1 --solve 3 6 --solve-method tape   # those solves with one method

For the default network (1-64-64-1 tanh, float64, seed 0, domain [0, 1])
at 128 points, and each order n, it times

  (a) the first call of the compiled derivatives [u, u', ..., u^(n)]:
      tracing, graph optimisation and one run;
  (b) one further call (median of the repeats);
  (c) the gradient of mean((u^(n))^2) with respect to every weight (what a
      training step needs): its first call and one further call;

for each method: ``tape`` (nested ``tf.GradientTape``s, one per order:
:func:`pinn.residuals.nested_tape_derivatives`) and ``taylor`` (Taylor-mode
propagation, :mod:`pinn.taylor`).  ``--xla`` adds (c) compiled with XLA
(``jit_compile=True``, the default for Adam's steps); ``--solve`` times whole
solves (build, trace and 1000 Adam steps, no L-BFGS) of y^(n) = -y with the
n conditions y^(k)(0) = sin^(k)(0) built in (exact solution sin x), with the
package's own choice of method or, with ``--solve-method``, one method at
every order.  (Their error is small whatever training does: the built-in
Taylor polynomial of degree n - 1 is already close to sin x on [0, 1]; the
figures are for the time.)

Each method runs in its own subprocess, orders in increasing order; when one
order has not finished within ``--budget`` seconds the subprocess is stopped
and the higher orders of that method are reported as not run (their cost only
grows).  Prints a markdown table on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("tape", "taylor")


# ------------------------------------------------------------------ the worker (one method, orders in turn)


def _median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        _block(result)
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def _block(result):
    """Wait for the values (numpy() forces them)."""
    if isinstance(result, (list, tuple)):
        for r in result:
            _block(r)
    elif hasattr(result, "numpy"):
        result.numpy()


def worker(method: str, orders, repeats: int, xla: bool) -> None:
    import tensorflow as tf

    sys.path.insert(0, str(ROOT))
    from pinn import residuals
    from pinn.network import MLP

    if method == "tape":
        compute = getattr(residuals, "nested_tape_derivatives", residuals.derivatives)
    else:
        from pinn import taylor

        compute = taylor.derivatives
    network = MLP((64, 64), 1, "tanh", (0.0, 1.0), tf.float64, 0)
    x = tf.constant([[i / 127.0] for i in range(128)], dtype=tf.float64)
    variables = [*network.kernels, *network.biases]
    _block(tf.function(lambda x: network(x))(x))  # TensorFlow's one-off start-up, so order 1 is not charged for it

    for order in orders:
        def values(x, order=order):
            # a lambda, so that the dispatcher of residuals.derivatives cannot pick Taylor mode for "tape"
            return compute((lambda z: network(z)) if method == "tape" else network, x, order)

        def gradient(x, order=order):
            with tf.GradientTape() as tape:
                top = values(x)[order]
                loss = tf.reduce_mean(tf.square(top))
            return tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)

        row = {"method": method, "order": order, "complete": False}
        measurements = [("values", tf.function(values)), ("gradient", tf.function(gradient))]
        if xla:
            measurements.append(("xla", tf.function(gradient, jit_compile=True)))
        for name, compiled in measurements:
            start = time.perf_counter()
            _block(compiled(x))
            row[f"{name}_first"] = time.perf_counter() - start
            row[f"{name}_call"] = _median_seconds(lambda: compiled(x), repeats)
            row["complete"] = name == measurements[-1][0]
            print(json.dumps(row), flush=True)  # partial rows too, so an order that runs out of time shows how far it got


def solve_worker(order: int, method: str) -> None:
    """One solve of y^(order) = -y, y = sin x: seconds to build, train 1000 Adam steps (XLA as by default) and evaluate.

    ``method``: ``auto`` (the package's threshold), ``tape`` (nested tapes at every order, the method before
    Taylor mode) or ``taylor`` (Taylor mode at every order), by moving the threshold."""
    import math

    sys.path.insert(0, str(ROOT))
    import pinn
    from pinn import taylor

    if method != "auto":
        taylor.NESTED_TAPE_MAX_ORDER = 10**6 if method == "tape" else 0

    derivatives = [[0.0, 1.0, 0.0, -1.0][k % 4] for k in range(order)]
    conditions = "\n".join(f"  - {_diff('y', k)}(0) = {v:g}" for k, v in enumerate(derivatives))
    text = f"""
name: order_{order}
domain: [0, 1]
equations:
  - {_diff('y', order)} = {'-' if order % 4 == 2 else ''}{'y' if order % 2 == 0 else ('cos(x)' if order % 4 == 1 else '-cos(x)')}
conditions:
{conditions}
exact:
  y: sin(x)
training:
  adam: {{steps: 1000}}
  lbfgs: {{steps: 0}}
reference: none
"""
    problem = pinn.problem_from_text(text)
    start = time.perf_counter()
    solution = pinn.solve(problem)
    seconds = time.perf_counter() - start
    x = solution.x
    error = float(math.sqrt(sum((a - math.sin(b)) ** 2 for a, b in zip(solution.values["y"][0], x)) / sum(math.sin(b) ** 2 for b in x)))
    print(json.dumps({"order": order, "solve_seconds": seconds, "adam_seconds": solution.training.adam_seconds,
                      "relative_l2": error, "final_loss": solution.final_loss}), flush=True)


def _diff(name: str, order: int) -> str:
    return name + "'" * order


# ------------------------------------------------------------------ the parent


def _run(command, budget: float, expected: int):
    """Lines of JSON from ``command``, each within ``budget`` seconds; stops it at the first overrun."""
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=environment)
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    rows, timed_out = [], False
    deadline = time.monotonic() + budget + 15.0  # TensorFlow's import comes first
    while sum(row.get("complete", True) for row in rows) < expected:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not selector.select(timeout=remaining):
            timed_out = True
            break
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith("{"):
            rows.append(json.loads(line))
            print(f"  {rows[-1]}", file=sys.stderr, flush=True)
            if rows[-1].get("complete", True):
                deadline = time.monotonic() + budget
    if process.poll() is None:
        process.kill()
    process.wait()
    return rows, timed_out


def _seconds(value) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.1f} ms" if value < 1.0 else f"{value:.1f} s"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="orders 1..5, 3 repeats, 15 s budget per order")
    parser.add_argument("--orders", type=int, default=None, help="highest order (default 10; 5 with --quick)")
    parser.add_argument("--budget", type=float, default=None, help="seconds allowed per order (default 120; 15 with --quick)")
    parser.add_argument("--repeats", type=int, default=None, help="calls per median (default 10; 3 with --quick)")
    parser.add_argument("--method", choices=METHODS, action="append", help="only this method (repeatable)")
    parser.add_argument("--xla", action="store_true", help="also time the gradient compiled with XLA")
    parser.add_argument("--solve", type=int, nargs="*", default=None, metavar="N",
                        help="also time whole solves of y^(N) = -y (1000 Adam steps) for these orders (default 6 8)")
    parser.add_argument("--solve-method", choices=("auto", *METHODS), default="auto",
                        help="for --solve: the package's choice (auto, the default), or this method at every order")
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--solve-worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--force", choices=("auto", *METHODS), default="auto", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    highest = args.orders or (5 if args.quick else 10)
    repeats = args.repeats or (3 if args.quick else 10)
    budget = args.budget or (15.0 if args.quick else 120.0)
    if args.worker:
        worker(args.worker, range(1, highest + 1), repeats, args.xla)
        return 0
    if args.solve_worker:
        solve_worker(args.solve_worker, args.force)
        return 0

    methods = args.method or list(METHODS)
    print(f"# Derivatives up to order n: 1-64-64-1 tanh, float64, 128 points; budget {budget:.0f} s per order, "
          f"median of {repeats} calls; load average at start {os.getloadavg()[0]:.2f}\n")
    results, stopped = {}, {}
    for method in methods:
        print(f"{method}:", file=sys.stderr, flush=True)
        command = [sys.executable, __file__, "--worker", method, "--orders", str(highest), "--repeats", str(repeats)]
        rows, timed_out = _run(command + (["--xla"] if args.xla else []), budget, highest)
        results[method] = {row["order"]: row for row in rows}  # the last row of each order: complete, or how far it got
        done = [order for order, row in results[method].items() if row["complete"]]
        stopped[method] = max(done, default=0) + 1 if timed_out or len(done) < highest else None
    columns = [("values_first", "(a) first call"), ("values_call", "(b) per call"),
               ("gradient_first", "(c) gradient first call"), ("gradient_call", "(c) gradient per call")]
    if args.xla:
        columns += [("xla_first", "(c) XLA first call"), ("xla_call", "(c) XLA per call")]
    print("| order | method | " + " | ".join(title for _, title in columns) + " |")
    print("| ---: | --- | " + " | ".join("---:" for _ in columns) + " |")
    for order in range(1, highest + 1):
        for method in methods:
            row = results[method].get(order)
            if row is None or not row["complete"]:
                note = f"not finished within {budget:.0f} s" if order == stopped[method] else "not run"
                cells = [_seconds(row[key]) if row and key in row else "" for key, _ in columns]
                first_empty = next((i for i, c in enumerate(cells) if not c), len(cells))
                if first_empty < len(cells):
                    cells[first_empty] = note
                print(f"| {order} | {method} | " + " | ".join(cells) + " |")
                continue
            print(f"| {order} | {method} | " + " | ".join(_seconds(row.get(key)) for key, _ in columns) + " |")
    if args.solve is not None:
        method = {"auto": "the package's choice (nested tapes up to order 3, Taylor mode above)",
                  "tape": "nested tapes at every order", "taylor": "Taylor mode at every order"}[args.solve_method]
        print(f"\nSolves of y^(n) = -y (or +-cos x) on [0, 1], exact sin x, default settings but 1000 Adam steps and no L-BFGS; {method}:\n")
        print("| order | solve (build, trace, 1000 Adam steps, evaluate) | Adam phase | rel L2 of y | final loss |")
        print("| ---: | ---: | ---: | ---: | ---: |")
        for order in args.solve or [6, 8]:
            print(f"solve order {order}:", file=sys.stderr, flush=True)
            command = [sys.executable, __file__, "--solve-worker", str(order), "--force", args.solve_method]
            rows, _ = _run(command, max(budget, 300.0), 1)
            if not rows:
                print(f"| {order} | not finished within {max(budget, 300.0):.0f} s | | | |")
                continue
            row = rows[0]
            print(f"| {order} | {row['solve_seconds']:.1f} s | {row['adam_seconds']:.1f} s | {row['relative_l2']:.1e} |"
                  f" {row['final_loss']:.1e} |")
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
