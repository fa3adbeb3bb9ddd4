"""Poll layers: where a status poll of ours spends CPU that a bare aiohttp GET does not.

A diagnostic beside ``triggerer_scale.py`` (not part of ``make bench``). One process
(``_poll_layers_child.py``) keeps ``--waits`` concurrent pollers busy on one event loop against
the Oracle Commerce emulator (this process, TLS, on loopback), and measures the thread CPU per
poll of each layer of the poll path, in rounds with the order of the layers rotating:

* ``aiohttp GET``: the floor trigger's poll (one shared keep-alive session, a GET, a JSON parse);
* ``send``: our runner executing a ``Send`` command prepared beforehand (``AsyncTransport.execute``);
* ``call``: plus the engine's program around it: preparing, credentials, redirects, retries
  (``Engine.exchange`` driven by ``AsyncTransport.drive``);
* ``run``: plus the vendor operation, building the request and parsing the answer into an
  ``ExportStatus`` (``AsyncTransport.run(hook.status_op(...))``);
* ``aget_status``: the hook's public call, as the trigger makes it.

No triggerer, no logging, no sleeps: the differences between rows are what each layer adds.

    python benchmarks/poll_layers.py            # 100 waits, 30 polls each, 5 rounds
    python benchmarks/poll_layers.py --quick    # a smoke test
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import _common as c
from _bench_emulator import BenchEmulator
from triggerer_scale import CONN_ID, server_tls

from airflow_provider_exports.testing.emulator import Step

CHILD = Path(__file__).with_name("_poll_layers_child.py")


def main() -> None:
    p = c.parser(__doc__ or "")
    p.add_argument("--waits", type=int, help="concurrent pollers (default 100; quick 5)")
    p.add_argument("--polls", type=int, help="polls per poller per measurement (default 30; quick 3)")
    p.add_argument("--rounds", type=int, help="rounds over all layers (default 5; quick 1)")
    args = p.parse_args()
    waits = args.waits or (5 if args.quick else 100)
    polls = args.polls or (3 if args.quick else 30)
    rounds = args.rounds or (1 if args.quick else 5)

    before = c.machine()
    began = time.monotonic()
    work = c.scratch_dir("bench-layers-")
    cert = c.self_signed_cert(work / "tls")
    emulator = BenchEmulator(ssl_context=server_tls(*cert)).start()
    try:
        export_ids = [f"layer{i:04d}" for i in range(waits)]
        for export_id in export_ids:
            emulator.add_export(export_id, Step("processing", 50))  # the last step sticks
        spec = {
            "conn_id": CONN_ID,
            "base_url": emulator.url,
            "token": emulator.tokens.issue()[0],
            "export_ids": export_ids,
            "polls": polls,
            "rounds": rounds,
            "out": str(work / "out.json"),
        }
        (work / "spec.json").write_text(json.dumps(spec))
        env = c.airflow_env(
            work / "airflow-home",
            SSL_CERT_FILE=str(cert[0]),
            **{f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(emulator.connection())},
        )
        proc = subprocess.run(
            [c.PYTHON, str(CHILD), str(work / "spec.json")],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if proc.returncode != 0:
            raise SystemExit(f"the poller process failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        measured: dict[str, list[float]] = json.loads((work / "out.json").read_text())["us_per_poll"]
    finally:
        emulator.stop()

    # The child's layers, in order, the bare GET first.
    floor = c.median(next(iter(measured.values()))) or 0.0
    rows: list[dict[str, Any]] = []
    previous = floor
    for layer in measured:
        med = c.median(measured[layer]) or 0.0
        rows.append(
            {
                "layer": layer,
                "us_per_poll_median": round(med, 1),
                "us_per_poll_runs": [round(v, 1) for v in measured[layer]],
                "over_aiohttp_get_us": round(med - floor, 1),
                "over_previous_layer_us": round(med - previous, 1),
                "ratio_to_aiohttp_get": c.ratio(med, floor),
            }
        )
        previous = med
    print(
        c.table(
            [
                "layer",
                "µs/poll (median)",
                "runs",
                "over aiohttp GET",
                "over the layer above",
                "x aiohttp GET",
            ],
            [
                [
                    r["layer"],
                    r["us_per_poll_median"],
                    " ".join(str(v) for v in r["us_per_poll_runs"]),
                    r["over_aiohttp_get_us"],
                    r["over_previous_layer_us"],
                    r["ratio_to_aiohttp_get"],
                ]
                for r in rows
            ],
        )
    )
    after = c.machine()
    print(c.load_lines(before, after))
    top = rows[-1]
    path = c.write_result(
        args.results_dir,
        "poll_layers",
        {
            "benchmark": "poll_layers",
            "quick": args.quick,
            "settings": {"waits": waits, "polls_each": polls, "rounds": rounds, "tls": True},
            "machine_before": before,
            "machine_after": after,
            "layers": rows,
            "targets": {},  # a diagnostic: the target is judged by triggerer_scale.py
            "elapsed_s": round(time.monotonic() - began, 1),
        },
        quick=args.quick,
    )
    print(
        f"SUMMARY poll_layers: {top['layer']} {top['us_per_poll_median']} µs/poll vs aiohttp GET "
        f"{round(floor, 1)} µs/poll: ours adds {top['over_aiohttp_get_us']} µs "
        f"({top['ratio_to_aiohttp_get']}x) [{round(time.monotonic() - began)} s, {path}]"
    )


if __name__ == "__main__":
    main()
