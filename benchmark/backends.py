"""Where (method x image-chunk) scoring tasks run: in-process, joblib worker processes, or a Dask cluster.

Every backend calls the same task function, which reads and writes the same content-addressed store, so
results are identical whichever backend ran them (the store must be on a file system all workers see).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from joblib import Parallel, delayed

Task = Callable[..., list[Any]]


class Backend(AbstractContextManager["Backend"]):
    """Runs ``fn(job, chunk)`` for each chunk and yields the results as they finish."""

    n_workers: int = 1

    def map_unordered(self, fn: Task, job: Any, chunks: list[list[str]]) -> Iterator[list[Any]]:
        for chunk in chunks:
            yield fn(job, chunk)

    def __exit__(self, *exc: object) -> None:
        return None


class JoblibBackend(Backend):
    """Local worker processes (loky); ``jobs <= 0`` means all cores, 1 means in-process."""

    def __init__(self, jobs: int = -1) -> None:
        self.n_workers = (os.cpu_count() or 1) if jobs <= 0 else jobs

    def map_unordered(self, fn: Task, job: Any, chunks: list[list[str]]) -> Iterator[list[Any]]:
        if self.n_workers == 1:
            yield from super().map_unordered(fn, job, chunks)
            return
        tasks = (delayed(fn)(job, chunk) for chunk in chunks)
        yield from Parallel(n_jobs=self.n_workers, return_as="generator_unordered")(tasks)


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
            workers = (os.cpu_count() or 1) if jobs <= 0 else jobs
            self._cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                         dashboard_address=None)
            self.client = Client(self._cluster)
        self.n_workers = max(1, len(self.client.scheduler_info().get("workers", {})))

    def map_unordered(self, fn: Task, job: Any, chunks: list[list[str]]) -> Iterator[list[Any]]:
        from dask.distributed import as_completed

        futures = [self.client.submit(fn, job, chunk, pure=False) for chunk in chunks]
        for future in as_completed(futures):
            yield future.result()

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_backend(name: str, jobs: int = -1, scheduler: str | None = None) -> Backend:
    """``joblib`` (default) or ``dask``; unknown names raise ``ValueError``."""
    if name == "joblib":
        if scheduler:
            raise ValueError("--scheduler is only used with --backend dask")
        return JoblibBackend(jobs)
    if name == "dask":
        return DaskBackend(scheduler, jobs)
    raise ValueError(f"Unknown backend {name!r}. Available: joblib, dask")
