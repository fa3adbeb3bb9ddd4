"""Progress lines, with a clock the test moves."""

from __future__ import annotations

from typing import Any

from airflow_provider_exports.progress import TransferProgress, duration, size


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str, *args: Any) -> None:
        self.lines.append(msg % args)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_at_most_one_line_per_interval_with_percent_rate_and_time_left() -> None:
    log, clock = Lines(), Clock()
    progress = TransferProgress("Export 'e1'", log, every=10, clock=clock)
    clock.now += 30  # finding the file (login, status) is not part of the transfer
    progress.expect(1024**3)
    for _ in range(40):  # 40 x 16 MiB over 20 s
        clock.now += 0.5
        progress.advance(16 * 1024**2)
    assert log.lines == [
        "Export 'e1': 320.0 MiB of 1.00 GiB (31%), 32.0 MiB/s, about 22.0 s left",
        "Export 'e1': 640.0 MiB of 1.00 GiB (62%), 32.0 MiB/s, about 12.0 s left",
    ]
    assert progress.finish("downloaded") == (
        "Export 'e1': downloaded 640.0 MiB in 20.0 s (32.0 MiB/s on average)"
    )


def test_an_unknown_size_gives_bytes_and_rate_only() -> None:
    log, clock = Lines(), Clock()
    progress = TransferProgress("Export 'e1'", log, every=1, clock=clock)
    progress.advance(1024**2)  # the first bytes start the clock
    clock.now += 2
    progress.advance(2 * 1024**2)
    assert log.lines == ["Export 'e1': 3.00 MiB, 1.50 MiB/s"]


def test_a_restart_counts_from_zero_again() -> None:
    log, clock = Lines(), Clock()
    progress = TransferProgress("x", log, every=0, clock=clock)
    progress.advance(500)
    progress.restart()
    progress.advance(200)
    assert progress.done == 200 and log.lines == []


def test_sizes_and_durations_read_naturally() -> None:
    assert [size(n) for n in (812, 3.4 * 1024**2, 1024**3, 5 * 1024**4)] == [
        "812 B",
        "3.40 MiB",
        "1.00 GiB",
        "5120.0 GiB",
    ]
    assert [duration(s) for s in (8.24, 185, 3720)] == ["8.2 s", "3 min 05 s", "1 h 02 min"]
