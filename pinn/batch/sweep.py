"""Sweeps: ``--sweep KEY=VALUES`` read into override values, and their product.

A sweep names a field by its dotted path, as ``--set`` does, and lists values:

    parameters.k=0.5,1,2        the listed values
    training.seed=0:4           the integers 0, 1, 2, 3, 4 (both ends included)
    parameters.k=0.5:2:0.5      0.5, 1, 1.5, 2 (start:stop:step, stop included)

Several sweeps give every combination (their Cartesian product), the first
sweep varying slowest.  Values stay text here; the problem loader reads each
as YAML, exactly as it reads ``--set KEY=VALUE``.  No TensorFlow, no numpy.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

from ..errors import ProblemError

#: More runs than this from one sweep is almost surely a typo (0:1e6).
MAX_SWEEP_VALUES = 100_000

_EXAMPLE = "Write it as --sweep parameters.k=0.5,1,2 or --sweep training.seed=0:4."


@dataclass(frozen=True)
class Sweep:
    """One swept field: its dotted path and the values, as text, in order."""

    key: str
    values: Tuple[str, ...]

    @property
    def label(self) -> str:
        """The short name used in run folders and tables: ``parameters.k`` -> ``k``."""
        return self.key.rsplit(".", 1)[-1]


def parse_sweep(text: str) -> Sweep:
    """``"parameters.k=0.5,1,2"`` -> ``Sweep("parameters.k", ("0.5", "1", "2"))``; ranges are expanded."""
    location = f"--sweep {text}"
    key, equals, values = text.partition("=")
    key = key.strip()
    if not equals:
        raise ProblemError(f"'{text}' is not KEY=VALUES", location="--sweep", fix=_EXAMPLE)
    if not key or any(not part.strip() for part in key.split(".")):
        raise ProblemError(f"'{text}' has an empty key", location="--sweep", fix=_EXAMPLE)
    if not values.strip():
        raise ProblemError("no values after '='", location=location, fix=_EXAMPLE)
    if "," in values:
        items = tuple(item.strip() for item in values.split(","))
        if any(not item for item in items):
            raise ProblemError("an empty value between commas", location=location, fix="Remove the extra comma.")
    elif ":" in values and not values.strip().startswith(("[", "{")):
        items = _range(values.strip(), location)
    else:
        items = (values.strip(),)
    if len(set(items)) != len(items):
        repeated = sorted({item for item in items if items.count(item) > 1})
        raise ProblemError(f"the value {repeated[0]} is listed twice", location=location,
                           fix="List each value once; runs with equal values would overwrite each other.")
    return Sweep(key, items)


def _range(text: str, location: str) -> Tuple[str, ...]:
    """``"0:4"`` -> 0..4; ``"0.5:2:0.5"`` -> 0.5, 1, 1.5, 2 (stop included when reached)."""
    parts = [part.strip() for part in text.split(":")]
    if len(parts) not in (2, 3) or not all(parts):
        raise ProblemError(f"'{text}' is not a range START:STOP or START:STOP:STEP", location=location, fix=_EXAMPLE)
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        raise ProblemError(f"'{text}' is not a range of numbers", location=location, fix=_EXAMPLE) from None
    if not all(math.isfinite(n) for n in numbers):
        raise ProblemError(f"'{text}' has a non-finite end or step", location=location, fix=_EXAMPLE)
    start, stop = numbers[0], numbers[1]
    step = numbers[2] if len(parts) == 3 else 1.0
    integers = all(n.is_integer() and "." not in p and "e" not in p.lower() for n, p in zip(numbers, parts))
    if step == 0 or (stop - start) * step < 0:
        raise ProblemError(f"the range '{text}' is empty or endless", location=location,
                           fix="Give START:STOP with START <= STOP (and a STEP of the same sign as STOP - START).")
    count = int(math.floor((stop - start) / step + 1e-9)) + 1
    if count > MAX_SWEEP_VALUES:
        raise ProblemError(f"the range '{text}' has {count} values", location=location,
                           fix=f"Sweep at most {MAX_SWEEP_VALUES} values; check START:STOP:STEP.")
    if integers:
        return tuple(str(int(start) + i * int(step)) for i in range(count))
    return tuple(_number_text(start + i * step) for i in range(count))


def _number_text(value: float) -> str:
    """The shortest text of ``value`` after rounding away the accumulation error of a float range."""
    return repr(float(f"{value:.12g}"))


def sweep_points(sweeps: Sequence[Sweep]) -> List[Dict[str, str]]:
    """Every combination of the sweeps' values, as ``{key: value}``, first sweep slowest.

    No sweeps gives one empty point (the problem run once as it is).
    """
    keys = [s.key for s in sweeps]
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    if duplicated:
        raise ProblemError(f"{duplicated[0]} is swept twice", location=f"--sweep {duplicated[0]}",
                           fix="Give all its values in one --sweep, separated by commas.")
    return [dict(zip(keys, combination)) for combination in itertools.product(*(s.values for s in sweeps))]


def point_label(point: Dict[str, str], sweeps: Sequence[Sweep]) -> str:
    """``{"parameters.k": "0.5", "training.seed": "1"}`` -> ``"k=0.5,seed=1"`` (full keys where short ones clash)."""
    labels = [s.label for s in sweeps]
    names = {s.key: (s.label if labels.count(s.label) == 1 else s.key) for s in sweeps}
    return ",".join(f"{names[key]}={value}" for key, value in point.items())
