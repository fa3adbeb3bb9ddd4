"""Progress lines for long transfers (a download, an upload to object storage): bytes, percent of
the expected size, rate and time left, at most one line every ``every`` seconds, and a final line
with the total, the average rate and the time taken."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO, Any, Protocol


class InfoLog(Protocol):
    """A logger's ``info`` (stdlib, structlog or a task's ``self.log``)."""

    def info(self, msg: str, /, *args: Any) -> Any: ...


#: Seconds between progress lines unless a task says otherwise.
DEFAULT_EVERY = 10.0


def size(count: float) -> str:
    """Bytes for a person: ``812 B``, ``3.4 MiB``, ``1.00 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.{2 if count < 10 else 1}f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def duration(seconds: float) -> str:
    """``8.2 s``, ``3 min 05 s``, ``1 h 02 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds + 0.5), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class TransferProgress:
    """Counts a transfer's bytes and logs where it stands.

    ``expect`` gives the whole size when it becomes known (a download's Content-Length plus what
    a resume skips); ``restart`` says the transfer began again from zero.
    """

    def __init__(
        self,
        what: str,
        log: InfoLog,
        *,
        every: float = DEFAULT_EVERY,
        total: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.log = log
        self.every = every
        self.total = total
        self.done = 0
        self._clock = clock
        # The clock starts with the transfer (the size known or the first bytes in), not with
        # the calls that find the file: rate and time left are the transfer's own.
        self._began: float | None = None
        self._next_line = 0.0

    def _start(self) -> float:
        if self._began is None:
            self._began = self._clock()
            self._next_line = self._began + self.every
        return self._began

    def expect(self, total: int | None) -> None:
        """The transfer's whole size, if known (its answer arrived: the clock starts)."""
        self.total = total
        self._start()

    def restart(self) -> None:
        """The transfer starts again from its first byte."""
        self.done = 0

    def advance(self, count: int) -> None:
        """``count`` more bytes moved; a line if one is due."""
        self.done += count
        self._start()
        if self.every > 0:
            now = self._clock()
            if now >= self._next_line:
                self._next_line = now + self.every
                self.log.info("%s", self.line(now))

    def line(self, now: float) -> str:
        """Where the transfer stands at ``now``."""
        elapsed = max(now - self._start(), 1e-9)
        rate = self.done / elapsed
        text = f"{self.what}: {size(self.done)}"
        if self.total:
            text += f" of {size(self.total)} ({100 * self.done / self.total:.0f}%)"
        text += f", {size(rate)}/s"
        if self.total and rate > 0 and self.done < self.total:
            text += f", about {duration((self.total - self.done) / rate)} left"
        return text

    def finish(self, verb: str = "done") -> str:
        """The final line (logged, and returned): total, average rate and time taken."""
        elapsed = max(self._clock() - self._start(), 1e-9)
        text = (
            f"{self.what}: {verb} {size(self.done)} in {duration(elapsed)} "
            f"({size(self.done / elapsed)}/s on average)"
        )
        self.log.info("%s", text)
        return text

    def counting(self, sink: IO[bytes]) -> CountingSink:
        """``sink``, with every write counted here."""
        return CountingSink(sink, self)


class CountingSink:
    """A binary file whose writes are counted by a :class:`TransferProgress`; the rest of the
    file's methods (``seek``, ``truncate``...) are the file's own."""

    def __init__(self, sink: IO[bytes], progress: TransferProgress) -> None:
        self._sink = sink
        self._progress = progress

    def write(self, data: bytes) -> int:
        written = self._sink.write(data)
        self._progress.advance(len(data))
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sink, name)
