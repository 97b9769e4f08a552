"""Run progress: plain lines every few seconds or 10 % where the output is not a terminal."""

import io

from benchmark.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_every_tenth_or_interval_and_one_at_the_end():
    stream, clock = io.StringIO(), Clock()
    with Progress(1000, stream=stream, every=5.0, clock=clock) as bar:
        bar.describe("ipi on synth")
        for _ in range(250):  # 25 %: lines at 10 % and 20 %
            bar.update()
        clock.now = 6.0
        bar.update()  # the interval passed
        bar.update(749)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "irbench: 100/1000 images (10%), ipi on synth, 0 s",
        "irbench: 200/1000 images (20%), ipi on synth, 0 s",
        "irbench: 251/1000 images (25%), ipi on synth, 6 s",
        "irbench: 1000/1000 images (100%), ipi on synth, 6 s",
    ]


def test_a_terminal_gets_a_bar_not_lines():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    with Progress(10, stream=stream) as bar:
        bar.update(10)
    assert "irbench: 10/10 images" not in stream.getvalue() and "10/10" in stream.getvalue()
