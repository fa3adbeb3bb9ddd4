"""Packaging check: build the sdist and wheel, install the wheel into a fresh venv with a given
Airflow version, and check that Airflow sees the provider and every example DAG parses.

``--tests`` also runs the unit, wire and OCC integration tests against the installed wheel (not
the source tree), which is how CI covers the oldest supported Airflow. ``--user-project`` also
installs pytest and runs docs/testing.md's example project (its whole-file code blocks, written
into an empty folder) with nothing else set up.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from airflow_provider_exports.vendors import VENDORS

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "airflow-provider-exports"
EXAMPLE_DAGS = {vendor.example_dag for vendor in VENDORS}
# Airflow 3.2.2 pins few of its dependencies; without its constraints file (not reachable here)
# pip now picks releases that break its execution API (fastapi/cadwyn/svcs), independent of this
# provider. These versions are the ones Airflow 3.3.2 resolves to, and they run 3.2.2 as well.
COMPAT_PINS = {
    "3.2": ["fastapi==0.136.3", "pydantic==2.14.4", "cadwyn==7.0.0", "svcs<26"],
}
SMOKE_TESTS = ["tests/unit", "tests/integration/test_oracle_commerce_dag.py"]
#: docs/testing.md's code blocks that are whole files start with a comment naming their path.
DOC_FILE_HEADER = re.compile(r"#\s+([\w.-]+(?:/[\w.-]+)*\.\w+)\s*")


def run(cmd: list[str], **kw: object) -> str:
    print("  $ " + " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        sys.exit(f"FAILED ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return str(proc.stdout)


def json_output(text: str) -> list[dict[str, object]]:
    """The JSON list an Airflow CLI command printed after its log lines."""
    lines = [line for line in text.splitlines() if line.startswith("[")]
    if not lines:
        sys.exit(f"no JSON in the command's output:\n{text[-2000:]}")
    data = json.loads(lines[-1])
    assert isinstance(data, list)
    return data


def user_project_files(markdown: str) -> dict[str, str]:
    """The files a Markdown page shows whole: fenced blocks whose first line is ``# <path>``."""
    files: dict[str, str] = {}
    for block in re.findall(r"^```[\w-]*\n(.*?)^```", markdown, flags=re.M | re.S):
        first, _, _ = block.partition("\n")
        match = DOC_FILE_HEADER.fullmatch(first)
        if match:
            if match.group(1) in files:
                sys.exit(f"docs/testing.md shows {match.group(1)} twice")
            files[match.group(1)] = block
    return files


def check_user_project(venv: Path, work: Path) -> None:
    """docs/testing.md's example, as a user would have it: its files in an empty folder, pytest
    run there with the wheel installed and nothing else set up (no Airflow home, no DB, no
    variables), and no Airflow home left in the user's home folder afterwards."""
    files = user_project_files((ROOT / "docs" / "testing.md").read_text())
    if not any(name.startswith("tests/") for name in files) or not any(
        name.startswith("dags/") for name in files
    ):
        sys.exit(f"docs/testing.md shows no DAG and test files (found {sorted(files)})")
    project, home = work / "user-project", work / "user-home"
    home.mkdir()
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    print(f"==> the user project of docs/testing.md: {', '.join(sorted(files))}", flush=True)
    dropped = ("AIRFLOW", "EXPORTS_", "PYTHON", "VIRTUAL_ENV", "PYTEST")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(HOME=str(home), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(proc.stdout + proc.stderr, flush=True)
    if proc.returncode != 0:
        sys.exit(f"the user project of docs/testing.md failed (pytest exit {proc.returncode})")
    if (home / "airflow").exists():
        sys.exit("the user project's tests wrote an Airflow home into the user's home folder")
    print("    the user project's tests pass as written", flush=True)


#: A user's DAG file: mypy must see the provider's types through py.typed (not Any).
TYPED_USER_FILE = """\
from airflow_provider_exports.operators import StartExportOperator
from airflow_provider_exports.sensors.export_status import ExportStatusSensor

start = StartExportOperator(task_id="start", conn_id="oracle_commerce_default", payload={})
wait = ExportStatusSensor(task_id="wait", conn_id="oracle_commerce_default", export_id="x")
reveal_type(wait.deferrable)
reveal_type(wait.execute_complete)
not_an_int: int = wait.conn_id
"""


def check_install_surface(
    venv: Path, wheel: Path, pins: list[str], airflow_version: str, env: dict[str, str]
) -> None:
    """What a production install shows (issue 19): without the ``[openlineage]`` extra the
    operators import and no OpenLineage is pulled in; with it, ``airflow providers list`` shows
    both providers and ``airflow providers links`` the extra link; mypy on a user file sees the
    sensor's types (py.typed)."""
    started = time.monotonic()
    python, airflow = str(venv / "bin" / "python"), str(venv / "bin" / "airflow")
    has_ol = subprocess.run([python, "-c", "import airflow.providers.openlineage"], capture_output=True)
    if has_ol.returncode != 0:
        run(
            [
                python,
                "-c",
                "import airflow_provider_exports.operators, airflow_provider_exports.sensors.export_status, "
                "airflow_provider_exports.lineage, airflow_provider_exports.links",
            ],
            env=env,
        )
        print("    without [openlineage]: no OpenLineage installed, the operators and sensor import")
    pip = [python, "-m", "pip", "install", "--quiet"]
    run([*pip, f"{wheel}[openlineage]", f"apache-airflow=={airflow_version}", *pins, "mypy"])
    listed = {
        str(p["package_name"]): str(p["version"])
        for p in json_output(run([airflow, "providers", "list", "-o", "json"], env=env))
    }
    for name in (PACKAGE, "apache-airflow-providers-openlineage"):
        if name not in listed:
            sys.exit(f"with [openlineage], `airflow providers list` does not show {name}: {sorted(listed)}")
    ol = listed["apache-airflow-providers-openlineage"]
    print(
        f"==> airflow providers list: {PACKAGE} {listed[PACKAGE]}, apache-airflow-providers-openlineage {ol}"
    )
    links = run([airflow, "providers", "links", "-o", "json"], env=env)
    if "airflow_provider_exports.links.ExportLink" not in links:
        sys.exit(f"`airflow providers links` does not show ExportLink:\n{links[-2000:]}")
    print("==> airflow providers links: airflow_provider_exports.links.ExportLink")
    user = venv.parent / "typed-user"
    user.mkdir()
    (user / "user_dag.py").write_text(TYPED_USER_FILE)
    proc = subprocess.run(
        [python, "-m", "mypy", "--strict", "--no-incremental", "user_dag.py"],
        cwd=user,
        capture_output=True,
        text=True,
        timeout=600,
    )
    print("==> mypy --strict user_dag.py (imports the sensor):\n" + proc.stdout, flush=True)
    # Older mypy writes builtins.bool, newer bool.
    expected = [
        r'user_dag\.py:6: note: Revealed type is "(builtins\.)?bool"',
        r'user_dag\.py:7: note: Revealed type is "def \(context: Any, event: (builtins\.)?dict\[',
        r'user_dag\.py:8: error: Incompatible types in assignment \(expression has type "(builtins\.)?str", '
        r'variable has type "(builtins\.)?int"\)',
    ]
    missing = [pattern for pattern in expected if not re.search(pattern, proc.stdout)]
    if missing or "py.typed" in proc.stdout or "import-untyped" in proc.stdout:
        sys.exit(f"mypy does not see the provider's types: missing {missing}")
    took = time.monotonic() - started
    print(f"    mypy sees the sensor's types through py.typed ({took:.0f} s for these checks)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--airflow", default="3.3.2", help="Airflow version to install the wheel with")
    parser.add_argument("--tests", action="store_true", help="also run the smoke tests on the wheel")
    parser.add_argument(
        "--user-project",
        action="store_true",
        help="also run docs/testing.md's example project with the wheel and pytest",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="exports-package-check-"))
    try:
        print(f"==> building sdist and wheel into {work / 'dist'}", flush=True)
        run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(work / "dist"), str(ROOT)])
        wheel = next((work / "dist").glob("*.whl"))
        sdist = next((work / "dist").glob("*.tar.gz"))
        print(f"    built {wheel.name} and {sdist.name}")

        venv = work / "venv"
        run([sys.executable, "-m", "venv", str(venv)])
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        extras = "[test]" if args.tests else ""
        pins = COMPAT_PINS.get(".".join(args.airflow.split(".")[:2]), [])
        user = ["pytest"] if args.user_project else []
        run([*pip, f"{wheel}{extras}", f"apache-airflow=={args.airflow}", *pins, *user])

        env = {
            **os.environ,
            "AIRFLOW_HOME": str(work / "home"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        }
        airflow = str(venv / "bin" / "airflow")
        version = run([airflow, "version"], env=env).strip()
        print(f"==> Airflow {version} in a fresh venv with the wheel")
        run([airflow, "db", "migrate"], env=env)
        providers = run([airflow, "providers", "list", "-o", "json"], env=env)
        if PACKAGE not in providers:
            sys.exit(f"`airflow providers list` does not show {PACKAGE}")
        print(f"    airflow providers list shows {PACKAGE}")
        run([airflow, "dags", "reserialize"], env=env)
        errors = json_output(run([airflow, "dags", "list-import-errors", "-o", "json"], env=env))
        if errors:
            sys.exit(f"example DAG import errors: {errors}")
        dags = {str(d["dag_id"]) for d in json_output(run([airflow, "dags", "list", "-o", "json"], env=env))}
        present = {d for d in EXAMPLE_DAGS if (ROOT / "example_dags" / f"{d}.py").exists()}
        missing = present - dags
        if missing:
            sys.exit(f"example DAGs not listed: {sorted(missing)}")
        print(f"    example DAG import errors: 0; example DAGs parsed: {len(present)}")

        if args.tests:
            print(f"==> smoke tests against the installed wheel on Airflow {version}", flush=True)
            code = subprocess.call(
                [str(venv / "bin" / "pytest"), "-q", "-p", "no:cacheprovider", *SMOKE_TESTS],
                cwd=ROOT,
                env={k: v for k, v in os.environ.items() if k != "AIRFLOW_HOME"},
            )
            if code != 0:
                sys.exit(f"smoke tests failed on Airflow {version} (exit {code})")
        if args.user_project:
            check_user_project(venv, work)
        if not args.tests:  # the oldest-Airflow run checks the wheel with [test]
            check_install_surface(venv, wheel, pins, args.airflow, env)
        print(f"==> package check passed on Airflow {version}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
