"""Solve a problem in two variables: PDEProblem -> network and residuals -> the training phases -> checked PDESolution.

The phases are those of :mod:`pinn.training` (Adam, L-BFGS, the refinement, LM),
run by the same loop (:func:`pinn.training.run_phases`) on the interior points of
the rectangle; the conditions sit on their own lines inside the residuals.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

import numpy as np

from .problem import PDEProblem

#: Candidates per training point when the phase ``refine`` moves points to where the residual is largest.
CANDIDATES_PER_POINT = 8


@dataclass(frozen=True, eq=False)
class PDESolution:
    """A trained, checked solution in two variables.

    ``grid`` is the output grid (one array per variable); ``values[u]`` is u on it, [n1, n2], and
    ``partials[(u, a)]`` the partial derivative of multi-index a that the equations use.
    """

    problem: PDEProblem
    model: Any
    training: Any  # pinn.training.TrainingResult
    status: Any  # pinn.training.Status
    message: str
    parameters: Mapping[str, float]
    grid: Tuple[np.ndarray, np.ndarray]
    values: Mapping[str, np.ndarray]
    partials: Mapping[Tuple[str, Tuple[int, int]], np.ndarray]
    verification: Any = None  # pinn.verification.Verification
    reference: Any = None  # pinn.pde.reference_grid.GridReference, or an exact one
    equation_residuals: Mapping[str, float] = field(default_factory=dict)
    attempts: tuple = ()
    windows: tuple = ()
    provenance: Mapping[str, Any] = field(default_factory=dict)  # seed, versions, device, date (pinn.provenance)

    @property
    def success(self) -> bool:
        return self.status.success

    @property
    def final_loss(self) -> float:
        return self.training.best_loss

    @property
    def x(self):
        return self.grid

    def evaluate(self, order: int = 0, **coordinates) -> Dict[str, np.ndarray]:
        """Values and partial derivatives up to total ``order`` at points given per variable (arrays broadcast
        together): ``evaluate(x=..., t=..., order=1)`` -> {"u": ..., "u_x": ..., "u_t": ...}."""
        return evaluate_field(self.model, self.problem, coordinates, order)

    def save(self, directory):
        from .saved import save_field_solution

        return save_field_solution(self, directory)


def evaluate_field(model, problem: PDEProblem, coordinates: Mapping[str, Any], order: int = 0, batch: int = 32768):
    """{column name: values} of every unknown and its partials up to total ``order`` at the given points."""
    import tensorflow as tf

    from .residuals import field_partials

    missing = [v for v in problem.variables if v not in coordinates]
    extra = [k for k in coordinates if k not in problem.variables]
    if missing or extra:
        raise ValueError(f"evaluate takes the variables {', '.join(problem.variables)} by name"
                         + (f"; missing {', '.join(missing)}" if missing else "") + (f"; unknown {', '.join(extra)}" if extra else ""))
    arrays = np.broadcast_arrays(*(np.asarray(coordinates[v], dtype=float) for v in problem.variables))
    shape = arrays[0].shape
    points = np.stack([a.ravel() for a in arrays], axis=1)
    wanted = [(a, n - a) for n in range(order + 1) for a in range(n, -1, -1)]
    out: Dict[str, list] = {}
    for start in range(0, max(len(points), 1), batch):
        chunk = tf.constant(points[start:start + batch], dtype=model.dtype)
        values = field_partials(model, chunk, wanted)
        for index in wanted:
            for k, u in enumerate(problem.unknowns):
                out.setdefault(problem.partial_name(u, index), []).append(values[index][:, k].numpy())
    return {name: np.concatenate(parts).reshape(shape) for name, parts in out.items()}


def build_field_model(problem: PDEProblem):
    """(model, residuals): the FieldTrial with its hard conditions, and the residuals of the rest."""
    return build_stacked_field_model([problem], stacked=False)


def build_stacked_field_model(problems, stacked: bool = True):
    """(model, residuals) of K members differing only in parameter values and seeds, as one stacked FieldTrial.

    Member k's network starts from its own ``training.seed`` and its trainable parameters from their own initial
    values; the fixed parameters whose value differs (:func:`pinn.members.varying_parameters`) are [K, 1]
    tensors in the model; the hard forms, scales and residuals are the first member's (the members' conditions
    are the same, :func:`pinn.vectorized.vectorize_problem_reason`).  ``stacked`` False: the single model of
    ``problems[0]``.
    """
    import tensorflow as tf

    from ..members import varying_parameters
    from .network import FieldMLP, FieldTrial, hard_conditions, output_scales
    from .residuals import FieldResiduals

    problem = problems[0]
    dtype = tf.float64 if problem.training.dtype == "float64" else tf.float32
    forms = hard_conditions(problem)
    scales = output_scales(problem)
    seeds = [p.training.seed for p in problems] if stacked else problem.training.seed
    network = FieldMLP(problem.network.hidden, len(problem.unknowns), problem.network.activation, problem.domain, dtype, seeds)
    if stacked:
        trainable = {p.name: [q.parameter(p.name).value for q in problems] for p in problem.trainable_parameters}
        varying = {name: [q.parameter(name).value for q in problems] for name in varying_parameters(problems)}
    else:
        trainable, varying = {p.name: p.value for p in problem.trainable_parameters}, {}
    model = FieldTrial(network, problem.unknowns, forms, scales, trainable, dtype, varying)
    taken = sorted({j for form in forms.values() for j in form.conditions})
    return model, FieldResiduals(problem, taken, scales, dtype)


def train_field(problem: PDEProblem, model, residuals, progress: Optional[Callable] = None):
    """Run ``problem.training.phases`` on the model: the loop and phases of pinn.training, interior points redrawn
    as training.resample_every says, refined where the residual is largest by the phase ``refine``.

    Returns (TrainingResult, the final training points [N, 2]).
    """
    (result,), points = _train([problem], model, residuals, progress)
    return result, points[0]


def train_field_members(problems, model, residuals, progress: Optional[Callable] = None):
    """:func:`train_field` for the stacked members of :func:`build_stacked_field_model`: the same loop
    (:func:`pinn.training.run_phases`), each member with its own points, resampling and refinement (from its own
    seed), its own Adam state, L-BFGS (:mod:`pinn.batched_lbfgs`) and LM; ([TrainingResult], points [K, N, 2])."""
    return _train(list(problems), model, residuals, progress,
                  rebuild=lambda indices: build_stacked_field_model([problems[i] for i in indices]))


def _train(problems, model, residuals, progress, rebuild=None):
    import tensorflow as tf

    from ..collocation import Schedule
    from ..phase_support import Counts, History, TrainingContext, weighted_total
    from ..refinement import needs_refinement
    from ..training import run_phases
    from ..members import STACKED_XLA

    stacked = rebuild is not None
    members = len(problems)
    problem = problems[0]
    spec = problem.training
    dtype = model.dtype
    schedules = [Schedule(p.domain, spec.points, spec.sampler, spec.resample_every) for p in problems]
    rngs = [np.random.default_rng(p.training.seed + 1) for p in problems]

    def shaped(arrays):
        return np.stack(arrays) if stacked else arrays[0]

    points = tf.Variable(shaped([s.initial(rng) for s, rng in zip(schedules, rngs)]), dtype=dtype, trainable=False,
                         name="collocation")
    weights = tf.constant(residuals.weights, dtype=dtype)

    def loss(x):
        terms = residuals.loss_terms(model, x)
        return weighted_total(weights, terms), terms

    def resample(step):
        points.assign(shaped([s.points(step, rng) for s, rng in zip(schedules, rngs)]))

    def refine():
        candidates = [p.domain.fresh(CANDIDATES_PER_POINT * spec.points) for p in problems]
        squares = np.reshape(residuals.squared_residuals(model, shaped(candidates)), (members, -1))
        at_points = np.reshape(residuals.squared_residuals(model, points.numpy()), (members, -1))
        current = np.reshape(points.numpy(), (members, -1, 2))
        moves = [needs_refinement(squares[k], at_points[k]) for k in range(members)]
        if not any(moves):
            return [0] * members if stacked else 0
        points.assign(shaped([refined_field_points(current[k], candidates[k], squares[k], spec.refine, rngs[k]) if move
                              else current[k] for k, move in enumerate(moves)]))
        moved = [int(round(spec.refine * spec.points)) if move else 0 for move in moves]
        return moved if stacked else moved[0]

    context = TrainingContext(
        variables=model.weights, loss=loss, points=points, best=[tf.Variable(v, trainable=False) for v in model.weights],
        best_loss=tf.Variable(np.full(members, np.inf) if stacked else np.inf, dtype=dtype, trainable=False), spec=spec,
        resample=resample, histories=[History(residuals.term_names) for _ in problems], progress=progress, counts=Counts(),
        model=model, residuals=residuals, schedule=schedules[0], refine=refine,
        **({"members": members, "rebuild": rebuild, "xla": STACKED_XLA} if stacked else {}),
    )
    results = run_phases(context)
    return results, np.reshape(points.numpy(), (members, -1, 2))


def refined_field_points(current: np.ndarray, candidates: np.ndarray, squares: np.ndarray, share: float,
                         rng: np.random.Generator) -> np.ndarray:
    """[N, 2]: N - m of ``current`` kept at random, m of ``candidates`` drawn by p ∝ r^2 / mean r^2 + 1."""
    count = len(current)
    moved = min(int(round(share * count)), count, len(candidates))
    kept = current[np.sort(rng.choice(count, size=count - moved, replace=False))]
    squares = np.where(np.isfinite(squares), squares, np.nanmax(np.where(np.isfinite(squares), squares, 0.0)) or 1.0)
    mean = float(np.mean(squares))
    weights = (squares / mean if mean > 0 else np.zeros_like(squares)) + 1.0
    chosen = rng.choice(len(candidates), size=moved, replace=False, p=weights / weights.sum())
    return np.concatenate([kept, candidates[chosen]])


def solve_field(problem: PDEProblem, *, seed: Optional[int] = None, progress: Union[None, bool, Callable] = None) -> PDESolution:
    """Solve ``problem`` (two variables) and return the checked :class:`PDESolution` (see :func:`pinn.solve`)."""
    from ..progress import progress_reporter
    from ..tensorflow_setup import ensure_tensorflow

    ensure_tensorflow()
    if seed is not None:
        problem = dataclasses.replace(problem, training=dataclasses.replace(problem.training, seed=int(seed)))
    with progress_reporter(progress) as report:
        model, residuals = build_field_model(problem)
        result, training_points = train_field(problem, model, residuals, report)
    return make_field_solution(problem, model, result, residuals, training_points)


def make_field_solution(problem: PDEProblem, model, result, residuals, training_points: Optional[np.ndarray] = None,
                        check: bool = True) -> PDESolution:
    """The solution on the output grid, checked (pinn.pde.verification) against the reference when one is trusted."""
    from ..phase_support import Status
    from ..provenance import provenance
    from .reference import field_reference
    from .verification import measure_field, verify_field

    grid = problem.domain.grid(problem.output_points)
    mesh = problem.domain.mesh(problem.output_points)
    shape = tuple(len(g) for g in grid)
    order = max([sum(o) for _, o in problem.partials] + [0])
    columns = evaluate_field(model, problem, {v: mesh[:, i] for i, v in enumerate(problem.variables)}, order)
    values = {u: columns[u].reshape(shape) for u in problem.unknowns}
    partials = {(u, o): columns[problem.partial_name(u, o)].reshape(shape) for u, o in problem.reported_partials()}
    parameters = {p.name: float(model.parameters[p.name].numpy()) if p.trainable else p.value for p in problem.parameters}
    status, message = result.status, result.message
    verification, reference, rms = None, None, {}
    if check:
        reference = field_reference(problem, grid)
        measurements = measure_field(problem, model, residuals, training_points)
        rms = {e.name: e.fresh_rms for e in measurements.equations}
        verification = verify_field(problem, measurements, values, reference, parameters)
        if status.success and not verification.passed:
            status, message = Status.CHECK_FAILED, verification.message
    return PDESolution(problem, model, result, status, message, parameters, grid, values, partials, verification, reference, rms,
                       provenance=provenance(problem))
