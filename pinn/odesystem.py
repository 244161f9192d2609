"""A problem's equations as a first-order system, for scipy's integrators (numpy only).

The state holds, for each unknown u of order m (the highest derivative the
equations use), ``[u, u', ..., u^(m-1)]``.  The equations are solved for the
highest derivatives ``z = [u^(m) for u]`` at every evaluation, by Newton's
method on ``F(x, state, z) = 0`` with the Jacobian dF/dz differentiated
symbolically; equations linear in z take one exact step, others a damped
Newton iteration started from a guess (the previous solution).  An unknown
that appears undifferentiated (m = 0) is solved for algebraically the same way.
"""

from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from . import calculus
from . import expressions as ex
from .problem import Problem

_HIGHEST = "__highest_{}"


class HighestDerivativeError(ArithmeticError):
    """The equations could not be solved for the highest derivatives at some point."""


def _replace_highest(node, orders: Mapping[str, int]):
    """The tree with u^(orders[u]) (``u`` itself when the order is 0) replaced by a placeholder name."""
    def placeholder(inner):
        if isinstance(inner, ex.Derivative) and inner.order == orders.get(inner.unknown, -1):
            return ex.Name(_HIGHEST.format(inner.unknown))
        if isinstance(inner, ex.Name) and orders.get(inner.name, -1) == 0:
            return ex.Name(_HIGHEST.format(inner.name))
        return None

    return ex.rewrite(node, placeholder)


def _rows(value, count: int) -> np.ndarray:
    if isinstance(value, np.ndarray) and value.shape == (count,):
        return value
    return np.broadcast_to(np.asarray(value, dtype=float), (count,))


def derivative_name(unknown: str, order: int) -> str:
    return unknown + "'" * order


class FirstOrderSystem:
    """The equations of ``problem`` reduced to first order, constants substituted.

    ``constants`` gives every fixed name's value; ``free`` names parameters
    left as unknowns (their values are passed as ``p`` to each method).
    """

    def __init__(self, problem: Problem, constants: Mapping[str, float], free: Sequence[str] = ()):
        self.variable = problem.variable
        self.unknowns = tuple(problem.unknowns)
        self.orders = dict(problem.orders)
        self.free = tuple(free)
        self.domain = problem.domain
        self.offsets: Dict[str, int] = {}
        offset = 0
        for u in self.unknowns:
            self.offsets[u] = offset
            offset += self.orders[u]
        self.size = offset
        self.placeholders = tuple(_HIGHEST.format(u) for u in self.unknowns)
        self.residuals = tuple(_replace_highest(ex.substitute(e.residual, constants), self.orders) for e in problem.equations)
        self.jacobian = tuple(tuple(calculus.differentiate(r, z) for z in self.placeholders) for r in self.residuals)
        self.linear = not any(calculus.depends_on(entry, self.placeholders) for row in self.jacobian for entry in row)
        self.conditions = tuple(ex.substitute(c.residual, constants) for c in problem.conditions)
        self.condition_sources = tuple(c.source for c in problem.conditions)
        points = []
        for condition, source in zip(self.conditions, self.condition_sources):
            for node in ex.walk(condition):
                if isinstance(node, ex.PointValue):
                    if node.order > self.orders[node.unknown]:
                        raise ValueError(
                            f"the condition {source!r} uses {derivative_name(node.unknown, node.order)}, but the equations "
                            f"determine {node.unknown} only up to order {self.orders[node.unknown]}")
                    points.append(node.point.value)
        self.condition_points = tuple(sorted(set(points)))

    # ------------------------------------------------------------------ scopes

    def scope(self, x: np.ndarray, state: np.ndarray, highest: Optional[np.ndarray], p: Sequence[float]) -> dict:
        """Names for :func:`expressions.evaluate`: x [k], state [size, k], highest [U, k], p [free]."""
        scope = {self.variable: x}
        scope.update(zip(self.free, (np.float64(v) for v in p)))
        for u in self.unknowns:
            start = self.offsets[u]
            for order in range(self.orders[u]):
                scope[(u, order)] = state[start + order]
            if self.orders[u] > 0:
                scope[u] = state[start]
        if highest is not None:
            scope.update(zip(self.placeholders, highest))
        return scope

    def equation_residuals(self, x, state, highest, p=()) -> np.ndarray:
        """F(x, state, highest) [U, k]: each equation's residual at the points x [k]."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        return self._residuals(self.scope(x, np.asarray(state, dtype=float), np.asarray(highest, dtype=float), p), x.shape[0])

    def _residuals(self, scope: dict, count: int) -> np.ndarray:
        return np.stack([_rows(ex.evaluate(r, scope, calculus.CALCULUS_FUNCTIONS), count) for r in self.residuals])

    def _jacobian(self, scope: dict, count: int) -> np.ndarray:
        """dF/dz as [k, U, U]."""
        if len(self.residuals) == 1:
            return _rows(ex.evaluate(self.jacobian[0][0], scope, calculus.CALCULUS_FUNCTIONS), count).reshape(count, 1, 1)
        rows = [[_rows(ex.evaluate(e, scope, calculus.CALCULUS_FUNCTIONS), count) for e in row] for row in self.jacobian]
        return np.moveaxis(np.array(rows), -1, 0)

    # ------------------------------------------------------------------ Newton

    def highest(self, x, state, p=(), guess=None) -> np.ndarray:
        """z [U, k] with F(x, state, z) = 0: the highest derivatives at the points x [k]."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        state = np.asarray(state, dtype=float).reshape(self.size, x.shape[0])
        count, width = x.shape[0], len(self.unknowns)
        z = np.zeros((width, count)) if guess is None else np.array(np.broadcast_to(guess, (width, count)), dtype=float)
        scope = self.scope(x, state, z, p)
        with np.errstate(all="ignore"):
            if self.linear:
                z = np.zeros((width, count))
                scope.update(zip(self.placeholders, z))
                z = -_solve(self._jacobian(scope, count), self._residuals(scope, count))
                if not np.all(np.isfinite(z)):
                    self._fail(x, ~np.all(np.isfinite(z), axis=0), "the derivative of the equations with respect to them vanishes", state)
                return z
            return self._newton(x, state, scope, z, count)

    def _newton(self, x, state, scope, z, count) -> np.ndarray:
        def residual(values):
            scope.update(zip(self.placeholders, values))
            return self._residuals(scope, count)

        converged = np.zeros(count, dtype=bool)
        for _ in range(60):
            value = residual(z)
            norm = np.max(np.abs(value), axis=0)
            step = _solve(self._jacobian(scope, count), value)
            stuck = ~np.all(np.isfinite(step), axis=0)
            step[:, stuck] = -1.0  # a flat spot: move off it
            t = np.ones(count)
            accepted = np.zeros(count, dtype=bool) | stuck | (norm == 0)
            trial = z - t * step
            for _ in range(40):
                trial_norm = np.max(np.abs(residual(trial)), axis=0)
                accepted |= trial_norm <= (1 - 1e-4 * t) * norm
                if accepted.all():
                    break
                t = np.where(accepted, t, t / 2)
                trial = z - t * step
            change = np.max(np.abs(trial - z), axis=0)
            z = trial
            converged = ~stuck & (change <= 1e-13 * (1 + np.max(np.abs(z), axis=0)))
            if converged.all():
                break
        final = np.max(np.abs(residual(z)), axis=0)
        bad = ~np.isfinite(final) | (~converged & (final > 1e-10 * (1 + np.max(np.abs(z), axis=0))))
        if bad.any():
            self._fail(x, bad, "Newton's method did not converge (is there a real solution?)", state)
        return z

    def _fail(self, x, bad, why: str, state=None):
        names = ", ".join(derivative_name(u, self.orders[u]) for u in self.unknowns)
        if state is not None and not np.all(np.isfinite(state[:, bad])):
            where = x[bad & ~np.all(np.isfinite(state), axis=0)][0]
            raise HighestDerivativeError(f"the solution is not finite at {self.variable} = {where:.6g} (does it blow up there?)")
        raise HighestDerivativeError(f"the equations could not be solved for {names} at {self.variable} = {x[bad][0]:.6g}: {why}")

    # ------------------------------------------------------------------ system

    def rhs(self, x, state, p=(), guess=None) -> Tuple[np.ndarray, np.ndarray]:
        """(d state / dx [size, k], highest [U, k]) at the points x [k]."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        state = np.asarray(state, dtype=float).reshape(self.size, x.shape[0])
        z = self.highest(x, state, p, guess)
        slope = np.empty_like(state)
        for i, u in enumerate(self.unknowns):
            start, order = self.offsets[u], self.orders[u]
            if order:
                slope[start : start + order - 1] = state[start + 1 : start + order]
                slope[start + order - 1] = z[i]
        return slope, z

    def derivatives(self, state: np.ndarray, highest: np.ndarray) -> Dict[str, np.ndarray]:
        """{u: [orders[u] + 1, k]}: each unknown and its derivatives from state and highest."""
        result = {}
        for i, u in enumerate(self.unknowns):
            start, order = self.offsets[u], self.orders[u]
            result[u] = np.vstack([state[start : start + order], highest[i : i + 1]])
        return result

    def condition_residuals(self, at_points: Mapping[float, Mapping[str, np.ndarray]], p=()) -> np.ndarray:
        """Residual of every condition, given {point: {u: [orders[u] + 1]}} at the condition points."""
        scope = dict(zip(self.free, (np.float64(v) for v in p)))  # numpy scalars: 1/0 is inf, not an exception
        for point, values in at_points.items():
            for u, rows in values.items():
                for order, value in enumerate(np.asarray(rows).reshape(-1)):
                    scope[(u, order, point)] = np.float64(value)
        with np.errstate(all="ignore"):
            return np.array([float(ex.evaluate(c, scope, calculus.CALCULUS_FUNCTIONS)) for c in self.conditions])

    def residual_scale(self, at_points: Mapping[float, Mapping[str, np.ndarray]]) -> float:
        """A magnitude to judge condition residuals by: 1 + the largest value used."""
        largest = [np.max(np.abs(v)) for values in at_points.values() for v in values.values() if np.size(v)]
        return 1.0 + float(max(largest, default=0.0))


def _solve(jacobian: np.ndarray, value: np.ndarray) -> np.ndarray:
    """J^-1 F per point: jacobian [k, U, U], value [U, k] -> [U, k]; NaN where J is singular."""
    if jacobian.shape[1] == 1:
        with np.errstate(all="ignore"):
            step = value / jacobian[:, 0, 0]
        step[:, jacobian[:, 0, 0] == 0] = np.nan
        return step
    finite = np.all(np.isfinite(jacobian), axis=(1, 2))
    safe = np.where(finite[:, None, None], jacobian, np.eye(jacobian.shape[1]))
    singular = ~finite | ~(np.linalg.cond(safe) < 1e14)
    safe[singular] = np.eye(jacobian.shape[1])
    step = np.linalg.solve(safe, value.T[..., None])[..., 0].T
    step[:, singular] = np.nan
    return step
