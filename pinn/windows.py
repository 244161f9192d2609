"""Time windows: a long initial-value problem marched window by window, one network per window.

Window k covers [t_k, t_k+1].  Its network is a trial solution whose initial
values are the previous window's end values and derivatives below each
unknown's order, built in exactly (the Taylor form of :mod:`pinn.constraints`):

    u_k^(j)(t_k) = u_k-1^(j)(t_k),   j = 0 .. order(u) - 1,

so the solution and its derivatives to order - 1 are continuous at every
boundary (to round-off), and the order-th nearly so, the equations holding on
both sides.  Windows are trained in order, each by ``training.window_phases``
(default Adam then Levenberg–Marquardt: on one window of a lightly damped
oscillator, 1.25 periods, LM reached 4.3e-7 in 28 s where the default
[adam, lbfgs] reached 2.5e-6 in 54 s, on a busy machine), with
``training.causal`` off (a window is itself the causal step); each is
checked by itself (:mod:`pinn.verification`: its equations at fresh points
and its initial conditions; no reference, since its initial values are the
last window's, not the truth's).  The march is one :class:`~pinn.Solution`
(its model a :class:`~pinn.network.WindowedModel`) checked as one solve over
the whole domain, against the problem's reference.

``training.windows``:

    N              N equal windows, each trained once;
    [t0, ..., tN]  windows with these boundaries, each trained once;
    auto           (the default) one window over the whole domain, as pinn always did; if that
                   fails its self-check, a march whose window lengths :func:`next_length` picks.

The rule of ``auto`` is an adaptive integrator's step-size control with the
window's self-check as its error test: the first window is 1/FIRST_WINDOWS of
the domain; a window that fails its check is discarded and trained again at
half its length (a rejected step), at most MAX_HALVINGS times; a window whose
every check figure is at most EASY of its threshold lets the next one be GROW
times longer, unless it was itself shortened (after a rejection, no growth:
an integrator's facmax = 1); otherwise the next one is as long.  Why not a
power law in the figures, as integrators use: a network's residual does not
shrink as a known power of the window's length, so the rule only doubles and
halves.  EASY is strict because growth trades digits for time: at 1e-2, the
lightly damped oscillator's windows grew to half the domain and its error was
1.5e-4 (benchmarks/windows.py).  A window still failing after MAX_HALVINGS halvings is kept, one last
window, trained once, covers the rest of the domain (the march cannot be
repaired: training is too short, or the problem too hard), and the solve's
checks fail, naming the window.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from . import expressions as ex
from .domain import Interval
from .problem import Condition, FixedValue, Parameter, Problem

FIRST_WINDOWS = 8  # auto, after one window failed: the first window is this share of the domain
GROW = 2.0  # a window passing easily lets the next be this much longer
EASY = 1e-3  # passing easily: every residual and condition figure at most this share of its threshold
MAX_HALVINGS = 3  # a failing window is halved at most this many times (to 1/8 of its length)
SLIVER = 0.25  # a remainder shorter than this share of the next window's length joins it


@dataclass(frozen=True)
class WindowRecord:
    """One window as trained: its interval, whether it passed its own check, and what it cost."""

    low: float
    high: float
    passed: bool
    worst: float  # the largest check figure over its threshold (<= 1 passes)
    seconds: float  # training time of this window, rejected attempts included
    steps: int
    attempts: int  # trainings, rejected ones included
    message: str
    start: Optional[Mapping[str, Tuple[float, ...]]] = None  # {u: (u(low), u'(low), ...)} built in; None: the problem's conditions

    def as_dict(self) -> Dict[str, object]:
        return {"low": self.low, "high": self.high, "passed": self.passed, "worst": _finite(self.worst),
                "seconds": self.seconds, "steps": self.steps, "attempts": self.attempts, "message": self.message,
                "start": None if self.start is None else {u: list(v) for u, v in self.start.items()}}


def marches(problem: Problem) -> bool:
    """Whether ``problem`` can be marched: an IVP at the start of its domain, without data or trainable parameters."""
    if problem.kind != "ivp" or problem.data is not None or problem.trainable_parameters:
        return False
    return {p for c in problem.conditions for p in c.points} == {problem.domain.low}


def explicit_boundaries(problem: Problem) -> Optional[Tuple[float, ...]]:
    """The boundaries ``training.windows`` fixes (N equal windows, or a list); None for auto and for one window."""
    return equal_or_listed(problem.training.windows, problem.domain)


def equal_or_listed(pieces, domain) -> Optional[Tuple[float, ...]]:
    """Boundaries from a count N > 1 (N equal pieces of ``domain``) or a list (itself); None for anything else."""
    if isinstance(pieces, tuple):
        return pieces
    if isinstance(pieces, int) and not isinstance(pieces, bool) and pieces > 1:
        return tuple(float(b) for b in np.linspace(domain.low, domain.high, pieces + 1))
    return None


def next_length(length: float, record: WindowRecord, shortened: bool) -> float:
    """The next window's length after a window of ``length`` passed (auto): GROW x if easily and not shortened."""
    return length * GROW if record.worst <= EASY and not shortened else length


def window_problem(problem: Problem, low: float, high: float, start: Optional[Mapping[str, Sequence[float]]],
                   index: int) -> Problem:
    """The sub-problem of one window: [low, high], initial values ``start[u][j]`` (None: the problem's own conditions).

    Each initial value is a fixed parameter (:func:`start_parameter`) named in its condition, not a number folded
    into it, so members of a vectorised sweep, which start a window from different values, share its conditions.
    """
    conditions, parameters = problem.conditions, problem.parameters
    if start is not None:
        conditions = tuple(_initial_value(u, j, low, index) for u in problem.unknowns for j in range(len(start[u])))
        parameters = parameters + tuple(Parameter(start_parameter(u, j), float(value))
                                        for u in problem.unknowns for j, value in enumerate(start[u]))
    training = dataclasses.replace(problem.training, windows=1, causal="off", phases=problem.training.window_phases)
    return dataclasses.replace(problem, domain=Interval(float(low), float(high)), conditions=conditions, exact={},
                               reference="none", training=training, parameters=parameters)


def start_parameter(unknown: str, order: int) -> str:
    """The name of the parameter holding u^(order) at a window's start (a ':' keeps it apart from any name a file can use)."""
    return f"start:{unknown}:{order}"


def _initial_value(unknown: str, order: int, point: float, index: int) -> Condition:
    """``u^(j)(point) = u^(j) where window index - 1 ends``, the window's initial value, built into its network."""
    derivative = f"{unknown}{chr(39) * order}"
    source = f"{derivative}({point:.17g}) = {derivative} at the end of window {index - 1}"
    value = ex.Name(start_parameter(unknown, order))
    equation = ex.Equation(ex.PointValue(unknown, order, ex.Number(point)), value, source)
    return Condition(equation, source, f"window {index} start", (point,), FixedValue(unknown, order, point, value))


def end_values(problem: Problem, model, at: float) -> Dict[str, List[float]]:
    """{u: [u(at), u'(at), ..., u^(order - 1)(at)]}: where the next window starts."""
    from .solution import evaluate_model

    values = evaluate_model(model, problem.unknowns, np.array([at]), max(max(problem.orders.values()) - 1, 0))
    return {u: [float(values[u][j, 0]) for j in range(problem.orders[u])] for u in problem.unknowns}


@dataclass(frozen=True, eq=False)
class TrainedWindow:
    """One window trained and checked."""

    problem: Problem
    model: object
    result: object  # TrainingResult
    verification: object  # Verification of the window alone
    seconds: float
    rejected: Tuple[object, ...] = ()  # TrainingResults of the longer attempts that failed their checks (auto)

    @property
    def worst(self) -> float:
        """The largest residual or condition figure over its threshold (the generalisation ratio sits near 1/10 even
        when a window is solved to round-off, so it decides passing, not ease)."""
        figures = [c.figure / c.threshold if np.isfinite(c.figure) else np.inf for c in self.verification.checks
                   if c.kind != "generalisation"]
        return float(max(figures, default=0.0)) if self.result.status.success else float("inf")

    @property
    def passed(self) -> bool:
        return bool(self.result.status.success and self.verification.passed)


def _train_window(problem: Problem, low: float, high: float, start, index: int, progress) -> TrainedWindow:
    """Build, train and check the network of one window."""
    from .collocation import schedule_for
    from .assembly import build_model
    from .training import train
    from .verification import measure, verify

    sub = window_problem(problem, low, high, start, index)
    begun = time.perf_counter()
    model, residuals = build_model(sub)
    result = train(model, residuals, sub.training, sub.domain, progress=progress, schedule=schedule_for(sub, grow=False))
    verification = verify(sub, measure(sub, model, residuals), np.zeros(0), {}, None, {})
    return TrainedWindow(sub, model, result, verification, time.perf_counter() - begun)


def march(problem: Problem, progress: Optional[Callable] = None, earlier: Sequence[Mapping[str, object]] = ()):
    """Solve ``problem`` window by window (``training.windows``; auto: after one window failed) -> checked Solution.

    ``earlier`` are attempts made before the march (the one window that failed), kept in ``Solution.attempts``.
    """
    fixed = explicit_boundaries(problem)
    domain = problem.domain
    trained: List[TrainedWindow] = []
    records: List[WindowRecord] = []
    low, start = domain.low, None
    length = domain.length / FIRST_WINDOWS if fixed is None else None
    shortened = hopeless = False
    while low < domain.high and not _interrupted(trained):
        if fixed is not None:
            high = fixed[len(trained) + 1]
        else:
            high = min(low + length, domain.high)
            if domain.high - high < SLIVER * length:
                high = domain.high
        rejected, seconds, halvings = [], 0.0, 0
        while True:
            window = _train_window(problem, low, high, start, len(trained), progress)
            seconds += window.seconds
            interrupted = window.result.status.value == "interrupted"
            if fixed is not None or window.passed or interrupted or halvings >= MAX_HALVINGS or high >= domain.high and hopeless:
                break
            rejected.append(window.result)
            high, halvings = low + (high - low) / 2.0, halvings + 1
        window = dataclasses.replace(window, rejected=tuple(rejected))
        record = window_record(window, low, high, start, seconds)
        trained.append(window)
        records.append(record)
        if fixed is None:
            shortened = halvings > 0
            length = next_length(high - low, record, shortened) if window.passed else high - low
            if not window.passed:  # failed even at its shortest: the march cannot be repaired; one window covers the rest
                hopeless, length = True, domain.high - high
        start = end_values(problem, window.model, high)
        low = high
    return march_solution(problem, trained, records, earlier)


def window_record(window: TrainedWindow, low: float, high: float, start, seconds: float) -> WindowRecord:
    """The record of a trained window (its rejected attempts counted in steps and attempts)."""
    return WindowRecord(low, high, window.passed, window.worst, seconds,
                        sum(r.steps for r in (*window.rejected, window.result)), len(window.rejected) + 1,
                        window.verification.message if window.result.status.success else window.result.message,
                        None if start is None else {u: tuple(v) for u, v in start.items()})


def rebuild(problem: Problem, records: Sequence[WindowRecord]):
    """The march's WindowedModel with fresh weights, from its windows' intervals and initial values (for loading)."""
    from .network import WindowedModel
    from .assembly import build_model

    pieces = [build_model(window_problem(problem, r.low, r.high, r.start, i))[0] for i, r in enumerate(records)]
    return WindowedModel(pieces, [r.low for r in records] + [records[-1].high])


def record_from_dict(raw: Mapping[str, object]) -> WindowRecord:
    """A WindowRecord from :meth:`WindowRecord.as_dict` (model.json); raises KeyError, TypeError or ValueError if malformed."""
    start = raw["start"]
    return WindowRecord(float(raw["low"]), float(raw["high"]), bool(raw["passed"]),
                        float("inf") if raw["worst"] is None else float(raw["worst"]), float(raw["seconds"]),
                        int(raw["steps"]), int(raw["attempts"]), str(raw["message"]),
                        None if start is None else {str(u): tuple(float(v) for v in values) for u, values in start.items()})


def _interrupted(trained: Sequence[TrainedWindow]) -> bool:
    return bool(trained) and trained[-1].result.status.value == "interrupted"


def march_solution(problem: Problem, trained: Sequence[TrainedWindow], records: Sequence[WindowRecord], earlier):
    """The march as one Solution over the whole domain, checked as one solve (an interrupted march: the last window reaches the end)."""
    from .assembly import build_model, make_solution
    from .network import WindowedModel

    boundaries = [r.low for r in records] + [problem.domain.high]
    model = WindowedModel([t.model for t in trained], boundaries)
    training = combined_training(trained)
    points = np.concatenate([t.problem.domain.sample(t.problem.training.points, t.problem.training.sampler,
                                                     np.random.default_rng(t.problem.training.seed + 1)) for t in trained])
    _, residuals = build_model(problem)  # the whole problem's residuals, for the check over the whole domain
    return with_windows(make_solution(problem, model, training, residuals, training_points=points), records, earlier)


def with_windows(solution, records: Sequence[WindowRecord], earlier: Sequence[Mapping[str, object]] = ()):
    """``solution`` (checked over the whole domain) as a march's: its windows, their check added, the earlier attempts."""
    verification = solution.verification
    if verification is not None:
        verification = dataclasses.replace(verification, checks=verification.checks + (window_check(records),))
    return dataclasses.replace(solution, verification=verification, windows=tuple(records), attempts=tuple(earlier))


def window_check(records: Sequence[WindowRecord]):
    """One check: how many windows failed their own checks (at most 0)."""
    from .verification import Check

    failed = [i for i, r in enumerate(records) if not r.passed]
    detail = (f"{len(records)} windows, all passed" if not failed else
              f"{len(failed)} of {len(records)} windows failed, the first window {failed[0]} "
              f"[{records[failed[0]].low:.4g}, {records[failed[0]].high:.4g}]: {records[failed[0]].message}")
    return Check("windows failing their own checks", "window", float(len(failed)), 0.0, not failed, detail)


def combined_training(trained: Sequence[TrainedWindow]):
    """One TrainingResult for the march: phases summed by name, histories one after another, the worst status."""
    from .training import PhaseRecord, TrainingResult

    every = [p for t in trained for result in (*t.rejected, t.result) for p in result.phases]  # rejected attempts count
    names = list(dict.fromkeys(p.name for p in every))
    phases = tuple(PhaseRecord(name, sum(p.steps for p in every if p.name == name), sum(p.seconds for p in every if p.name == name),
                               next((p.stop for p in reversed(every) if p.name == name and p.stop), ""))
                   for name in names)
    failed = [t for t in trained if not t.result.status.success]
    status = failed[-1].result.status if failed else trained[-1].result.status
    message = failed[-1].result.message if failed else f"{len(trained)} windows: " + trained[-1].result.message
    return TrainingResult(status=status, message=message, history=_histories(trained), phases=phases,
                          best_loss=float(max(t.result.best_loss for t in trained)))


def _histories(trained: Sequence[TrainedWindow]) -> Dict[str, np.ndarray]:
    """The windows' histories one after another (steps counted on), with a ``window`` index; terms all windows share."""
    histories = [t.result.history for t in trained]
    keys = [k for k in histories[0] if all(k in h for h in histories)]
    out: Dict[str, List[np.ndarray]] = {k: [] for k in keys + ["window"]}
    offset = 0
    for index, history in enumerate(histories):
        steps = np.asarray(history.get("step", np.zeros(0)))
        for k in keys:
            out[k].append(np.asarray(history[k]) + (offset if k == "step" else 0))
        out["window"].append(np.full(len(steps), index))
        offset += int(steps.max()) + 1 if len(steps) else 0
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in out.items()}


def _finite(value: float) -> Optional[float]:
    return float(value) if np.isfinite(value) else None
