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

Problems in two variables stack the same way (:func:`pinn.pde.solve.build_stacked_field_model`: points
[K, N, 2], the residuals of :mod:`pinn.pde.residuals` on [K, ...] arrays, the same phases); each member
ends as the checked :class:`~pinn.pde.solve.PDESolution` of its own problem.  Their conditions have
the parameters folded in, so members whose conditions differ (a swept parameter in a condition) are refused.

This module imports TensorFlow only inside functions, so the
:func:`vectorize_problem_reason` check costs nothing.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np

from .members import STACKED_XLA, varying_parameters  # noqa: F401  (pinn.vectorized.varying_parameters)
from .problem import Data, Problem

#: Problem fields that only describe a run and may differ between members.
METADATA_FIELDS = ("name", "description", "file", "as_run")

_FIX = "--vectorize only batches runs that differ in parameter values and training.seed: drop --vectorize or sweep only parameters and seeds"


# --------------------------------------------------------------------------- which sweeps can be batched


def vectorize_problem_reason(problems: Sequence[Problem]) -> Optional[str]:
    """None when ``problems`` can be trained as one stacked model, else why not (one sentence).

    Members may differ only in parameter values (fixed or trainable initial),
    ``training.seed`` and descriptive metadata (name, description, file).
    """
    if not problems:
        return "there are no runs to vectorize"
    dimensions = {getattr(p, "dimension", 1) for p in problems}
    if len(dimensions) > 1:
        return "the runs mix problems in one and two variables, which cannot share one stacked model; drop --vectorize"
    if dimensions == {2}:
        reason = _field_reason(problems)
        if reason is not None:
            return reason
    first = _comparable(problems[0])
    for problem in problems[1:]:
        difference = _first_difference(first, _comparable(problem), "")
        if difference is not None:
            path, a, b = difference
            return f"{path} differs between members ({a} vs {b}); {_FIX}"
    return None


def _field_reason(problems) -> Optional[str]:
    """Why members in two variables cannot be stacked beyond what :func:`_first_difference` finds, or None.

    Their conditions hold the parameters folded in (and set the hard forms and the output scales, which the
    members share), so a parameter swept inside a condition is named here.
    """
    import re

    first = problems[0]
    varying = [p.name for p in first.parameters if any(q.parameter(p.name).value != p.value for q in problems[1:])]
    for problem in problems[1:]:
        for a, b in zip(first.conditions, problem.conditions):
            if a.source == b.source and a.equation != b.equation:
                names = [n for n in varying if re.search(rf"\b{re.escape(n)}\b", a.source)] or ["a swept parameter"]
                return (f"{names[0]} differs between members and appears in the condition {a.source!r}, which the stacked "
                        f"members share (it sets their built-in form and output scale); run this sweep without --vectorize")
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
    if _is_field_data(a) or _is_field_data(b):  # observations in two variables (pinn.pde.problem.PDEData)
        same = _is_field_data(a) and _is_field_data(b) and np.array_equal(a.points, b.points) and set(a.values) == set(b.values) \
            and all(np.array_equal(a.values[u], b.values[u], equal_nan=True) for u in a.values)
        return None if same else (path, _shown(a), _shown(b))
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


def _is_field_data(value) -> bool:
    return type(value).__name__ == "PDEData"


def _shown(value) -> str:
    if isinstance(value, Data) or _is_field_data(value):
        return f"{len(value)} observations from {value.source}"
    return "none" if value is None else str(value)


# --------------------------------------------------------------------------- the stacked model




def build_stacked_model(problems: Sequence[Problem]):
    """The K members' trial solutions as one stacked model, and its compiled residuals.

    Member k's network is initialised from its own ``training.seed``; its output
    scales, trainable-parameter initial values and the varying fixed parameters
    are [K] arrays held as [K, 1, 1] tensors; everything else is shared.
    """
    from .constraints import output_scales
    from .tensorflow_setup import tf_dtype
    from .network import MLP, TrialSolution
    from .residuals import compile_residuals
    from .assembly import split_for_training

    first = problems[0]
    dtype = tf_dtype(first.training.dtype)
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
    from .assembly import build_model

    model, residuals = build_model(problem)
    _copy_member(model, stacked, member)
    return model, residuals


# --------------------------------------------------------------------------- training


def solve_vectorized(problems: Sequence[Problem], *, progress: Union[None, bool, Callable] = None) -> List["Solution"]:
    """Solve K problems differing only in parameter values and seeds as one stacked model.

    Returns one :class:`~pinn.solution.Solution` per member (a checked
    :class:`~pinn.pde.solve.PDESolution` for problems in two variables), as
    :func:`pinn.solver.solve` would for that member's problem; each member's
    status, message, history, step counts and lowest loss are its own, but
    the seconds of each phase are the wall time of the shared,
    batched phases.  ``progress`` is as for :func:`pinn.solve` (None: a
    display in a terminal or notebook; True, False, or a callable given a
    :class:`pinn.training.Progress` after each block), reporting the worst
    (largest) loss over the running members and the largest of their lowest losses.  Raises ValueError when the
    problems cannot be batched (see :func:`vectorize_problem_reason`).
    """
    from .progress import progress_reporter
    from .assembly import make_solution
    from .tensorflow_setup import ensure_tensorflow
    from .windows import explicit_boundaries

    ensure_tensorflow()
    reason = vectorize_problem_reason(problems)
    if reason is not None:
        raise ValueError(reason)
    problems = list(problems)
    if getattr(problems[0], "dimension", 1) == 2:
        return _solve_fields(problems, progress)
    if explicit_boundaries(problems[0]) is not None:  # every member on the same windows (pinn.windows)
        with progress_reporter(progress) as report:
            return march_members(problems, report)
    model, residuals = build_stacked_model(problems)
    with progress_reporter(progress) as report:
        results = train_members(model, residuals, problems, progress=report)
    solutions = []
    for k, (problem, result) in enumerate(zip(problems, results)):
        single, single_residuals = member_model(problem, model, k)
        solutions.append(make_solution(problem, single, result, single_residuals))
    return solutions


def march_members(problems: Sequence[Problem], progress: Optional[Callable] = None) -> list:
    """A vectorised sweep on explicit ``training.windows``: every member on the same windows -> one Solution each.

    Window k of all K members is one stacked model (:func:`build_stacked_model`); member m starts it from its own
    end values of window k - 1, held as the varying parameters of :func:`pinn.windows.window_problem`.  Each member's
    window is checked by itself, and each member's march as one solve, as :func:`pinn.windows.march` does for one run.
    A window's seconds are the wall time of the shared, stacked training.
    """
    from .verification import measure, verify
    from .windows import TrainedWindow, end_values, explicit_boundaries, march_solution, window_problem, window_record

    boundaries = explicit_boundaries(problems[0])
    starts: list = [None] * len(problems)
    trained: list = [[] for _ in problems]
    records: list = [[] for _ in problems]
    for index, (low, high) in enumerate(zip(boundaries[:-1], boundaries[1:])):
        subs = [window_problem(p, low, high, start, index) for p, start in zip(problems, starts)]
        begun = time.perf_counter()
        model, residuals = build_stacked_model(subs)
        results = train_members(model, residuals, subs, progress=progress)
        seconds = time.perf_counter() - begun
        for member, (sub, result) in enumerate(zip(subs, results)):
            single, single_residuals = member_model(sub, model, member)
            verification = verify(sub, measure(sub, single, single_residuals), np.zeros(0), {}, None, {})
            window = TrainedWindow(sub, single, result, verification, seconds)
            trained[member].append(window)
            records[member].append(window_record(window, low, high, starts[member], seconds))
            starts[member] = end_values(problems[member], single, high)
        if any(r.status.value == "interrupted" for r in results):
            break
    return [march_solution(p, t, r, ()) for p, t, r in zip(problems, trained, records)]


def _solve_fields(problems, progress) -> List["PDESolution"]:
    """:func:`solve_vectorized` for problems in two variables: one stacked FieldTrial, then each member's checked
    :class:`~pinn.pde.solve.PDESolution` from its own single model holding its slice of the weights."""
    from .pde.solve import build_field_model, build_stacked_field_model, make_field_solution, train_field_members
    from .progress import progress_reporter

    model, residuals = build_stacked_field_model(problems)
    with progress_reporter(progress) as report:
        results, points = train_field_members(problems, model, residuals, report)
    solutions = []
    for k, (problem, result) in enumerate(zip(problems, results)):
        single, single_residuals = build_field_model(problem)
        _copy_member(single, model, k)
        solutions.append(make_field_solution(problem, single, result, single_residuals, points[k]))
    return solutions


def _copy_member(single, stacked, member: int) -> None:
    """Member ``member``'s slice of the stacked weights into the single model ``single``."""
    for variable, stacked_variable in zip(single.weights, stacked.weights):
        variable.assign(np.reshape(stacked_variable.numpy()[member], variable.shape))


def train_members(model, residuals, problems: Sequence[Problem], *, progress=None) -> List["TrainingResult"]:
    """The phases of ``training.phases`` on the stacked model (pinn.training.run_phases); one TrainingResult per member.

    The same loop as a single run's: best weights kept per member, a
    non-finite loss stops that member only, the best finite weights restored
    at the end.  Seconds are the wall time of the shared, batched phases.
    """
    import tensorflow as tf

    from .collocation import schedule_for
    from .refinement import CANDIDATES_PER_POINT, needs_refinement, refined_points
    from .phase_support import Counts, History, TrainingContext, weighted_total
    from .training import run_phases

    spec = problems[0].training
    dtype = model.dtype
    schedules = [schedule_for(p) for p in problems]
    rngs = [np.random.default_rng(p.training.seed + 1) for p in problems]
    points = tf.Variable(np.stack([s.initial(rng) for s, rng in zip(schedules, rngs)]), dtype=dtype, trainable=False,
                         name="collocation")
    weights = tf.constant(residuals.weights, dtype=dtype)

    def loss(x):
        terms = residuals.loss_terms(model, x)
        return weighted_total(weights, terms), terms

    def resample(step):
        points.assign(np.stack([s.points(step, rng) for s, rng in zip(schedules, rngs)]))

    def refine():
        if not residuals.equations:
            return 0  # nothing to refine by
        candidates = np.stack([s.domain.fresh(CANDIDATES_PER_POINT * spec.points) for s in schedules])
        squares = residuals.squared_residuals(model, tf.constant(candidates, dtype=dtype))
        at_points = residuals.squared_residuals(model, points)
        current = points.numpy()
        moves = [needs_refinement(squares[k], at_points[k]) for k in range(len(rngs))]
        points.assign(np.stack([refined_points(current[k], candidates[k], squares[k], spec.refine, rng) if move else current[k]
                                for k, (rng, move) in enumerate(zip(rngs, moves))]))
        return [int(round(spec.refine * spec.points)) if move else 0 for move in moves]

    def rebuild(indices):
        return build_stacked_model([problems[i] for i in indices])

    context = TrainingContext(
        variables=model.weights, loss=loss, points=points, best=[tf.Variable(v, trainable=False) for v in model.weights],
        best_loss=tf.Variable(np.full(len(problems), np.inf), dtype=dtype, trainable=False), spec=spec, resample=resample,
        histories=[History(residuals.term_names) for _ in problems], progress=progress, counts=Counts(),
        members=len(problems), xla=STACKED_XLA, model=model, residuals=residuals, rebuild=rebuild, schedule=schedules[0],
        refine=refine,
    )
    return run_phases(context)
