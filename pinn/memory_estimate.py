"""The estimated peak memory of a run, the cap on it, and the refusal at load of a run over the cap.

:func:`memory_estimate` adds up what training and the output evaluation
keep (weights, optimiser state, L-BFGS history, activations);
:func:`memory_cap` is 16 GiB, or 90% of the machine's memory if less, or
``PINN_MEMORY_LIMIT_GIB``; :func:`check_memory` refuses a problem whose
estimate exceeds the cap (run from :func:`pinn.wellposed.check_problem`).
Plain arithmetic, no numpy or TensorFlow: it runs on every load.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

from .problem import Problem
from .training_checks import _derivative_order, _error, _penalised


GIB = 2**30
#: The cap on the estimated peak memory when the machine has more than it.
MEMORY_CAP = 16 * GIB
#: Share of the machine's physical memory a run may be estimated to take.
MACHINE_SHARE = 0.9
#: The environment variable that sets the cap (in GiB) instead.
MEMORY_ENV = "PINN_MEMORY_LIMIT_GIB"
#: Python, TensorFlow and compiled graphs before any problem-sized array (measured: 0.74 GB after
#: importing TensorFlow, 0.15-0.35 GB more for the compiled steps of a small problem).
FIXED_BYTES = 1 * GIB
#: Highest order computed by nested tapes; Taylor mode above (pinn.taylor.NESTED_TAPE_MAX_ORDER).
NESTED_TAPE_MAX_ORDER = 3
#: Rows of one output-evaluation batch (pinn.solution.evaluate_model).
EVALUATION_BATCH = 65_536


def _activation_factor(order: int, unknowns: int) -> float:
    """Bytes kept per (row x hidden unit x byte of the dtype) by one training step without XLA.

    Nested tapes (orders up to 3) differentiate the whole graph of the order
    below, once per output column, so the graph grows by about (1 + 1.65 U)
    per order: 1.75 (1 + 1.65 U)^m; measured 4.6, 11.9 and 32.7 for orders 1,
    2 and 3 with one unknown.  Taylor mode (order 4 and up) carries m + 1
    coefficients per hidden unit: 5 + 3 m (measured 8.4 and 11.7 at orders 4
    and 6 under XLA, which keeps about half of what the unfused graph keeps).
    """
    if order <= NESTED_TAPE_MAX_ORDER:
        return 1.75 * (1.0 + 1.65 * unknowns) ** order
    return 5.0 + 3.0 * order


#: The parts of the estimate, and the field whose change shrinks each.
MEMORY_PARTS = {
    "weights and optimiser state": "network.hidden",
    "L-BFGS history": "network.hidden",
    "activations at the training points": "training.points",
    "output evaluation": "output.points",
}


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated peak bytes of a run, and its parts (by :data:`MEMORY_PARTS` name) at the peak phase."""

    total: float
    weights: int  # number of trainable numbers
    parts: Mapping[str, float]

    def field(self) -> str:
        """The field whose parts weigh most: the one to change."""
        by_field: Dict[str, float] = {}
        for name, value in self.parts.items():
            by_field[MEMORY_PARTS[name]] = by_field.get(MEMORY_PARTS[name], 0.0) + value
        return max(by_field, key=by_field.get)


def memory_estimate(problem: Problem) -> MemoryEstimate:
    """The peak memory of training and evaluating ``problem``, roughly (within a factor of about 2).

    With n trainable numbers of b bytes, R = training points (plus condition
    points), H = the sum of the hidden widths, m the derivative order and U
    the unknowns:

    * Adam: 9 n b (weights, best weights, moments, gradients, updates;
      measured 9-10) + R H b f(m, U) / 2 (XLA) or R H b f(m, U) (no XLA);
    * L-BFGS: n (10 b + 160 + 16 min(history, steps)) (TensorFlow's copies,
      scipy's float64 vectors, and the history pairs, written as they fill;
      measured 30 n 8 bytes with a short history) + R H b f(m, U);
    * LM: the Jacobian J of the m residual rows by the n numbers and the smaller
      normal matrix, each in TensorFlow and as float64 copies, 2 b m n +
      2 b min(m, n)^2 + 16 m n, and the per-point gradients taken side by side,
      about 2 R H b f(m, U) per pointwise column (not measured: an estimate);
    * the output: P H b f(m', U) / 1.6 over the P output points (the
      equations' residuals at fresh points are taken in one batch; measured
      7.6 and 19.5 for orders 2 and 3);

    f is :func:`_activation_factor`; observations add 2 M H b (value only).
    The peak is the largest phase plus :data:`FIXED_BYTES`.
    """
    spec = problem.training
    b = 8 if spec.dtype == "float64" else 4
    hidden = list(problem.network.hidden)
    unknowns = len(problem.unknowns)
    widths = [1, *hidden, unknowns]
    n = sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(widths[:-1], widths[1:])) + len(problem.trainable_parameters)
    width_sum = sum(hidden)
    order = _derivative_order(problem)
    factor = _activation_factor(order, unknowns)
    condition_points = len({p for c in _penalised(problem) for p in c.points})
    rows = spec.points + condition_points  # the loss takes the network at the collocation points even in a fit
    activations = rows * width_sum * b * factor
    data = 2.0 * len(problem.data) * width_sum * b if problem.data is not None else 0.0
    phases: List[Dict[str, float]] = []
    if spec.adam.steps > 0:
        xla = spec.jit_compile and not spec.eager
        phases.append({"weights and optimiser state": 9.0 * n * b,
                       "activations at the training points": activations * (0.5 if xla else 1.0) + data})
    if spec.lbfgs.steps > 0:
        phases.append({"weights and optimiser state": n * (10.0 * b + 160.0), "activations at the training points": activations + data,
                       "L-BFGS history": 16.0 * n * min(spec.lbfgs.history, spec.lbfgs.steps)})
    if spec.lm.steps > 0 and "lm" in spec.phases:
        columns = len(problem.equations) + (unknowns if spec.smoothness.weight > 0 else 0)
        m = spec.points * columns + condition_points + (len(problem.data) * unknowns if problem.data is not None else 0)
        phases.append({"weights and optimiser state": 6.0 * n * b, "activations at the training points": 2.0 * activations * max(columns, 1) + data,
                       "LM Jacobian and normal matrix": (2.0 * b + 16.0) * m * n + 2.0 * b * min(m, n) ** 2})
    output_order = max(order, max(problem.reported_orders.values(), default=0))
    output_rows = problem.output.points if problem.equations else min(problem.output.points, EVALUATION_BATCH)
    phases.append({"weights and optimiser state": 2.0 * n * b,
                   "output evaluation": output_rows * width_sum * b * _activation_factor(output_order, unknowns) / 1.6})
    peak = max(phases, key=lambda parts: sum(parts.values()))
    return MemoryEstimate(total=FIXED_BYTES + sum(peak.values()), weights=n, parts=peak)


def machine_memory() -> Optional[int]:
    """Physical memory of this machine in bytes, if the system says."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return int(pages) * int(size) if pages > 0 and size > 0 else None


def memory_cap() -> Tuple[float, str]:
    """(bytes, how it was chosen): PINN_MEMORY_LIMIT_GIB if set, else 16 GiB or 90% of the machine's memory if less.

    The machine's total memory, not the memory free at this moment: the same
    file on the same machine always gets the same answer.
    """
    text = os.environ.get(MEMORY_ENV, "").strip()
    if text:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if math.isfinite(value) and value > 0:
            return value * GIB, f"set by {MEMORY_ENV}"
    machine = machine_memory()
    if machine is not None and MACHINE_SHARE * machine < MEMORY_CAP:
        return MACHINE_SHARE * machine, f"{MACHINE_SHARE:.0%} of this machine's {machine / GIB:.1f} GiB"
    return float(MEMORY_CAP), "pinn's fixed cap"


_FIXES = {
    "network.hidden": "Use fewer or narrower hidden layers (the default [64, 64] has 4,353 weights)",
    "training.points": "Use fewer collocation points (training.points) or narrower layers",
    "output.points": "Use fewer output points (output.points, default 501) or narrower layers",
}


def _size(value: float) -> str:
    return f"{value / GIB:,.1f} GiB" if value >= 0.1 * GIB else f"{value / 2**20:.0f} MiB"


def check_memory(problem: Problem) -> None:
    estimate = memory_estimate(problem)
    cap, why = memory_cap()
    if estimate.total <= cap:
        return
    where = estimate.field()
    hidden = problem.network.hidden
    shape = f"{len(hidden)} x {hidden[0]:,}" if len(set(hidden)) == 1 else "[" + ", ".join(f"{w:,}" for w in hidden) + "]"
    parts = ", ".join(f"{name} {_size(value)}" for name, value in sorted(estimate.parts.items(), key=lambda kv: -kv[1])
                      if value >= 0.01 * estimate.total)
    fix = _FIXES[where]
    if estimate.parts.get("L-BFGS history", 0.0) >= 0.25 * estimate.total:
        fix += "; a shorter L-BFGS history (training.lbfgs.history, default 50) also helps"
    raise _error(problem.file,
                 f"this run would need about {_size(estimate.total)} of memory, more than the cap of {_size(cap)} ({why}): "
                 f"the {shape} network has {estimate.weights:,} weights, trained at {problem.training.points:,} points in "
                 f"{problem.training.dtype}; the largest parts: {parts}",
                 where, f"{fix}. (On a machine with the memory, {MEMORY_ENV} sets the cap in GiB.)")
