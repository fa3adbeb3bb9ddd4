"""``python -m airflow_provider_exports.testing serve VENDOR``: run an emulator in the foreground.

Prints one JSON line with the base URL and the connection to use, then serves until killed.
"""

from __future__ import annotations

import argparse
import json
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
    serve.add_argument("--info-file", help="also write the JSON line to this file")
    args = parser.parse_args(argv)

    emulator = emulator_class(args.vendor)(port=args.port).start()
    info = json.dumps({"vendor": args.vendor, "url": emulator.url, "connection": emulator.connection()})
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
