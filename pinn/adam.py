"""Adam, written in-graph and run in compiled blocks of ``steps_per_call`` steps: the phase ``adam``.

One compiled call costs about as much as a few steps, so single-step calls
would waste most of the time.  The block keeps each member's best weights and
stops a member at its first non-finite loss.  It also records the loss (total
and terms) at its first step and every :func:`history_every` steps after, in
a buffer read once per block, so the history starts at step 1 rather than at
the end of the first block; recording only reads the loss, so the weights
follow the same steps, bit for bit.
"""

from __future__ import annotations

import math
import time
from typing import List, Optional

import numpy as np
import tensorflow as tf

from .phase_support import (PhaseOutcome, Progress, Status, TrainingContext, compile_step, interrupts_deferred, per_member,
                            where_running)
from .collocation import adam_steps
from .problem import TrainingSpec


def _learning_rate(spec: TrainingSpec, total_steps: int):
    """lr(step) as a function of a float tensor step, per the schedule, over the phase's ``total_steps``."""
    adam = spec.adam
    start = adam.learning_rate
    final = adam.final_learning_rate if adam.final_learning_rate is not None else start / 100.0
    steps = max(total_steps, 1)
    if adam.schedule == "exponential":
        rate = math.log(final / start) / steps
        return lambda step: start * tf.exp(rate * step)
    if adam.schedule == "cosine":
        return lambda step: final + 0.5 * (start - final) * (1.0 + tf.cos(math.pi * tf.minimum(step / steps, 1.0)))
    return lambda step: start + 0.0 * step


#: History rows per compiled block, at most (besides the block's last step).
ROWS_PER_BLOCK = 50


def history_every(steps_per_call: int) -> int:
    """Adam steps between two history rows inside a block: 10 for the default 500 steps per call, 1 for 50 or fewer."""
    return max(1, -(-int(steps_per_call) // ROWS_PER_BLOCK))


def adam_phase(context: TrainingContext, running: np.ndarray) -> List[Optional[PhaseOutcome]]:
    """Adam (beta1 0.9, beta2 0.999, eps 1e-8 relative to the dtype) in compiled blocks; one outcome per member.

    ``loss(points)`` gives (total, terms): a scalar and [T] for one model, or [K]
    and [T, K] for K stacked members (``best_loss`` has the same shape, and
    every variable a leading member axis).  The step descends the sum of the
    members' losses, whose gradient with respect to member k's weights is
    member k's own gradient, and Adam is elementwise, so each member follows
    exactly its separate run.  Each member keeps its own best weights and
    stops alone at its first non-finite loss: its updates are masked from
    then on, so the others go on unchanged.  ``resample(step)`` moves ``points`` when ``context.schedule`` says;
    ``context.xla`` False compiles the block without XLA even if the spec asks
    for it.  Members not ``running`` (they failed an earlier phase) take no
    step and get no outcome (None).
    """
    return _AdamRun(context, running).run()


class _AdamRun:
    """One Adam phase: the moments, the step count and the per-member masks, the compiled block, the block loop."""

    def __init__(self, context: TrainingContext, running: np.ndarray):
        self.context, self.running = context, running
        self.spec, self.schedule, self.counts = context.spec, context.schedule, context.counts
        variables, best_loss = context.variables, context.best_loss
        self.dtype = dtype = best_loss.dtype
        self.members = members = best_loss.shape  # [] for one model, [K] for stacked members
        self.first = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self.second = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self.count = tf.Variable(0.0, dtype=dtype, trainable=False)
        self.total_steps = adam_steps(self.spec, self.schedule)
        self.learning_rate = _learning_rate(self.spec, self.total_steps)
        self.beta1, self.beta2, self.epsilon = 0.9, 0.999, 1e-8 if dtype == tf.float32 else 1e-12
        self.n_terms = len(context.histories[0].names)
        self.active = tf.Variable(np.asarray(running, dtype=bool).reshape(tuple(members)), trainable=False)
        self.failed_step = tf.Variable(tf.zeros(members, dtype), trainable=False)  # the step whose loss was non-finite
        self.failed_terms = tf.Variable(tf.zeros([self.n_terms, *members], dtype), trainable=False)
        self.every = history_every(self.spec.steps_per_call)
        rows = -(-self.spec.steps_per_call // self.every)
        self.recorded_total = tf.Variable(tf.zeros([rows, *members], dtype), trainable=False)  # the loss at steps 1, 1 + every, ...
        self.recorded_terms = tf.Variable(tf.zeros([rows, self.n_terms, *members], dtype), trainable=False)
        self.outcomes: List[Optional[PhaseOutcome]] = [None] * len(context.histories)

    def block(self, steps):
        """``steps`` Adam steps in-graph; returns the last (total, terms) and the steps done."""
        context, active, count = self.context, self.active, self.count
        variables, best, best_loss = context.variables, context.best, context.best_loss
        beta1, beta2 = self.beta1, self.beta2
        total = tf.zeros(self.members, dtype=self.dtype)
        terms = tf.zeros([self.n_terms, *self.members], dtype=self.dtype)
        done = tf.constant(0)
        for _ in tf.range(steps):
            with tf.GradientTape() as tape:
                total, terms = context.loss(context.points)
                finite = tf.math.is_finite(total)
                objective = tf.reduce_sum(where_running(finite & active, total, tf.zeros_like(total)))
            gradients = tape.gradient(objective, variables)
            if done % self.every == 0:  # a history row: read only, the step below is the same without it
                row = tf.reshape(done // self.every, [1, 1])  # a scatter, not a sliced assign: XLA needs static slices
                self.recorded_total.scatter_nd_update(row, total[None])
                self.recorded_terms.scatter_nd_update(row, terms[None])
            newly_failed = active & tf.logical_not(finite)
            self.failed_step.assign(tf.where(newly_failed, count + 1.0, self.failed_step))
            self.failed_terms.assign(tf.where(newly_failed, terms, self.failed_terms))
            active.assign(active & finite)
            if not tf.reduce_any(active):
                break
            improved = active & (total < best_loss)
            best_loss.assign(tf.where(improved, total, best_loss))
            for kept, variable in zip(best, variables):
                kept.assign(tf.where(per_member(improved, variable), variable, kept))
            count.assign_add(1.0)
            rate = self.learning_rate(count - 1.0) * tf.sqrt(1.0 - beta2**count) / (1.0 - beta1**count)
            for variable, gradient, m, v in zip(variables, gradients, self.first, self.second):
                if gradient is None:
                    continue
                m.assign(where_running(active, beta1 * m + (1.0 - beta1) * gradient, m))
                v.assign(where_running(active, beta2 * v + (1.0 - beta2) * tf.square(gradient), v))
                variable.assign(where_running(active, variable - rate * m / (tf.sqrt(v) + self.epsilon), variable))
            done += 1
        return total, terms, done

    def run(self) -> List[Optional[PhaseOutcome]]:
        """Compiled blocks up to the next change of points, until all steps ran or every member stopped."""
        compiled = compile_step(self.block, self.spec, xla=self.context.xla)
        counts, schedule, total_steps = self.counts, self.schedule, self.total_steps
        while counts.steps["adam"] < total_steps:
            at = counts.steps["adam"]
            size = min(self.spec.steps_per_call, schedule.next_change(at, total_steps) - at)
            with interrupts_deferred():  # a block's steps, seconds and history are counted even if Ctrl-C came during it
                total, still, rate = self._record(compiled, size)
            if not still.any():
                break
            self._between_blocks(total, still, rate)
        done = counts.steps["adam"]
        finished = PhaseOutcome(Status.MAX_STEPS, f"ran all {done} steps", done)
        return [outcome or finished if self.running[k] else None for k, outcome in enumerate(self.outcomes)]

    def _record(self, compiled, size: int):
        """Run one block; count its steps and seconds, add the history rows, note members that stopped."""
        counts, context = self.counts, self.context
        began = np.atleast_1d(self.active.numpy())
        start = time.perf_counter()
        total, terms, done = compiled(tf.constant(size))
        total = np.atleast_1d(total.numpy())
        elapsed = time.perf_counter() - start
        counts.seconds["adam"] += elapsed
        at, done = counts.steps["adam"], int(done.numpy())
        counts.steps["adam"] += done
        step = counts.steps["adam"]
        terms = terms.numpy().reshape(self.n_terms, -1)
        still = np.atleast_1d(self.active.numpy())
        within = self._rows_within(at, done, began, still)
        for k, history in enumerate(context.histories):
            for row_step, row_total, row_terms in within[k]:
                history.add(counts.offset + row_step, counts.index, row_total, row_terms)
            if still[k]:
                history.add(counts.offset + step, counts.index, float(total[k]), terms[:, k])
            elif self.running[k] and self.outcomes[k] is None:
                self.outcomes[k] = _nonfinite_outcome(history.names, k, self.failed_step, self.failed_terms, context.best_loss)
        return total, still, done / max(elapsed, 1e-9)

    def _rows_within(self, at: int, done: int, began: np.ndarray, still: np.ndarray):
        """Per member, the recorded rows (phase step, total, terms) of the block before its last step.

        Rows of a member start only if it was running when the block began,
        and end before the step whose loss was non-finite, if it stopped.
        """
        rows = -(-done // self.every)  # steps 1, 1 + every, ... of the block that ran
        members = len(self.context.histories)
        totals = self.recorded_total.numpy()[:rows].reshape(rows, members)  # also when no step ran (rows 0)
        terms = self.recorded_terms.numpy()[:rows].reshape(rows, self.n_terms, members)
        failed = np.atleast_1d(self.failed_step.numpy())
        within = []
        for k in range(members):
            steps = [at + r * self.every + 1 for r in range(rows)] if began[k] else []
            keep = [r for r, s in enumerate(steps) if s < at + done and (still[k] or s < failed[k])]
            within.append([(steps[r], float(totals[r, k]), terms[r, :, k]) for r in keep])
        return within

    def _between_blocks(self, total, still, rate: float) -> None:
        """Report progress; move the points when the schedule says (and forget the best loss when it grew whole)."""
        context, step = self.context, self.counts.steps["adam"]
        best_loss = context.best_loss
        if context.progress is not None:
            worst, worst_best = float(np.max(total[still])), float(np.max(np.atleast_1d(best_loss.numpy())[still]))
            context.progress(Progress("adam", step, self.total_steps, worst, worst_best, rate))
        if step < self.total_steps and self.schedule.changes_at(step):
            context.resample(step)
            if self.schedule.resets_best(step):  # the window is the whole domain now: earlier losses measured less
                best_loss.assign(tf.fill(tf.shape(best_loss), tf.constant(np.inf, self.dtype)))


def _nonfinite_outcome(names, member: int, failed_step, failed_terms, best_loss) -> PhaseOutcome:
    """The outcome of a member whose loss became non-finite: the step, the terms at fault, what was kept."""
    step = int(np.atleast_1d(failed_step.numpy())[member])
    terms = failed_terms.numpy().reshape(len(names), -1)[:, member]
    bad = [n for n, t in zip(names, terms) if not np.isfinite(t)] or ["total"]
    kept = ("the best finite weights were kept" if np.isfinite(np.atleast_1d(best_loss.numpy())[member]) else
            "no step had a finite loss: check the equations for log or sqrt of negative values, or division by zero")
    return PhaseOutcome(Status.NONFINITE_LOSS, f"non-finite loss at Adam step {step} in {', '.join(bad)}; {kept}.", step - 1)


