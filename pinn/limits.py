"""Closed forms where they are undefined as written: a removable singularity (``sin(x)/x`` at 0) is taken as its limit.

An exact solution such as y = sin(x)/x is 0/0 at x = 0, and so are its
symbolic derivatives; evaluated there, numpy gives NaN.  :class:`ClosedForms`
evaluates each unknown's closed form and derivatives (rows k = 0, 1, ...) and,
at every point p where a row is not finite, approaches p from both sides at
offsets h = base * 10^(-j/2), j = 2 ... 18 (base = max(length of the domain, |p|)):

    symmetric     m(h) = (f(p + h) + f(p - h)) / 2 = L + c h^2 + ...,   extrapolated (Richardson) in h^2
    one-sided     f(p + h) and f(p - h),                               each extrapolated in h

Each extrapolated sequence is read where two successive values agree best;
that difference is its uncertainty.  The row's value at p is the symmetric
limit when

* each side converges: its uncertainty is at most ``SIDES`` times the row's scale,
* the two sides agree: their limits differ by at most ``SIDES`` times the scale,
* the symmetric limit is precise: its uncertainty is at most ``PRECISION`` times the scale,

the scale being the largest of |f(p +- base/10)| and the limits found (so a
pole, a jump or a logarithm, which never settle, is not mistaken for a
limit).  Otherwise the entry stays NaN: it is *left out* of the errors, and
the report says so.  A point where the closed form is undefined on one side
(``x*log(x)`` at 0, ``sqrt(x)`` left of 0) is left out too.  numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Mapping, Sequence, Tuple

import numpy as np

#: Offsets, as fractions of max(domain length, |p|): 10^-1 down to 10^-9, in steps of sqrt(10).
OFFSETS = 10.0 ** -np.arange(1.0, 9.01, 0.5)
RATIO = float(np.sqrt(10.0))  # between successive offsets
SIDES = 1e-3  # each side's convergence, and the agreement of the two sides, relative to the scale
PRECISION = 1e-6  # the symmetric limit's uncertainty, relative to the scale

Rows = Dict[str, np.ndarray]  # {unknown: [rows, points]}


@dataclass(frozen=True)
class Evaluated:
    """Values of the closed forms, which entries are limits, and which stay undefined (left out)."""

    values: Rows  # {u: [rows, n]}: NaN where left out
    limits: Dict[str, np.ndarray]  # {u: bool [rows, n]}: the entry is the two-sided limit

    def left_out(self) -> Dict[str, np.ndarray]:
        """{u: bool [rows, n]}: the entries that are undefined and have no limit."""
        return {u: ~np.isfinite(v) for u, v in self.values.items()}


class ClosedForms:
    """Closed forms by unknown, as a function ``raw(points) -> {u: [rows, n]}``, with their singular points filled in."""

    def __init__(self, raw: Callable[[np.ndarray], Rows], length: float):
        self.raw = raw
        self.length = float(length)

    def __call__(self, points) -> Rows:
        return self.evaluate(points).values

    def limit_points(self, points) -> Dict[str, np.ndarray]:
        """{u: bool [rows, n]}: which entries at ``points`` are limits."""
        return self.evaluate(points).limits

    def evaluate(self, points) -> Evaluated:
        """The closed forms at ``points``; each entry that is not finite is its limit, or NaN (left out)."""
        points = np.asarray(points, dtype=float).reshape(-1)
        values = {u: np.array(v, dtype=float) for u, v in self.raw(points).items()}
        limits = {u: np.zeros(v.shape, dtype=bool) for u, v in values.items()}
        singular = np.flatnonzero(np.any([np.any(~np.isfinite(v), axis=0) for v in values.values()], axis=0)) if values else []
        if len(singular) == 0:
            return Evaluated(values, limits)
        at = points[singular]
        base = np.maximum(self.length, np.abs(at))[:, None] * OFFSETS[None, :]  # [s, J]
        plus, minus = self.raw((at[:, None] + base).reshape(-1)), self.raw((at[:, None] - base).reshape(-1))
        for u, v in values.items():
            shape = (v.shape[0], len(singular), len(OFFSETS))
            found, ok = two_sided_limits(plus[u].reshape(shape), minus[u].reshape(shape))
            columns = v[:, singular]
            fill = ~np.isfinite(columns)
            columns[fill] = np.where(ok, found, np.nan)[fill]
            v[:, singular] = columns
            limits[u][:, singular] = fill & ok
        return Evaluated(values, limits)


def two_sided_limits(plus: np.ndarray, minus: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(limit, found) of f at p from f(p + h_j) and f(p - h_j), [..., J] along decreasing offsets; found is boolean."""
    with np.errstate(all="ignore"):
        symmetric, symmetric_uncertainty = _extrapolated((plus + minus) / 2, 2)
        right, right_uncertainty = _extrapolated(plus, 1)
        left, left_uncertainty = _extrapolated(minus, 1)
        scale = np.nanmax(np.abs(np.stack([plus[..., 0], minus[..., 0], right, left, symmetric])), axis=0)
        scale = np.where(np.isfinite(scale), scale, np.inf)
        found = (np.isfinite(symmetric) & np.isfinite(right) & np.isfinite(left)
                 & (right_uncertainty <= SIDES * scale) & (left_uncertainty <= SIDES * scale)
                 & (np.abs(right - left) <= SIDES * scale) & (symmetric_uncertainty <= PRECISION * scale))
    return np.where(found, symmetric, np.nan), found


def _extrapolated(sequence: np.ndarray, power: int) -> Tuple[np.ndarray, np.ndarray]:
    """Richardson in h^power over [..., J]: (the value where successive estimates agree best, their difference)."""
    factor = RATIO**power
    estimates = (factor * sequence[..., 1:] - sequence[..., :-1]) / (factor - 1.0)
    changes = np.abs(np.diff(estimates, axis=-1))
    changes = np.where(np.isfinite(changes), changes, np.inf)
    best = np.argmin(changes, axis=-1)[..., None]
    return np.take_along_axis(estimates, best + 1, axis=-1)[..., 0], np.take_along_axis(changes, best, axis=-1)[..., 0]


@dataclass(frozen=True)
class SingularPoints:
    """Where a closed form was undefined on a grid: the points taken as limits and those left out."""

    limit_at: Tuple[float, ...]
    left_out_at: Tuple[float, ...]
    points: int  # of the grid
    variable: str = "x"

    def __bool__(self) -> bool:
        return bool(self.limit_at or self.left_out_at)

    @property
    def note(self) -> str:
        """One sentence for the closing table and metrics.json."""
        parts = []
        if self.limit_at:
            parts.append(f"undefined as written at {_where(self.limit_at, self.points, self.variable)}: evaluated there "
                         "as the limit of the two sides, which agree")
        if self.left_out_at:
            parts.append(f"undefined with no two-sided limit at {_where(self.left_out_at, self.points, self.variable)}: "
                         "left out of the errors there")
        return "the closed form is " + "; ".join(parts)

    def as_dict(self) -> Dict[str, object]:
        return {"limit": len(self.limit_at), "left_out": len(self.left_out_at), "limit_at": list(self.limit_at[:20]),
                "left_out_at": list(self.left_out_at[:20]), "note": self.note}


def singular_points(x, limits: Mapping[str, np.ndarray], values: Mapping[str, np.ndarray], variable: str = "x") -> SingularPoints:
    """The grid points where some row of some unknown is a limit, and where one is left out (non-finite)."""
    x = np.asarray(x, dtype=float).reshape(-1)
    by_limit = np.zeros(x.shape, dtype=bool)
    left_out = np.zeros(x.shape, dtype=bool)
    for u, v in values.items():
        left_out |= np.any(~np.isfinite(np.asarray(v, dtype=float)), axis=0)
        if u in limits:
            by_limit |= np.any(limits[u], axis=0)
    return SingularPoints(tuple(float(p) for p in x[by_limit & ~left_out]), tuple(float(p) for p in x[left_out]), len(x), variable)


def _where(at: Sequence[float], points: int, variable: str) -> str:
    shown = ", ".join(f"{p:.6g}" for p in at[:5]) + (", ..." if len(at) > 5 else "")
    return f"{len(at)} of {points} points ({variable} = {shown})"
