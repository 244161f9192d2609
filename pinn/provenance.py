"""Where and with what a solve ran, for metrics.json's ``provenance``: seed, versions, device, date.

    {"seed": 0, "pinn": "0.1.0", "tensorflow": "2.21.0", "numpy": "2.4.6", "scipy": "1.17.1",
     "python": "3.11.9", "platform": "Linux-6.1-x86_64-with-glibc2.36", "device": "CPU",
     "date": "2026-12-02T14:00:00+00:00"}

Made when the solution is (:func:`pinn.solver.make_solution`), so the date is
when training ended and the device is the one TensorFlow computed on; saved
with the model and kept when it is reloaded.  TensorFlow is imported only if
it is not already (it is, after a solve).
"""

from __future__ import annotations

import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from typing import Any, Dict

#: The keys, in order.
KEYS = ("seed", "pinn", "tensorflow", "numpy", "scipy", "python", "platform", "device", "date")


def provenance(problem) -> Dict[str, Any]:
    """The seed of ``problem`` (as solved), the versions of pinn and its libraries, the device and the date (UTC)."""
    import numpy
    import scipy

    tensorflow = sys.modules.get("tensorflow")
    return {
        "seed": int(problem.training.seed),
        "pinn": _version("pinn"),
        "tensorflow": getattr(tensorflow, "__version__", None) or _version("tensorflow"),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": compute_device(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def compute_device() -> str:
    """``GPU:0`` when TensorFlow sees a GPU (where it places the compiled steps), else ``CPU``."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    return gpus[0].name.split("device:")[-1] if gpus else "CPU"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"
