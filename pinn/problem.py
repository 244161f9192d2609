"""The validated, immutable problem that every later stage consumes.

Built once from a problem file by :mod:`pinn.problem_file` (or from a dict by
:func:`pinn.problem_file.problem_from_dict`); nothing after this reads YAML.
Expressions are stored parsed, with their source text and the place they came
from, so any later stage can still point at them in an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Tuple, Union

import numpy as np

from . import expressions as ex
from .domain import Interval

#: Smooth activations (infinitely differentiable, or nearly so).
SMOOTH_ACTIVATIONS = ("tanh", "sin", "cos", "silu", "swish", "gelu", "softplus", "sigmoid", "elu", "selu", "mish", "gaussian")
#: Piecewise-linear activations: every second derivative is zero almost everywhere.
PIECEWISE_LINEAR_ACTIVATIONS = ("relu", "relu6", "leaky_relu", "hard_tanh", "hard_sigmoid", "linear")
ACTIVATIONS = SMOOTH_ACTIVATIONS + PIECEWISE_LINEAR_ACTIVATIONS

SAMPLERS = ("grid", "sobol", "random")
CONSTRAINT_MODES = ("auto", "hard", "soft")
#: training.causal: auto grows the window from the initial point only on a second attempt, after a failed check.
CAUSAL_MODES = ("auto", "on", "off")
DTYPES = ("float64", "float32")
REFERENCE_MODES = ("auto", "ivp", "bvp", "none")
SCHEDULES = ("constant", "exponential", "cosine")


@dataclass(frozen=True)
class Expression:
    """A parsed expression with its text and where it came from (``exact.y``)."""

    node: ex.Node
    source: str
    location: str


@dataclass(frozen=True)
class Equation:
    """A differential equation ``left = right`` over the domain; residual left - right."""

    equation: ex.Equation
    source: str
    location: str

    @property
    def residual(self) -> ex.Node:
        return self.equation.residual


@dataclass(frozen=True)
class FixedValue:
    """A condition of the form ``unknown^(order)(point) = value``, value free of unknowns."""

    unknown: str
    order: int
    point: float
    value: ex.Node


@dataclass(frozen=True)
class Condition:
    """A condition relating unknowns and derivatives at points; residual left - right.

    ``equation`` has every point folded to a number; ``points`` lists them;
    ``fixed`` is set when the condition can be built into the network output.
    """

    equation: ex.Equation
    source: str
    location: str
    points: Tuple[float, ...]
    fixed: Optional[FixedValue] = None

    @property
    def residual(self) -> ex.Node:
        return self.equation.residual


@dataclass(frozen=True)
class Parameter:
    """A named constant, or a trainable one with an initial value (and a true one if known)."""

    name: str
    value: float
    trainable: bool = False
    true_value: Optional[float] = None


@dataclass(frozen=True, eq=False)
class Data:
    """Observations: the variable's values, and each observed unknown (NaN where missing)."""

    variable: np.ndarray
    values: Mapping[str, np.ndarray]
    source: str  # "inline" or the CSV path

    def __len__(self) -> int:
        return int(self.variable.shape[0])


@dataclass(frozen=True)
class NetworkSpec:
    hidden: Tuple[int, ...] = (64, 64)
    activation: str = "tanh"


@dataclass(frozen=True)
class AdamSpec:
    steps: int = 2000
    learning_rate: float = 1e-3
    schedule: str = "constant"
    final_learning_rate: Optional[float] = None  # for exponential/cosine; default lr/100


@dataclass(frozen=True)
class LbfgsSpec:
    steps: int = 4000
    history: int = 50


@dataclass(frozen=True)
class LmSpec:
    """Levenberg–Marquardt (pinn.levenberg_marquardt): at most ``steps`` iterations; λ starts at damping x max diag(JᵀJ)."""

    steps: int = 500
    damping: float = 1e-6


@dataclass(frozen=True)
class LossWeights:
    equations: float = 1.0
    conditions: float = 1.0
    data: float = 1.0


@dataclass(frozen=True)
class SmoothnessSpec:
    """Penalty weight * mean over collocation points of (L^k / s * u^(k))^2: off at weight 0.

    A Tikhonov penalty on the order-k derivative (made dimensionless by the
    domain length L and the output scale s); polynomials of degree < k cost
    nothing.  For fits to data: k = 2 behaves like a smoothing spline.
    """

    order: int = 3
    weight: float = 0.0


#: The training phases, by name: their labels in progress lines, tables and plots.  The optimiser
#: that runs each is the row of the same name in pinn.training.PHASES; its options are the
#: TrainingSpec field of the same name (training.adam, training.lbfgs, training.lm).
PHASE_LABELS = {"adam": "Adam", "lbfgs": "L-BFGS", "refine": "L-BFGS on refined points", "lm": "LM"}


@dataclass(frozen=True)
class TrainingSpec:
    phases: Tuple[str, ...] = ("adam", "lbfgs", "refine")  # run in this order, each from the best weights so far
    points: int = 128
    sampler: str = "grid"
    resample_every: int = 0  # Adam steps between redraws of the collocation points; 0 never
    refine: float = 0.5  # share of the points the phase refine moves to where the residual is largest, when needed
    causal: str = "auto"  # grow the window from t0 (IVPs): auto after a failed check, on always, off never
    growth: int = 8000  # initial-value problems: Adam steps, before training.adam.steps, while the trained window grows from t0
    windows: Union[str, int, Tuple[float, ...]] = "auto"  # initial-value problems: auto, N equal windows, or their boundaries (pinn.windows)
    subdomains: Union[int, Tuple[float, ...]] = 1  # boundary-value problems: N equal subdomains or their boundaries (pinn.subdomains)
    window_phases: Tuple[str, ...] = ("adam", "lm")  # what each window of a march runs, in place of phases
    constraints: str = "auto"
    adam: AdamSpec = field(default_factory=AdamSpec)
    lbfgs: LbfgsSpec = field(default_factory=LbfgsSpec)
    lm: LmSpec = field(default_factory=LmSpec)
    weights: LossWeights = field(default_factory=LossWeights)
    smoothness: SmoothnessSpec = field(default_factory=SmoothnessSpec)
    dtype: str = "float64"
    seed: int = 0
    steps_per_call: int = 500  # Adam steps per compiled call
    jit_compile: bool = True
    eager: bool = False  # run the steps eagerly, for debugging


@dataclass(frozen=True)
class VerifySpec:
    """The self-check's thresholds (pinn.verification); a figure above its threshold fails the solve."""

    tolerance: float = 1e-3  # relative L2 error of each unknown against an exact or checked scipy reference
    residual: float = 1e-3  # rms(residual) / rms(sum of |terms|) of each equation at fresh points
    generalisation: float = 10.0  # rms residual at fresh points / at training points (judged above 1e-6 relative)
    conditions: float = 1e-4  # |residual| / (sum of |terms| + max |u|) of each condition
    parameters: float = 1e-3  # |learned - true| / |true| of each trainable parameter whose true value is given


@dataclass(frozen=True)
class OutputSpec:
    points: int = 501


@dataclass(frozen=True)
class Problem:
    """A differential-equation problem, checked and complete.

    ``orders[u]`` is the highest derivative of ``u`` in the equations;
    ``kind`` is ``"ivp"`` (all conditions at one point), ``"bvp"`` or ``"fit"``
    (data and no equations).
    """

    name: str
    description: str
    variable: str
    domain: Interval  # pinn.domain.Interval: the variable's interval (reads as the pair (low, high))
    unknowns: Tuple[str, ...]
    parameters: Tuple[Parameter, ...]
    equations: Tuple[Equation, ...]
    conditions: Tuple[Condition, ...]
    exact: Mapping[str, Expression]
    data: Optional[Data]
    network: NetworkSpec
    training: TrainingSpec
    reference: str
    output: OutputSpec
    orders: Mapping[str, int]
    kind: str
    file: Optional[str] = None
    as_run: str = ""  # the problem as run (overrides applied), as YAML text
    verify: VerifySpec = field(default_factory=VerifySpec)

    @property
    def constants(self) -> Dict[str, float]:
        """Values of the named constants and non-trainable parameters."""
        values = dict(ex.CONSTANTS)
        values.update({p.name: p.value for p in self.parameters if not p.trainable})
        return values

    @property
    def trainable_parameters(self) -> Tuple[Parameter, ...]:
        return tuple(p for p in self.parameters if p.trainable)

    @property
    def max_order(self) -> int:
        """Highest derivative order any equation or condition needs (at least 0)."""
        orders = list(self.orders.values())
        for condition in self.conditions:
            orders += [n.order for n in ex.walk(condition.equation) if isinstance(n, ex.PointValue)]
        return max(orders, default=0)

    @property
    def reported_orders(self) -> Dict[str, int]:
        """Derivative orders reported per unknown: as the equations use them, 2 for a plain fit."""
        if self.kind == "fit":
            return {u: 2 for u in self.unknowns}
        return dict(self.orders)

    @property
    def length(self) -> float:
        return self.domain[1] - self.domain[0]

    @property
    def variables(self) -> Tuple[str, ...]:
        """The independent variables' names, in order (one today)."""
        return (self.variable,)

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)
