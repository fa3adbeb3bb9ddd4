"""Our side of the download benchmark, in its own process: ``DownloadExportOperator.execute``.

Run by ``download_throughput.py`` (``python _download_child.py SPEC.json``): the operator's own
code path, ``ExportHook.download`` (login, status, streaming GET with requests in 256 KiB chunks)
inside ``download_verified`` (temp file, fsync, zip CRC check, atomic rename) into a real file.
Airflow and the provider are imported before the clock starts, as they are on a worker.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Any


def rss_kib() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def peak_rss_kib() -> int:
    """VmHWM: this process image's peak RSS (``ru_maxrss`` would count the parent's RSS at the
    fork, before exec: the parent here holds the emulator and its data)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def main(spec_path: str) -> None:
    spec: dict[str, Any] = json.loads(Path(spec_path).read_text())
    from airflow_provider_exports import files
    from airflow_provider_exports.operators.download import DownloadExportOperator

    phases: dict[str, float] = {"verify_zip_s": 0.0, "fsync_s": 0.0}
    verify_zip, fsync = files.verify_zip, os.fsync

    def timed_verify(path: Path) -> None:
        began = time.monotonic()
        try:
            verify_zip(path)
        finally:
            phases["verify_zip_s"] += time.monotonic() - began

    def timed_fsync(fd: int) -> None:
        began = time.monotonic()
        try:
            fsync(fd)
        finally:
            phases["fsync_s"] += time.monotonic() - began

    files.verify_zip = timed_verify  # type: ignore[assignment]
    os.fsync = timed_fsync

    operator = DownloadExportOperator(
        task_id="download", conn_id=spec["conn_id"], export_id=spec["export_id"], destination=spec["dest"]
    )
    hook = operator.hook
    transfer: dict[str, float] = {}
    download = hook.download

    def timed_download(export_id: str, sink: IO[bytes]) -> int:
        began, cpu = time.monotonic(), time.process_time()
        try:
            return download(export_id, sink)
        finally:
            transfer["seconds"] = time.monotonic() - began
            transfer["cpu_s"] = time.process_time() - cpu

    hook.download = timed_download  # type: ignore[method-assign]
    baseline = rss_kib()
    began = time.monotonic()
    if spec.get("profile"):
        import cProfile

        profiler = cProfile.Profile(time.process_time)
        target = profiler.runcall(operator.execute, context={})
        profiler.dump_stats(spec["profile"])
    else:
        target = operator.execute(context={})
    seconds = time.monotonic() - began
    out = {
        "target": target,
        "bytes": Path(target).stat().st_size,
        "seconds": seconds,
        "transfer_seconds": transfer["seconds"],
        "transfer_cpu_s": transfer["cpu_s"],
        **phases,
        "rss_before_kib": baseline,
        "rss_after_kib": rss_kib(),
        "peak_rss_kib": peak_rss_kib(),
    }
    Path(spec["out"]).write_text(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
