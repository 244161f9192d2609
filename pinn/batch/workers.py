"""Where a batch's tasks run: this process, a pool of worker processes, or Ray.

Every executor has the same shape, ``executor(tasks, out, on_records)``: it
runs each :class:`pinn.batch.Task`, leaves the reports under
``out/.partial/RUN`` and calls ``on_records(records)`` as each task ends, in
the main process, which moves the finished runs into place.

Worker processes (``--jobs N``) are started with ``spawn`` (TensorFlow does
not survive ``fork``), import TensorFlow once, then take tasks one at a time
until told to stop.  Each worker sees only its GPU (``CUDA_VISIBLE_DEVICES``)
with memory growth on, so several workers share a GPU; without GPUs each of
N workers gets cores // N threads, so the workers do not oversubscribe the
cores.  A worker that dies (out of memory, a signal) loses only its current
task, which is recorded as ``crashed``; a new worker takes its place.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import signal
import subprocess
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from ..errors import ProblemError
from ..tensorflow_setup import configure_tensorflow
from .execute import execute_task, failure_record
from .plan import CRASHED, PARTIAL, Task

OnRecords = Callable[[List[Dict]], None]

#: Tasks a worker process runs before it is replaced by a fresh one: TensorFlow keeps some memory per
#: solve (compiled functions, graphs) that no Python reference frees, about 12-17 MB per run measured
#: before the fixes of the determinism work, so a long batch would otherwise grow without bound.
TASKS_PER_WORKER = 25

#: Environment variables that size the thread pools of numpy/scipy's BLAS and OpenMP.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


@dataclass(frozen=True)
class WorkerSlot:
    """One worker process: its number, the GPU it sees (None: leave visibility alone) and its thread count (0: default)."""

    index: int
    gpu: Optional[str] = None
    threads: int = 0

    @property
    def label(self) -> str:
        return f"worker {self.index}" + (f" on GPU {self.gpu}" if self.gpu is not None else "")


def available_cores() -> int:
    """The cores this process may use (its affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def visible_gpus() -> List[str]:
    """The GPU ids a worker can be given: CUDA_VISIBLE_DEVICES if set, else those ``nvidia-smi`` lists."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g.strip() for g in listed.split(",") if g.strip() and g.strip() != "-1"]
    try:
        output = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in output.splitlines() if line.strip()]


def parse_gpus(text: Optional[str]) -> List[str]:
    """``--gpus 0,1`` -> ["0", "1"]; ``--gpus all`` -> every visible GPU; None -> []."""
    if text is None:
        return []
    if text.strip() == "all":
        gpus = visible_gpus()
        if not gpus:
            raise ProblemError("--gpus all: no GPU found (nvidia-smi lists none and CUDA_VISIBLE_DEVICES is not set)",
                               location="--gpus", fix="Drop --gpus to run on the CPU, or install the NVIDIA driver and "
                               "pip install \"tensorflow[and-cuda]\".")
        return gpus
    gpus = [g.strip() for g in text.split(",")]
    if not all(g.isdigit() for g in gpus) or len(set(gpus)) != len(gpus):
        raise ProblemError(f"'{text}' is not a list of GPU numbers", location="--gpus",
                           fix="Write --gpus 0,1 (numbers as nvidia-smi shows them, each once) or --gpus all.")
    return gpus


def worker_slots(jobs: int, gpus: Sequence[str] = (), cores: Optional[int] = None) -> List[WorkerSlot]:
    """``jobs`` workers: spread round-robin over ``gpus`` if given, else sharing the cores evenly."""
    if gpus:
        return [WorkerSlot(i, gpus[i % len(gpus)], 0) for i in range(jobs)]
    cores = cores or available_cores()
    return [WorkerSlot(i, None, max(1, cores // jobs)) for i in range(jobs)]


def slot_environment(slot: WorkerSlot) -> Dict[str, str]:
    """The environment a worker starts with: its GPU, memory growth, thread counts, quiet TensorFlow."""
    environment = {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"), "TF_FORCE_GPU_ALLOW_GROWTH": "true"}
    if slot.gpu is not None:
        environment["CUDA_VISIBLE_DEVICES"] = slot.gpu
    if slot.threads:
        environment.update({name: str(slot.threads) for name in THREAD_VARIABLES})
    return environment


# ------------------------------------------------------------------ in this process


def run_in_process(tasks: Sequence[Task], out: Path, on_records: OnRecords) -> None:
    """Run the tasks one after another here (``--jobs 1``); TensorFlow is imported once."""
    device = configure_tensorflow()
    for task in tasks:
        on_records(execute_task(task, Path(out) / PARTIAL, device))


# ------------------------------------------------------------------ worker processes


def worker_device(devices: str, slot: WorkerSlot) -> str:
    """What a worker reports as its device: TensorFlow's view, with the machine's GPU number it was given."""
    if slot.gpu is None:
        return devices
    if devices.startswith("GPU"):
        return f"GPU {slot.gpu}"
    return f"CPU (GPU {slot.gpu} asked for, but TensorFlow sees none)"


def die_with_parent(parent: int, interval: float = 1.0) -> None:
    """End this process as soon as ``parent`` (the batch that started it) is gone, SIGKILL included.

    On Linux the kernel is asked to send SIGKILL when the parent dies
    (``PR_SET_PDEATHSIG``); everywhere, a daemon thread also checks every
    ``interval`` seconds whether this process has been handed to another parent.
    """
    import threading

    with contextlib.suppress(Exception):  # not Linux, or no libc to call: the thread alone does it
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before the request was made
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="pinn-parent-watch", daemon=True).start()


def _worker_main(connection, slot: WorkerSlot, parent: int) -> None:  # pragma: no cover - runs in the child process
    """A worker: configure TensorFlow once, then run tasks until sent None; it ends with its parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    die_with_parent(parent)
    device = worker_device(configure_tensorflow(slot.threads), slot)
    while True:
        message = connection.recv()
        if message is None:
            return
        task, root = message
        connection.send(execute_task(task, root, device))


@contextlib.contextmanager
def _environment(values: Dict[str, str]):
    """Set environment variables for a child about to start, then restore ours."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _Worker:
    def __init__(self, slot: WorkerSlot, context):
        self.slot = slot
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, slot, os.getpid()), name=f"pinn-{slot.label}", daemon=True)
        with _environment(slot_environment(slot)):
            self.process.start()
        child.close()
        self.task: Optional[Task] = None
        self.done = 0  # tasks finished

    def retire(self) -> None:
        """Ask the worker to stop after its current (finished) task and wait for it."""
        with contextlib.suppress(OSError):
            self.connection.send(None)
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=10)


def run_in_workers(tasks: Sequence[Task], out: Path, on_records: OnRecords, slots: Sequence[WorkerSlot]) -> None:
    """Run the tasks on one worker process per slot, each taking the next task when it is free.

    A worker that dies loses only its task (recorded as crashed) and is replaced;
    a worker that has run :data:`TASKS_PER_WORKER` tasks is replaced by a fresh
    process, so memory TensorFlow keeps per solve cannot pile up.  On any exit
    (Ctrl-C included) the workers are stopped.
    """
    pool = _Pool(tasks, out, on_records, slots)
    try:
        while pool.queue or any(w.task is not None for w in pool.workers):
            pool.hand_out()
            busy = [w for w in pool.workers if w.task is not None]
            wait([w.connection for w in busy] + [w.process.sentinel for w in busy])
            pool.collect()
        pool.stop()
    finally:
        pool.end()


class _Pool:
    """The worker processes of one :func:`run_in_workers` call and the tasks still to hand out."""

    def __init__(self, tasks: Sequence[Task], out: Path, on_records: OnRecords, slots: Sequence[WorkerSlot]):
        self.context = multiprocessing.get_context("spawn")
        self.root = Path(out) / PARTIAL
        self.queue = deque(tasks)
        self.on_records = on_records
        self.workers = [_Worker(slot, self.context) for slot in slots[: max(1, len(tasks))]]

    def hand_out(self) -> None:
        """Send the next task to each idle worker; one that died while idle is replaced first."""
        for index, worker in enumerate(self.workers):
            if worker.task is None and self.queue:
                task = self.queue.popleft()
                try:
                    worker.connection.send((task, self.root))
                except OSError:  # it died while idle: replace it, lose nothing
                    worker.process.join(timeout=1)
                    worker = self.workers[index] = _Worker(worker.slot, self.context)
                    worker.connection.send((task, self.root))
                worker.task = task

    def collect(self) -> None:
        """Take each busy worker's finished task, or record the task of one that died as crashed."""
        for index, worker in enumerate(self.workers):
            if worker.task is None:
                continue
            if worker.connection.poll() and self._finished(index, worker):
                continue
            if not worker.process.is_alive():
                self._crashed(index, worker)

    def _finished(self, index: int, worker: _Worker) -> bool:
        """Pass on the worker's records (False if there were none to read); a worker that did its share is replaced."""
        try:
            records = worker.connection.recv()
        except (EOFError, OSError):
            records = None
        if records is None:
            return False
        worker.task = None
        worker.done += 1
        self.on_records(records)
        if worker.done >= TASKS_PER_WORKER and self.queue:  # a fresh process bounds what a long batch holds
            worker.retire()
            self.workers[index] = _Worker(worker.slot, self.context)
        return True

    def _crashed(self, index: int, worker: _Worker) -> None:
        """The dead worker's task recorded as crashed (its partial reports removed); a new worker if tasks remain."""
        code = worker.process.exitcode
        task = worker.task
        worker.task = None
        for run in task.runs:
            shutil.rmtree(self.root / run.name, ignore_errors=True)
        self.on_records([failure_record(run, CRASHED, f"the worker process died (exit code {code}) while running it; "
                                        "a likely cause is running out of memory", device=worker.slot.label)
                         for run in task.runs])
        if self.queue:
            self.workers[index] = _Worker(worker.slot, self.context)

    def stop(self) -> None:
        """Tell every worker to stop and wait for them (the batch is done)."""
        for worker in self.workers:
            with contextlib.suppress(OSError):  # a worker that already died
                worker.connection.send(None)
        for worker in self.workers:
            worker.process.join(timeout=30)

    def end(self) -> None:
        """Terminate the workers still alive, then kill any that outlast it (on every exit, Ctrl-C included)."""
        for worker in self.workers:
            if worker.process.is_alive():
                worker.process.terminate()
        for worker in self.workers:
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.kill()


# ------------------------------------------------------------------ the whole batch


def run_batch(plan, out, *, jobs: Optional[int] = None, gpus: Sequence[str] = (), ray_address: Optional[str] = None,
              gpus_per_run: Optional[float] = None, vectorize: bool = False, force: bool = False, plot: bool = True,
              on_record: Optional[Callable[[Dict], None]] = None) -> List[Dict]:
    """Run the plan's pending runs into ``out`` and write the summary; returns every run's record.

    Runs already done in ``out`` are skipped unless ``force``.  The summary is
    rewritten after every finished task, and once more on the way out, so a
    Ctrl-C (which propagates as KeyboardInterrupt after the workers stop)
    leaves the finished runs and a summary of them.  ``ray_address`` "" means a
    local Ray instance, None no Ray.  ``jobs`` None means 1 here, 2 per GPU
    with ``gpus``, and as many as the cluster holds on Ray.  A second batch into the same ``out`` at
    the same time is refused (:class:`ProblemError`).
    """
    from ..output_folder import BATCH, make_folder
    from .plan import check_batch_output, pending_runs

    check_batch_output(plan, Path(out), pending_runs(plan, Path(out), force=force))
    out = make_folder(out, BATCH)
    with _exclusive(out):
        return _run_batch(plan, out, jobs=jobs, gpus=gpus, ray_address=ray_address, gpus_per_run=gpus_per_run,
                          vectorize=vectorize, force=force, plot=plot, on_record=on_record)


@contextlib.contextmanager
def _exclusive(out: Path):
    """Hold ``out/.lock`` for the batch: a second batch into the same folder is refused, not interleaved."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(out / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ProblemError("another batch is writing into this folder", file=str(out), location="--out",
                               fix="Wait for it to finish, or give this batch another --out folder.") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_batch(plan, out: Path, *, jobs, gpus, ray_address, gpus_per_run, vectorize, force, plot, on_record) -> List[Dict]:
    from .execute import finish_run
    from .plan import pending_runs, tasks_for
    from .summary import write_summary

    shutil.rmtree(out / PARTIAL, ignore_errors=True)  # left by an interrupted batch: never finished
    tasks = tasks_for(pending_runs(plan, out, force=force), vectorize=vectorize, plot=plot)

    def on_records(records: List[Dict]) -> None:
        for record in records:
            finish_run(out, record)
            if on_record is not None:
                on_record(record)
        write_summary(plan, out)

    try:
        if not tasks:
            pass
        elif ray_address is not None:
            from .on_ray import run_on_ray

            run_on_ray(tasks, out, on_records, address=ray_address or None, gpus_per_run=gpus_per_run, jobs=jobs)
        elif (jobs or 1) > 1 or gpus:
            run_in_workers(tasks, out, on_records, worker_slots(jobs or 2 * len(gpus), gpus))
        else:
            run_in_process(tasks, out, on_records)
    finally:
        shutil.rmtree(out / PARTIAL, ignore_errors=True)
        records = write_summary(plan, out)[1]
    return records
