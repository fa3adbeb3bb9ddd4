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
from pathlib import Path
from typing import IO, Any

from _common import peak_rss_kib, rss_kib


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
    verify_zip, fsync, fdatasync, replace = zipcheck.verify_zip, os.fsync, os.fdatasync, os.replace
    finish, finish_writing = zipcheck.StreamingZipVerifier.finish, files.DownloadSink.finish_writing

    def timed_verify(path: Path) -> None:
        began = time.monotonic()
        try:
            verify_zip(path)
        finally:
            phases["verify_zip_s"] += time.monotonic() - began
            if phases["zip_check"] == "none":
                phases["zip_check"] = "verify_zip"

    def timed_fsync(fd: int) -> None:
        began = time.monotonic()
        try:
            fsync(fd)
        finally:
            phases["fsync_s"] += time.monotonic() - began

    def timed_fdatasync(fd: int) -> None:
        began = time.monotonic()
        try:
            fdatasync(fd)
        finally:
            phases["fdatasync_s"] += time.monotonic() - began
            phases["fdatasyncs"] += 1

    def timed_replace(src: Any, dst: Any) -> None:
        replace(src, dst)
        moments["renamed"] = time.monotonic()

    def timed_finish(self: zipcheck.StreamingZipVerifier, path: Path) -> None:
        try:
            finish(self, path)
        finally:
            phases["zip_check"] = "streaming" if self.verified_streaming else "fallback (verify_zip)"
            phases["zip_unsure"] = self.unsure

    def timed_finish_writing(
        self: files.DownloadSink, *, verify: bool
    ) -> zipcheck.StreamingZipVerifier | None:
        began = time.monotonic()
        try:
            return finish_writing(self, verify=verify)
        finally:
            phases["catch_up_s"] += time.monotonic() - began

    zipcheck.verify_zip = timed_verify  # type: ignore[assignment]
    os.fsync = timed_fsync
    os.fdatasync = timed_fdatasync
    os.replace = timed_replace
    zipcheck.StreamingZipVerifier.finish = timed_finish  # type: ignore[method-assign]
    files.DownloadSink.finish_writing = timed_finish_writing  # type: ignore[method-assign]

    operator = DownloadExportOperator(
        task_id="download", conn_id=spec["conn_id"], export_id=spec["export_id"], destination=spec["dest"]
    )
    hook = operator.hook
    # CPU time of the two background threads (each reads its own clock as it ends).
    verifier_run, flusher_run = files._VerifierThread._run, files._Flusher._run

    def timed_verifier_run(self: Any) -> None:
        try:
            verifier_run(self)
        finally:
            phases["verifier_thread_cpu_s"] = time.thread_time()

    def timed_flusher_run(self: Any) -> None:
        try:
            flusher_run(self)
        finally:
            phases["flusher_thread_cpu_s"] = time.thread_time()

    files._VerifierThread._run = timed_verifier_run  # type: ignore[method-assign]
    files._Flusher._run = timed_flusher_run  # type: ignore[method-assign]
    transfer: dict[str, float] = {}
    download = hook.download

    def timed_download(export_id: str, sink: IO[bytes]) -> int:
        began, cpu, tcpu = time.monotonic(), time.process_time(), time.thread_time()
        try:
            return download(export_id, sink)
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
