"""The composition root: Problem -> residuals and network -> training -> Solution."""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

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


def make_solution(problem: Problem, model, training, residuals=None) -> Solution:
    """Evaluate the trained model on the output grid and freeze the result.

    With ``residuals``, also the RMS residual of each equation at fresh points
    (the midpoints of the output grid, which training never saw).
    """
    import tensorflow as tf

    x = problem.domain.grid(problem.output.points)
    orders = problem.reported_orders
    everything = evaluate_model(model, problem.unknowns, x, max(orders.values(), default=0))
    values = {u: everything[u][: orders[u] + 1] for u in problem.unknowns}
    parameters = {p.name: p.value for p in problem.parameters}
    parameters.update({name: float(v.numpy()) for name, v in model.parameters.items()})
    rms = {}
    if residuals is not None and residuals.equations:
        fresh = tf.constant(problem.domain.between(problem.output.points), dtype=model.dtype)
        rms = {name: float(np.sqrt(np.mean(r**2))) for name, r in residuals.equation_residuals(model, fresh).items()}
    return Solution(problem=problem, x=x, values=values, parameters=parameters, training=training, model=model,
                    equation_residuals=rms)


def solve(problem: Problem, *, seed: Optional[int] = None, progress: Optional[Callable] = None) -> Solution:
    """Solve ``problem`` with a physics-informed network and return the :class:`Solution`.

    ``seed`` overrides ``problem.training.seed``; ``progress`` is called with a
    :class:`pinn.training.Progress` after each block of steps.
    """
    from .training import train

    if seed is not None:
        problem = dataclasses.replace(problem, training=dataclasses.replace(problem.training, seed=int(seed)))
    model, residuals = build_model(problem)
    result = train(model, residuals, problem.training, problem.domain, progress=progress)
    return make_solution(problem, model, result, residuals)
