"""The model and the Solution of one problem: building the trial solution and residuals, and freezing the trained result.

:func:`build_model` and :func:`make_solution` are the two ends of one
training, shared by :mod:`pinn.solver` (one network), :mod:`pinn.windows`
(one network per window) and :mod:`pinn.saved` (reloading).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Optional

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
                  provenance: Optional[Mapping[str, object]] = None, training_points=None) -> Solution:
    """Evaluate the trained model on the output grid, check it, and freeze the result.

    With ``check`` (the default) the solution checks itself
    (:mod:`pinn.verification`): each equation's residual at fresh points
    (needs ``residuals``), each condition, the error against the
    problem's reference, computed here, and each learned parameter against
    its true value, if given; ``Solution.verification`` holds the
    checks and ``Solution.status`` is CHECK_FAILED when one fails.
    ``provenance`` (default: made now, :mod:`pinn.provenance`) says where and
    with what it ran; ``training_points`` [N, 1] (default: drawn as training
    drew them) are what the fresh points' residuals are compared with.
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

    measurements = measure(problem, model, residuals, training_points)
    reference = reference_solution(problem, x)
    verification = verify(problem, measurements, x, values, reference, parameters)
    rms = {e.name: e.fresh_rms for e in measurements.equations}
    return dataclasses.replace(solution, equation_residuals=rms, verification=verification, reference=reference)
