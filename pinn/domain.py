"""The domain of the independent variable(s): where collocation points are drawn, the output grid, input scaling.

Today one variable on an interval, :class:`Interval`; a second variable will be
a ``Rectangle`` with the same methods, so that training, the network's input
scaling, the output grid and the fresh-point checks ask the domain instead of
assuming one variable.  No TensorFlow here.

    domain = Interval(0.0, 1.0)
    domain.sample(128, "grid", rng)     # [128, 1]: collocation points
    domain.grid(501)                     # [501]: the output grid
    domain.to_unit(x)                    # x scaled to [-1, 1], as the network sees it
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Iterator

import numpy as np


def _grid(count: int, rng: np.random.Generator) -> np.ndarray:
    """Evenly spaced on [0, 1], ends included (one point: the middle)."""
    return np.linspace(0.0, 1.0, count) if count > 1 else np.array([0.5])


def _sobol(count: int, rng: np.random.Generator) -> np.ndarray:
    """A scrambled Sobol sequence on [0, 1) (scipy.stats.qmc)."""
    from scipy.stats import qmc

    return qmc.Sobol(d=1, scramble=True, seed=rng).random(count)[:, 0]


def _random(count: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform random draws on [0, 1)."""
    return rng.random(count)


#: Samplers of ``count`` points on the unit interval: name -> function(count, rng).
SAMPLERS: Dict[str, Callable[[int, np.random.Generator], np.ndarray]] = {"grid": _grid, "sobol": _sobol, "random": _random}
#: What a sampler is replaced by when points are redrawn during training (a grid redrawn is the same grid).
REDRAW = {"grid": "random", "sobol": "sobol", "random": "random"}


@dataclass(frozen=True, eq=False)
class Interval:
    """The interval [low, high] of one independent variable; equal to the pair (low, high)."""

    low: float
    high: float

    dimension = 1  # independent variables

    def __eq__(self, other) -> bool:
        if isinstance(other, (Interval, tuple, list)):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.low, self.high))

    @property
    def length(self) -> float:
        return self.high - self.low

    @property
    def center(self) -> float:
        return (self.low + self.high) / 2.0

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0

    def __iter__(self) -> Iterator[float]:  # ``low, high = domain`` reads as it did when the domain was a pair
        yield self.low
        yield self.high

    def __getitem__(self, index: int) -> float:
        return (self.low, self.high)[index]

    def __len__(self) -> int:
        return 2

    def sample(self, count: int, sampler: str, rng: np.random.Generator) -> np.ndarray:
        """``count`` points [count, 1] in the interval, sorted: x = low + (high - low) u, u from ``SAMPLERS[sampler]``."""
        try:
            draw = SAMPLERS[sampler]
        except KeyError:
            raise ValueError(f"unknown sampler {sampler!r}; use one of {', '.join(SAMPLERS)}") from None
        return (self.low + (self.high - self.low) * np.sort(draw(count, rng))).reshape(-1, 1)

    def redraw(self, count: int, sampler: str, rng: np.random.Generator) -> np.ndarray:
        """Fresh collocation points during training: :meth:`sample` with ``REDRAW[sampler]``."""
        return self.sample(count, REDRAW[sampler], rng)

    def grid(self, points: int) -> np.ndarray:
        """The output grid [points]: evenly spaced, ends included."""
        return np.linspace(self.low, self.high, points)

    def between(self, points: int) -> np.ndarray:
        """The midpoints [points - 1, 1] of the output grid: points no grid training used, for fresh checks."""
        x = self.grid(points)
        return ((x[1:] + x[:-1]) / 2).reshape(-1, 1)

    def fresh(self, count: int) -> np.ndarray:
        """``count`` checking points [count, 1], sorted: both ends, and low + (high - low) frac(k / phi) between.

        The golden-ratio sequence fills the interval evenly at every length and
        never lands on a grid, Sobol or output point, so the points sit between
        and beside any set training used.
        """
        inner = (np.arange(1, max(count - 2, 0) + 1) * 0.6180339887498949) % 1.0
        unit = np.sort(np.concatenate([[0.0, 1.0], inner]))
        return (self.low + (self.high - self.low) * unit).reshape(-1, 1)

    def to_unit(self, x):
        """x scaled to [-1, 1]: (x - center) / half_width (numpy or TensorFlow)."""
        return (x - self.center) / self.half_width

    def __str__(self) -> str:
        return f"[{self.low:g}, {self.high:g}]"


def _unit_square_sequence(count: int) -> np.ndarray:
    """``count`` points [count, 2] of the R2 sequence (Roberts' plastic-number lattice) on [0, 1)^2.

    Like the golden-ratio sequence in one variable: even at every length, and never on a grid, Sobol or output point.
    """
    g = 1.324717957244746  # the plastic number: g^3 = g + 1
    k = np.arange(1, count + 1)[:, None]
    return (0.5 + k * np.array([1.0 / g, 1.0 / g ** 2])) % 1.0


@dataclass(frozen=True)
class Rectangle:
    """The rectangle [a, b] x [c, d] of two independent variables, in the order of ``variables:``.

    Interior points for the equations, points on a line (one variable held, the
    other free) for the conditions, the output grid and fresh checking points.
    """

    variables: tuple  # (name, name)
    intervals: tuple  # (Interval, Interval)

    dimension = 2

    def interval(self, variable: str) -> Interval:
        return self.intervals[self.variables.index(variable)]

    @property
    def lows(self) -> np.ndarray:
        return np.array([i.low for i in self.intervals])

    @property
    def highs(self) -> np.ndarray:
        return np.array([i.high for i in self.intervals])

    @property
    def center(self) -> np.ndarray:
        return (self.lows + self.highs) / 2.0

    @property
    def half_width(self) -> np.ndarray:
        return (self.highs - self.lows) / 2.0

    def contains(self, variable: str, value: float, slack: float = 1e-12) -> bool:
        interval = self.interval(variable)
        return interval.low - slack * max(1.0, abs(interval.low)) <= value <= interval.high + slack * max(1.0, abs(interval.high))

    def sample(self, count: int, sampler: str, rng: np.random.Generator) -> np.ndarray:
        """``count`` interior points [count, 2]: a grid of about sqrt(count) per side scaled to the aspect, Sobol or random."""
        if sampler == "grid":
            per_side = max(2, int(round(np.sqrt(count))))
            a = np.linspace(0.0, 1.0, per_side)
            unit = np.stack(np.meshgrid(a, a, indexing="ij"), axis=-1).reshape(-1, 2)
        elif sampler == "sobol":
            from scipy.stats import qmc

            unit = qmc.Sobol(d=2, scramble=True, seed=rng).random(count)
        elif sampler == "random":
            unit = rng.random((count, 2))
        else:
            raise ValueError(f"unknown sampler {sampler!r}; use one of {', '.join(SAMPLERS)}")
        return self.lows + (self.highs - self.lows) * unit

    def redraw(self, count: int, sampler: str, rng: np.random.Generator) -> np.ndarray:
        return self.sample(count, REDRAW[sampler], rng)

    def line(self, fixed: dict, count: int) -> np.ndarray:
        """``count`` points [count, 2] evenly along the line where the variables in ``fixed`` are held (ends included);
        one point if both are held (a corner or a point)."""
        columns = []
        for variable, interval in zip(self.variables, self.intervals):
            if variable in fixed:
                columns.append(np.full(count if len(fixed) < 2 else 1, float(fixed[variable])))
            else:
                columns.append(interval.grid(count))
        return np.stack(columns, axis=1)

    def grid(self, points) -> tuple:
        """The output grid: one evenly spaced array per variable (``points`` per variable)."""
        return tuple(interval.grid(int(n)) for interval, n in zip(self.intervals, points))

    def mesh(self, points) -> np.ndarray:
        """The output grid as points [n1 * n2, 2], the first variable slowest (long form, as solution.csv)."""
        first, second = self.grid(points)
        a, b = np.meshgrid(first, second, indexing="ij")
        return np.stack([a.ravel(), b.ravel()], axis=1)

    def fresh(self, count: int) -> np.ndarray:
        """``count`` checking points [count, 2] of the R2 sequence: between and beside any set training used."""
        return self.lows + (self.highs - self.lows) * _unit_square_sequence(count)

    def to_unit(self, points):
        """Each column scaled to [-1, 1] (numpy or TensorFlow)."""
        return (points - self.center) / self.half_width

    def __str__(self) -> str:
        return " x ".join(f"{v} in {i}" for v, i in zip(self.variables, self.intervals))
