"""``python -m airflow_provider_exports.testing serve VENDOR``: run an emulator in the foreground.

Prints one JSON line with the base URL and the connection to use, then serves until killed.
``--conn-id`` also gives the ``AIRFLOW_CONN_<ID>`` variable that defines that connection, and
``--env-file`` writes it as a line a shell (``set -a; . FILE``) or Airflow can load.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading

from airflow_provider_exports.testing import EMULATORS, emulator_class


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_exports.testing")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run a vendor emulator on loopback")
    serve.add_argument("vendor", choices=sorted(EMULATORS))
    serve.add_argument("--port", type=int, default=0)
    serve.add_argument("--conn-id", help="the Airflow connection id to define for it")
    serve.add_argument("--info-file", help="also write the JSON line to this file")
    serve.add_argument("--env-file", help="write AIRFLOW_CONN_<ID>='...' to this file (needs --conn-id)")
    args = parser.parse_args(argv)
    if args.env_file and not args.conn_id:
        parser.error("--env-file needs --conn-id")

    emulator = emulator_class(args.vendor)(port=args.port).start()
    data = {"vendor": args.vendor, "url": emulator.url, "connection": emulator.connection()}
    if args.conn_id:
        name, value = emulator.connection_env(args.conn_id)
        data["env"] = {name: value}
        if args.env_file:
            with open(args.env_file, "w") as fh:
                fh.write(f"{name}={shlex.quote(value)}\n")
    info = json.dumps(data)
    print(info, flush=True)
    if args.info_file:
        with open(args.info_file, "w") as fh:
            fh.write(info + "\n")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
