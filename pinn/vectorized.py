"""Parameter and seed sweeps trained as one model: K networks with stacked weights.

Members of a sweep differ only in parameter values and ``training.seed``.
Their networks are stacked (kernels [K, fan_in, fan_out], biases
[K, 1, fan_out], inputs [K, N, 1]) so one compiled step trains all of them;
row (k, i) depends on x[k, i] and member k's weights only, so derivatives
stay exact and member k's loss L_k depends on its own weights alone:

    d(sum_j L_j) / d theta_k = dL_k / d theta_k.

Adam (elementwise) on the summed loss is therefore each member's own Adam
run; L-BFGS runs per member (:mod:`pinn.batched_lbfgs` on a batch of K
starting points, each with its own history, line search and stopping rule;
once half the batch has stopped, the rest go on in a smaller batch).
Parameters whose value differs between members are [K, 1, ...] tensors in the
evaluation scope instead of folded numbers.  Each member ends as the
:class:`~pinn.solution.Solution` a separate run would give.

This module imports TensorFlow only inside functions, so the
:func:`vectorize_problem_reason` check costs nothing.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from .problem import Data, Problem

#: Problem fields that only describe a run and may differ between members.
METADATA_FIELDS = ("name", "description", "file", "as_run")
#: XLA for the stacked Adam block: off, because XLA's CPU batched matmul made a 64-member
#: quadratic step 3x slower than TensorFlow's own kernels (209 vs 70 ms, 2 cores, float64).
STACKED_XLA = False
#: L-BFGS iterations per compiled call (progress and best weights are updated between calls).
LBFGS_CHUNK = 50

_FIX = "--vectorize only batches runs that differ in parameter values and training.seed: drop --vectorize or sweep only parameters and seeds"


# --------------------------------------------------------------------------- which sweeps can be batched


def vectorize_problem_reason(problems: Sequence[Problem]) -> Optional[str]:
    """None when ``problems`` can be trained as one stacked model, else why not (one sentence).

    Members may differ only in parameter values (fixed or trainable initial),
    ``training.seed`` and descriptive metadata (name, description, file).
    """
    if not problems:
        return "there are no runs to vectorize"
    first = _comparable(problems[0])
    for problem in problems[1:]:
        difference = _first_difference(first, _comparable(problem), "")
        if difference is not None:
            path, a, b = difference
            return f"{path} differs between members ({a} vs {b}); {_FIX}"
    return None


def _comparable(problem: Problem) -> Problem:
    """``problem`` with everything members may vary set to a common value."""
    parameters = tuple(dataclasses.replace(p, value=0.0, true_value=None) for p in problem.parameters)
    training = dataclasses.replace(problem.training, seed=0)
    blank = {name: None if name == "file" else "" for name in METADATA_FIELDS}
    return dataclasses.replace(problem, parameters=parameters, training=training, **blank)


def _first_difference(a, b, path: str) -> Optional[Tuple[str, str, str]]:
    """(dotted path, a, b) of the first field where a and b differ, or None."""
    if isinstance(a, Data) or isinstance(b, Data):
        return None if _same_data(a, b) else (path, _shown(a), _shown(b))
    if hasattr(a, "source") and hasattr(b, "source"):  # an equation, condition or expression: show its text
        if a == b:
            return None
        if a.source == b.source and hasattr(a, "points"):  # same text, points folded from differing parameters
            return (f"{path} points", str(a.points), str(b.points))
        return (path, repr(a.source), repr(b.source))
    if dataclasses.is_dataclass(a) and type(a) is type(b):
        for f in dataclasses.fields(a):
            found = _first_difference(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}" if path else f.name)
            if found is not None:
                return found
        return None
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        if len(a) != len(b):
            simple = all(isinstance(v, (int, float, str)) for v in (*a, *b))
            return (path, str(a) if simple else f"{len(a)} entries", str(b) if simple else f"{len(b)} entries")
        for index, (x, y) in enumerate(zip(a, b)):
            found = _first_difference(x, y, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    if isinstance(a, dict) and isinstance(b, dict) or hasattr(a, "keys") and hasattr(b, "keys"):
        if set(a) != set(b):
            return (path, ", ".join(sorted(map(str, a))) or "none", ", ".join(sorted(map(str, b))) or "none")
        for key in a:
            found = _first_difference(a[key], b[key], f"{path}.{key}")
            if found is not None:
                return found
        return None
    return None if a == b else (path, _shown(a), _shown(b))


def _same_data(a: Optional[Data], b: Optional[Data]) -> bool:
    if a is None or b is None:
        return a is b
    if set(a.values) != set(b.values) or not np.array_equal(a.variable, b.variable, equal_nan=True):
        return False
    return all(np.array_equal(a.values[u], b.values[u], equal_nan=True) for u in a.values)


def _shown(value) -> str:
    if isinstance(value, Data):
        return f"{len(value)} observations from {value.source}"
    return "none" if value is None else str(value)


# --------------------------------------------------------------------------- the stacked model


def varying_parameters(problems: Sequence[Problem]) -> Tuple[str, ...]:
    """Names of the fixed (non-trainable) parameters whose value differs between members."""
    first = problems[0]
    return tuple(p.name for p in first.parameters
                 if not p.trainable and any(q.parameter(p.name).value != p.value for q in problems[1:]))


def build_stacked_model(problems: Sequence[Problem]):
    """The K members' trial solutions as one stacked model, and its compiled residuals.

    Member k's network is initialised from its own ``training.seed``; its output
    scales, trainable-parameter initial values and the varying fixed parameters
    are [K] arrays held as [K, 1, 1] tensors; everything else is shared.
    """
    import tensorflow as tf

    from .constraints import output_scales
    from .network import MLP, TrialSolution
    from .residuals import compile_residuals
    from .solver import split_for_training

    first = problems[0]
    dtype = {"float64": tf.float64, "float32": tf.float32}[first.training.dtype]
    built, penalised = split_for_training(first)
    varying = varying_parameters(problems)
    shared = {name: value for name, value in first.constants.items() if name not in varying}
    member_constants = {name: [p.parameter(name).value for p in problems] for name in varying}
    data_values = first.data.values if first.data is not None else None
    per_member = [output_scales(p.unknowns, built, p.length, p.constants, data_values) for p in problems]
    scales = {u: np.array([s[u] for s in per_member]) for u in first.unknowns}
    seeds = [p.training.seed for p in problems]
    network = MLP(first.network.hidden, len(first.unknowns), first.network.activation, first.domain, dtype, seeds)
    trainable = {p.name: [q.parameter(p.name).value for q in problems] for p in first.trainable_parameters}
    model = TrialSolution(network, first.unknowns, built, scales, first.length, shared, trainable, dtype, member_constants)
    return model, compile_residuals(first, penalised, scales, constants=shared)


def member_model(problem: Problem, stacked, member: int):
    """A separate single model for ``problem`` holding member ``member``'s slice of the stacked weights."""
    from .solver import build_model

    model, residuals = build_model(problem)
    for variable, stacked_variable in zip(model.weights, stacked.weights):
        variable.assign(np.reshape(stacked_variable.numpy()[member], variable.shape))
    return model, residuals


# --------------------------------------------------------------------------- training


def solve_vectorized(problems: Sequence[Problem], *, progress: Optional[Callable] = None) -> List["Solution"]:
    """Solve K problems differing only in parameter values and seeds as one stacked model.

    Returns one :class:`~pinn.solution.Solution` per member, as
    :func:`pinn.solver.solve` would for that member's problem; each member's
    status, message, history, step counts and lowest loss are its own, but
    ``adam_seconds`` and ``lbfgs_seconds`` are the wall time of the shared,
    batched phases.  ``progress`` gets a :class:`pinn.training.Progress`
    after each block, with the worst (largest) loss over the running members
    and the largest of their lowest losses.  Raises ValueError when the
    problems cannot be batched (see :func:`vectorize_problem_reason`).
    """
    from .solver import make_solution

    reason = vectorize_problem_reason(problems)
    if reason is not None:
        raise ValueError(reason)
    problems = list(problems)
    model, residuals = build_stacked_model(problems)
    results = train_members(model, residuals, problems, progress=progress)
    solutions = []
    for k, (problem, result) in enumerate(zip(problems, results)):
        single, single_residuals = member_model(problem, model, k)
        solutions.append(make_solution(problem, single, result, single_residuals))
    return solutions


def train_members(model, residuals, problems: Sequence[Problem], *, progress=None) -> List["TrainingResult"]:
    """Adam on the stacked model, then per-member L-BFGS; one TrainingResult per member.

    Mirrors :func:`pinn.training.train` member by member: best weights kept
    per member, a non-finite loss stops that member only, the best finite
    weights are restored at the end.
    """
    import tensorflow as tf

    from .training import Status, _Counts, _History, adam_phase, weighted_total

    spec = problems[0].training
    dtype = model.dtype
    members = len(problems)
    variables = model.weights
    rngs = [np.random.default_rng(p.training.seed + 1) for p in problems]
    points = tf.Variable(_member_points(problems, spec.sampler, rngs), dtype=dtype, trainable=False, name="collocation")
    weights = tf.constant(residuals.weights, dtype=dtype)
    histories = [_History(residuals.term_names) for _ in problems]
    best_loss = tf.Variable(np.full(members, np.inf), dtype=dtype, trainable=False)
    best = [tf.Variable(v, trainable=False) for v in variables]

    def loss(x):
        terms = residuals.loss_terms(model, x)
        return weighted_total(weights, terms), terms

    def resample():
        points.assign(_member_points(problems, "random" if spec.sampler == "grid" else spec.sampler, rngs))

    counts = _Counts()
    statuses = [Status.MAX_STEPS] * members
    stops = [dict() for _ in problems]
    adam_steps = [0] * members
    lbfgs_steps = [0] * members
    try:
        if spec.adam.steps > 0:
            outcomes = adam_phase(variables, loss, points, best, best_loss, spec, resample, histories, progress, counts, xla=STACKED_XLA)
            for k, outcome in enumerate(outcomes):
                statuses[k], stops[k]["adam"], adam_steps[k] = outcome.status, outcome.message, outcome.steps
        running = np.array([s.success for s in statuses])
        if spec.lbfgs.steps > 0 and running.any():
            for k, outcome in enumerate(lbfgs_members(model, residuals, problems, points, best, best_loss, spec, running, histories, progress, counts)):
                if outcome is not None:
                    statuses[k], stops[k]["lbfgs"], lbfgs_steps[k] = outcome.status, outcome.message, outcome.steps
    except KeyboardInterrupt:
        statuses = [Status.INTERRUPTED] * members
    _restore_finite_best(variables, best, best_loss)
    return _member_results(statuses, stops, histories, adam_steps, lbfgs_steps, best_loss.numpy(), counts)


def _member_results(statuses, stops, histories, adam_steps, lbfgs_steps, best_values, counts) -> List["TrainingResult"]:
    """One TrainingResult per member, worded as :func:`pinn.training.train` words it; the seconds are the shared phases'."""
    from .training import STATUS_MESSAGES, Status, TrainingResult

    return [
        TrainingResult(
            status=status, message=stops[k]["adam"] if status is Status.NONFINITE_LOSS else STATUS_MESSAGES[status],
            history=histories[k].arrays(), adam_steps=adam_steps[k] if status is Status.NONFINITE_LOSS else counts.adam_steps,
            lbfgs_steps=lbfgs_steps[k], adam_seconds=counts.adam_seconds, lbfgs_seconds=counts.lbfgs_seconds,
            best_loss=float(best_values[k]), stops=stops[k],
        )
        for k, status in enumerate(statuses)
    ]


def _member_points(problems: Sequence[Problem], sampler: str, rngs) -> np.ndarray:
    """Each member's collocation points as its separate run draws them, stacked to [K, N, 1]."""
    from .residuals import collocation_points

    spec = problems[0].training
    return np.stack([collocation_points(p.domain, spec.points, sampler, rng) for p, rng in zip(problems, rngs)])


def _restore_finite_best(variables, best, best_loss) -> None:
    """Each member whose lowest loss is finite gets its best weights back."""
    import tensorflow as tf

    from .training import per_member

    finite = tf.math.is_finite(best_loss)
    for variable, kept in zip(variables, best):
        variable.assign(tf.where(per_member(finite, variable), kept, variable))


def lbfgs_members(model, residuals, problems, points, best, best_loss, spec, running: np.ndarray, histories, progress, counts) -> list:
    """L-BFGS per member from its best Adam weights: one outcome per member (None for members not run).

    :class:`~pinn.batched_lbfgs.BatchedLbfgs` on the members' weights
    flattened to rows of [K, n] keeps a history and a line search per member;
    as scipy's L-BFGS-B with ftol = gtol = 0, a member stops when its line
    search fails, its loss stops changing or its gradient vanishes.  It runs
    in compiled chunks of :data:`LBFGS_CHUNK` iterations per member, between
    which progress is reported, the history recorded and each member's best
    weights kept.  When half the batch has stopped, the optimizer state of the
    rest is gathered into a smaller batch (a new stacked model of those
    members), so finished members cost nothing: the members' iterates are
    unchanged by this.
    """
    from .batched_lbfgs import REASONS, gather_members
    from .training import PhaseOutcome, Status

    members = len(histories)
    full = _LbfgsBatch(model, residuals, points, spec)
    best_position = tf_variable(full.flatten(best))
    indices = np.flatnonzero(running)
    batch = full if len(indices) == members else _LbfgsBatch.for_members(problems, indices, points, spec, best_position)
    iterations = np.zeros(members, dtype=int)
    reasons = np.zeros(members, dtype=int)
    stopped = np.zeros(members, dtype=bool)
    start = time.perf_counter()
    state = batch.start(best_position, indices)
    done = 0
    while True:
        recording = indices[~stopped[indices]]
        done = min(done + LBFGS_CHUNK, spec.lbfgs.steps)
        state = batch.optimizer.chunk(state, done)
        iterations[indices], reasons[indices] = state.iterations.numpy(), state.reason.numpy()
        stopped[indices] = state.stopped.numpy()
        totals, terms = (t.numpy() for t in batch.terms_at(state.position))
        _keep_best(best_position, best_loss, indices, state.position, totals)
        counts.lbfgs_seconds, counts.lbfgs_steps = time.perf_counter() - start, done
        _record(histories, indices, recording, counts.adam_steps, iterations, totals, terms)
        if progress is not None:
            _report_lbfgs(progress, spec, counts, totals[~stopped[indices]], best_loss.numpy()[running])
        left = indices[~stopped[indices]]
        if len(left) == 0 or done >= spec.lbfgs.steps:
            break
        if len(left) <= len(indices) // 2:
            state = gather_members(state, np.flatnonzero(~stopped[indices]))
            indices = left
            batch = _LbfgsBatch.for_members(problems, indices, points, spec, best_position)
    full.assign(best_position)
    for variable, kept in zip(model.weights, best):
        kept.assign(variable)
    return [None if not running[k] else
            PhaseOutcome(Status.CONVERGED, f"stopped after {iterations[k]} iterations: {REASONS[reasons[k]]}", int(iterations[k]))
            if stopped[k] else PhaseOutcome(Status.MAX_STEPS, f"ran {iterations[k]} iterations", int(iterations[k]))
            for k in range(members)]


def tf_variable(value):
    import tensorflow as tf

    return tf.Variable(value, trainable=False)


class _LbfgsBatch:
    """A stacked model's weights as rows of [K, n], its loss and gradient, and its batched L-BFGS."""

    def __init__(self, model, residuals, points, spec):
        import tensorflow as tf

        from .batched_lbfgs import BatchedLbfgs
        from .training import _compile, weighted_total

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
        value_and_gradients = _compile(value_and_gradients, spec, xla=False)
        self.optimizer = BatchedLbfgs(value_and_gradients, spec.lbfgs.history, compile=lambda f: _compile(f, spec, xla=False))
        self.terms_at = _compile(terms_at, spec, xla=False)

    @classmethod
    def for_members(cls, problems, indices, points, spec, positions):
        """A batch of the members ``indices`` only: their own stacked model, points and current weights."""
        import tensorflow as tf

        model, residuals = build_stacked_model([problems[i] for i in indices])
        batch = cls(model, residuals, tf.gather(points, indices), spec)
        batch.assign(tf.gather(positions, indices))
        return batch

    def start(self, positions, indices):
        """The initial L-BFGS state of rows ``indices`` of ``positions`` (one evaluation)."""
        import tensorflow as tf

        return self.optimizer.start(tf.gather(positions, indices))

    def flatten(self, tensors):
        import tensorflow as tf

        return tf.concat([tf.reshape(t, [t.shape[0], -1]) for t in tensors], axis=1)

    def assign(self, flat):
        import tensorflow as tf

        for variable, piece in zip(self.variables, tf.split(flat, self.sizes, axis=1)):
            variable.assign(tf.reshape(piece, variable.shape))


def _keep_best(best_position, best_loss, indices, position, totals) -> None:
    """Rows ``indices`` of ``best_position`` and ``best_loss`` take the batch's current ones where its loss is lower."""
    import tensorflow as tf

    rows = tf.constant(indices[:, None])
    old = tf.gather(best_loss, indices)
    improved = np.isfinite(totals) & (totals < old.numpy())
    best_loss.scatter_nd_update(rows, tf.where(improved, tf.constant(totals, dtype=best_loss.dtype), old))
    best_position.scatter_nd_update(rows, tf.where(improved[:, None], position, tf.gather(best_position, indices)))


def _record(histories, indices, recording, adam_steps: int, iterations, totals, terms) -> None:
    """One history row per member still iterating in the last chunk: its steps so far, its loss and terms."""
    for row, k in enumerate(indices):
        if k in recording:
            histories[k].add(adam_steps + int(iterations[k]), 1, float(totals[row]), terms[:, row])


def _report_lbfgs(progress, spec, counts, running_totals, best_values) -> None:
    from .training import Progress

    worst = float(np.max(running_totals)) if running_totals.size else float(np.max(best_values))
    rate = counts.lbfgs_steps / max(counts.lbfgs_seconds, 1e-9)
    progress(Progress("lbfgs", counts.lbfgs_steps, spec.lbfgs.steps, worst, float(np.max(best_values)), rate))
