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

    spec = context.spec
    run = _ScipyLbfgs(context)
    x0 = run.start_point()
    try:
        # scipy's BLAS threads, left free, spin against TensorFlow's on every iteration (measured: several
        # times slower per iteration on 2 cores); L-BFGS-B's vectors are far too small to gain from them.
        with threadpool_limits(limits=1, user_api="blas"):
            result = minimize(
                run.fun, x0, jac=True, method="L-BFGS-B", callback=run.callback,
                options={"maxiter": spec.lbfgs.steps, "maxfun": spec.lbfgs.steps * 2 + 20, "ftol": 0.0, "gtol": 0.0,
                         "maxcor": spec.lbfgs.history, "maxls": 50},
            )
    except KeyboardInterrupt:
        with interrupts_deferred():
            run.keep_best()  # train() then restores the best weights and reports INTERRUPTED with the counts so far
        raise
    run.keep_best()
    return _outcome(result, context.counts, spec.lbfgs.steps)


def _value_and_gradient(variables, loss, points, sizes, shapes):
    """The function of the flat weights that sets the model to them and returns (loss, flat gradient, loss terms)."""

    def value_and_gradient(flat):
        for variable, piece, shape in zip(variables, tf.split(flat, sizes), shapes):
            variable.assign(tf.reshape(piece, shape))
        with tf.GradientTape() as tape:
            total, terms = loss(points)
        gradients = tape.gradient(total, variables)
        gradients = [tf.zeros_like(v) if g is None else g for g, v in zip(gradients, variables)]
        return total, tf.concat([tf.reshape(g, [-1]) for g in gradients], axis=0), terms

    return value_and_gradient


class _ScipyLbfgs:
    """One model's L-BFGS-B run: scipy's objective and callback, and the best point evaluated so far."""

    def __init__(self, context: TrainingContext):
        self.variables, self.best, self.best_loss = context.variables, context.best, context.best_loss
        self.spec, self.progress, self.counts = context.spec, context.progress, context.counts
        (self.history,) = context.histories
        self.dtype = self.variables[0].dtype
        for variable, kept in zip(self.variables, self.best):
            variable.assign(kept)
        self.shapes = [v.shape for v in self.variables]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        # XLA gains nothing per L-BFGS evaluation here but costs about 1 s more to compile (docs/benchmarks.md)
        self.compiled = compile_step(_value_and_gradient(self.variables, context.loss, context.points, self.sizes, self.shapes),
                                     self.spec, xla=False)
        self.evaluations, self.iterations = 0, 0
        self.best_value, self.best_x = float(self.best_loss.numpy()), None  # the lowest loss evaluated, and where
        self.last_terms = None  # (point, loss terms) of the last evaluation
        self.start = time.perf_counter()
        self.last_report = self.start

    def start_point(self) -> np.ndarray:
        """The model's weights (the best so far) as one float64 vector."""
        return np.concatenate([v.numpy().reshape(-1) for v in self.variables]).astype(np.float64)

    def fun(self, flat):
        """scipy's objective: (loss, gradient) at ``flat``, inf where the loss is not finite; notes the lowest point."""
        with interrupts_deferred():  # the point being evaluated when Ctrl-C came is still a candidate best
            total, gradient, terms = self.compiled(tf.constant(flat, dtype=self.dtype))
            total = float(total.numpy())
            self.evaluations += 1
            self.last_terms = (flat.copy(), terms.numpy())
            if not math.isfinite(total):
                return np.inf, np.zeros_like(flat)
            if total < self.best_value:
                self.best_value, self.best_x = total, flat.copy()
            return total, gradient.numpy().astype(np.float64)

    def callback(self, intermediate_result):
        """scipy's per-iteration callback: count the iteration, add a history row, report progress now and then."""
        counts, spec, progress = self.counts, self.spec, self.progress
        with interrupts_deferred():
            self.iterations += 1
            counts.steps["lbfgs"] = self.iterations
            evaluated, terms = self.last_terms
            if not np.array_equal(evaluated, intermediate_result.x):  # the accepted point was not the last one tried
                terms = self.compiled(tf.constant(intermediate_result.x, dtype=self.dtype))[2].numpy()
            self.history.add(counts.offset + self.iterations, counts.index, float(intermediate_result.fun), terms)
        now = time.perf_counter()
        counts.seconds["lbfgs"] = now - self.start
        if progress is not None and (now - self.last_report > 0.25 or self.iterations == spec.lbfgs.steps):
            rate = self.iterations / max(now - self.start, 1e-9)
            progress(Progress("lbfgs", self.iterations, spec.lbfgs.steps, float(intermediate_result.fun), self.best_value, rate))
            self.last_report = now

    def keep_best(self) -> None:
        """The lowest-loss point evaluated so far into ``best`` and ``best_loss`` (also on an interrupt)."""
        self.counts.seconds["lbfgs"] = time.perf_counter() - self.start
        if self.best_x is not None:
            best_x = tf.constant(self.best_x, dtype=self.dtype)
            for kept, piece, shape in zip(self.best, tf.split(best_x, self.sizes), self.shapes):
                kept.assign(tf.reshape(piece, shape))
            self.best_loss.assign(self.best_value)


def _outcome(result, counts, steps: int) -> List[PhaseOutcome]:
    """The phase's outcome from scipy's result: MAX_STEPS on an iteration or evaluation limit, else CONVERGED."""
    iterations = counts.steps["lbfgs"] = int(result.nit)
    message = result.message if isinstance(result.message, str) else result.message.decode()
    if iterations >= steps or "ITERATIONS" in message.upper() or "EVALUATIONS" in message.upper():
        return [PhaseOutcome(Status.MAX_STEPS, f"ran {iterations} iterations ({message})", iterations)]
    return [PhaseOutcome(Status.CONVERGED, f"stopped after {iterations} iterations: {message}", iterations)]
