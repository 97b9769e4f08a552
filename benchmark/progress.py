"""Progress of a run: a live bar on a terminal, plain lines in a log or pipe."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Self, TextIO

from tqdm import tqdm


class Progress:
    """Count finished images out of ``total``.

    On a terminal (``stream.isatty()``) it draws a tqdm bar; elsewhere it writes one plain line, ``irbench:
    120/500 images (24%), tophat on synth, 35 s``, at most every ``every`` seconds and at every further 10 %,
    and a last one when closed, so a log shows steady progress without carriage-return frames.
    """

    def __init__(
        self,
        total: int,
        stream: TextIO | None = None,
        every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.total, self.done, self.what = total, 0, ""
        self.every, self.clock = every, clock
        self.started = self.last = clock()
        self.last_tenth = self.reported = 0
        tty = getattr(self.stream, "isatty", lambda: False)()
        self.bar = tqdm(total=total, unit="img", desc="irbench", file=self.stream) if tty else None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self, what: str) -> None:
        """Name the work in progress (e.g. ``tophat on synth``)."""
        self.what = what
        if self.bar is not None:
            self.bar.set_postfix_str(what)

    def update(self, n: int = 1) -> None:
        """``n`` more images are finished."""
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        now = self.clock()
        tenth = 10 * self.done // max(self.total, 1)
        if now - self.last >= self.every or tenth > self.last_tenth:
            self._line(now)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.done != self.reported:
            self._line(self.clock())

    def _line(self, now: float) -> None:
        self.last, self.last_tenth, self.reported = now, 10 * self.done // max(self.total, 1), self.done
        share = 100 * self.done / max(self.total, 1)
        what = f", {self.what}" if self.what else ""
        print(
            f"irbench: {self.done}/{self.total} images ({share:.0f}%){what}, {now - self.started:.0f} s",
            file=self.stream,
            flush=True,
        )
