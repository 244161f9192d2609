"""What every training phase shares: the status, progress, history and counts, compiling a step, Ctrl-C.

A phase (a row of :data:`pinn.training.PHASES`: Adam in :mod:`pinn.adam`,
scipy's L-BFGS in :mod:`pinn.lbfgs`, the stacked members' L-BFGS in
:mod:`pinn.batched_lbfgs`) starts from the current weights, runs, keeps the
best weights it saw in ``best`` / ``best_loss``, records its history and
counts, and says why it stopped (:class:`PhaseOutcome`); the loop in
:mod:`pinn.training` does the rest.
"""

from __future__ import annotations

import contextlib
import enum
import signal
import threading
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from .determinism import compiled
from .problem import TrainingSpec


class Status(enum.Enum):
    """How a solve ended; ``success`` for the first two.

    Training ends CONVERGED, MAX_STEPS, NONFINITE_LOSS or INTERRUPTED; a
    solve whose training succeeded but whose self-check failed
    (:mod:`pinn.verification`) is CHECK_FAILED.
    """

    CONVERGED = "converged"
    MAX_STEPS = "max_steps"
    NONFINITE_LOSS = "nonfinite_loss"
    INTERRUPTED = "interrupted"
    CHECK_FAILED = "check_failed"

    @property
    def success(self) -> bool:
        return self in (Status.CONVERGED, Status.MAX_STEPS)

    def __str__(self) -> str:
        """The value, as metrics.json and the closing table write it: ``print(solution.status)`` shows ``max_steps``."""
        return self.value


STATUS_MESSAGES = {
    Status.CONVERGED: "{phase} converged: the loss stopped decreasing within machine precision.",
    Status.MAX_STEPS: "Training ran all its steps.",
    Status.NONFINITE_LOSS: "The loss became non-finite; the best finite weights were kept.",
    Status.INTERRUPTED: "Training was interrupted; the best weights so far were kept.",
    Status.CHECK_FAILED: "The solution failed its checks.",
}


@dataclass(frozen=True)
class Progress:
    """What a progress display is told after each block of steps."""

    phase: str
    step: int
    total_steps: int
    loss: float
    best_loss: float
    steps_per_second: float


class History:
    """The loss per term at recorded points: one row (step, phase index, total, terms) each."""

    def __init__(self, names: Sequence[str]):
        self.names = list(names)
        self.rows: List[Tuple[int, int, float, np.ndarray]] = []

    def add(self, step: int, phase: int, total: float, terms: np.ndarray) -> None:
        self.rows.append((step, phase, total, np.asarray(terms, dtype=float)))

    def arrays(self) -> Dict[str, np.ndarray]:
        out = {
            "step": np.array([r[0] for r in self.rows], dtype=np.int64),
            "phase": np.array([r[1] for r in self.rows], dtype=np.int64),
            "total": np.array([r[2] for r in self.rows], dtype=float),
        }
        for index, name in enumerate(self.names):
            out[name] = np.array([r[3][index] for r in self.rows], dtype=float)
        return out


@contextlib.contextmanager
def interrupts_deferred():
    """Hold a Ctrl-C back until the block has run, then raise it (KeyboardInterrupt).

    Around a compiled call and the bookkeeping of its result (best weights and
    their loss, step counts), so that an interrupt never lands between
    related updates: TensorFlow does not stop a call for Ctrl-C anyway, so
    this delays nothing.  Only in the main thread with Python's own SIGINT
    handler in place (a worker that ignores SIGINT, or a caller's own
    handler, is left alone).
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: received.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def compile_step(function: Callable, spec: TrainingSpec, xla: bool = True) -> Callable:
    """The one place steps are compiled: tf.function (with XLA if asked and ``xla``) or eager.

    Without XLA its calls run on TensorFlow's single-threaded executor, so that
    the same seed gives the same bits (:mod:`pinn.determinism`).
    """
    if spec.eager:
        return function
    return compiled(function, jit_compile=spec.jit_compile and xla)


@dataclass
class Counts:
    """Steps and seconds of each phase so far, updated as training goes (so an interrupt keeps them).

    ``phase`` is the running phase, ``index`` its place in ``training.phases``
    (the history's phase column) and ``offset`` the steps of the phases before
    it (where the history's step column goes on from).
    """

    steps: Dict[str, int] = field(default_factory=dict)
    seconds: Dict[str, float] = field(default_factory=dict)
    phase: str = ""
    index: int = 0
    offset: int = 0
    member_steps: Dict[str, list] = field(default_factory=dict)  # per member, for stacked phases that count them

    def start(self, name: str, index: int) -> None:
        """A phase begins: its counts from zero, after the steps of those before it."""
        self.offset = sum(self.steps.values())
        self.phase, self.index = name, index
        self.steps[name], self.seconds[name] = 0, 0.0


@dataclass(frozen=True)
class PhaseOutcome:
    """How one phase ended for one member: status, message, and the steps it completed."""

    status: Status
    message: str
    steps: int


def per_member(mask, variable):
    """A member mask ([] for one model, [K] for stacked members) shaped to broadcast against ``variable`` [K, ...]."""
    if mask.shape.rank == 0:
        return mask
    return tf.reshape(mask, [-1] + [1] * (variable.shape.rank - 1))


def where_running(running, new, old):
    """``new`` for the members still running, ``old`` for the others.

    A single model (a scalar mask) only steps while running, so it takes
    ``new`` as is: no select in its graph, which keeps single runs
    bit-identical under XLA.
    """
    if running.shape.rank == 0:
        return new
    return tf.where(per_member(running, new), new, old)


def weighted_total(weights, terms):
    """sum_t w_t L_t: a scalar from terms [T], one total per member [K] from terms [T, K]."""
    return tf.reduce_sum(tf.reshape(weights, [-1] + [1] * (terms.shape.rank - 1)) * terms, axis=0)




@dataclass(eq=False)
class TrainingContext:
    """What a phase works on: the weights, the loss, the points, the best weights so far, the records.

    For stacked members ([K] losses, variables with a leading member axis),
    ``members`` is K and ``rebuild(indices)`` makes the stacked model and
    residuals of those members only (the batched L-BFGS shrinks its batch).
    """

    variables: list
    loss: Callable  # loss(points) -> (total, terms)
    points: object  # tf.Variable of collocation points
    best: list
    best_loss: object  # tf.Variable: scalar, or [K]
    spec: TrainingSpec
    resample: Callable[[int], None]  # resample(step): the points for the Adam steps from ``step`` on
    histories: List[History]
    progress: Optional[Callable]
    counts: Counts
    members: Optional[int] = None
    xla: bool = True
    model: object = None
    residuals: object = None
    rebuild: Optional[Callable] = None
    schedule: object = None  # pinn.collocation.Schedule: when the points change (of the first member, for stacked ones)
    refine: Optional[Callable[[], int]] = None  # refine(): move points to where the residual is largest; returns how many
