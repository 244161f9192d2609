"""Run a batch's tasks on Ray: a local instance, or a cluster (``pinn batch --ray [ADDRESS]``).

The workers are long-lived Ray actors, each importing TensorFlow once and
then running tasks one after another.  Plain Ray tasks would not do: Ray
gives GPU tasks ``max_calls=1`` (a fresh process, so a fresh TensorFlow
import, per run), and a reused worker may be handed another GPU than the
one TensorFlow already set up.  An actor asks for one CPU and
``gpus_per_run`` of a GPU (0.25: four runs share a GPU, memory growth on),
or, for CPU runs, its even share of the cluster's cores, which its
TensorFlow then uses; CPU runs are kept off any GPU.

A cluster's nodes do not share the driver's disk, so an actor writes a
task's reports into a temporary folder of its own and returns them packed
(tar.gz bytes); this process unpacks them into ``out/.partial/RUN``.

Every node needs pinn installed (the same version as here), or the job must
ship it, e.g. ``ray job submit --working-dir . -- pinn batch --ray auto ...``
or ``ray.init(runtime_env={"working_dir": "."})`` before calling this from
Python.  An actor that dies (out of memory, a lost node) loses only its
current task, recorded as ``crashed``; another actor takes its place.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tarfile
import tempfile
from collections import deque
from pathlib import Path, PurePosixPath
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ..errors import ProblemError
from .execute import execute_task, failure_record
from .plan import CRASHED, PARTIAL, Task

#: The GPU fraction a run asks for when the cluster has GPUs and none is given.
DEFAULT_GPUS_PER_RUN = 0.25


def pack(folder: Path) -> bytes:
    """A folder's files as tar.gz bytes (names relative to the folder)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(str(folder), arcname=".")
    return buffer.getvalue()


def unpack(data: bytes, folder: Path) -> None:
    """Unpack :func:`pack`'s bytes into ``folder`` (replacing it), refusing anything outside it.

    Only plain files and folders with relative names free of ``..`` are
    accepted; the bytes come from another machine.
    """
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = tar.getmembers()
        for member in members:
            path = PurePosixPath(member.name)
            if path.is_absolute() or ".." in path.parts or not (member.isfile() or member.isdir()):
                raise ValueError(f"refusing to unpack '{member.name}': not a plain file inside the run's folder")
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        if hasattr(tarfile, "data_filter"):
            tar.extractall(folder, members, filter="data")
        else:  # pragma: no cover - Python without extraction filters; members were checked above
            tar.extractall(folder, members)


class RunWorker:
    """A Ray actor's body: TensorFlow set up once, then one task per :meth:`run` call."""

    def __init__(self, threads: int = 0):
        import ray

        from ..tensorflow_setup import configure_tensorflow

        devices = configure_tensorflow(threads)
        gpus = ray.get_gpu_ids()
        self.device = f"{'GPU ' + ','.join(map(str, gpus)) if gpus else devices} @ {ray.util.get_node_ip_address()}"

    def ready(self) -> str:
        return self.device

    def run(self, task: Task) -> Tuple[List[Dict], Dict[str, bytes]]:
        """Run the task in a temporary folder; return its records and each run's folder packed."""
        root = Path(tempfile.mkdtemp(prefix="pinn-ray-"))
        try:
            records = execute_task(task, root, self.device)
            return records, {run.name: pack(root / run.name) for run in task.runs if (root / run.name).is_dir()}
        finally:
            shutil.rmtree(root, ignore_errors=True)


def _last_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1][:300] if lines else type(error).__name__


def run_on_ray(tasks: Sequence[Task], out: Path, on_records: Callable[[List[Dict]], None], *,
               address: Optional[str] = None, gpus_per_run: Optional[float] = None, jobs: Optional[int] = None) -> None:
    """Run the tasks on Ray actors, unpacking each task's reports into ``out/.partial`` and calling ``on_records``.

    ``address`` None starts a local Ray instance (shut down on the way out);
    a Ray already initialised here (a notebook) is used and left running.
    ``jobs`` actors run at once (default: as many as the cluster's GPUs or
    CPUs hold); tasks go only to actors that have started, so actors the
    cluster cannot place yet just wait.  Ctrl-C kills the actors and propagates.
    """
    ray = _import_ray()
    started = _start_ray(ray, address)
    actors: Dict = {}  # the live actors (starting, idle or busy) -> where they run, once known
    try:
        count, threads, worker = _actor_class(ray, len(tasks), gpus_per_run, jobs)
        _ActorPool(ray, worker, threads, actors, tasks, Path(out) / PARTIAL, on_records).run(count)
    finally:
        for actor in actors:
            with contextlib.suppress(Exception):  # already dead, or Ray itself is going
                ray.kill(actor)
        if started:
            ray.shutdown()


def _import_ray():
    """The ray module, or a ProblemError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ProblemError("--ray needs Ray, which is not installed", location="--ray",
                           fix='pip install "pinn[ray]" (or pip install ray)') from None
    return ray


def _start_ray(ray, address: Optional[str]) -> bool:
    """Initialise Ray (a local instance, or the cluster at ``address``) unless it already is; True if started here."""
    started = not ray.is_initialized()
    if started:
        quiet = dict(log_to_driver=False, configure_logging=True, logging_level=logging.WARNING)
        try:
            ray.init(address=address, **quiet) if address else ray.init(include_dashboard=False, **quiet)
        except ConnectionError as error:
            raise ProblemError(f"cannot reach the Ray cluster at {address}: {error}", location="--ray",
                               fix="Start the cluster (ray start --head) and give its address, e.g. --ray 10.0.0.1:6379, "
                               "or --ray auto on one of its nodes.") from None
    return started


def _actor_class(ray, tasks: int, gpus_per_run: Optional[float], jobs: Optional[int]):
    """(actors to start, threads each, the actor class with its resources) for ``tasks`` tasks on this cluster."""
    resources = ray.cluster_resources()
    gpus, cpus = resources.get("GPU", 0), int(resources.get("CPU", 1))
    if gpus_per_run is None:
        gpus_per_run = DEFAULT_GPUS_PER_RUN if gpus else 0
    elif gpus_per_run > 0 and not gpus:
        raise ProblemError(f"the Ray cluster has no GPU, so runs asking for {gpus_per_run} of one would wait forever",
                           location="--gpus-per-run", fix="Drop --gpus-per-run (or give 0) to run on CPUs, "
                           "or connect to a cluster with GPUs.")
    count = jobs or (min(cpus, int(gpus / gpus_per_run + 1e-9)) if gpus_per_run else cpus)
    count = max(1, min(count, tasks))
    threads = 0 if gpus_per_run else max(1, cpus // count)
    environment = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}
    if not gpus_per_run:  # Ray leaves GPUs visible to actors that asked for none: CPU runs stay off them
        environment["CUDA_VISIBLE_DEVICES"] = ""
    worker = ray.remote(RunWorker).options(
        num_cpus=1 if gpus_per_run else threads, num_gpus=gpus_per_run, runtime_env={"env_vars": environment})
    return count, threads, worker


class _ActorPool:
    """The actors of one :func:`run_on_ray` call, the tasks still to hand out and the calls awaited."""

    def __init__(self, ray, worker, threads: int, actors: Dict, tasks: Sequence[Task], root: Path,
                 on_records: Callable[[List[Dict]], None]):
        self.ray, self.worker, self.threads = ray, worker, threads
        self.actors, self.root, self.on_records = actors, root, on_records  # actors: shared with run_on_ray, which kills them
        self.queue, self.idle, self.pending = deque(tasks), [], {}  # pending: result ref -> (actor, its task; None for start-up)

    def start(self) -> None:
        """Start one more actor (it joins the idle ones once it reports ready)."""
        actor = self.worker.remote(self.threads)
        self.actors[actor] = "ray"
        self.pending[actor.ready.remote()] = (actor, None)

    def run(self, count: int) -> None:
        """Start ``count`` actors and hand out the tasks until every one has ended."""
        ray = self.ray
        for _ in range(count):
            self.start()
        while self.queue or any(task is not None for _, task in self.pending.values()):
            while self.idle and self.queue:
                actor, task = self.idle.pop(), self.queue.popleft()
                self.pending[actor.run.remote(task)] = (actor, task)
            [ref], _ = ray.wait(list(self.pending), num_returns=1)
            actor, task = self.pending.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayError as error:  # the actor died, or could not start
                self._lost(actor, task, error)
                continue
            self.idle.append(actor)
            if task is None:
                self.actors[actor] = result  # its device label
                continue
            records, packed = result
            self._finished(task, records, packed)

    def _lost(self, actor, task: Optional[Task], error: BaseException) -> None:
        """A dead actor: its task recorded as crashed and a new actor started, or an error if none can start."""
        device = self.actors.pop(actor)
        self.ray.kill(actor)
        if task is None:  # a worker that cannot start loses no run; only with none left is it fatal
            if not self.actors:
                raise ProblemError(f"Ray could not start a pinn worker: {_last_line(error)}", location="--ray",
                                   fix="Install pinn (this version) on every node, or ship it with "
                                   "ray job submit --working-dir .") from None
            return
        if isinstance(error, self.ray.exceptions.RayActorError):
            message = f"the Ray worker died while running it ({_last_line(error)}); a likely cause is running out of memory"
        else:
            message = f"the Ray worker failed on it: {_last_line(error)}"
        self.on_records([failure_record(run, CRASHED, message, device=device) for run in task.runs])
        if self.queue:
            self.start()

    def _finished(self, task: Task, records: List[Dict], packed: Dict[str, bytes]) -> None:
        """A finished task's reports unpacked into ``out/.partial`` (crashed records if they cannot be) and passed on."""
        try:
            for run in task.runs:
                if run.name in packed:
                    unpack(packed[run.name], self.root / run.name)
        except (ValueError, tarfile.TarError) as error:
            for run in task.runs:
                shutil.rmtree(self.root / run.name, ignore_errors=True)
            records = [failure_record(run, CRASHED, f"its report could not be unpacked: {error}") for run in task.runs]
        self.on_records(records)
