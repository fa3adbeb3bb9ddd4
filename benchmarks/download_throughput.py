"""Download throughput: a 1 GiB export through ``DownloadExportOperator`` vs ``curl -o``.

The emulator (this process) serves one finished export whose file is a 1 GiB zip (one stored
member), memory-mapped from disk, so neither side's numbers include making it and this process
never holds it in RAM. Our side runs the operator's code path in its own process
(``_download_child.py``); curl downloads the same file URL with ``-o``. Runs alternate between
the two sides; the median of each is reported, with peak RSS of our process. For ours, the
transfer alone, the tail (end of the transfer to the rename: the zip check's last part, the
final fsync) and whether the zip check was decided by the streaming verifier or by the
``verify_zip`` fallback are reported too. Ours ``fsync``-s its file before the rename; curl leaves
its file in the page cache, so after each curl run its file is ``fsync``-ed too (not counted in
curl's MB/s), for a second reference: curl followed by that ``fsync``.

    python benchmarks/download_throughput.py           # 1 GiB, 5 runs each
    python benchmarks/download_throughput.py --quick   # 16 MiB, 1 run each
"""

from __future__ import annotations

import json
import mmap
import os
import shutil
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

import _common as c
from _bench_emulator import BenchEmulator

from airflow_provider_exports.testing.emulator import Step

CHILD = Path(__file__).with_name("_download_child.py")
CONN_ID = "bench_export"
MIB = 1024 * 1024
IMPORT_ONLY = (
    "import json, _download_child, airflow_provider_exports.operators.download; "
    "print(json.dumps({'peak_rss_kib': _download_child.peak_rss_kib()}))"
)


def make_zip(path: Path, size: int) -> int:
    """A zip of about ``size`` bytes (one stored member), written 1 MiB at a time."""
    block = os.urandom(MIB)
    member = size - 200  # leaves room for the local header, central directory and end record
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive,
        archive.open("export.bin", "w", force_zip64=True) as fh,
    ):
        left = member
        while left > 0:
            fh.write(block[: min(MIB, left)])
            left -= MIB
    return path.stat().st_size


def run_waited(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 600) -> dict[str, Any]:
    """Run a process; its wall time and CPU time (from wait4, so of that process alone).

    Its ``ru_maxrss`` is not used: it counts this process's RSS at the fork, before exec."""
    began = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = began + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"{cmd[0]} did not finish in {timeout} s")
        time.sleep(0.005)
    wall = time.monotonic() - began
    out, err = proc.communicate()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{cmd} failed ({code}):\n{err.decode()[-3000:]}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "stdout": out.decode(),
    }


def curl_peak_rss_mib(curl: str, url: str, dest: Path) -> float | None:
    gnu_time = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if gnu_time is None:
        return None
    proc = subprocess.run(
        [gnu_time, "-f", "%M", curl, "-sS", "--noproxy", "*", "-o", str(dest), url],
        capture_output=True,
        text=True,
        timeout=600,
    )
    dest.unlink(missing_ok=True)
    last = proc.stderr.strip().splitlines()[-1:] if proc.returncode == 0 else []
    return round(int(last[0]) / 1024, 1) if last and last[0].isdigit() else None


def main() -> None:
    p = c.parser(__doc__ or "")
    p.add_argument("--size-mib", type=int, help="file size (default 1024; quick 16)")
    p.add_argument("--runs", type=int, help="runs per side (default 5; quick 1)")
    p.add_argument("--profile", type=Path, help="write a cProfile (CPU time) of our side's runs here")
    args = p.parse_args()
    size = (args.size_mib or (16 if args.quick else 1024)) * MIB
    runs = args.runs or (1 if args.quick else 5)
    try:
        import uvloop  # the emulator (this process) only: it must not be the bottleneck

        uvloop.install()
    except ImportError:
        pass
    curl = shutil.which("curl")
    if curl is None:
        raise SystemExit("curl is not installed (apt-get install curl)")

    before = c.machine()
    began = time.monotonic()
    work = c.scratch_dir("bench-download-")
    source = work / "source.zip"
    made = time.monotonic()
    total = make_zip(source, size)
    made = time.monotonic() - made
    with source.open("rb") as fh:
        mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    emulator = BenchEmulator().start()
    ours: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []
    try:
        stat = source.stat()
        emulator.add_export(
            "big",
            Step("succeeded", 100),
            content=mapped,  # served as a buffer, never copied into a bytes object
            file_name="export.zip",
            extra={"etag": f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'},
        )
        file_url = f"{emulator.url}/file/export/big/export.zip"
        env = c.airflow_env(
            work / "airflow-home", **{f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(emulator.connection())}
        )
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1"
        baseline = json.loads(
            subprocess.run(
                [c.PYTHON, "-c", IMPORT_ONLY],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=True,
            ).stdout
        )
        for run in range(runs):
            for side in ("ours", "curl") if run % 2 == 0 else ("curl", "ours"):
                dest = work / f"{side}-{run}.zip"
                if side == "ours":
                    spec = {
                        "conn_id": CONN_ID,
                        "export_id": "big",
                        "dest": str(dest),
                        "out": str(work / "o.json"),
                        "profile": str(args.profile / f"download-{run}.prof") if args.profile else None,
                    }
                    (work / "spec.json").write_text(json.dumps(spec))
                    proc = run_waited([c.PYTHON, str(CHILD), str(work / "spec.json")], env=env)
                    got = json.loads((work / "o.json").read_text())
                    ours.append(
                        {
                            "bytes": got["bytes"],
                            "seconds": round(got["seconds"], 3),
                            "mb_s": round(got["bytes"] / got["seconds"] / 1e6, 1),
                            "transfer_mb_s": round(got["bytes"] / got["transfer_seconds"] / 1e6, 1),
                            "transfer_cpu_s": round(got["transfer_cpu_s"], 3),
                            "tail_s": round(got["tail_s"], 3),
                            "zip_check": got["zip_check"],
                            "zip_unsure": got.get("zip_unsure"),
                            "verify_zip_s": round(got["verify_zip_s"], 3),
                            "catch_up_s": round(got["catch_up_s"], 3),
                            "main_thread_transfer_cpu_s": round(got["main_thread_transfer_cpu_s"], 3),
                            "verifier_thread_cpu_s": round(got.get("verifier_thread_cpu_s", 0.0), 3),
                            "flush_thread_cpu_s": round(got.get("flusher_thread_cpu_s", 0.0), 3),
                            "fsync_s": round(got["fsync_s"], 3),
                            "background_fdatasyncs": got["fdatasyncs"],
                            "background_fdatasync_s": round(got["fdatasync_s"], 3),
                            "rss_before_mib": round(got["rss_before_kib"] / 1024, 1),
                            "peak_rss_mib": round(got["peak_rss_kib"] / 1024, 1),
                            "rss_growth_mib": round((got["peak_rss_kib"] - got["rss_before_kib"]) / 1024, 1),
                            "process_cpu_s": round(proc["cpu_s"], 2),
                        }
                    )
                else:
                    proc = run_waited([curl, "-sS", "--noproxy", "*", "-o", str(dest), file_url])
                    got_bytes = dest.stat().st_size
                    # curl leaves its file in the page cache; ours is on disk before the rename.
                    synced = time.monotonic()
                    fd = os.open(dest, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                    fsync_s = time.monotonic() - synced
                    # curl's peak RSS, from a separate run under GNU time (forked from a small
                    # process, so its maxrss is curl's own); not timed.
                    rss = curl_peak_rss_mib(curl, file_url, work / "rss.zip") if run == 0 else None
                    theirs.append(
                        {
                            "bytes": got_bytes,
                            "seconds": round(proc["wall_s"], 3),
                            "mb_s": round(got_bytes / proc["wall_s"] / 1e6, 1),
                            "peak_rss_mib": rss,
                            "process_cpu_s": round(proc["cpu_s"], 2),
                            "fsync_after_s": round(fsync_s, 3),
                            "mb_s_with_fsync": round(got_bytes / (proc["wall_s"] + fsync_s) / 1e6, 1),
                        }
                    )
                if dest.stat().st_size != total:
                    raise RuntimeError(f"{side} wrote {dest.stat().st_size} bytes, expected {total}")
                dest.unlink()
    finally:
        emulator.stop()
        mapped.close()
        shutil.rmtree(work, ignore_errors=True)

    ours_mb_s = c.median([r["mb_s"] for r in ours])
    curl_mb_s = c.median([r["mb_s"] for r in theirs])
    durable_mb_s = c.median([r["mb_s_with_fsync"] for r in theirs])
    transfer_mb_s = c.median([r["transfer_mb_s"] for r in ours])
    ratio = c.ratio(ours_mb_s, curl_mb_s)
    tail = c.median([r["tail_s"] for r in ours])
    checks = sorted({r["zip_check"] for r in ours})
    peak = max(r["peak_rss_mib"] for r in ours)
    growth = max(r["rss_growth_mib"] for r in ours)
    cpu_ratio = c.ratio(
        c.median([r["transfer_cpu_s"] for r in ours]), c.median([r["process_cpu_s"] for r in theirs])
    )
    rows: list[list[Any]] = [
        [
            "ours (operator)",
            r["mb_s"],
            r["seconds"],
            r["transfer_mb_s"],
            r["transfer_cpu_s"],
            r["tail_s"],
            r["zip_check"],
            r["verify_zip_s"],
            r["fsync_s"],
            r["background_fdatasyncs"],
            r["peak_rss_mib"],
            r["rss_growth_mib"],
        ]
        for r in ours
    ]
    rows += [
        [
            "curl -o",
            r["mb_s"],
            r["seconds"],
            r["mb_s"],
            r["process_cpu_s"],
            None,
            None,
            None,
            r["fsync_after_s"],
            None,
            r["peak_rss_mib"],
            None,
        ]
        for r in theirs
    ]
    rows.append(
        [
            "median ours/curl",
            ratio,
            None,
            c.ratio(transfer_mb_s, curl_mb_s),
            cpu_ratio,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        ]
    )
    headers = [
        "side",
        "MB/s",
        "seconds",
        "transfer-only MB/s",
        "transfer CPU s",
        "tail s",
        "zip check",
        "verify_zip s",
        "fsync s (curl: after)",
        "bg syncs",
        "peak RSS MiB",
        "RSS growth MiB",
    ]
    print(c.table(headers, rows))
    after = c.machine()
    elapsed = time.monotonic() - began
    targets = {
        "throughput": {
            "target": "ours >= 0.9 x curl",
            "ratio": ratio,
            "met": ratio is not None and ratio >= 0.9,
        },
        "rss": {
            "target": "peak RSS < 100 MiB, flat",
            "peak_mib": peak,
            "growth_mib": growth,
            "import_only_peak_mib": round(baseline["peak_rss_kib"] / 1024, 1),
            "met_absolute": peak < 100,
            "met_growth": growth < 100,
        },
    }
    result = {
        "benchmark": "download_throughput",
        "quick": args.quick,
        "settings": {
            "bytes": total,
            "runs_per_side": runs,
            "file_made_in_s": round(made, 2),
            "mb": "10^6 bytes",
        },
        "machine_before": before,
        "machine_after": after,
        "ours": ours,
        "curl": theirs,
        "median_mb_s": {
            "ours": ours_mb_s,
            "ours_transfer_only": transfer_mb_s,
            "curl": curl_mb_s,
            "curl_then_fsync": durable_mb_s,
        },
        "median_tail_s": tail,
        "zip_check": checks,
        "ratios": {
            "mb_s": ratio,
            "transfer_only_mb_s": c.ratio(transfer_mb_s, curl_mb_s),
            "vs_curl_then_fsync": c.ratio(ours_mb_s, durable_mb_s),
            "transfer_cpu": cpu_ratio,
        },
        "targets": targets,
        "elapsed_s": round(elapsed, 1),
    }
    path = c.write_result(args.results_dir, "download_throughput", result, quick=args.quick)
    print(f"importing the operator alone: peak RSS {targets['rss']['import_only_peak_mib']} MiB")
    print(c.load_lines(before, after))
    verdict = "met" if targets["throughput"]["met"] else "MISSED"
    print(
        f"SUMMARY download_throughput: {total / MIB:.0f} MiB, ours {ours_mb_s} MB/s vs curl {curl_mb_s} MB/s "
        f"= {ratio}x ({verdict}, target 0.9x; {c.ratio(ours_mb_s, durable_mb_s)}x against curl followed "
        f"by an fsync of its file); transfer alone {transfer_mb_s} MB/s, tail {tail} s, "
        f"zip check {'/'.join(checks)}; peak RSS {peak} MiB, growth {growth} MiB during the download "
        f"[{elapsed:.0f} s, {path}]"
    )


if __name__ == "__main__":
    main()
