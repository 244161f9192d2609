"""TensorFlow set-up, in one place: a quiet import, thread pools, GPU memory growth.

Every entry point (the command line, a batch worker, a Ray actor) calls
:func:`configure_tensorflow` before it builds anything; the library itself
imports TensorFlow lazily, on the first solve, load or derivative, through
:func:`ensure_tensorflow`, which is as quiet as the command line.
``import pinn`` only sets the default of TF_CPP_MIN_LOG_LEVEL
(:func:`default_log_level`): TensorFlow reads it once, at its first import.
"""

from __future__ import annotations

import os
import sys

#: TF_CPP_MIN_LOG_LEVEL unless the user set it: TensorFlow's C++ errors still show, its
#: notices and warnings (grappler's "Not handling type DT_DOUBLE", one per compiled step) do not.
LOG_LEVEL = "2"

_ready = []  # [True] once ensure_tensorflow has run in this process


def default_log_level() -> None:
    """Set TF_CPP_MIN_LOG_LEVEL's default before TensorFlow's first import (a user's own setting is kept)."""
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", LOG_LEVEL)


def ensure_tensorflow() -> None:
    """The library's first use of TensorFlow: imported quietly (its start-up lines, the CUDA probe's
    "failed call to cuInit", kept off stderr) and the retracing warning filtered, once per process.

    Called by :func:`pinn.solve`, :func:`pinn.solve_vectorized`, :func:`pinn.load_solution` and
    :func:`pinn.derivatives`, so a notebook or script sees no TensorFlow log; unlike
    :func:`configure_tensorflow` it leaves thread pools and GPU memory to the caller.
    """
    if _ready:
        return
    import_tensorflow_quietly()
    import tensorflow as tf

    tf.get_logger().addFilter(_not_retracing)
    _ready.append(True)


def import_tensorflow_quietly() -> str:
    """Import TensorFlow with its C++ start-up log lines (CUDA probing, oneDNN
    notices) kept off the terminal; returns the devices it will use.

    Those lines are written to file descriptor 2 before TensorFlow's own log
    settings apply, so the descriptor is pointed at a temporary file meanwhile;
    if the import fails, what was captured is printed.
    """
    import tempfile

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", LOG_LEVEL)
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return ", ".join(d.name.replace("/physical_device:", "") for d in gpus) if gpus else "CPU"


def configure_tensorflow(threads: int = 0) -> str:
    """Import TensorFlow (quietly), size its thread pools, turn on GPU memory growth; returns the devices."""
    devices = import_tensorflow_quietly()
    import tensorflow as tf

    tf.get_logger().addFilter(_not_retracing)

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        # two inter-op threads even for a one-thread worker: a compiled while loop run on the
        # single-threaded executor (pinn.determinism) waits on the pool, and one thread deadlocks it
        tf.config.threading.set_inter_op_parallelism_threads(2)
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)
    return devices


def _not_retracing(record) -> bool:
    """Drop TensorFlow's "triggered tf.function retracing" warning: every run builds its own compiled
    functions on purpose, so many runs in one worker look like retracing to TensorFlow, but are not."""
    return "tf.function retracing" not in record.getMessage()


def tf_dtype(name: str):
    """``training.dtype`` ("float64" or "float32") as the TensorFlow dtype: the one place the name is turned into it."""
    import tensorflow as tf

    return {"float64": tf.float64, "float32": tf.float32}[name]
