"""The composition root: Problem -> residuals and network -> training -> Solution."""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Optional, Union

import numpy as np

from .problem import Problem
from .solution import Solution, evaluate_model


def build_model(problem: Problem):
    """The trial solution (network with built-in conditions) and the compiled residuals."""
    from .constraints import output_scales
    from .tensorflow_setup import tf_dtype
    from .network import MLP, TrialSolution
    from .residuals import compile_residuals

    dtype = tf_dtype(problem.training.dtype)
    built, penalised = split_for_training(problem)
    data_values = problem.data.values if problem.data is not None else None
    scales = output_scales(problem.unknowns, built, problem.length, problem.constants, data_values)
    network = MLP(problem.network.hidden, len(problem.unknowns), problem.network.activation, problem.domain, dtype, problem.training.seed)
    trainable = {p.name: p.value for p in problem.trainable_parameters}
    model = TrialSolution(network, problem.unknowns, built, scales, problem.length, problem.constants, trainable, dtype)
    return model, compile_residuals(problem, penalised, scales)


def split_for_training(problem: Problem):
    """(built-in forms by unknown, conditions to penalise) per ``training.constraints``."""
    from .constraints import split_conditions

    if problem.training.constraints == "soft":
        return {}, list(problem.conditions)
    return split_conditions(problem.conditions, problem.unknowns, problem.orders)


def make_solution(problem: Problem, model, training, residuals=None, *, check: bool = True,
                  provenance: Optional[Mapping[str, object]] = None) -> Solution:
    """Evaluate the trained model on the output grid, check it, and freeze the result.

    With ``check`` (the default) the solution checks itself
    (:mod:`pinn.verification`): each equation's residual at fresh points
    (needs ``residuals``), each condition, the error against the
    problem's reference, computed here, and each learned parameter against
    its true value, if given; ``Solution.verification`` holds the
    checks and ``Solution.status`` is CHECK_FAILED when one fails.
    ``provenance`` (default: made now, :mod:`pinn.provenance`) says where and
    with what it ran.
    """
    from .provenance import provenance as made_now
    from .verification import measure, verify

    x = problem.domain.grid(problem.output.points)
    orders = problem.reported_orders
    everything = evaluate_model(model, problem.unknowns, x, max(orders.values(), default=0))
    values = {u: everything[u][: orders[u] + 1] for u in problem.unknowns}
    parameters = {p.name: p.value for p in problem.parameters}
    parameters.update({name: float(v.numpy()) for name, v in model.parameters.items()})
    solution = Solution(problem=problem, x=x, values=values, parameters=parameters, training=training, model=model,
                        provenance=made_now(problem) if provenance is None else dict(provenance))
    if not check:
        return solution
    from .reference import reference_solution

    measurements = measure(problem, model, residuals)
    reference = reference_solution(problem, x)
    verification = verify(problem, measurements, x, values, reference, parameters)
    rms = {e.name: e.fresh_rms for e in measurements.equations}
    return dataclasses.replace(solution, equation_residuals=rms, verification=verification, reference=reference)


def solve(problem: Problem, *, seed: Optional[int] = None, progress: Union[None, bool, Callable] = None) -> Solution:
    """Solve ``problem`` with a physics-informed network and return the checked :class:`Solution`.

    ``seed`` overrides ``problem.training.seed``.  ``progress`` shows how
    training goes (phase, step, loss, best loss, steps per second): by
    default (None) a line rewritten in place when someone watches (stderr is
    a terminal, or in a Jupyter notebook, where it goes to the cell's
    output), nothing in a log or pipe; ``True`` always, ``False`` never; a
    callable is called with a :class:`pinn.training.Progress` after each
    block of steps instead (:mod:`pinn.progress`).  Under
    ``training.causal: auto`` (the default), an initial-value problem whose
    first solve fails its check is trained once more from scratch with the
    window growing from the initial point; the failed attempt is kept in
    ``Solution.attempts``.  For such a problem the causal retry is the first
    repair: the first attempt runs without the phase ``refine`` (which could
    patch a causality failure into a passing but less accurate solution), the
    retry with it.
    """
    from .progress import progress_reporter
    from .tensorflow_setup import ensure_tensorflow

    ensure_tensorflow()
    if seed is not None:
        problem = dataclasses.replace(problem, training=dataclasses.replace(problem.training, seed=int(seed)))
    with progress_reporter(progress) as report:
        return _solve_with_retry(problem, report)


def _solve_with_retry(problem: Problem, progress: Optional[Callable]) -> Solution:
    """Train and check once; an initial-value problem that fails its check (training.causal: auto) once more, causally."""
    from .collocation import can_grow

    may_retry = problem.training.causal == "auto" and can_grow(problem)
    first_try = dataclasses.replace(problem, training=dataclasses.replace(problem.training, refine=0.0)) if may_retry else problem
    solution = _train_and_check(first_try, progress, grow=None)
    if not (may_retry and solution.status.value == "check_failed"):
        return dataclasses.replace(solution, problem=problem)
    again = _train_and_check(problem, progress, grow=True)
    first = {"causal": False, "status": solution.status.value, "message": solution.message,
             "train_seconds": solution.training.train_seconds, "steps": solution.training.summary()}
    return dataclasses.replace(again, attempts=(first,))


def _train_and_check(problem: Problem, progress, grow: Optional[bool]) -> Solution:
    """Build, train (the window growing from t0 if ``grow``; None: as training.causal says) and check."""
    from .collocation import schedule_for
    from .training import train

    model, residuals = build_model(problem)
    schedule = schedule_for(problem, grow=grow)
    result = train(model, residuals, problem.training, problem.domain, progress=progress, schedule=schedule)
    return make_solution(problem, model, result, residuals)
