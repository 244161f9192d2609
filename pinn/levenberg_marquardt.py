"""Levenberg–Marquardt (damped Gauss–Newton) on every residual at once: the phase ``lm``.

The loss is a sum of squares, L(θ) = ||R(θ)||²: R holds every equation at
every collocation point, every penalised condition and every observation,
each row scaled by sqrt(weight of its term / count of its term's rows), so
that ||R||² is exactly the weighted loss the other phases minimise.  θ is the
network's weights and the trainable parameters together.  Each iteration
takes the damped Gauss–Newton step

    δ = -(JᵀJ + λI)⁻¹ JᵀR = -Jᵀ (JJᵀ + λI)⁻¹ R,        J = ∂R/∂θ  (m rows, n weights),

from the smaller of the two systems (m × m when m < n), by Cholesky; a
factorisation that fails counts as a rejected step, so λ grows until one
succeeds.  A step is kept if it lowers the loss.  λ starts at
``training.lm.damping`` × max diag(JᵀJ) and follows Nielsen's rule on the gain ratio

    ρ = (L(θ) - L(θ + δ)) / (||R||² - ||R + Jδ||²)     (over the decrease the linear model predicts):

kept, λ ← λ max(1/3, 1 - (2ρ - 1)³) and ν ← 2; rejected, λ ← λν and ν ← 2ν.

J comes row by row without ever differentiating the whole batch once per
row: a row depends on one collocation point (or one observation) only, so a
``tf.vectorized_map`` over the points differentiates each point's own rows
(O(m) work, not the O(m · N) of a Jacobian of the batched loss).  The step
runs in numpy in float64 (J is a few MB); stacked members (a vectorised
sweep) each keep their own λ, ν and stop, one factorisation each.

A member stops, CONVERGED, when the loss is zero, when the residual is
orthogonal to J's columns to ``GRADIENT_TOLERANCE`` (the cosine of
MINPACK's gtol), when a kept step moves θ by less than ``STEP_TOLERANCE``
relative to θ, when λ has grown past ``MAX_DAMPING`` × max diag(JᵀJ) (no
step lowers the loss in this precision), or when the loss fell by less than
``STALL_DECREASE`` (relative) over ``STALL_ITERATIONS`` iterations; MAX_STEPS
after ``training.lm.steps`` iterations.
"""

from __future__ import annotations

import time
from typing import List, Optional

import numpy as np
import tensorflow as tf

from .phase_support import PhaseOutcome, Progress, Status, TrainingContext, compile_step, interrupts_deferred

GRADIENT_TOLERANCE = 1e-12  # max_j |J_jᵀR| / (||J_j|| ||R||) below which R is orthogonal to every column of J
STEP_TOLERANCE = 1e-15  # ||δ|| / (||θ|| + 1e-15) of a kept step below which θ no longer moves
MAX_DAMPING = 1e12  # λ / max diag(JᵀJ) above which no step can lower the loss
STALL_ITERATIONS = 50
STALL_DECREASE = 1e-3  # relative fall of the loss over STALL_ITERATIONS below which LM has stalled


def lm_phase(context: TrainingContext, running: np.ndarray) -> List[Optional[PhaseOutcome]]:
    """Levenberg–Marquardt from the best weights so far, for one model or stacked members; one outcome per member."""
    import scipy.linalg  # noqa: F401  (loaded before the limit, which only reaches the BLAS libraries loaded by then)
    from threadpoolctl import threadpool_limits

    # BLAS threads left free spin against TensorFlow's (measured: a 128 x 128 Cholesky took 100-230 ms, not 0.4 ms)
    with threadpool_limits(limits=1, user_api="blas"):
        return _LmRun(context, running).run()


def residual_jacobian(context: TrainingContext):
    """A compiled function () -> (R [K, m], J [K, m, n], G): the weighted residual rows, their Jacobian by θ, and
    the smaller normal matrix G (JJᵀ [K, m, m] if m <= n, else JᵀJ [K, n, n]).

    K is 1 for one model.  θ is ``context.variables`` flattened in order (per member for stacked ones).
    """
    # XLA does not compile vectorized_map's gradients faster here, and autograph would rewrite the Python loops
    return compile_step(tf.autograph.experimental.do_not_convert(_Rows(context).with_jacobian), context.spec, xla=False)


def residual_rows(context: TrainingContext):
    """A compiled function () -> R [K, m]: the rows of :func:`residual_jacobian` without the Jacobian, in the same order."""
    return compile_step(tf.autograph.experimental.do_not_convert(_Rows(context).rows), context.spec, xla=False)


class _Rows:
    """The weighted residual rows of a context's model at its points, alone or with their Jacobian.

    Rows come in three parts, each scaled by sqrt(weight / count) (:meth:`pinn.residuals.Residuals.row_weights`):
    the pointwise rows (equations, smoothness) point by point, the penalised conditions, the observations.
    """

    def __init__(self, context: TrainingContext):
        self.model, self.residuals, self.points = context.model, context.residuals, context.points
        self.variables = context.variables
        self.members = context.members or 1
        self.stacked = context.members is not None
        self.count = int(self.points.shape[-2])
        self.weights = self.residuals.row_weights(self.count)

    def per_point(self, array):
        """[N, ...] elements for vectorized_map: the rows of ``array`` [N, ...], or [N, K, ...] from stacked [K, N, ...]."""
        return tf.transpose(array, [1, 0, 2]) if self.stacked else array

    def as_batch(self, element):
        """One element back to a batch of one point: [1, 1], or [K, 1, 1] for stacked members."""
        return element[:, None, :] if self.stacked else element[None, :]

    def data_x(self, dtype):
        data_x = tf.constant(self.residuals.data_x, dtype=dtype)
        return tf.broadcast_to(data_x[None], [self.members, *self.residuals.data_x.shape]) if self.stacked else data_x

    def gradients(self, rows, tape):
        """[K, C, n]: the gradient of each of the C columns of ``rows`` [K, C] (summed over members, whose rows
        depend on their own weights only, so each member gets its own)."""
        with tape:  # resumes recording, so that the sum and the slices are differentiated too
            summed = tf.reduce_sum(rows, axis=0)
            targets = [summed[column] for column in range(rows.shape[1])]
        out = []
        for target in targets:
            grads = tape.gradient(target, self.variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            out.append(tf.concat([tf.reshape(g, [self.members, -1]) for g in grads], axis=1))
        return tf.stack(out, axis=1)

    def jacobian(self, rows, tape):
        """[K, C, n] as :meth:`gradients`, vectorised over the C columns (one pfor graph instead of C backward
        passes: the condition rows number hundreds, and C unrolled gradients made the graph, and its compilation,
        grow with C times the size of the partials' nested tapes)."""
        with tape:
            summed = tf.reduce_sum(rows, axis=0)
        parts = tape.jacobian(summed, self.variables, unconnected_gradients=tf.UnconnectedGradients.ZERO,
                              experimental_use_pfor=True)
        columns = rows.shape[1]
        stacked = tf.concat([tf.reshape(j, [columns, self.members, -1]) for j in parts], axis=2)
        return tf.transpose(stacked, [1, 0, 2])

    def pointwise(self, rows_of, elements, columns: int):
        """rows_of(one element) -> rows [K?, 1, columns], vectorised over the elements: R [K, E·columns], J [K, E·columns, n]."""

        def one(element):
            with tf.GradientTape(persistent=True) as tape:
                rows = tf.reshape(rows_of(element), [self.members, columns])
            jacobian = self.gradients(rows, tape)
            del tape
            return rows, jacobian

        rows, jacobian = tf.vectorized_map(one, elements)  # [E, K, columns], [E, K, columns, n]
        rows = tf.reshape(tf.transpose(rows, [1, 0, 2]), [self.members, -1])
        jacobian = tf.transpose(jacobian, [1, 0, 2, 3])
        return rows, tf.reshape(jacobian, [self.members, -1, jacobian.shape[-1]])

    def parts(self, with_jacobian: bool):
        """[(rows [K, m_i], Jacobian [K, m_i, n] or None)] of each part present, weighted."""
        residuals, model, dtype = self.residuals, self.model, self.points.dtype
        parts = []
        if self.weights["points"].size:
            scale = tf.constant(self.weights["points"], dtype=dtype)
            if with_jacobian:
                rows, jacobian = self.pointwise(lambda x: residuals.pointwise_rows(model, self.as_batch(x)),
                                                self.per_point(self.points), len(self.weights["points"]))
                scale = tf.tile(scale, [self.count])
                parts.append((rows * scale, jacobian * scale[:, None]))
            else:
                parts.append((tf.reshape(residuals.pointwise_rows(model, self.points) * scale, [self.members, -1]), None))
        if residuals.conditions:
            scale = tf.constant(self.weights["conditions"], dtype=dtype)
            with tf.GradientTape(persistent=True) as tape:
                rows = tf.reshape(residuals.condition_rows(model, self.points), [self.members, -1])
            jacobian = self.jacobian(rows, tape) * scale[:, None] if with_jacobian else None
            del tape
            parts.append((rows * scale, jacobian))
        if residuals.data_x is not None:
            values, mask = tf.constant(residuals.data_values, dtype=dtype), tf.constant(residuals.data_mask, dtype=dtype)
            if with_jacobian:
                rows, jacobian = self.pointwise(lambda e: residuals.data_rows(model, self.as_batch(e[0]), e[1], e[2]),
                                                (self.per_point(self.data_x(dtype)), values, mask), values.shape[1])
            else:
                rows, jacobian = tf.reshape(residuals.data_rows(model, self.data_x(dtype), values, mask), [self.members, -1]), None
            parts.append((rows * self.weights["data"], None if jacobian is None else jacobian * self.weights["data"]))
        return parts

    def rows(self):
        return tf.concat([rows for rows, _ in self.parts(with_jacobian=False)], axis=1)

    def with_jacobian(self):
        parts = self.parts(with_jacobian=True)
        rows, jacobian = tf.concat([p[0] for p in parts], axis=1), tf.concat([p[1] for p in parts], axis=1)
        wide = jacobian.shape[1] <= jacobian.shape[2]  # fewer rows than weights: the m x m normal matrix
        return rows, jacobian, tf.matmul(jacobian, jacobian, transpose_a=not wide, transpose_b=wide)


def damped_solver(jacobian: np.ndarray, damping: float, normal: Optional[np.ndarray] = None):
    """v -> -(JᵀJ + λI)⁻¹ Jᵀv for J [m, n], by Cholesky of the smaller normal matrix (``normal`` if given: JJᵀ
    when m <= n, else JᵀJ); None if it does not factor."""
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    rows, columns = jacobian.shape
    wide = rows <= columns
    if normal is None:
        normal = jacobian @ jacobian.T if wide else jacobian.T @ jacobian
    damped = normal + damping * np.eye(len(normal))
    try:
        factor = cho_factor(damped, lower=True, check_finite=True)
    except (LinAlgError, ValueError):
        return None
    if wide:
        return lambda vector: -(jacobian.T @ cho_solve(factor, vector))
    return lambda vector: -cho_solve(factor, jacobian.T @ vector)


def damped_step(jacobian: np.ndarray, residual: np.ndarray, damping: float) -> Optional[np.ndarray]:
    """δ = -(JᵀJ + λI)⁻¹ JᵀR (J [m, n], R [m]); None if the normal matrix does not factor."""
    solve = damped_solver(jacobian, damping)
    return None if solve is None else solve(residual)


def nielsen_update(damping: float, nu: float, gain: float, kept: bool):
    """Nielsen's rule: kept, λ max(1/3, 1 - (2ρ - 1)³) and ν = 2; rejected, λν and 2ν.  Returns (λ, ν)."""
    if kept:
        return damping * max(1.0 / 3.0, 1.0 - (2.0 * gain - 1.0) ** 3), 2.0
    return damping * nu, 2.0 * nu


class _LmRun:
    """One LM phase: the flat weights [K, n], each member's λ, ν, loss and stop, the iteration loop."""

    def __init__(self, context: TrainingContext, running: np.ndarray):
        self.context, self.running = context, np.asarray(running, dtype=bool)
        self.spec, self.counts = context.spec, context.counts
        self.members = context.members or 1
        self.stacked = context.members is not None
        self.dtype = context.best_loss.dtype
        self.shapes = [tuple(v.shape[1:]) if self.stacked else tuple(v.shape) for v in context.variables]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.jacobian = residual_jacobian(context)
        self.rows = residual_rows(context)
        plain = tf.autograph.experimental.do_not_convert  # nothing here needs autograph, and converting takes seconds
        self.compiled_set = compile_step(plain(self._set), self.spec, xla=False)
        self.compiled_trial = compile_step(plain(self._trial), self.spec, xla=False)
        self.compiled_settle = compile_step(plain(self._settle), self.spec, xla=False)
        self.n_terms = len(context.histories[0].names)

    def flat(self) -> np.ndarray:
        """θ as [K, n] float64."""
        pieces = [np.reshape(v.numpy(), (self.members, -1)) for v in self.context.variables]
        return np.concatenate(pieces, axis=1).astype(np.float64)

    def _set(self, theta):
        """In-graph: the variables from θ [K, n] (a tensor)."""
        pieces = tf.split(theta, self.sizes, axis=1)
        for variable, shape, piece in zip(self.context.variables, self.shapes, pieces):
            variable.assign(tf.reshape(tf.cast(piece, variable.dtype), (self.members, *shape) if self.stacked else shape))

    def _trial(self, theta):
        """In-graph: set θ, return (loss, terms) there."""
        self._set(theta)
        return self.context.loss(self.context.points)

    def _settle(self, theta, improved, best_loss):
        """In-graph: set θ, copy the improved members' weights into ``best`` and their loss into ``best_loss``."""
        self._set(theta)
        context = self.context
        for kept, variable in zip(context.best, context.variables):
            mask = tf.reshape(improved, [-1] + [1] * (variable.shape.rank - 1)) if self.stacked else improved[0]
            kept.assign(tf.where(mask, variable, kept))
        context.best_loss.assign(tf.cast(best_loss if self.stacked else best_loss[0], context.best_loss.dtype))

    def assign(self, theta: np.ndarray) -> None:
        """The variables from θ [K, n]."""
        self.compiled_set(tf.constant(theta, dtype=self.dtype))

    def evaluate(self, theta: np.ndarray):
        """(loss [K], terms [T, K]) at θ [K, n], which the variables keep."""
        total, terms = self.compiled_trial(tf.constant(theta, dtype=self.dtype))
        return np.atleast_1d(total.numpy()).astype(np.float64), terms.numpy().reshape(self.n_terms, -1)

    def run(self) -> List[Optional[PhaseOutcome]]:
        context, counts, steps = self.context, self.counts, self.spec.lm.steps
        members = self.members
        theta = self.flat()
        loss, terms = self.evaluate(theta)
        active = self.running & np.isfinite(loss)
        outcomes: List[Optional[PhaseOutcome]] = [None] * members
        damping, nu = np.full(members, np.nan), np.full(members, 2.0)
        iterations = np.zeros(members, dtype=int)
        recent = [[float(v)] for v in loss]  # each member's loss after each iteration, for the stall test
        start = last_report = time.perf_counter()
        counts.member_steps["lm"] = iterations
        try:
            for iteration in range(1, steps + 1):
                if not active.any():
                    break
                with interrupts_deferred():
                    theta, loss, terms = self.iterate(theta, loss, terms, active, damping, nu, outcomes, iteration)
                    iterations[active] = iteration
                    counts.steps["lm"] = iteration
                    counts.seconds["lm"] = time.perf_counter() - start
                    for k in np.flatnonzero(active):
                        context.histories[k].add(counts.offset + iteration, counts.index, float(loss[k]), terms[:, k])
                        recent[k].append(float(loss[k]))
                        outcome = outcomes[k] or _stop(loss[k], recent[k], iteration, steps)
                        if outcome is not None:
                            outcomes[k], active[k] = outcome, False
                now = time.perf_counter()
                if context.progress is not None and (now - last_report > 0.25 or not active.any()):
                    best = float(np.max(np.atleast_1d(context.best_loss.numpy())))
                    context.progress(Progress("lm", iteration, steps, float(np.max(loss)), best, iteration / max(now - start, 1e-9)))
                    last_report = now
        finally:
            counts.seconds["lm"] = time.perf_counter() - start
        if not self.stacked:
            counts.member_steps.pop("lm", None)
        for k in range(members):
            if self.running[k] and outcomes[k] is None:
                outcomes[k] = (PhaseOutcome(Status.NONFINITE_LOSS, "the loss was not finite where LM started", 0)
                               if not np.isfinite(loss[k]) else PhaseOutcome(Status.MAX_STEPS, f"ran all {steps} iterations", steps))
        return [outcomes[k] if self.running[k] else None for k in range(members)]

    def iterate(self, theta, loss, terms, active, damping, nu, outcomes, iteration):
        """One LM iteration of every active member: a step from J and R, kept where it lowers the loss."""
        rows, jacobian, normals = (np.asarray(t.numpy(), dtype=np.float64) for t in self.jacobian())  # no copy in float64
        trial = theta.copy()
        steps, predicted = {}, {}
        for k in np.flatnonzero(active):
            proposal = self.propose(jacobian[k], rows[k], normals[k], damping, nu, k, iteration)
            if isinstance(proposal, PhaseOutcome):
                outcomes[k] = proposal
            elif proposal is not None:
                steps[k] = proposal
        for k, step in steps.items():
            predicted[k] = float(np.sum(rows[k] ** 2) - np.sum((rows[k] + jacobian[k] @ step) ** 2))
            trial[k] = theta[k] + step
        if not steps:
            return theta, loss, terms
        trial_loss, trial_terms = self.evaluate(trial)
        kept = np.zeros(self.members, dtype=bool)
        for k, step in steps.items():
            gain = (loss[k] - trial_loss[k]) / predicted[k] if predicted[k] > 0 else -1.0
            kept[k] = bool(np.isfinite(trial_loss[k]) and trial_loss[k] < loss[k])
            damping[k], nu[k] = nielsen_update(damping[k], nu[k], gain, kept[k])
            if kept[k] and np.linalg.norm(step) <= STEP_TOLERANCE * (np.linalg.norm(theta[k]) + STEP_TOLERANCE):
                outcomes[k] = PhaseOutcome(Status.CONVERGED, f"the step is below {STEP_TOLERANCE:g} of the weights", iteration)
        theta = np.where(kept[:, None], trial, theta)
        loss = np.where(kept, trial_loss, loss)
        terms = np.where(kept[None, :], trial_terms, terms)
        self.settle(theta, kept, loss)
        return theta, loss, terms

    def propose(self, J, R, normal, damping, nu, k: int, iteration: int):
        """Member k's step from its J [m, n], R [m] and normal matrix; a PhaseOutcome if it stops here; None if the
        damped normal matrix did not factor (λ grows, as for a rejected step)."""
        if not (np.isfinite(J).all() and np.isfinite(R).all()):
            return PhaseOutcome(Status.NONFINITE_LOSS, f"non-finite Jacobian at LM iteration {iteration}; "
                                                       "the best finite weights were kept", iteration - 1)
        column_norms = np.sqrt(np.einsum("ij,ij->j", J, J))
        scale = max(float(np.max(column_norms)) ** 2, np.finfo(float).tiny)  # max diag JᵀJ
        if np.isnan(damping[k]):
            damping[k] = self.spec.lm.damping * scale
        residual_norm = float(np.linalg.norm(R))
        if residual_norm == 0.0:
            return PhaseOutcome(Status.CONVERGED, "the loss is zero", iteration - 1)
        cosine = float(np.max(np.abs(J.T @ R) / np.maximum(column_norms * residual_norm, np.finfo(float).tiny)))
        if cosine <= GRADIENT_TOLERANCE:
            return PhaseOutcome(Status.CONVERGED, f"the residual is orthogonal to the Jacobian's columns "
                                                  f"(cosine {cosine:.1e} <= {GRADIENT_TOLERANCE:g})", iteration - 1)
        if damping[k] > MAX_DAMPING * scale:
            return PhaseOutcome(Status.CONVERGED, f"no step lowers the loss any more (damping {damping[k]:.1e} "
                                                  f"> {MAX_DAMPING:g} max diag JᵀJ)", iteration - 1)
        solve = damped_solver(J, float(damping[k]), normal)
        if solve is None:
            damping[k], nu[k] = nielsen_update(damping[k], nu[k], 0.0, kept=False)
            return None
        return solve(R)

    def settle(self, theta: np.ndarray, kept: np.ndarray, loss: np.ndarray) -> None:
        """The variables back to θ (the rejected members' trial undone); the kept members' weights into ``best``
        where their loss is the lowest so far."""
        best_loss = np.atleast_1d(self.context.best_loss.numpy())
        improved = kept & (loss < best_loss)
        self.compiled_settle(tf.constant(theta, dtype=self.dtype), tf.constant(improved),
                             tf.constant(np.where(improved, loss, best_loss), dtype=self.dtype))


def _stop(loss: float, recent: list, iteration: int, steps: int) -> Optional[PhaseOutcome]:
    """The stall and step-limit stops after an iteration (the others are found within it)."""
    if loss == 0.0:
        return PhaseOutcome(Status.CONVERGED, "the loss is zero", iteration)
    if len(recent) > STALL_ITERATIONS and loss > (1.0 - STALL_DECREASE) * recent[-1 - STALL_ITERATIONS]:
        return PhaseOutcome(Status.CONVERGED, f"the loss fell by less than {STALL_DECREASE:g} (relative) in the last "
                                              f"{STALL_ITERATIONS} iterations", iteration)
    if iteration >= steps:
        return PhaseOutcome(Status.MAX_STEPS, f"ran all {steps} iterations", iteration)
    return None
