"""Adam, written in-graph and run in compiled blocks of ``steps_per_call`` steps: the phase ``adam``.

One compiled call costs about as much as a few steps, so single-step calls
would waste most of the time.  The block keeps each member's best weights and
stops a member at its first non-finite loss.
"""

from __future__ import annotations

import math
import time
from typing import List, Optional

import numpy as np
import tensorflow as tf

from .phase_support import (PhaseOutcome, Progress, Status, TrainingContext, compile_step, interrupts_deferred, per_member,
                            where_running)
from .problem import TrainingSpec


def _learning_rate(spec: TrainingSpec):
    """lr(step) as a function of a float tensor step, per the schedule."""
    adam = spec.adam
    start = adam.learning_rate
    final = adam.final_learning_rate if adam.final_learning_rate is not None else start / 100.0
    steps = max(adam.steps, 1)
    if adam.schedule == "exponential":
        rate = math.log(final / start) / steps
        return lambda step: start * tf.exp(rate * step)
    if adam.schedule == "cosine":
        return lambda step: final + 0.5 * (start - final) * (1.0 + tf.cos(math.pi * tf.minimum(step / steps, 1.0)))
    return lambda step: start + 0.0 * step


def adam_phase(context: TrainingContext, running: np.ndarray) -> List[Optional[PhaseOutcome]]:
    """Adam (beta1 0.9, beta2 0.999, eps 1e-8 relative to the dtype) in compiled blocks; one outcome per member.

    ``loss(points)`` gives (total, terms): a scalar and [T] for one model, or [K]
    and [T, K] for K stacked members (``best_loss`` has the same shape, and
    every variable a leading member axis).  The step descends the sum of the
    members' losses, whose gradient with respect to member k's weights is
    member k's own gradient, and Adam is elementwise, so each member follows
    exactly its separate run.  Each member keeps its own best weights and
    stops alone at its first non-finite loss: its updates are masked from
    then on, so the others go on unchanged.  ``resample()`` redraws ``points``;
    ``context.xla`` False compiles the block without XLA even if the spec asks
    for it.  Members not ``running`` (they failed an earlier phase) take no
    step and get no outcome (None).
    """
    variables, loss, points, best, best_loss = context.variables, context.loss, context.points, context.best, context.best_loss
    spec, resample, histories, progress, counts = context.spec, context.resample, context.histories, context.progress, context.counts
    dtype = best_loss.dtype
    members = best_loss.shape  # [] for one model, [K] for stacked members
    first = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
    second = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
    count = tf.Variable(0.0, dtype=dtype, trainable=False)
    learning_rate = _learning_rate(spec)
    beta1, beta2, epsilon = 0.9, 0.999, 1e-8 if dtype == tf.float32 else 1e-12
    n_terms = len(histories[0].names)
    active = tf.Variable(np.asarray(running, dtype=bool).reshape(tuple(members)), trainable=False)
    failed_step = tf.Variable(tf.zeros(members, dtype), trainable=False)  # the step whose loss was non-finite
    failed_terms = tf.Variable(tf.zeros([n_terms, *members], dtype), trainable=False)

    def block(steps):
        total = tf.zeros(members, dtype=dtype)
        terms = tf.zeros([n_terms, *members], dtype=dtype)
        done = tf.constant(0)
        for _ in tf.range(steps):
            with tf.GradientTape() as tape:
                total, terms = loss(points)
                finite = tf.math.is_finite(total)
                objective = tf.reduce_sum(where_running(finite & active, total, tf.zeros_like(total)))
            gradients = tape.gradient(objective, variables)
            newly_failed = active & tf.logical_not(finite)
            failed_step.assign(tf.where(newly_failed, count + 1.0, failed_step))
            failed_terms.assign(tf.where(newly_failed, terms, failed_terms))
            active.assign(active & finite)
            if not tf.reduce_any(active):
                break
            improved = active & (total < best_loss)
            best_loss.assign(tf.where(improved, total, best_loss))
            for kept, variable in zip(best, variables):
                kept.assign(tf.where(per_member(improved, variable), variable, kept))
            count.assign_add(1.0)
            rate = learning_rate(count - 1.0) * tf.sqrt(1.0 - beta2**count) / (1.0 - beta1**count)
            for variable, gradient, m, v in zip(variables, gradients, first, second):
                if gradient is None:
                    continue
                m.assign(where_running(active, beta1 * m + (1.0 - beta1) * gradient, m))
                v.assign(where_running(active, beta2 * v + (1.0 - beta2) * tf.square(gradient), v))
                variable.assign(where_running(active, variable - rate * m / (tf.sqrt(v) + epsilon), variable))
            done += 1
        return total, terms, done

    compiled = compile_step(block, spec, xla=context.xla)
    block_size = spec.steps_per_call if spec.resample_every == 0 else min(spec.steps_per_call, spec.resample_every)
    outcomes: List[Optional[PhaseOutcome]] = [None] * len(histories)
    while counts.steps["adam"] < spec.adam.steps:
        size = min(block_size, spec.adam.steps - counts.steps["adam"])
        with interrupts_deferred():  # a block's steps, seconds and history are counted even if Ctrl-C came during it
            start = time.perf_counter()
            total, terms, done = compiled(tf.constant(size))
            total = np.atleast_1d(total.numpy())
            elapsed = time.perf_counter() - start
            counts.seconds["adam"] += elapsed
            counts.steps["adam"] += int(done.numpy())
            step = counts.steps["adam"]
            terms = terms.numpy().reshape(n_terms, -1)
            still = np.atleast_1d(active.numpy())
            for k, history in enumerate(histories):
                if still[k]:
                    history.add(counts.offset + step, counts.index, float(total[k]), terms[:, k])
                elif running[k] and outcomes[k] is None:
                    outcomes[k] = _nonfinite_outcome(histories[k].names, k, failed_step, failed_terms, best_loss)
        if not still.any():
            break
        if progress is not None:
            worst, worst_best = float(np.max(total[still])), float(np.max(np.atleast_1d(best_loss.numpy())[still]))
            progress(Progress("adam", step, spec.adam.steps, worst, worst_best, int(done.numpy()) / max(elapsed, 1e-9)))
        if spec.resample_every and step % spec.resample_every == 0 and step < spec.adam.steps:
            resample()
    done = counts.steps["adam"]
    finished = PhaseOutcome(Status.MAX_STEPS, f"ran all {done} steps", done)
    return [outcome or finished if running[k] else None for k, outcome in enumerate(outcomes)]


def _nonfinite_outcome(names, member: int, failed_step, failed_terms, best_loss) -> PhaseOutcome:
    """The outcome of a member whose loss became non-finite: the step, the terms at fault, what was kept."""
    step = int(np.atleast_1d(failed_step.numpy())[member])
    terms = failed_terms.numpy().reshape(len(names), -1)[:, member]
    bad = [n for n, t in zip(names, terms) if not np.isfinite(t)] or ["total"]
    kept = ("the best finite weights were kept" if np.isfinite(np.atleast_1d(best_loss.numpy())[member]) else
            "no step had a finite loss: check the equations for log or sqrt of negative values, or division by zero")
    return PhaseOutcome(Status.NONFINITE_LOSS, f"non-finite loss at Adam step {step} in {', '.join(bad)}; {kept}.", step - 1)


