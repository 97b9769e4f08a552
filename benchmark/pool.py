"""A pool of worker processes that isolates every task: one task per worker at a time, with a time limit.

A task that raises anything (``SystemExit`` and ``KeyboardInterrupt`` included), runs past the limit, or
takes its worker down (segfault, OOM kill, ``os._exit``) costs that task only: the pool reports it through
``on_failure(item, message)``, replaces the worker when needed and goes on. Workers are spawned fresh (no
inherited threads or locks), limited to ``threads`` BLAS/OpenMP threads each, ignore Ctrl-C (the main
process handles it) and die with the main process (``PR_SET_PDEATHSIG`` on Linux, a parent check
elsewhere).
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection, wait
from typing import Any, Self

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
_PARENT_CHECK_SECONDS = 1.0
_START_SECONDS = 120.0


class PoolStartError(RuntimeError):
    """A worker process died before it was ready (typically a script that starts a pool at import time)."""


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        with suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _worker_main(conn: Connection, parent: int) -> None:
    """Receive ``(fn, context)`` or ``item`` messages; answer each item with ``(True, fn(context, item))``
    or ``(False, message)``. Exits when the parent is gone or sends ``None``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    conn.send("ready")
    fn: Callable[[Any, Any], Any] | None = None
    context: Any = None
    while True:
        if not conn.poll(_PARENT_CHECK_SECONDS):
            if os.getppid() != parent:
                return
            continue
        message = conn.recv()
        if message is None:
            return
        if isinstance(message, tuple) and len(message) == 3 and message[0] == "context":
            _, fn, context = message
            conn.send("context loaded")  # imports done: the task clock starts after this
            continue
        try:
            reply = (True, fn(context, message))  # type: ignore[misc]
        except BaseException as exc:  # noqa: BLE001 - SystemExit/KeyboardInterrupt from a task cost the task
            reply = (False, f"{type(exc).__name__}: {exc}")
        conn.send(reply)


@contextmanager
def _thread_limits(threads: int) -> Iterator[None]:
    """Set the thread-count variables that spawned children read at start-up, then restore them."""
    saved = {k: os.environ.get(k) for k in THREAD_VARIABLES}
    os.environ.update({k: str(threads) for k in THREAD_VARIABLES})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def describe_exit(code: int | None) -> str:
    """``exit code 3`` / ``killed by SIGKILL`` for a process exit code."""
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class _Worker:
    def __init__(self, ctx: Any, threads: int) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, os.getpid()), daemon=True)
        with _thread_limits(threads):
            self.process.start()
        child.close()
        self.context_id: int | None = None
        self.item: Any = None
        self.started = 0.0

    def _answered(self, expected: str) -> bool:
        ready = wait([self.conn, self.process.sentinel], timeout=_START_SECONDS)
        if self.conn in ready:
            try:
                return self.conn.recv() == expected
            except (EOFError, OSError):
                pass
        self.process.join(timeout=5)
        return False

    def wait_ready(self) -> None:
        """Block until the worker says it is ready; :class:`PoolStartError` if it dies first."""
        if not self._answered("ready"):
            raise PoolStartError(
                f"a worker process could not start ({describe_exit(self.process.exitcode)}). Workers are "
                "spawned and import the main script: a script that calls irbench's run() must guard it with "
                '`if __name__ == "__main__":`'
            )

    def send_context(self, fn: Callable[[Any, Any], Any], context: Any, token: int) -> None:
        """Send the task function and its context; :meth:`wait_context` then waits for the worker to load them."""
        self.context_id = token if self.send(("context", fn, context)) else None

    def wait_context(self, fn: Callable[[Any, Any], Any]) -> None:
        """Block until the worker has imported what the task needs, so that import time never counts
        against a task's time limit; :class:`PoolStartError` if it cannot."""
        if self.context_id is None or not self._answered("context loaded"):
            raise PoolStartError(
                f"a worker process could not load the task {fn.__module__}.{fn.__qualname__} "
                f"({describe_exit(self.process.exitcode)})"
            )

    def send(self, message: Any) -> bool:
        try:
            self.conn.send(message)
            return True
        except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
            return False

    def stop(self, kill: bool = False) -> None:
        if kill or not self.send(None):
            self.process.kill()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class WorkerPool:
    """``n_workers`` spawned processes; use as a context manager (workers are stopped on exit)."""

    def __init__(self, n_workers: int, threads: int = 1) -> None:
        if n_workers < 1:
            raise ValueError(f"n_workers must be >= 1, got {n_workers}")
        self.n_workers, self.threads = n_workers, threads
        self._ctx = mp.get_context("spawn")
        self._workers: list[_Worker] = []
        self._context_id = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for worker in self._workers:
            worker.stop(kill=worker.item is not None)
        self._workers.clear()

    def _replace(self, worker: _Worker) -> None:
        worker.stop(kill=True)
        self._workers.remove(worker)

    def map_unordered(
        self,
        fn: Callable[[Any, Any], Any],
        context: Any,
        items: Iterable[Any],
        on_failure: Callable[[Any, str], Any],
        timeout: float | None = None,
    ) -> Iterator[Any]:
        """Yield ``fn(context, item)`` for every item as it finishes, or ``on_failure(item, message)`` for an
        item that raised, timed out (``timeout`` seconds, ``None``/0: no limit) or killed its worker.

        ``fn`` and ``context`` must be picklable (``fn`` by reference: a module-level function); ``context``
        is sent once per worker.
        """
        self._context_id += 1
        token, queue, limit = self._context_id, deque(items), timeout or None
        try:
            while queue or any(w.item is not None for w in self._workers):
                self._dispatch(fn, context, token, queue)
                yield from self._collect(on_failure, limit)
        finally:
            for worker in [w for w in self._workers if w.item is not None]:
                self._replace(worker)  # abandoned mid-task (error or generator closed): nothing half-done

    def _dispatch(self, fn: Callable[[Any, Any], Any], context: Any, token: int, queue: deque[Any]) -> None:
        new = [
            _Worker(self._ctx, self.threads)
            for _ in range(min(self.n_workers, len(queue) + self._busy()) - len(self._workers))
        ]
        self._workers += new
        idle = [w for w in self._workers if w.item is None][: len(queue)]
        try:
            for worker in new:
                worker.wait_ready()
            stale = [w for w in idle if w.context_id != token]
            for worker in stale:
                worker.send_context(fn, context, token)
            for worker in stale:
                worker.wait_context(fn)
        except PoolStartError:
            self.close()
            raise
        for worker in idle:
            item = queue.popleft()
            if not worker.send(item):
                queue.appendleft(item)
                self._replace(worker)
                return
            worker.item, worker.started = item, time.monotonic()

    def _busy(self) -> int:
        return sum(w.item is not None for w in self._workers)

    def _collect(self, on_failure: Callable[[Any, str], Any], limit: float | None) -> Iterator[Any]:
        busy = [w for w in self._workers if w.item is not None]
        if not busy:
            return
        wait_for = None
        if limit is not None:
            wait_for = max(0.0, min(w.started + limit for w in busy) - time.monotonic())
        ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=wait_for))
        now = time.monotonic()
        for worker in busy:
            item = worker.item
            if worker.conn in ready:
                try:
                    ok, value = worker.conn.recv()
                except (EOFError, OSError):
                    worker.process.join(timeout=5)
                    self._replace(worker)
                    yield on_failure(item, f"worker process died ({describe_exit(worker.process.exitcode)})")
                    continue
                worker.item = None
                yield value if ok else on_failure(item, value)
            elif worker.process.sentinel in ready:
                worker.process.join(timeout=5)
                self._replace(worker)
                yield on_failure(item, f"worker process died ({describe_exit(worker.process.exitcode)})")
            elif limit is not None and now - worker.started >= limit:
                self._replace(worker)
                yield on_failure(item, f"timed out after {limit:g} s (the --timeout limit); worker stopped")
