"""The test command: lint, type check, then the whole pytest suite. Exits non-zero on any failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def step(name: str, cmd: list[str]) -> None:
    print(f"==> {name}: {' '.join(cmd)}", flush=True)
    code = subprocess.call(cmd, cwd=ROOT)
    if code != 0:
        print(f"==> {name} FAILED (exit {code})", flush=True)
        sys.exit(code)


def main() -> None:
    paths = ["airflow_provider_exports", "tests", "example_dags", "scripts"]
    step("ruff check", [str(BIN / "ruff"), "check", *paths])
    step("ruff format --check", [str(BIN / "ruff"), "format", "--check", *paths])
    step("mypy (strict)", [str(BIN / "mypy")])
    step("pytest", [sys.executable, "-m", "pytest", *sys.argv[1:]])


if __name__ == "__main__":
    main()
