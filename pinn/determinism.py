"""Bit-reproducible compiled functions: how pinn runs its tf.functions, in one place.

Why the same seed gave different numbers.  TensorFlow's ``AddN`` (the sum of
the gradients reaching a tensor along several paths, 3 to 5 terms in pinn's
graphs; Grappler also merges chains of ``+`` into it) reuses the buffer of
the first input that no other op still needs, and moves that input to the
front of the sum.  Which inputs are still needed depends on the order the
ops ran in, so the same graph on the same inputs summed in different orders
and gave gradients differing in the last bit, which L-BFGS grew into
solutions differing by ~1e-7.  That order varies:

* with TensorFlow's default executor, with timing: a cost model learns over a
  function's first ~90 calls which ops to run inline and which on the thread
  pool (initial estimate 1e8 cycles, decay 0.9 per call, threshold 8000);
* with the single-threaded executor, with memory addresses: it runs the ops
  in a depth-first order that follows each op's consumers in a set hashed by
  pointer, so a garbage collection earlier in the process (freeing the
  graphs of previous runs) could change it (seen in ~1 in 4 vectorised
  sweeps after several runs in one process).

``TF_DETERMINISTIC_OPS`` / ``tf.config.experimental.enable_op_determinism()``
do not cover it (measured: still two different gradients in 2000 calls),
nor do one-thread pools.  XLA is deterministic (it orders ops by name and
sums in input order) but costs 1-2 s more compilation per solve, keeps every
executable for the life of the process (12-16 MB per solve), and is slower
for stacked members' batched matmuls.

So :func:`compiled` calls (and so traces) every non-XLA function inside
:func:`deterministic_calls`, which removes the order-dependent sums from its
graph: gradients reaching a tensor along several paths are added two at a
time (``a + b`` is the same in either order, so reusing a buffer can no
longer change the result), and Grappler's arithmetic optimizer, which would
merge those additions back into ``AddN``, is off for these functions.  On a
CPU the calls also run on the single-threaded executor (one op at a time, in
a fixed order for a given graph in memory), a second guard.  Neither costs
time (2 shared cores, float64, times between progress reports, before ->
after): an L-BFGS iteration of the issue's problem (1-64-64-1 network, 128
points) 3.45 -> 3.33 ms (best of 3; medians 3.93 -> 3.84), an Adam step
without XLA 1.03 -> 0.92 ms, a batched L-BFGS iteration of 3 members
9.67 -> 8.41 ms, a stacked Adam step 3.01 -> 2.68 ms.  Nothing needs
configuring before TensorFlow starts.

Bit-identical means: same machine, same TensorFlow, same intra-op thread
count (kernels split large reductions by the number of threads; the
1-64-64-1 network on 128 points gave the same bits with 1 and 2 threads).
On a GPU the default executor is kept (the single-threaded one does not run
graphs partitioned between devices) and GPU kernels are not bit-reproducible
without ``enable_op_determinism``.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import threading
from typing import Callable, Optional

#: The executor of every call of a function made by :func:`compiled` on a CPU.
EXECUTOR = "SINGLE_THREADED_EXECUTOR"

_executor: Optional[str] = None  # EXECUTOR or "" (TensorFlow's default), decided on first use
_options = None  # the FunctionCallOptions of deterministic calls, built on first use
_vspace = None  # TensorFlow's tape vector space with pairwise gradient sums, built on first use
_depth = threading.local()  # how many deterministic_calls blocks this thread is in


def executor() -> str:
    """The executor pinn's compiled functions run on: :data:`EXECUTOR` without a GPU, else "" (the default)."""
    global _executor
    if _executor is None:
        import tensorflow as tf

        _executor = "" if tf.config.list_logical_devices("GPU") else EXECUTOR
    return _executor


def pairwise_sum(gradients):
    """The sum of the gradients reaching one tensor, added two at a time in order: ((g0 + g1) + g2) + ...

    The same arithmetic as an AddN that reuses no input buffer, but with no
    way for buffer reuse to reorder it.  Anything but a list of 3 or more
    dense tensors goes to TensorFlow's own aggregation.
    """
    import tensorflow as tf
    from tensorflow.python.eager import backprop

    if len(gradients) > 2 and all(isinstance(g, tf.Tensor) for g in gradients):
        total = gradients[0]
        for gradient in gradients[1:]:
            total = tf.raw_ops.AddV2(x=total, y=gradient)
        return total
    return backprop._aggregate_grads(gradients)


def _deterministic_options():
    """(call options: the executor, Grappler without its arithmetic optimizer; the tape's vector space)."""
    global _options, _vspace
    if _options is None:
        from tensorflow.core.protobuf import config_pb2, rewriter_config_pb2
        from tensorflow.python.eager import backprop, context

        config = config_pb2.ConfigProto.FromString(context.context().function_call_options.config_proto_serialized)
        config.graph_options.rewrite_options.arithmetic_optimization = rewriter_config_pb2.RewriterConfig.OFF
        _options = context.FunctionCallOptions(executor_type=executor() or None, config_proto=config)
        _vspace = backprop._default_vspace._replace(aggregate_fn=pairwise_sum)
    return _options, _vspace


@contextlib.contextmanager
def deterministic_calls():
    """tf.function calls (and the tracing they trigger) in this block give the same bits every time.

    Sets this thread's function call options (executor, Grappler config) and
    TensorFlow's tape aggregation for the block, and puts TensorFlow's own
    back afterwards.  Nests.
    """
    from tensorflow.python import pywrap_tfe
    from tensorflow.python.eager import backprop, context

    options, vspace = _deterministic_options()
    eager_context = context.context()
    saved = eager_context.function_call_options
    eager_context.function_call_options = copy.copy(options)  # a copy: code in the block may change its own
    _depth.value = getattr(_depth, "value", 0) + 1
    pywrap_tfe.TFE_Py_RegisterVSpace(vspace)
    try:
        yield
    finally:
        eager_context.function_call_options = saved
        _depth.value -= 1
        if _depth.value == 0:  # the outermost block: TensorFlow's own aggregation again
            pywrap_tfe.TFE_Py_RegisterVSpace(backprop._default_vspace)


def compiled(function: Callable, *, jit_compile: bool = False, reduce_retracing: bool = True) -> Callable:
    """``tf.function(function)`` whose calls run in :func:`deterministic_calls` (XLA functions are deterministic as they are).

    The result is called like the tf.function (also while tracing another
    function, where it is inlined); the tf.function itself is its
    ``.function`` attribute.
    """
    import tensorflow as tf

    traced = tf.function(function, jit_compile=jit_compile, reduce_retracing=reduce_retracing)
    if jit_compile:
        return traced

    @functools.wraps(function)
    def call(*args, **kwargs):
        with deterministic_calls():
            return traced(*args, **kwargs)

    call.function = traced
    return call
