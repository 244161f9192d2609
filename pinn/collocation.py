"""Where the collocation points are at each Adam step: redraws, and a trained window that grows from the initial point.

Causal training for initial-value problems: for ``training.growth`` Adam
steps before the ``training.adam.steps`` on the whole domain, the points cover only [t0, t0 + L (j + 1) / STAGES] in stage
j = 0 .. STAGES - 2 (mirrored when the conditions sit at the upper end), so the
solution near the initial point is right before later times count; from then
on (stage STAGES - 1), the whole domain.  The point count never changes, so no compiled step
retraces.  When the window reaches the whole domain the loss changes meaning,
and the best weights so far are forgotten (:meth:`Schedule.resets_best`).
TensorFlow-free: the training loop asks :meth:`Schedule.points` for each block.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .domain import Interval
from .problem import Problem, TrainingSpec

STAGES = 8  # windows of the growth, each (1/STAGES) of the domain longer than the last; the last is the whole domain
MIN_STAGE_STEPS = 10  # fewer Adam steps per stage than this: no growth


@dataclass(frozen=True)
class Schedule:
    """The collocation points of one run over its Adam steps."""

    domain: Interval
    count: int
    sampler: str
    resample_every: int = 0  # redraw every this many Adam steps (0: never)
    growth_steps: int = 0  # Adam steps during which the window grows (0: the whole domain from the start)
    start: Optional[float] = None  # where the window grows from: the initial point

    @property
    def growing(self) -> bool:
        return self.growth_steps > 0 and self.start is not None

    @property
    def stage_steps(self) -> int:
        return max(self.growth_steps // (STAGES - 1), 1)

    def stage(self, step: int) -> int:
        """The growth stage at Adam step ``step``: 0 .. STAGES - 2 partial windows, then STAGES - 1 (the whole domain)."""
        if not self.growing:
            return STAGES - 1
        return min(step // self.stage_steps, STAGES - 1)

    def window(self, step: int) -> Interval:
        """The part of the domain trained on at ``step``."""
        stage = self.stage(step)
        if stage >= STAGES - 1:
            return self.domain
        reach = self.domain.length * (stage + 1) / STAGES
        if self.start <= self.domain.center:
            return Interval(self.domain.low, self.domain.low + reach)
        return Interval(self.domain.high - reach, self.domain.high)

    def initial(self, rng: np.random.Generator) -> np.ndarray:
        """The points [count, 1] before the first step."""
        return self.window(0).sample(self.count, self.sampler, rng)

    def changes_at(self, step: int) -> bool:
        """Whether the points change before Adam step ``step`` (> 0): a redraw or a new growth stage."""
        if step <= 0:
            return False
        redraw = bool(self.resample_every) and step % self.resample_every == 0
        return redraw or self.stage(step) != self.stage(step - 1)

    def points(self, step: int, rng: np.random.Generator) -> np.ndarray:
        """The points for the steps from ``step`` on, when :meth:`changes_at` says they change."""
        window = self.window(step)
        redraw = bool(self.resample_every) and step % self.resample_every == 0
        if redraw:
            return window.redraw(self.count, self.sampler, rng)
        return window.sample(self.count, self.sampler, rng)

    def resets_best(self, step: int) -> bool:
        """True at the step where the window becomes the whole domain: losses before it measured less."""
        return self.growing and step > 0 and self.stage(step) == STAGES - 1 and self.stage(step - 1) < STAGES - 1

    def next_change(self, step: int, limit: int) -> int:
        """The first step after ``step`` (at most ``limit``) before which the points change."""
        candidates = [limit]
        if self.resample_every:
            candidates.append((step // self.resample_every + 1) * self.resample_every)
        if self.stage(step) < STAGES - 1:
            candidates.append((self.stage(step) + 1) * self.stage_steps)
        return min(c for c in candidates if c > step)


def schedule_for(problem: Problem, grow: Optional[bool] = None) -> Schedule:
    """The schedule ``problem.training`` asks for; the window grows only for an initial-value problem.

    ``grow`` (default: ``training.causal == "on"``) says whether to grow it;
    :func:`pinn.solver.solve` asks for growth on its second attempt under ``causal: auto``.

    The Adam phase runs ``growth_steps + training.adam.steps`` steps (:func:`adam_steps`).
    """
    spec: TrainingSpec = problem.training
    start = initial_point(problem)
    grow = spec.causal == "on" if grow is None else grow
    growth = spec.growth if grow and start is not None and spec.adam.steps > 0 else 0
    if growth < MIN_STAGE_STEPS * (STAGES - 1):
        growth = 0  # too few steps to grow
    return Schedule(problem.domain, spec.points, spec.sampler, spec.resample_every, growth, start)


def initial_point(problem: Problem) -> Optional[float]:
    """The point every condition sits at, for an initial-value problem at an end of the domain; else None."""
    if problem.kind != "ivp" or problem.data is not None:
        return None
    points = {p for c in problem.conditions for p in c.points}
    if len(points) != 1:
        return None
    (point,) = points
    return point if point in (problem.domain.low, problem.domain.high) else None


def adam_steps(spec: TrainingSpec, schedule: Optional[Schedule]) -> int:
    """All the Adam phase's steps: the growth's, then ``training.adam.steps`` on the whole domain."""
    return spec.adam.steps + (schedule.growth_steps if schedule is not None and schedule.growing else 0)


def can_grow(problem: Problem) -> bool:
    """Whether a window growing from the initial point applies to ``problem`` (an IVP with enough growth steps)."""
    return schedule_for(problem, grow=True).growing
