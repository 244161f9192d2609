"""The composition root: Problem -> residuals and network -> training -> Solution."""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Union


from .assembly import build_model, make_solution, split_for_training  # noqa: F401  (pinn.solver.build_model, as always)
from .problem import Problem
from .solution import Solution


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

    if getattr(problem, "dimension", 1) == 2:  # two variables: pinn.pde
        from .pde.solve import solve_field

        return solve_field(problem, seed=seed, progress=progress)
    ensure_tensorflow()
    if seed is not None:
        problem = dataclasses.replace(problem, training=dataclasses.replace(problem.training, seed=int(seed)))
    with progress_reporter(progress) as report:
        return _solve_with_retry(problem, report)


def _solve_with_retry(problem: Problem, progress: Optional[Callable]) -> Solution:
    """Train and check once, then repair a failed initial-value problem: a causal retry, then a march of windows.

    Explicit ``training.windows`` march at once (:mod:`pinn.windows`).  Under
    auto, an initial-value problem that fails its check is trained once more
    with the window growing from t0 (``training.causal: auto``; it repairs
    the growth problems and short arcs that one network can hold, in one
    more solve), and if that fails too, or cannot grow, it is marched in
    windows when it can be (:func:`pinn.windows.marches`).  Each failed
    attempt is kept in ``Solution.attempts``.
    """
    from .collocation import can_grow
    from .subdomains import boundaries as subdomain_boundaries, solve_subdomains
    from .windows import explicit_boundaries, march, marches

    if explicit_boundaries(problem) is not None:
        return march(problem, progress)
    if subdomain_boundaries(problem) is not None:
        return solve_subdomains(problem, progress)
    causal = problem.training.causal == "auto" and can_grow(problem)
    by_windows = problem.training.windows == "auto" and marches(problem)
    first_try = dataclasses.replace(problem, training=dataclasses.replace(problem.training, refine=0.0)) if causal or by_windows else problem
    solution = _train_and_check(first_try, progress, grow=None)
    attempts = []
    if causal and solution.status.value == "check_failed":
        attempts.append(_attempt(solution, "causal"))
        solution = dataclasses.replace(_train_and_check(problem, progress, grow=True), attempts=tuple(attempts))
    if by_windows and solution.status.value == "check_failed":
        attempts.append(_attempt(solution, "windows"))
        return march(problem, progress, earlier=tuple(attempts))
    return dataclasses.replace(solution, problem=problem)


def _attempt(solution: Solution, repair: str) -> dict:
    """A failed attempt as Solution.attempts keeps it, with the repair tried after it."""
    return {"causal": bool(solution.attempts), "status": solution.status.value, "message": solution.message,
            "train_seconds": solution.training.train_seconds, "steps": solution.training.summary(), "repair": repair}


def _train_and_check(problem: Problem, progress, grow: Optional[bool]) -> Solution:
    """Build, train (the window growing from t0 if ``grow``; None: as training.causal says) and check."""
    from .collocation import schedule_for
    from .training import train

    model, residuals = build_model(problem)
    schedule = schedule_for(problem, grow=grow)
    result = train(model, residuals, problem.training, problem.domain, progress=progress, schedule=schedule)
    return make_solution(problem, model, result, residuals)
