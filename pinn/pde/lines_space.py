"""Space discretisations of the method of lines: Chebyshev collocation, Fourier (periodic) and uniform
finite differences of :data:`DIFFERENCE_ACCURACY` order, each a differentiation matrix per derivative order.
"""

from __future__ import annotations

import math
from typing import Dict, Optional

import numpy as np
import scipy.sparse as sparse
from scipy.interpolate import make_interp_spline

#: Order of accuracy of the finite-difference stencils.
DIFFERENCE_ACCURACY = 4


class Chebyshev:
    """Chebyshev collocation on [low, high]: points low + (high - low)(1 - cos(pi j / n)) / 2, ascending."""

    periodic = False
    name = "Chebyshev"

    def __init__(self, points: int, low: float, high: float):
        n = points - 1
        unit = -np.cos(np.pi * np.arange(points) / n)  # ascending on [-1, 1]
        self.nodes = low + (high - low) * (unit + 1.0) / 2.0
        self.points = points
        self.matrices = {1: _chebyshev_matrix(unit) * (2.0 / (high - low))}
        self.weights = np.where(np.arange(points) % 2 == 0, 1.0, -1.0)
        self.weights[[0, -1]] *= 0.5

    def matrix(self, order: int) -> np.ndarray:
        """D^order, the dense differentiation matrix of that order."""
        if order not in self.matrices:
            self.matrices[order] = self.matrix(order - 1) @ self.matrices[1]
        return self.matrices[order]

    def derivative(self, values: np.ndarray, order: int) -> np.ndarray:
        return values if order == 0 else self.matrix(order) @ values

    def row(self, index: int, order: int) -> np.ndarray:
        return np.eye(self.points)[index] if order == 0 else self.matrix(order)[index]

    def interpolate(self, values: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Barycentric interpolation of values [points, m] at x: sum w_j f_j/(x - x_j) / sum w_j/(x - x_j)."""
        difference = x[:, None] - self.nodes[None, :]
        exact = np.isclose(difference, 0.0, atol=1e-14 * (1.0 + np.abs(x[:, None])))
        difference[exact] = 1.0
        kernel = self.weights[None, :] / difference
        out = (kernel @ values) / kernel.sum(axis=1, keepdims=True)
        rows, cols = np.nonzero(exact)
        out[rows] = values[cols]
        return out

    def sparsity(self, reach: int) -> Optional[np.ndarray]:
        return None


def _chebyshev_matrix(unit: np.ndarray) -> np.ndarray:
    """The first-derivative matrix on Chebyshev points (Trefethen, Spectral Methods in MATLAB, cheb), any order of points."""
    n = len(unit) - 1
    c = np.ones(n + 1)
    c[[0, -1]] = 2.0
    c *= (-1.0) ** np.arange(n + 1)
    difference = unit[:, None] - unit[None, :]
    matrix = np.outer(c, 1.0 / c) / (difference + np.eye(n + 1))
    return matrix - np.diag(matrix.sum(axis=1))


class Fourier:
    """Fourier pseudo-spectral on the period [low, high): uniform points, derivatives by FFT."""

    periodic = True
    name = "Fourier"

    def __init__(self, points: int, low: float, high: float):
        self.points, self.low, self.period = points, low, high - low
        self.nodes = low + self.period * np.arange(points) / points
        self.wavenumbers = 2.0 * np.pi / self.period * np.arange(points // 2 + 1)

    def derivative(self, values: np.ndarray, order: int) -> np.ndarray:
        """d^order/dx^order by FFT: (i k)^order times the coefficients, the Nyquist mode dropped for odd orders."""
        if order == 0:
            return values
        factor = (1j * self.wavenumbers) ** order
        if order % 2 and self.points % 2 == 0:
            factor[-1] = 0.0
        return np.fft.irfft(factor * np.fft.rfft(values), n=self.points)

    def interpolate(self, values: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The trigonometric interpolant of values [points, m] at x (the Nyquist mode as a cosine)."""
        coefficients = np.fft.rfft(values, axis=0) / self.points
        factor = np.full(len(self.wavenumbers), 2.0)
        factor[0] = 1.0
        if self.points % 2 == 0:
            factor[-1] = 1.0
        out = np.empty((len(x), values.shape[1]))
        for start in range(0, len(x), 512):
            phase = np.exp(1j * np.outer(x[start:start + 512] - self.low, self.wavenumbers))
            out[start:start + 512] = np.real((phase * factor) @ coefficients)
        return out

    def sparsity(self, reach: int) -> Optional[np.ndarray]:
        return None


class FiniteDifferences:
    """Uniform finite differences of :data:`DIFFERENCE_ACCURACY`-th order: centred inside, one-sided near the ends
    (or wrapping round when periodic)."""

    name = "finite differences"

    def __init__(self, points: int, low: float, high: float, periodic: bool):
        self.points, self.periodic = points, periodic
        self.spacing = (high - low) / (points if periodic else points - 1)
        self.nodes = low + self.spacing * np.arange(points)
        self.low, self.high = low, high
        self.matrices: Dict[int, sparse.csr_matrix] = {}

    def matrix(self, order: int) -> sparse.csr_matrix:
        if order not in self.matrices:
            self.matrices[order] = _difference_matrix(self.points, order, self.spacing, self.periodic)
        return self.matrices[order]

    def derivative(self, values: np.ndarray, order: int) -> np.ndarray:
        return values if order == 0 else self.matrix(order) @ values

    def row(self, index: int, order: int) -> np.ndarray:
        return np.eye(self.points)[index] if order == 0 else self.matrix(order)[[index]].toarray()[0]

    def interpolate(self, values: np.ndarray, x: np.ndarray) -> np.ndarray:
        """A quintic interpolating spline through the points (periodic when the grid is)."""
        if self.periodic:
            nodes = np.append(self.nodes, self.high)
            spline = make_interp_spline(nodes, np.vstack([values, values[:1]]), k=5, bc_type="periodic")
            return spline(self.low + np.mod(x - self.low, self.high - self.low))
        return make_interp_spline(self.nodes, values, k=5)(x)

    def sparsity(self, reach: int) -> sparse.csr_matrix:
        """Which points' values each point's right-hand side may depend on: within ``reach`` (cyclically when periodic),
        and, with ends, the first and last 2 * reach points among themselves (the boundary conditions couple them)."""
        pattern = _band(self.points, reach, self.periodic).tolil()
        if not self.periodic:
            corner = min(2 * reach, self.points)
            pattern[:corner, :corner] = True
            pattern[-corner:, -corner:] = True
        return pattern.tocsr()


def _stencil_weights(offsets: np.ndarray, order: int) -> np.ndarray:
    """Weights w with sum_j w_j f(x + h offsets_j) = h^order f^(order)(x) + O(h^len): the Taylor (Vandermonde) system."""
    size = len(offsets)
    vandermonde = np.array([offsets ** k / math.factorial(k) for k in range(size)])
    rhs = np.zeros(size)
    rhs[order] = 1.0
    return np.linalg.solve(vandermonde, rhs)


def _difference_matrix(points: int, order: int, spacing: float, periodic: bool) -> sparse.csr_matrix:
    """The sparse d^order/dx^order matrix: centred stencils, one-sided ones of order + accuracy points near the ends."""
    half = (order + 1) // 2 + (DIFFERENCE_ACCURACY - 1) // 2
    centred = np.arange(-half, half + 1)
    centred_weights = _stencil_weights(centred.astype(float), order)
    rows, cols, data = [], [], []
    if periodic:
        for i in range(points):
            rows += [i] * len(centred)
            cols += list((i + centred) % points)
            data += list(centred_weights)
    else:
        size = order + DIFFERENCE_ACCURACY
        for i in range(points):
            if half <= i < points - half:
                stencil, weights = i + centred, centred_weights
            else:
                first = 0 if i < half else points - size
                stencil = np.arange(first, first + size)
                weights = _stencil_weights((stencil - i).astype(float), order)
            rows += [i] * len(stencil)
            cols += list(stencil)
            data += list(weights)
    matrix = sparse.csr_matrix((np.array(data) / spacing ** order, (rows, cols)), shape=(points, points))
    return matrix


def _band(points: int, reach: int, periodic: bool) -> sparse.csr_matrix:
    """The boolean pattern of points within ``reach`` of each other (cyclically when periodic)."""
    offsets = list(range(-reach, reach + 1))
    if periodic:
        offsets += [d - points for d in range(1, reach + 1)] + [points - d for d in range(1, reach + 1)]
    offsets = sorted({d for d in offsets if -points < d < points})
    return sparse.diags([np.ones(points - abs(d)) for d in offsets], offsets, shape=(points, points), format="csr").astype(bool)


