"""Where per-image scoring tasks run: an isolating local worker pool, or a Dask cluster.

Every backend calls the same task function, which reads and writes the same content-addressed store, so
results are identical whichever backend ran them (the store must be on a file system all workers see).
Both report a task that raised through ``on_failure(item, message)``. The local pool also enforces the
per-image time limit and survives worker deaths; on Dask, a task whose workers keep dying fails its chunk
(Dask's own retry rule) and no time limit applies.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from benchmark.pool import WorkerPool
from methods.names import Registry

Task = Callable[[Any, Any], Any]
Failure = Callable[[Any, str], Any]


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _cpu_times() -> dict[int, tuple[int, int]]:
    """``{cpu: (idle jiffies, total jiffies)}`` from ``/proc/stat`` (idle includes iowait)."""
    times = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            values = [int(v) for v in fields[:8]]
            times[int(name[3:])] = (values[3] + values[4], sum(values))
    return times


def free_cores(sample_s: float = 0.25) -> int:
    """The usable cores that other processes leave idle (at least 1): a core counts as busy when it was
    more than half busy over ``sample_s`` seconds of ``/proc/stat``; :func:`usable_cores` where that file
    is missing. More compute threads than free cores oversubscribe them (OpenMP spins: several times slower)."""
    try:
        allowed = os.sched_getaffinity(0)
        before = _cpu_times()
        time.sleep(sample_s)
        after = _cpu_times()
    except (AttributeError, OSError, ValueError, IndexError):
        return usable_cores()
    busy = 0
    for cpu in allowed:
        if cpu in before and cpu in after:
            idle = after[cpu][0] - before[cpu][0]
            total = after[cpu][1] - before[cpu][1]
            busy += total > 0 and idle / total < 0.5
    return max(1, len(allowed) - busy)


class Backend(AbstractContextManager["Backend"]):
    """Runs ``fn(context, item)`` for each item and yields the results as they finish."""

    n_workers: int = 1

    def map_unordered(
        self, fn: Task, context: Any, items: list[Any], on_failure: Failure, timeout: float | None = None
    ) -> Iterator[Any]:
        raise NotImplementedError

    def __exit__(self, *exc: object) -> None:
        return None


class LocalBackend(Backend):
    """``jobs`` spawned worker processes (``jobs <= 0``: one per usable core), one task each at a time,
    each with ``usable cores // jobs`` BLAS threads (at least 1)."""

    def __init__(self, jobs: int = -1) -> None:
        cores = usable_cores()
        self.n_workers = cores if jobs <= 0 else jobs
        self._pool = WorkerPool(self.n_workers, threads=max(1, cores // self.n_workers))

    def map_unordered(
        self, fn: Task, context: Any, items: list[Any], on_failure: Failure, timeout: float | None = None
    ) -> Iterator[Any]:
        yield from self._pool.map_unordered(fn, context, items, on_failure, timeout)

    def __exit__(self, *exc: object) -> None:
        self._pool.close()


def apply_chunk(fn: Task, context: Any, chunk: list[Any]) -> list[tuple[bool, Any]]:
    """``(True, fn(context, item))`` or ``(False, message)`` per item (the task of cluster backends)."""
    out: list[tuple[bool, Any]] = []
    for item in chunk:
        try:
            out.append((True, fn(context, item)))
        except BaseException as exc:  # noqa: BLE001 - a failing task costs its item only
            out.append((False, f"{type(exc).__name__}: {exc}"))
    return out


def guided_chunks(items: list[Any], workers: int, cap: int = 16) -> list[list[Any]]:
    """Chunks that shrink toward the end (guided scheduling): each a quarter of the remaining items' share
    per worker, at most ``cap`` and at least 1, so that the workers finish together."""
    chunks, start = [], 0
    while start < len(items):
        size = max(1, min(cap, (len(items) - start) // (4 * workers)))
        chunks.append(items[start : start + size])
        start += size
    return chunks


class DaskBackend(Backend):
    """A Dask distributed cluster: ``scheduler`` address (``tcp://host:8786``), or a local cluster of
    ``jobs`` single-threaded worker processes when no address is given."""

    def __init__(self, scheduler: str | None = None, jobs: int = -1) -> None:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as exc:
            raise RuntimeError("the dask backend needs `pip install irbench[dask]` (dask[distributed])") from exc
        self._cluster = None
        if scheduler:
            self.client = Client(scheduler)
        else:
            workers = usable_cores() if jobs <= 0 else jobs
            self._cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
            self.client = Client(self._cluster)
        self.n_workers = max(1, len(self.client.scheduler_info().get("workers", {})))

    def map_unordered(
        self, fn: Task, context: Any, items: list[Any], on_failure: Failure, timeout: float | None = None
    ) -> Iterator[Any]:
        from dask.distributed import as_completed

        chunks = guided_chunks(items, self.n_workers)
        futures = {self.client.submit(apply_chunk, fn, context, chunk, pure=False): chunk for chunk in chunks}
        for future in as_completed(futures):
            try:
                results = future.result()
            except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker: the chunk's items fail, the run goes on
                results = [(False, f"{type(exc).__name__}: {exc}")] * len(futures[future])
            for item, (ok, value) in zip(futures[future], results, strict=True):
                yield value if ok else on_failure(item, value)

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def _local(jobs: int, scheduler: str | None) -> Backend:
    if scheduler:
        raise ValueError("--scheduler is only used with --backend dask")
    return LocalBackend(jobs)


BACKENDS: Registry[Callable[[int, str | None], Backend]] = Registry("backend")
BACKENDS.add("local", _local)
BACKENDS.add("dask", lambda jobs, scheduler: DaskBackend(scheduler, jobs))


def make_backend(name: str, jobs: int = -1, scheduler: str | None = None) -> Backend:
    """The backend ``name`` of :data:`BACKENDS` (``local``, the default, or ``dask``); unknown names raise
    :class:`~methods.names.UnknownNameError` (a ``ValueError``)."""
    return BACKENDS[name](jobs, scheduler)
