"""The isolated worker pool: the time limit counts the task only, not the imports its context needs."""

import time

from benchmark.pool import WorkerPool


class SlowToLoad:
    """A context whose unpickling takes ``seconds`` (as importing torch and the registry can on a busy machine)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __getstate__(self) -> float:
        return self.seconds

    def __setstate__(self, seconds: float) -> None:
        time.sleep(seconds)
        self.seconds = seconds


def double(context: SlowToLoad, item: int) -> int:
    return 2 * item


def nap(context: SlowToLoad, item: float) -> float:
    time.sleep(item)
    return item


def fail(item: object, message: str) -> str:
    return message


def test_loading_the_context_does_not_count_against_the_time_limit():
    with WorkerPool(2) as pool:
        out = sorted(pool.map_unordered(double, SlowToLoad(1.5), [1, 2, 3], fail, timeout=1.0))
    assert out == [2, 4, 6]


def test_a_task_past_the_limit_still_fails_alone():
    with WorkerPool(1) as pool:
        out = list(pool.map_unordered(nap, SlowToLoad(0.0), [3.0, 0.0], fail, timeout=1.0))
    assert out[0].startswith("timed out after 1 s") and out[1] == 0.0
