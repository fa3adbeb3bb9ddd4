"""The test command: lint, type check, docs build, the whole pytest suite, then the packaging
check on the newest and the oldest supported Airflow. Exits non-zero on the first failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


#: Tiers whose tests each run whole DAGs in their own interpreters, with generous deadlines.
DAG_RUN_TIERS = ("tests/integration", "tests/reliability", "tests/kit")


def step(name: str, cmd: list[str]) -> None:
    print(f"==> {name}: {' '.join(cmd)}", flush=True)
    code = subprocess.call(cmd, cwd=ROOT)
    if code != 0:
        print(f"==> {name} FAILED (exit {code})", flush=True)
        sys.exit(code)


def main() -> None:
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    paths = ["airflow_provider_exports", "tests", "example_dags", "scripts", "benchmarks"]
    step("ruff check", [str(BIN / "ruff"), "check", *paths])
    step("ruff format --check", [str(BIN / "ruff"), "format", "--check", *paths])
    step("mypy (strict)", [str(BIN / "mypy")])
    step("docs build (strict)", [str(BIN / "mkdocs"), "build", "--strict", "--quiet", "--site-dir", "site"])
    if sys.argv[1:]:  # a developer's own selection: one pytest run, as asked
        step("pytest", [sys.executable, "-m", "pytest", *sys.argv[1:]])
    else:
        # The tiers that measure time or run services (stack, scale, UI, benchmarks) and the fast
        # in-process ones run alone; the tiers made of whole DAG runs (each a fresh interpreter,
        # mostly Airflow's start-up) run on two workers: ~4 minutes less on 2 cores.
        step("pytest", [sys.executable, "-m", "pytest", *(f"--ignore={t}" for t in DAG_RUN_TIERS)])
        step("pytest (DAG-run tiers, 2 workers)", [sys.executable, "-m", "pytest", "-n", "2", *DAG_RUN_TIERS])
    # The wheel, installed into fresh venvs: the newest Airflow, and the oldest supported one
    # with the smoke tests run against the installed wheel.
    # --user-project: docs/testing.md's example project, run with pytest in that fresh venv.
    step(
        "package check, Airflow 3.3.2",
        [sys.executable, "scripts/check_package.py", "--airflow", "3.3.2", "--user-project"],
    )
    step(
        "package check, Airflow 3.2.2",
        [sys.executable, "scripts/check_package.py", "--airflow", "3.2.2", "--tests"],
    )


if __name__ == "__main__":
    main()
