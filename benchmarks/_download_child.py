"""Our side of the download benchmark, in its own process: ``DownloadExportOperator.execute``.

Run by ``download_throughput.py`` (``python _download_child.py SPEC.json``): the operator's own
code path, ``ExportHook.download`` (login, status, streaming GET with requests, 256 KiB reads)
inside ``download_verified`` (temp file written in 16 KiB slices, zip CRC check of every member
while the bytes arrive: in the writer's thread for the benchmark's stored member, background
writeback, fsync, atomic rename) into a real file. Airflow and
the provider are imported before the clock starts, as they are on a worker.

Phases, by wrapping the functions involved (the same objects the operator calls):

* transfer: ``ExportHook.download`` (login and status excluded), until the last byte is written;
* tail: from the end of the transfer to the end of the rename (``os.replace``): the verifier
  catching up with the last bytes (``catch_up``, with the end of the flush thread), matching the
  central directory, the fallback ``verify_zip`` if it ran, the final ``fsync``;
* ``verify_zip``, final ``fsync``, background ``fdatasync`` calls: their own times (the
  ``fdatasync`` calls overlap the transfer; ``verify_zip`` only runs as a fallback);
* ``zip_check``: whether the streaming verification or the fallback decided;
* CPU time of the main thread during the transfer and of the verifier and flush threads.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

from _common import peak_rss_kib, rss_kib

T = TypeVar("T")
S = TypeVar("S")


def main(spec_path: str) -> None:
    spec: dict[str, Any] = json.loads(Path(spec_path).read_text())
    from airflow_provider_exports import files, zipcheck
    from airflow_provider_exports.operators.download import DownloadExportOperator

    phases: dict[str, Any] = {
        "verify_zip_s": 0.0,
        "fsync_s": 0.0,
        "fdatasync_s": 0.0,
        "fdatasyncs": 0,
        "catch_up_s": 0.0,
        "zip_check": "none",
    }
    moments: dict[str, float] = {}
    verify_zip, replace, finish = zipcheck.verify_zip, os.replace, zipcheck.StreamingZipVerifier.finish

    def timed(fn: Callable[..., T], key: str, count: str | None = None) -> Callable[..., T]:
        """``fn``, adding its wall time to ``phases[key]`` (and 1 to ``phases[count]``)."""

        def wrapper(*args: Any, **kwargs: Any) -> T:
            began = time.monotonic()
            try:
                return fn(*args, **kwargs)
            finally:
                phases[key] += time.monotonic() - began
                if count is not None:
                    phases[count] += 1

        return wrapper

    def thread_cpu(run: Callable[[S], None], key: str) -> Callable[[S], None]:
        """A thread's ``run``, recording the thread's CPU time in ``phases[key]`` as it ends."""

        def wrapper(self: S) -> None:
            try:
                run(self)
            finally:
                phases[key] = time.thread_time()

        return wrapper

    def checked_by_verify_zip(path: Path) -> None:
        if phases["zip_check"] == "none":
            phases["zip_check"] = "verify_zip"
        verify_zip(path)

    def timed_replace(src: Any, dst: Any) -> None:
        replace(src, dst)
        moments["renamed"] = time.monotonic()

    def timed_finish(self: zipcheck.StreamingZipVerifier, path: Path) -> None:
        try:
            finish(self, path)
        finally:
            phases["zip_check"] = "streaming" if self.verified_streaming else "fallback (verify_zip)"
            phases["zip_unsure"] = self.unsure

    zipcheck.verify_zip = timed(checked_by_verify_zip, "verify_zip_s")
    os.fsync = timed(os.fsync, "fsync_s")
    os.fdatasync = timed(os.fdatasync, "fdatasync_s", count="fdatasyncs")
    os.replace = timed_replace
    zipcheck.StreamingZipVerifier.finish = timed_finish  # type: ignore[method-assign]
    files.DownloadSink.finish_writing = timed(  # type: ignore[method-assign]
        files.DownloadSink.finish_writing, "catch_up_s"
    )
    # CPU time of the two background threads (each reads its own clock as it ends).
    files._VerifierThread._run = thread_cpu(  # type: ignore[method-assign]
        files._VerifierThread._run, "verifier_thread_cpu_s"
    )
    files._Flusher._run = thread_cpu(files._Flusher._run, "flusher_thread_cpu_s")  # type: ignore[method-assign]

    operator = DownloadExportOperator(
        task_id="download", conn_id=spec["conn_id"], export_id=spec["export_id"], destination=spec["dest"]
    )
    hook = operator.hook
    transfer: dict[str, float] = {}
    download = hook.download

    def timed_download(export_id: str, sink: IO[bytes], *args: Any) -> int:
        began, cpu, tcpu = time.monotonic(), time.process_time(), time.thread_time()
        try:
            return download(export_id, sink, *args)
        finally:
            transfer["ended"] = time.monotonic()
            transfer["seconds"] = transfer["ended"] - began
            transfer["cpu_s"] = time.process_time() - cpu
            phases["main_thread_transfer_cpu_s"] = time.thread_time() - tcpu

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
        "tail_s": moments["renamed"] - transfer["ended"],
        **phases,
        "rss_before_kib": baseline,
        "rss_after_kib": rss_kib(),
        "peak_rss_kib": peak_rss_kib(),
    }
    Path(spec["out"]).write_text(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
