"""What stacked members (a vectorised sweep) share, in one TensorFlow-free place for pinn.vectorized and
pinn.pde.solve."""

from __future__ import annotations

from typing import Sequence, Tuple

from .problem import Problem

#: XLA for the stacked Adam block: off, because XLA's CPU batched matmul made a 64-member
#: quadratic step 3x slower than TensorFlow's own kernels (209 vs 70 ms, 2 cores, float64).
STACKED_XLA = False


def varying_parameters(problems: Sequence[Problem]) -> Tuple[str, ...]:
    """Names of the fixed (non-trainable) parameters whose value differs between members."""
    first = problems[0]
    return tuple(p.name for p in first.parameters
                 if not p.trainable and any(q.parameter(p.name).value != p.value for q in problems[1:]))
