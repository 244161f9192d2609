"""scipy's L-BFGS-B on the flattened weights of one model: the phase ``lbfgs`` for a single run.

A compiled function returns the loss and its gradient; scipy does the rest on
the CPU.  Stacked members use :mod:`pinn.batched_lbfgs` instead (the same
row of :data:`pinn.training.PHASES`).
"""

from __future__ import annotations

import math
import time
from typing import List

import numpy as np
import tensorflow as tf

from .phase_support import PhaseOutcome, Progress, Status, TrainingContext, compile_step, interrupts_deferred


def lbfgs_phase(context: TrainingContext, running: np.ndarray) -> List[PhaseOutcome]:
    """scipy L-BFGS-B on the flat weights of one model, from the best weights so far.

    ftol and gtol are zero so it does not stop while the loss is still falling
    (scipy's default ftol is relative to max(|f|, 1), so it stalls once the
    loss drops below about 1e-9); it stops on maxiter or when the line search
    can no longer improve the loss.
    """
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

    variables, loss, points, best, best_loss = context.variables, context.loss, context.points, context.best, context.best_loss
    spec, progress, counts = context.spec, context.progress, context.counts
    (history,) = context.histories
    dtype = variables[0].dtype
    for variable, kept in zip(variables, best):
        variable.assign(kept)
    shapes = [v.shape for v in variables]
    sizes = [int(np.prod(s)) for s in shapes]

    def value_and_gradient(flat):
        for variable, piece, shape in zip(variables, tf.split(flat, sizes), shapes):
            variable.assign(tf.reshape(piece, shape))
        with tf.GradientTape() as tape:
            total, terms = loss(points)
        gradients = tape.gradient(total, variables)
        gradients = [tf.zeros_like(v) if g is None else g for g, v in zip(gradients, variables)]
        return total, tf.concat([tf.reshape(g, [-1]) for g in gradients], axis=0), terms

    # XLA gains nothing per L-BFGS evaluation here but costs about 1 s more to compile (docs/benchmarks.md)
    compiled = compile_step(value_and_gradient, spec, xla=False)
    state = {"evaluations": 0, "best": float(best_loss.numpy()), "best_x": None, "last_terms": None, "iterations": 0}
    start = time.perf_counter()
    last_report = [start]

    def fun(flat):
        with interrupts_deferred():  # the point being evaluated when Ctrl-C came is still a candidate best
            total, gradient, terms = compiled(tf.constant(flat, dtype=dtype))
            total = float(total.numpy())
            state["evaluations"] += 1
            state["last_terms"] = (flat.copy(), terms.numpy())
            if not math.isfinite(total):
                return np.inf, np.zeros_like(flat)
            if total < state["best"]:
                state["best"], state["best_x"] = total, flat.copy()
            return total, gradient.numpy().astype(np.float64)

    def callback(intermediate_result):
        with interrupts_deferred():
            state["iterations"] += 1
            counts.steps["lbfgs"] = state["iterations"]
            evaluated, terms = state["last_terms"]
            if not np.array_equal(evaluated, intermediate_result.x):  # the accepted point was not the last one tried
                terms = compiled(tf.constant(intermediate_result.x, dtype=dtype))[2].numpy()
            history.add(counts.offset + state["iterations"], counts.index, float(intermediate_result.fun), terms)
        now = time.perf_counter()
        counts.seconds["lbfgs"] = now - start
        if progress is not None and (now - last_report[0] > 0.25 or state["iterations"] == spec.lbfgs.steps):
            rate = state["iterations"] / max(now - start, 1e-9)
            progress(Progress("lbfgs", state["iterations"], spec.lbfgs.steps, float(intermediate_result.fun), state["best"], rate))
            last_report[0] = now

    def keep_best():
        """The lowest-loss point evaluated so far into ``best`` and ``best_loss`` (also on an interrupt)."""
        counts.seconds["lbfgs"] = time.perf_counter() - start
        if state["best_x"] is not None:
            best_x = tf.constant(state["best_x"], dtype=dtype)
            for kept, piece, shape in zip(best, tf.split(best_x, sizes), shapes):
                kept.assign(tf.reshape(piece, shape))
            best_loss.assign(state["best"])

    x0 = np.concatenate([v.numpy().reshape(-1) for v in variables]).astype(np.float64)
    try:
        # scipy's BLAS threads, left free, spin against TensorFlow's on every iteration (measured: several
        # times slower per iteration on 2 cores); L-BFGS-B's vectors are far too small to gain from them.
        with threadpool_limits(limits=1, user_api="blas"):
            result = minimize(
                fun, x0, jac=True, method="L-BFGS-B", callback=callback,
                options={"maxiter": spec.lbfgs.steps, "maxfun": spec.lbfgs.steps * 2 + 20, "ftol": 0.0, "gtol": 0.0,
                         "maxcor": spec.lbfgs.history, "maxls": 50},
            )
    except KeyboardInterrupt:
        with interrupts_deferred():
            keep_best()  # train() then restores the best weights and reports INTERRUPTED with the counts so far
        raise
    keep_best()
    iterations = counts.steps["lbfgs"] = int(result.nit)
    message = result.message if isinstance(result.message, str) else result.message.decode()
    if iterations >= spec.lbfgs.steps or "ITERATIONS" in message.upper() or "EVALUATIONS" in message.upper():
        return [PhaseOutcome(Status.MAX_STEPS, f"ran {iterations} iterations ({message})", iterations)]
    return [PhaseOutcome(Status.CONVERGED, f"stopped after {iterations} iterations: {message}", iterations)]
