"""Training: Adam in compiled blocks of steps, then L-BFGS through scipy.

Adam runs ``steps_per_call`` steps per compiled call (one call costs about as
much as a few steps, so single-step calls waste most of the time), keeps the
weights with the lowest loss seen, and stops at the first non-finite loss.
L-BFGS-B (scipy) then works on the flattened weights with a compiled function
returning the loss and its gradient.  ``tf.function`` wrapping happens in
:func:`_compile` only, with ``eager=True`` to debug.
"""

from __future__ import annotations

import enum
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from .problem import TrainingSpec
from .residuals import Residuals, collocation_points


class Status(enum.Enum):
    """Why training ended; ``success`` for the first two."""

    CONVERGED = "converged"
    MAX_STEPS = "max_steps"
    NONFINITE_LOSS = "nonfinite_loss"
    INTERRUPTED = "interrupted"

    @property
    def success(self) -> bool:
        return self in (Status.CONVERGED, Status.MAX_STEPS)


STATUS_MESSAGES = {
    Status.CONVERGED: "L-BFGS converged: the loss stopped decreasing within machine precision.",
    Status.MAX_STEPS: "Training ran all its steps.",
    Status.NONFINITE_LOSS: "The loss became non-finite; the best finite weights were kept.",
    Status.INTERRUPTED: "Training was interrupted; the best weights so far were kept.",
}


@dataclass(frozen=True)
class Progress:
    """What a progress display is told after each block of steps."""

    phase: str
    step: int
    total_steps: int
    loss: float
    best_loss: float
    steps_per_second: float


@dataclass(frozen=True, eq=False)
class TrainingResult:
    """What training reached: status, message, history and counts.

    ``history`` maps ``step``, ``phase`` (0 Adam, 1 L-BFGS), ``total`` and
    each term name (``equation[0]``, ``condition[1]``, ``data``) to arrays of
    equal length, one entry per recorded point.
    """

    status: Status
    message: str
    history: Mapping[str, np.ndarray]
    adam_steps: int
    lbfgs_steps: int
    adam_seconds: float
    lbfgs_seconds: float
    best_loss: float
    stops: Mapping[str, str] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return self.adam_steps + self.lbfgs_steps

    @property
    def train_seconds(self) -> float:
        return self.adam_seconds + self.lbfgs_seconds


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


class _History:
    def __init__(self, names: Sequence[str]):
        self.names = list(names)
        self.rows: List[Tuple[int, int, float, np.ndarray]] = []

    def add(self, step: int, phase: int, total: float, terms: np.ndarray) -> None:
        self.rows.append((step, phase, total, np.asarray(terms, dtype=float)))

    def arrays(self) -> Dict[str, np.ndarray]:
        out = {
            "step": np.array([r[0] for r in self.rows], dtype=np.int64),
            "phase": np.array([r[1] for r in self.rows], dtype=np.int64),
            "total": np.array([r[2] for r in self.rows], dtype=float),
        }
        for index, name in enumerate(self.names):
            out[name] = np.array([r[3][index] for r in self.rows], dtype=float)
        return out


def _compile(function: Callable, spec: TrainingSpec, xla: bool = True) -> Callable:
    """The one place steps are compiled: tf.function (with XLA if asked and ``xla``) or eager."""
    if spec.eager:
        return function
    return tf.function(function, jit_compile=spec.jit_compile and xla, reduce_retracing=True)


def train(model, residuals: Residuals, spec: TrainingSpec, domain, *, progress: Optional[Callable[[Progress], None]] = None) -> TrainingResult:
    """Fit ``model`` (a :class:`~pinn.network.TrialSolution`) to the residuals.

    Adam for ``spec.adam.steps`` steps, keeping the best weights, then
    L-BFGS-B for up to ``spec.lbfgs.steps`` iterations.  A KeyboardInterrupt
    ends training with status INTERRUPTED and the best weights restored.
    """
    dtype = model.dtype
    variables = model.weights
    rng = np.random.default_rng(spec.seed + 1)
    points = tf.Variable(collocation_points(domain, spec.points, spec.sampler, rng), dtype=dtype, trainable=False, name="collocation")
    weights = tf.constant(residuals.weights, dtype=dtype)
    history = _History(residuals.term_names)
    stops: Dict[str, str] = {}
    status = Status.MAX_STEPS
    best_loss = tf.Variable(np.inf, dtype=dtype, trainable=False)
    best = [tf.Variable(v, trainable=False) for v in variables]

    def loss(x):
        terms = residuals.loss_terms(model, x)
        return weighted_total(weights, terms), terms

    def resample():
        points.assign(collocation_points(domain, spec.points, "random" if spec.sampler == "grid" else spec.sampler, rng))

    counts = _Counts()
    try:
        if spec.adam.steps > 0:
            (adam,) = adam_phase(variables, loss, points, best, best_loss, spec, resample, [history], progress, counts)
            status, stops["adam"] = adam.status, adam.message
        if spec.lbfgs.steps > 0 and status.success:
            status, stops["lbfgs"] = _lbfgs(variables, loss, points, best, best_loss, spec, history, progress, counts)
    except KeyboardInterrupt:
        status = Status.INTERRUPTED
    if math.isfinite(float(best_loss.numpy())):
        for variable, kept in zip(variables, best):
            variable.assign(kept)
    message = stops["adam"] if status is Status.NONFINITE_LOSS else STATUS_MESSAGES[status]
    return TrainingResult(
        status=status, message=message, history=history.arrays(), adam_steps=counts.adam_steps, lbfgs_steps=counts.lbfgs_steps,
        adam_seconds=counts.adam_seconds, lbfgs_seconds=counts.lbfgs_seconds, best_loss=float(best_loss.numpy()), stops=stops,
    )


@dataclass
class _Counts:
    """Steps and seconds so far, updated as training goes (so an interrupt keeps them)."""

    adam_steps: int = 0
    adam_seconds: float = 0.0
    lbfgs_steps: int = 0
    lbfgs_seconds: float = 0.0


@dataclass(frozen=True)
class PhaseOutcome:
    """How one phase ended for one member: status, message, and the steps it completed."""

    status: Status
    message: str
    steps: int


def per_member(mask, variable):
    """A member mask ([] for one model, [K] for stacked members) shaped to broadcast against ``variable`` [K, ...]."""
    if mask.shape.rank == 0:
        return mask
    return tf.reshape(mask, [-1] + [1] * (variable.shape.rank - 1))


def _where_running(running, new, old):
    """``new`` for the members still running, ``old`` for the others.

    A single model (a scalar mask) only steps while running, so it takes
    ``new`` as is: no select in its graph, which keeps single runs
    bit-identical under XLA.
    """
    if running.shape.rank == 0:
        return new
    return tf.where(per_member(running, new), new, old)


def weighted_total(weights, terms):
    """sum_t w_t L_t: a scalar from terms [T], one total per member [K] from terms [T, K]."""
    return tf.reduce_sum(tf.reshape(weights, [-1] + [1] * (terms.shape.rank - 1)) * terms, axis=0)


def adam_phase(variables, loss, points, best, best_loss, spec: TrainingSpec, resample, histories, progress, counts: _Counts,
               xla: bool = True):
    """Adam (beta1 0.9, beta2 0.999, eps 1e-8 relative to the dtype) in compiled blocks; one outcome per member.

    ``loss(points)`` gives (total, terms): a scalar and [T] for one model, or [K]
    and [T, K] for K stacked members (``best_loss`` has the same shape, and
    every variable a leading member axis).  The step descends the sum of the
    members' losses, whose gradient with respect to member k's weights is
    member k's own gradient, and Adam is elementwise, so each member follows
    exactly its separate run.  Each member keeps its own best weights and
    stops alone at its first non-finite loss: its updates are masked from
    then on, so the others go on unchanged.  ``resample()`` redraws ``points``;
    ``xla=False`` compiles the block without XLA even if the spec asks for it.
    """
    dtype = best_loss.dtype
    members = best_loss.shape  # [] for one model, [K] for stacked members
    first = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
    second = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
    count = tf.Variable(0.0, dtype=dtype, trainable=False)
    learning_rate = _learning_rate(spec)
    beta1, beta2, epsilon = 0.9, 0.999, 1e-8 if dtype == tf.float32 else 1e-12
    n_terms = len(histories[0].names)
    active = tf.Variable(tf.ones(members, tf.bool), trainable=False)
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
                objective = tf.reduce_sum(_where_running(finite & active, total, tf.zeros_like(total)))
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
                m.assign(_where_running(active, beta1 * m + (1.0 - beta1) * gradient, m))
                v.assign(_where_running(active, beta2 * v + (1.0 - beta2) * tf.square(gradient), v))
                variable.assign(_where_running(active, variable - rate * m / (tf.sqrt(v) + epsilon), variable))
            done += 1
        return total, terms, done

    compiled = _compile(block, spec, xla=xla)
    block_size = spec.steps_per_call if spec.resample_every == 0 else min(spec.steps_per_call, spec.resample_every)
    outcomes: List[Optional[PhaseOutcome]] = [None] * len(histories)
    while counts.adam_steps < spec.adam.steps:
        size = min(block_size, spec.adam.steps - counts.adam_steps)
        start = time.perf_counter()
        total, terms, done = compiled(tf.constant(size))
        total = np.atleast_1d(total.numpy())
        elapsed = time.perf_counter() - start
        counts.adam_seconds += elapsed
        counts.adam_steps += int(done.numpy())
        step = counts.adam_steps
        terms = terms.numpy().reshape(n_terms, -1)
        running = np.atleast_1d(active.numpy())
        for k, history in enumerate(histories):
            if running[k]:
                history.add(step, 0, float(total[k]), terms[:, k])
            elif outcomes[k] is None:
                outcomes[k] = _nonfinite_outcome(histories[k].names, k, failed_step, failed_terms, best_loss)
        if not running.any():
            break
        if progress is not None:
            worst, worst_best = float(np.max(total[running])), float(np.max(np.atleast_1d(best_loss.numpy())[running]))
            progress(Progress("adam", step, spec.adam.steps, worst, worst_best, int(done.numpy()) / max(elapsed, 1e-9)))
        if spec.resample_every and step % spec.resample_every == 0 and step < spec.adam.steps:
            resample()
    finished = PhaseOutcome(Status.MAX_STEPS, f"ran all {counts.adam_steps} steps", counts.adam_steps)
    return [outcome or finished for outcome in outcomes]


def _nonfinite_outcome(names, member: int, failed_step, failed_terms, best_loss) -> PhaseOutcome:
    """The outcome of a member whose loss became non-finite: the step, the terms at fault, what was kept."""
    step = int(np.atleast_1d(failed_step.numpy())[member])
    terms = failed_terms.numpy().reshape(len(names), -1)[:, member]
    bad = [n for n, t in zip(names, terms) if not np.isfinite(t)] or ["total"]
    kept = ("the best finite weights were kept" if np.isfinite(np.atleast_1d(best_loss.numpy())[member]) else
            "no step had a finite loss: check the equations for log or sqrt of negative values, or division by zero")
    return PhaseOutcome(Status.NONFINITE_LOSS, f"non-finite loss at Adam step {step} in {', '.join(bad)}; {kept}.", step - 1)


def _lbfgs(variables, loss, points, best, best_loss, spec: TrainingSpec, history, progress, counts: _Counts):
    """scipy L-BFGS-B on the flat weights, from the best Adam weights.

    ftol and gtol are zero so it does not stop while the loss is still falling
    (scipy's default ftol is relative to max(|f|, 1), so it stalls once the
    loss drops below about 1e-9); it stops on maxiter or when the line search
    can no longer improve the loss.
    """
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

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
    compiled = _compile(value_and_gradient, spec, xla=False)
    state = {"evaluations": 0, "best": float(best_loss.numpy()), "best_x": None, "last_terms": None, "iterations": 0}
    start = time.perf_counter()
    last_report = [start]

    def fun(flat):
        total, gradient, terms = compiled(tf.constant(flat, dtype=dtype))
        total = float(total.numpy())
        state["evaluations"] += 1
        state["last_terms"] = (flat.copy(), terms.numpy())
        if not math.isfinite(total):
            return np.inf, np.zeros_like(flat)
        if total < state["best"]:
            state["best"] = total
            state["best_x"] = flat.copy()
        return total, gradient.numpy().astype(np.float64)

    def callback(intermediate_result):
        state["iterations"] += 1
        counts.lbfgs_steps = state["iterations"]
        evaluated, terms = state["last_terms"]
        if not np.array_equal(evaluated, intermediate_result.x):  # the accepted point was not the last one tried
            terms = compiled(tf.constant(intermediate_result.x, dtype=dtype))[2].numpy()
        history.add(counts.adam_steps + state["iterations"], 1, float(intermediate_result.fun), terms)
        now = time.perf_counter()
        counts.lbfgs_seconds = now - start
        if progress is not None and (now - last_report[0] > 0.25 or state["iterations"] == spec.lbfgs.steps):
            rate = state["iterations"] / max(now - start, 1e-9)
            progress(Progress("lbfgs", state["iterations"], spec.lbfgs.steps, float(intermediate_result.fun), state["best"], rate))
            last_report[0] = now

    x0 = np.concatenate([v.numpy().reshape(-1) for v in variables]).astype(np.float64)
    # scipy's BLAS threads, left free, spin against TensorFlow's on every iteration (measured: several
    # times slower per iteration on 2 cores); L-BFGS-B's vectors are far too small to gain from them.
    with threadpool_limits(limits=1, user_api="blas"):
        result = minimize(
            fun, x0, jac=True, method="L-BFGS-B", callback=callback,
            options={"maxiter": spec.lbfgs.steps, "maxfun": spec.lbfgs.steps * 2 + 20, "ftol": 0.0, "gtol": 0.0,
                     "maxcor": spec.lbfgs.history, "maxls": 50},
        )
    counts.lbfgs_seconds = time.perf_counter() - start
    if state["best_x"] is not None:
        best_x = tf.constant(state["best_x"], dtype=dtype)
        for kept, piece, shape in zip(best, tf.split(best_x, sizes), shapes):
            kept.assign(tf.reshape(piece, shape))
        best_loss.assign(state["best"])
    iterations = counts.lbfgs_steps = int(result.nit)
    message = result.message if isinstance(result.message, str) else result.message.decode()
    if iterations >= spec.lbfgs.steps or "ITERATIONS" in message.upper() or "EVALUATIONS" in message.upper():
        return Status.MAX_STEPS, f"ran {iterations} iterations ({message})"
    return Status.CONVERGED, f"stopped after {iterations} iterations: {message}"
