"""A reference solution on the output grid, with its own accuracy: what the method-of-lines and the
finite-difference references return, and what a closed form becomes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np


@dataclass(frozen=True, eq=False)
class GridReference:
    label: str            # e.g. "method of lines: Chebyshev 64 and 128 points in x, scipy Radau in t"
    values: Mapping[str, np.ndarray]   # unknown -> array [n_first, n_second] on the requested grid (axes in problem.variables order)
    accuracy: float       # max over unknowns of the relative L2 difference between the two finest resolutions, on the grid
    success: bool
    message: str          # why it failed, or how it converged
    seconds: float
