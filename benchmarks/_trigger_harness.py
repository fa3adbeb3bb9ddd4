"""One side of the triggerer benchmark, in its own process: Airflow's own ``TriggerRunner``.

Run by ``triggerer_scale.py`` (``python _trigger_harness.py SPEC.json``). This is the class the
triggerer's async subprocess runs (``airflow/jobs/triggerer_job_runner.py``), unchanged: one
``asyncio.run`` event loop, its main loop (clean up finished triggers, sync with the supervisor,
create new triggers, sleep up to 1 s), its 0.1 s blocked-loop watchdog, and ``run_trigger`` which
enters a greenback portal and consumes each trigger's ``run()`` async generator. Only the link to
the supervisor process is replaced: the first sync hands over every trigger at once (as
``RunTrigger`` workloads with Fernet-encrypted kwargs, as the DB holds them), later syncs take the
events. Connections come from ``AIRFLOW_CONN_*`` environment variables.

Measured here: CPU seconds of this process from the hand-over to the last trigger's end, peak RSS,
when each trigger started, and when each status poll was issued (a wrapper around
``aiohttp.ClientSession._request``, the same for both sides).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import resource
import sys
import time
from pathlib import Path
from typing import Any

from _common import peak_rss_kib, rss_kib


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(spec_path: str) -> None:
    spec: dict[str, Any] = json.loads(Path(spec_path).read_text())
    import aiohttp

    # After Airflow's imports (importing it configures logging): every log line the runner and
    # the triggers write goes, formatted, to one file (the real runner streams them to its
    # supervisor); both sides pay the same.
    import structlog
    from airflow.executors import workloads
    from airflow.jobs.triggerer_job_runner import TriggerRunner, messages
    from airflow.models.trigger import Trigger
    from airflow.sdk.execution_time import task_runner

    log_file = open(spec["log_file"], "a")  # noqa: SIM115 - lives as long as the process
    logging.basicConfig(stream=log_file, level=logging.INFO, force=True)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.WriteLoggerFactory(file=log_file),
    )

    n: int = spec["n"]
    interval: float = spec["interval"]
    export_ids: list[str] = spec["export_ids"]
    trigger_of = {export_id: i for i, export_id in enumerate(export_ids)}

    if spec["side"] == "ours":
        from airflow_provider_exports.triggers.export_status import ExportStatusTrigger

        def make(export_id: str) -> Any:
            return ExportStatusTrigger(
                conn_id=spec["conn_id"],
                export_id=export_id,
                poll_interval=interval,
                timeout_at=time.time() + spec["deadline"],
            )
    elif spec["side"] == "idle":
        from _idle_trigger import IdleTrigger

        def make(export_id: str) -> Any:
            return IdleTrigger(key=export_id, polls=spec["polls"], interval=interval)
    elif spec["side"] == "floor":
        from _floor_trigger import FloorTrigger

        def make(export_id: str) -> Any:
            return FloorTrigger(
                url=f"{spec['base_url']}/ccadmin/v1/exportProcess/{export_id}",
                token=spec["token"],
                interval=interval,
            )
    else:
        from airflow.providers.http.triggers.http import HttpSensorTrigger

        def make(export_id: str) -> Any:
            return HttpSensorTrigger(
                endpoint=f"ccadmin/v1/exportProcess/{export_id}",
                http_conn_id=spec["conn_id"],
                method="GET",
                poke_interval=interval,
            )

    run_triggers = []
    for i, export_id in enumerate(export_ids):
        classpath, kwargs = make(export_id).serialize()
        run_triggers.append(
            workloads.RunTrigger(id=i, classpath=classpath, encrypted_kwargs=Trigger.encrypt_kwargs(kwargs))
        )

    issued: list[list[float]] = [[] for _ in range(n)]
    started: list[float | None] = [None] * n
    ended: list[float | None] = [None] * n
    original_request = aiohttp.ClientSession._request

    async def timed_request(self: aiohttp.ClientSession, method: str, str_or_url: Any, **kw: Any) -> Any:
        path = str(str_or_url)
        marker = path.rfind("/exportProcess/")
        if marker >= 0:
            index = trigger_of.get(path[marker + len("/exportProcess/") :].split("?", 1)[0])
            if index is not None:
                issued[index].append(time.monotonic())
        return await original_request(self, method, str_or_url, **kw)

    aiohttp.ClientSession._request = timed_request  # type: ignore[assignment,method-assign]
    if spec["side"] == "idle":
        from _idle_trigger import ON_POLL

        ON_POLL.append(lambda key, at: issued[trigger_of[key]].append(at))

    marks: dict[str, Any] = {"events": {}, "notes": {}, "timed_out": False}

    class Comms:
        """Stands in for the supervisor's end of the socket."""

        def __init__(self, runner: BenchRunner) -> None:
            self.runner = runner
            self._reader_task = asyncio.ensure_future(asyncio.Event().wait())
            self.handed_over = False
            self.finished: set[int] = set()

        def send(self, msg: Any) -> Any:
            kind = type(msg).__name__  # MaskSecret and other one-way notes
            marks["notes"][kind] = marks["notes"].get(kind, 0) + 1
            return None

        async def asend(self, msg: Any) -> Any:
            if not isinstance(msg, messages.TriggerStateChanges):
                kind = type(msg).__name__
                marks["notes"][kind] = marks["notes"].get(kind, 0) + 1
                return None
            for entry in msg.events or []:
                payload = entry.event.payload
                key = str(payload.get("status")) if isinstance(payload, dict) else repr(payload)
                marks["events"][key] = marks["events"].get(key, 0) + 1
            marks.setdefault("cpu_samples", []).append((time.monotonic(), cpu_seconds()))
            self.finished.update(msg.finished or [])
            for trigger_id, _tb in msg.failures or []:
                marks.setdefault("failures", []).append(trigger_id)
            to_create: list[Any] = []
            if not self.handed_over:
                self.handed_over = True
                marks["handover_at"] = time.monotonic()
                marks["cpu_at_handover"] = cpu_seconds()
                marks["rss_kib_at_handover"] = rss_kib()
                to_create = run_triggers
            elif len(self.finished) >= n or time.monotonic() - marks["handover_at"] > spec["deadline"]:
                marks["timed_out"] = len(self.finished) < n
                marks["all_done_at"] = time.monotonic()
                marks["cpu_at_end"] = cpu_seconds()
                self.runner.stop = True
                if self.runner._stop_event is not None:
                    self.runner._stop_event.set()
            return messages.TriggerStateSync(to_create=to_create, to_cancel=set())

    class BenchRunner(TriggerRunner):  # type: ignore[misc]
        async def init_comms(self) -> None:
            self.comms_decoder = Comms(self)
            task_runner.SUPERVISOR_COMMS = self.comms_decoder

        async def run_trigger(self, trigger_id: int, trigger: Any, *args: Any, **kw: Any) -> None:
            started[trigger_id] = time.monotonic()
            try:
                await super().run_trigger(trigger_id, trigger, *args, **kw)
            finally:
                ended[trigger_id] = time.monotonic()

    # The garbage collector's share of the CPU: a full collection walks every object in the
    # process, Airflow's included, so what a side allocates per poll costs it more than that.
    gc_collections = [0, 0, 0]
    gc_cpu_s = [0.0, 0.0, 0.0]
    gc_began = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_began[0] = time.thread_time()
        elif "handover_at" in marks:
            generation = info["generation"]
            gc_collections[generation] += 1
            gc_cpu_s[generation] += time.thread_time() - gc_began[0]

    gc.callbacks.append(on_gc)
    runner = BenchRunner()
    cpu_start = cpu_seconds()
    if spec.get("profile"):
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU time: other processes share the cores
        profiler.runcall(runner.run)
        profiler.dump_stats(spec["profile"])
    else:
        runner.run()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out = {
        "side": spec["side"],
        "n": n,
        "events": marks["events"],
        "failures": len(marks.get("failures", [])),
        "supervisor_notes": marks["notes"],
        "timed_out": marks["timed_out"],
        "handover_at": marks["handover_at"],
        "all_done_at": marks.get("all_done_at"),
        "cpu_wait_s": marks.get("cpu_at_end", cpu_seconds()) - marks["cpu_at_handover"],
        "cpu_process_s": usage.ru_utime + usage.ru_stime,
        "cpu_before_handover_s": marks["cpu_at_handover"] - cpu_start,
        "rss_kib_at_handover": marks["rss_kib_at_handover"],
        "peak_rss_kib": peak_rss_kib(),
        "gc_after_handover": {"collections": gc_collections, "cpu_s": gc_cpu_s},
        "cpu_samples": marks.get("cpu_samples", []),
        "started": started,
        "ended": ended,
        "issued": issued,
    }
    Path(spec["out"]).write_text(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
