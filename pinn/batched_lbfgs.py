"""L-BFGS for K independent problems at once, one loss-and-gradient evaluation of the batch at a time.

Member k minimises f_k(x_k) with x_k a row of positions [K, n]; the
evaluation ``value_and_gradients(positions) -> (values [K], gradients [K, n])``
must give row k from row k alone.  Each member keeps its own state:

* history: the last m pairs s_i = x_{i+1} - x_i, y_i = g_{i+1} - g_i with
  s'y > eps y'y (others are skipped), in a ring of m slots, with the
  products S'Y and Y'Y kept up to date ([K, m, m]);
* direction: d = -H g, H the L-BFGS inverse Hessian with H_0 = gamma I,
  gamma = s'y / y'y of the newest pair, in the compact form of Byrd,
  Nocedal and Schnabel (the same H as the two-loop recursion, but a few
  matrix-vector products over the [K, m, n] history instead of 4m small
  steps; memory traffic over the history dominates the cost); when g'd >= 0
  the history is dropped and d = -g;
* line search: backtracking on the Armijo condition
  f(x + t d) <= f(x) + c1 t g'd (c1 = 1e-4, f finite), from t = 1, or
  t = 1 / ||d|| while the history is empty (scipy's first step); a rejected
  trial shrinks t by safeguarded quadratic interpolation into [0.1 t, 0.5 t].

Every evaluation tries one step for every searching member; accepted members
take their step and compute their next direction, the others shrink t, and
members not searching (stopped, or at the iteration limit) are evaluated
where they are and left unchanged.  Member k's path therefore does not
depend on the other members.  As scipy's L-BFGS-B with ftol = gtol = 0, a
member stops when its line search fails (:data:`MAX_TRIALS` rejected trials),
when an accepted step leaves its value exactly unchanged, or when its
gradient is zero or not finite.

:class:`BatchedLbfgs` compiles one chunk (a ``tf.while_loop`` of evaluations
until every running member has reached a given iteration count) so that the
caller can report progress, keep best weights and drop stopped members
(:func:`gather_members`) between chunks.
"""

from __future__ import annotations

import time
from typing import Callable, NamedTuple, Optional

import numpy as np
import tensorflow as tf

from .determinism import compiled
from .phase_support import PhaseOutcome, Progress, Status, TrainingContext, compile_step, interrupts_deferred, weighted_total

#: Armijo's sufficient-decrease constant.
ARMIJO_C1 = 1e-4
#: Rejected trials in a row after which a member's line search has failed.
MAX_TRIALS = 20

#: Stop reasons (``LbfgsState.reason``) and their wording.
RUNNING, LINE_SEARCH_FAILED, VALUE_UNCHANGED, GRADIENT_STOP = 0, 1, 2, 3
REASONS = {
    RUNNING: "still running",
    LINE_SEARCH_FAILED: "the line search found no step that lowers the loss",
    VALUE_UNCHANGED: "the loss stopped changing",
    GRADIENT_STOP: "the gradient is zero or not finite",
}


class LbfgsState(NamedTuple):
    """Per-member L-BFGS state: every field has the member axis first except ``evaluations``."""

    position: tf.Tensor      # [K, n] current iterate x
    value: tf.Tensor         # [K] f(x)
    gradient: tf.Tensor      # [K, n] g(x)
    direction: tf.Tensor     # [K, n] search direction d
    slope: tf.Tensor         # [K] g'd (< 0)
    step: tf.Tensor          # [K] next trial step t
    trials: tf.Tensor        # [K] int32 rejected trials of the current line search
    s_history: tf.Tensor     # [K, m, n] position differences s_i, in slots of a ring
    y_history: tf.Tensor     # [K, m, n] gradient differences y_i, same slots
    sy: tf.Tensor            # [K, m, m] s_i'y_j
    yy: tf.Tensor            # [K, m, m] y_i'y_j
    age: tf.Tensor           # [K, m] int32 iteration that filled each slot, -1 for an empty slot
    iterations: tf.Tensor    # [K] int32 accepted steps
    member_evaluations: tf.Tensor  # [K] int32 evaluations spent on this member's line searches
    reason: tf.Tensor        # [K] int32 RUNNING or why the member stopped
    evaluations: tf.Tensor   # [] int32 evaluations of the whole batch

    @property
    def stopped(self) -> tf.Tensor:
        return tf.not_equal(self.reason, RUNNING)


def compact_direction(gradient, s_history, y_history, sy, yy, age):
    """d = -H g with H the L-BFGS inverse Hessian in compact form (Byrd, Nocedal, Schnabel 1994), per member.

    H g = gamma g + S a - gamma Y u with p = S'g, q = Y'g, R the part of S'Y
    with s_i no newer than y_j (upper triangular in time order), D its
    diagonal, u = R^-1 p and a = R^-T ((D + gamma Y'Y) u - gamma q).
    Empty slots (age < 0) count as absent: their rows of R are the
    identity's, and their p, q, D and Y'Y entries zero.
    """
    valid = age >= 0
    pair = valid[:, :, None] & valid[:, None, :]
    empty = tf.cast(tf.logical_not(valid), gradient.dtype)
    r = tf.where(pair & (age[:, :, None] <= age[:, None, :]), sy, tf.zeros_like(sy)) + tf.linalg.diag(empty)
    p = tf.where(valid, tf.linalg.matvec(s_history, gradient), tf.zeros_like(empty))
    q = tf.where(valid, tf.linalg.matvec(y_history, gradient), tf.zeros_like(empty))
    gamma = _initial_scaling(sy, yy, age)[:, None]
    u = tf.linalg.solve(r, p[:, :, None])[:, :, 0]
    inner = tf.linalg.diag(tf.linalg.diag_part(r) * (1.0 - empty)) + gamma[:, :, None] * tf.where(pair, yy, tf.zeros_like(yy))
    a = tf.linalg.solve(r, (tf.linalg.matvec(inner, u) - gamma * q)[:, :, None], adjoint=True)[:, :, 0]
    hg = gamma * gradient + tf.linalg.matvec(s_history, a, transpose_a=True) - gamma * tf.linalg.matvec(y_history, u, transpose_a=True)
    return -hg


def _initial_scaling(sy, yy, age):
    """gamma = s'y / y'y of each member's newest pair, 1 without pairs."""
    newest = tf.one_hot(tf.argmax(age, axis=1), age.shape[1], dtype=sy.dtype)
    newest_sy = tf.reduce_sum(tf.linalg.diag_part(sy) * newest, axis=1)
    newest_yy = tf.reduce_sum(tf.linalg.diag_part(yy) * newest, axis=1)
    has_pairs = tf.reduce_any(age >= 0, axis=1)
    return tf.where(has_pairs, newest_sy / tf.where(has_pairs, newest_yy, tf.ones_like(newest_yy)), tf.ones_like(newest_yy))


def _first_step(direction, age):
    """t = 1, or 1 / ||d|| while a member has no curvature pairs (scipy's first step)."""
    norm = tf.norm(direction, axis=1)
    empty = tf.reduce_all(age < 0, axis=1)
    return tf.where(empty & (norm > 0), 1.0 / tf.where(norm > 0, norm, tf.ones_like(norm)), tf.ones_like(norm))


def _gradient_stops(gradient):
    """Members whose gradient is zero or has a non-finite entry."""
    finite = tf.reduce_all(tf.math.is_finite(gradient), axis=1)
    return tf.logical_not(finite) | tf.reduce_all(tf.equal(gradient, 0), axis=1)


def initial_state(value_and_gradients: Callable, positions, history: int) -> LbfgsState:
    """The state at ``positions`` (one evaluation): empty histories, d = -g, t = 1 / ||g||."""
    positions = tf.convert_to_tensor(positions)
    members, size = positions.shape
    value, gradient = value_and_gradients(positions)
    age = -tf.ones([members, history], tf.int32)
    direction = -gradient
    stops = _gradient_stops(gradient) | tf.logical_not(tf.math.is_finite(value))
    zeros = tf.zeros([members, history, size], positions.dtype)
    square = tf.zeros([members, history, history], positions.dtype)
    return LbfgsState(
        position=positions, value=value, gradient=gradient, direction=direction,
        slope=-tf.reduce_sum(gradient * gradient, axis=1), step=_first_step(direction, age),
        trials=tf.zeros([members], tf.int32), s_history=zeros, y_history=zeros, sy=square, yy=square, age=age,
        iterations=tf.zeros([members], tf.int32), member_evaluations=tf.zeros([members], tf.int32),
        reason=tf.where(stops, GRADIENT_STOP, RUNNING), evaluations=tf.constant(1, tf.int32),
    )


def _push_pairs(state: LbfgsState, keep, s, y, iteration):
    """(S, Y, S'Y, Y'Y, age) with (s, y) in the oldest or an empty slot for members ``keep``, unchanged for the others."""
    m = state.age.shape[1]
    slot = tf.argmin(state.age, axis=1, output_type=tf.int32)
    rows = tf.stack([tf.range(tf.shape(slot)[0]), slot], axis=1)
    keep2 = keep[:, None]
    s_history = tf.tensor_scatter_nd_update(state.s_history, rows, tf.where(keep2, s, tf.gather_nd(state.s_history, rows)))
    y_history = tf.tensor_scatter_nd_update(state.y_history, rows, tf.where(keep2, y, tf.gather_nd(state.y_history, rows)))
    here = tf.one_hot(slot, m, on_value=True, off_value=False, dtype=tf.bool) & keep2  # [K, m]
    s_y_new = tf.linalg.matvec(s_history, y)        # s_i'y_new
    s_new_y = tf.linalg.matvec(y_history, s)        # y_i's_new
    y_y_new = tf.linalg.matvec(y_history, y)        # y_i'y_new
    sy = tf.where(here[:, None, :], s_y_new[:, :, None], state.sy)
    sy = tf.where(here[:, :, None], s_new_y[:, None, :], sy)
    yy = tf.where(here[:, None, :], y_y_new[:, :, None], state.yy)
    yy = tf.where(here[:, :, None], y_y_new[:, None, :], yy)
    return s_history, y_history, sy, yy, tf.where(here, iteration[:, None], state.age)


def _next_direction(gradient, s_history, y_history, sy, yy, age, accepted):
    """(d, g'd, age): the L-BFGS direction, or -g with the history dropped (for ``accepted`` members) where it is no descent direction."""
    direction = compact_direction(gradient, s_history, y_history, sy, yy, age)
    slope = tf.reduce_sum(gradient * direction, axis=1)
    descent = slope < 0  # False for NaN too
    direction = tf.where(descent[:, None], direction, -gradient)
    slope = tf.where(descent, slope, -tf.reduce_sum(gradient * gradient, axis=1))
    return direction, slope, tf.where((accepted & tf.logical_not(descent))[:, None], -tf.ones_like(age), age)


def _shrunk_step(state: LbfgsState, value):
    """The next trial step after a rejected one: the minimiser of the quadratic through f(0), f'(0), f(t), kept in [0.1 t, 0.5 t]."""
    t = state.step
    excess = value - state.value - state.slope * t  # > 0 when Armijo failed with a finite value
    usable = tf.math.is_finite(value) & (excess > 0)
    interpolated = -state.slope * t * t / (2.0 * tf.where(usable, excess, tf.ones_like(excess)))
    return tf.where(usable, tf.clip_by_value(interpolated, 0.1 * t, 0.5 * t), 0.5 * t)


def evaluation_step(value_and_gradients: Callable, state: LbfgsState, limit) -> LbfgsState:
    """One evaluation: every searching member (running, fewer than ``limit`` iterations) tries x + t d."""
    searching = tf.logical_not(state.stopped) & (state.iterations < limit)
    trial = tf.where(searching[:, None], state.position + state.step[:, None] * state.direction, state.position)
    value, gradient = value_and_gradients(trial)
    dtype = value.dtype
    armijo = value <= state.value + ARMIJO_C1 * state.step * state.slope
    accepted = searching & tf.math.is_finite(value) & armijo
    rejected = searching & tf.logical_not(accepted)

    s, y = trial - state.position, gradient - state.gradient
    curvature = tf.reduce_sum(s * y, axis=1) > tf.constant(_epsilon(dtype), dtype) * tf.reduce_sum(y * y, axis=1)
    iterations = state.iterations + tf.cast(accepted, tf.int32)
    s_history, y_history, sy, yy, age = _push_pairs(state, accepted & curvature, s, y, iterations)
    direction, slope, age = _next_direction(gradient, s_history, y_history, sy, yy, age, accepted)

    trials = tf.where(rejected, state.trials + 1, tf.where(accepted, 0, state.trials))
    reason = state.reason
    reason = tf.where(rejected & (trials >= MAX_TRIALS), LINE_SEARCH_FAILED, reason)
    reason = tf.where(accepted & tf.equal(value, state.value), VALUE_UNCHANGED, reason)
    reason = tf.where(accepted & _gradient_stops(gradient), GRADIENT_STOP, reason)
    at = accepted[:, None]
    return LbfgsState(
        position=tf.where(at, trial, state.position), value=tf.where(accepted, value, state.value),
        gradient=tf.where(at, gradient, state.gradient), direction=tf.where(at, direction, state.direction),
        slope=tf.where(accepted, slope, state.slope),
        step=tf.where(accepted, _first_step(direction, age), tf.where(rejected, _shrunk_step(state, value), state.step)),
        trials=trials, s_history=s_history, y_history=y_history, sy=sy, yy=yy, age=age, iterations=iterations,
        member_evaluations=state.member_evaluations + tf.cast(searching, tf.int32),
        reason=reason, evaluations=state.evaluations + 1,
    )


def _epsilon(dtype) -> float:
    """Machine epsilon of ``dtype``."""
    return float(np.finfo(dtype.as_numpy_dtype).eps)


def run_chunk(value_and_gradients: Callable, state: LbfgsState, limit) -> LbfgsState:
    """Evaluations until every running member has ``limit`` iterations (or has stopped)."""
    limit = tf.convert_to_tensor(limit, tf.int32)

    def unfinished(*fields):
        current = LbfgsState(*fields)
        return tf.reduce_any(tf.logical_not(current.stopped) & (current.iterations < limit))

    def body(*fields):
        return tuple(evaluation_step(value_and_gradients, LbfgsState(*fields), limit))

    return LbfgsState(*tf.while_loop(unfinished, body, tuple(state)))


def gather_members(state: LbfgsState, rows) -> LbfgsState:
    """The state of members ``rows`` only (the batch's evaluation count is kept)."""
    rows = tf.convert_to_tensor(rows, tf.int32)
    return LbfgsState(*[field if name == "evaluations" else tf.gather(field, rows)
                        for name, field in zip(LbfgsState._fields, state)])


class BatchedLbfgs:
    """Batched L-BFGS on ``value_and_gradients`` with ``history`` pairs per member, run in compiled chunks.

    ``compile`` wraps the chunk (default :func:`pinn.determinism.compiled`, a
    ``tf.function`` run on the single-threaded executor for bit-reproducible
    results; pass ``lambda f: f`` to run eagerly).  ``start(positions)`` gives the initial state,
    ``chunk(state, limit)`` runs until every running member has ``limit``
    iterations, and ``minimize`` runs to ``max_iterations`` or until every
    member has stopped.
    """

    def __init__(self, value_and_gradients: Callable, history: int = 50, compile: Optional[Callable] = None):
        self.value_and_gradients = value_and_gradients
        self.history = history
        compile = compile or compiled
        self._chunk = compile(lambda state, limit: run_chunk(value_and_gradients, state, limit))

    def start(self, positions) -> LbfgsState:
        return initial_state(self.value_and_gradients, positions, self.history)

    def chunk(self, state: LbfgsState, limit: int) -> LbfgsState:
        return self._chunk(state, tf.constant(limit, tf.int32))

    def minimize(self, positions, max_iterations: int, chunk_size: int = 50) -> LbfgsState:
        state = self.start(positions)
        done = 0
        while done < max_iterations and not bool(tf.reduce_all(state.stopped)):
            done = min(done + chunk_size, max_iterations)
            state = self.chunk(state, done)
        return state


# --------------------------------------------------------------------------- the phase: stacked members' L-BFGS

#: L-BFGS iterations per compiled call (progress and best weights are updated between calls).
LBFGS_CHUNK = 50


def stacked_lbfgs_phase(context: TrainingContext, running: np.ndarray) -> list:
    """L-BFGS per member from its best weights so far: one outcome per member (None for members not run).

    :class:`~pinn.batched_lbfgs.BatchedLbfgs` on the members' weights
    flattened to rows of [K, n] keeps a history and a line search per member;
    as scipy's L-BFGS-B with ftol = gtol = 0, a member stops when its line
    search fails, its loss stops changing or its gradient vanishes.  It runs
    in compiled chunks of :data:`LBFGS_CHUNK` iterations per member, between
    which progress is reported, the history recorded and each member's best
    weights kept.  When half the batch has stopped, the optimizer state of the
    rest is gathered into a smaller batch (a new stacked model of those
    members, ``context.rebuild``), so finished members cost nothing: the
    members' iterates are unchanged by this.

    ``context.counts.member_steps["lbfgs"]`` is kept up to date with each
    member's iterations so far.  On a KeyboardInterrupt the best weights
    seen up to the last finished chunk (a chunk interrupted by Ctrl-C is
    finished first) are copied into ``best``, and the interrupt raised again.
    """
    run = _StackedLbfgsRun(context, running)
    try:
        run.iterate()
    except KeyboardInterrupt:
        with interrupts_deferred():
            run.counts.seconds["lbfgs"] = time.perf_counter() - run.start
            run.keep_best()
        raise
    run.keep_best()
    return run.outcomes()


class _StackedLbfgsRun:
    """The members' L-BFGS across chunks: the batch still iterating, each member's counts and best weights."""

    def __init__(self, context: TrainingContext, running: np.ndarray):
        self.model, self.points, self.best, self.best_loss = context.model, context.points, context.best, context.best_loss
        self.spec, self.histories, self.progress, self.counts = context.spec, context.histories, context.progress, context.counts
        self.rebuild, self.running = context.rebuild, running
        self.members = len(self.histories)
        self.member_steps = self.counts.member_steps.setdefault("lbfgs", [0] * self.members)
        self.full = _LbfgsBatch(self.model, context.residuals, self.points, self.spec)
        self.best_position = tf_variable(self.full.flatten(self.best))
        self.indices = np.flatnonzero(running)  # the members in the batch being iterated
        self.batch = self.full if len(self.indices) == self.members else self._batch_of(self.indices)
        self.iterations = np.zeros(self.members, dtype=int)
        self.reasons = np.zeros(self.members, dtype=int)
        self.stopped = np.zeros(self.members, dtype=bool)
        self.start = time.perf_counter()

    def _batch_of(self, indices) -> "_LbfgsBatch":
        """A batch of the members ``indices`` only, at their best weights so far."""
        return _LbfgsBatch.for_members(self.rebuild, indices, self.points, self.spec, self.best_position)

    def iterate(self) -> None:
        """Chunks until every member has stopped or the steps are done; the batch shrinks when half of it has stopped."""
        spec = self.spec
        state = self.batch.start(self.best_position, self.indices)
        done = 0
        while True:
            recording = self.indices[~self.stopped[self.indices]]
            done = min(done + LBFGS_CHUNK, spec.lbfgs.steps)
            state, totals = self._chunk(state, done, recording)
            if self.progress is not None:
                _report_lbfgs(self.progress, spec, self.counts, totals[~self.stopped[self.indices]],
                              self.best_loss.numpy()[self.running])
            left = self.indices[~self.stopped[self.indices]]
            if len(left) == 0 or done >= spec.lbfgs.steps:
                break
            if len(left) <= len(self.indices) // 2:
                state = gather_members(state, np.flatnonzero(~self.stopped[self.indices]))
                self.indices = left
                self.batch = self._batch_of(self.indices)

    def _chunk(self, state, done, recording):
        """One compiled chunk up to ``done`` iterations and its bookkeeping; returns the new state and the batch's losses."""
        counts, indices = self.counts, self.indices
        with interrupts_deferred():  # a chunk's iterations and best weights are kept even if Ctrl-C came during it
            state = self.batch.optimizer.chunk(state, done)
            self.iterations[indices], self.reasons[indices] = state.iterations.numpy(), state.reason.numpy()
            self.stopped[indices] = state.stopped.numpy()
            totals, terms = (t.numpy() for t in self.batch.terms_at(state.position))
            _keep_best(self.best_position, self.best_loss, indices, state.position, totals)
            counts.seconds["lbfgs"], counts.steps["lbfgs"] = time.perf_counter() - self.start, done
            self.member_steps[:] = [int(i) for i in self.iterations]
            _record(self.histories, indices, recording, counts, self.iterations, totals, terms)
        return state, totals

    def keep_best(self) -> None:
        """Each member's best weights into the full stacked model and ``best``."""
        self.full.assign(self.best_position)
        for variable, kept in zip(self.model.weights, self.best):
            kept.assign(variable)

    def outcomes(self) -> list:
        """One outcome per member: CONVERGED with its stop reason, MAX_STEPS, or None for a member not run."""
        iterations, reasons, stopped, running = self.iterations, self.reasons, self.stopped, self.running
        return [None if not running[k] else
                PhaseOutcome(Status.CONVERGED, f"stopped after {iterations[k]} iterations: {REASONS[reasons[k]]}", int(iterations[k]))
                if stopped[k] else PhaseOutcome(Status.MAX_STEPS, f"ran {iterations[k]} iterations", int(iterations[k]))
                for k in range(self.members)]


def tf_variable(value):
    return tf.Variable(value, trainable=False)


class _LbfgsBatch:
    """A stacked model's weights as rows of [K, n], its loss and gradient, and its batched L-BFGS."""

    def __init__(self, model, residuals, points, spec):
        self.variables = model.weights
        self.sizes = [int(np.prod(v.shape[1:])) for v in self.variables]
        weights = tf.constant(residuals.weights, dtype=model.dtype)

        def loss():
            terms = residuals.loss_terms(model, points)
            return weighted_total(weights, terms), terms

        def value_and_gradients(flat):
            """([K] losses, [K, n] gradients) at the flat weights; a non-finite loss leaves the others' gradients alone."""
            self.assign(flat)
            with tf.GradientTape() as tape:
                total, _ = loss()
                objective = tf.reduce_sum(tf.where(tf.math.is_finite(total), total, tf.zeros_like(total)))
            gradients = tape.gradient(objective, self.variables)
            return total, self.flatten([tf.zeros_like(v) if g is None else g for g, v in zip(gradients, self.variables)])

        def terms_at(flat):
            self.assign(flat)
            return loss()

        # XLA off: as for the single run's L-BFGS, it gains nothing per evaluation here.  Compiled once,
        # for the first evaluation, and inlined into the compiled chunk.
        value_and_gradients = compile_step(value_and_gradients, spec, xla=False)
        self.optimizer = BatchedLbfgs(value_and_gradients, spec.lbfgs.history, compile=lambda f: compile_step(f, spec, xla=False))
        self.terms_at = compile_step(terms_at, spec, xla=False)

    @classmethod
    def for_members(cls, rebuild, indices, points, spec, positions):
        """A batch of the members ``indices`` only: their own stacked model (``rebuild(indices)``), points and weights."""
        model, residuals = rebuild(indices)
        batch = cls(model, residuals, tf.gather(points, indices), spec)
        batch.assign(tf.gather(positions, indices))
        return batch

    def start(self, positions, indices):
        """The initial L-BFGS state of rows ``indices`` of ``positions`` (one evaluation)."""
        return self.optimizer.start(tf.gather(positions, indices))

    def flatten(self, tensors):
        return tf.concat([tf.reshape(t, [t.shape[0], -1]) for t in tensors], axis=1)

    def assign(self, flat):
        for variable, piece in zip(self.variables, tf.split(flat, self.sizes, axis=1)):
            variable.assign(tf.reshape(piece, variable.shape))


def _keep_best(best_position, best_loss, indices, position, totals) -> None:
    """Rows ``indices`` of ``best_position`` and ``best_loss`` take the batch's current ones where its loss is lower."""
    rows = tf.constant(indices[:, None])
    old = tf.gather(best_loss, indices)
    improved = np.isfinite(totals) & (totals < old.numpy())
    best_loss.scatter_nd_update(rows, tf.where(improved, tf.constant(totals, dtype=best_loss.dtype), old))
    best_position.scatter_nd_update(rows, tf.where(improved[:, None], position, tf.gather(best_position, indices)))


def _record(histories, indices, recording, counts, iterations, totals, terms) -> None:
    """One history row per member still iterating in the last chunk: its steps so far, its loss and terms."""
    for row, k in enumerate(indices):
        if k in recording:
            histories[k].add(counts.offset + int(iterations[k]), counts.index, float(totals[row]), terms[:, row])


def _report_lbfgs(progress, spec, counts, running_totals, best_values) -> None:
    worst = float(np.max(running_totals)) if running_totals.size else float(np.max(best_values))
    rate = counts.steps["lbfgs"] / max(counts.seconds["lbfgs"], 1e-9)
    progress(Progress("lbfgs", counts.steps["lbfgs"], spec.lbfgs.steps, worst, float(np.max(best_values)), rate))
