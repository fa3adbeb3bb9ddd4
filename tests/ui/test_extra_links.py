"""The extra link "Export at the vendor" in Airflow's UI: the OCC example DAG runs (``dag.test()``)
into the api-server's own metadata DB against the OCC emulator, then the REST API and the task
instance pages in Chromium show the start task's and the sensor's link to the export's resource in
OCC's Admin API. A screenshot of the sensor's page is saved under test-output/ui/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from airflow_provider_exports.testing.oracle_commerce import OracleCommerceEmulator

from .support import OUTPUT, ROOT, ApiServer

if TYPE_CHECKING:
    from playwright.sync_api import Page

DAG_ID = "oracle_commerce_export"
LINK = "Export at the vendor"


@pytest.fixture(scope="module")
def finished_run(api_server: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Run the OCC example DAG into the api-server's DB; the run id and the export id."""
    assert api_server.home is not None
    emulator = OracleCommerceEmulator().start()
    try:
        name, value = emulator.connection_env("oracle_commerce_default")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
        env.update(
            {
                name: value,
                "AIRFLOW_HOME": str(api_server.home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{api_server.home / 'airflow.db'}",
                "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "EXPORTS_POKE_INTERVAL": "0.2",
                "EXPORTS_DOWNLOAD_DIR": str(tmp_path_factory.mktemp("extra-link-downloads")),
            }
        )
        proc = subprocess.run(
            [sys.executable, str(ROOT / "example_dags" / f"{DAG_ID}.py")],
            capture_output=True,
            text=True,
            env=env,
            cwd=str(api_server.home),
            timeout=300,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        (export,) = emulator.exports.values()
        yield {"export_id": export.export_id, "url": emulator.url}
    finally:
        emulator.stop()


def _run_id(api_server: ApiServer) -> str:
    status, body = api_server.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns")
    assert status == 200, body
    (run,) = body["dag_runs"]
    assert run["state"] == "success", run
    return str(run["dag_run_id"])


@pytest.mark.parametrize("task_id", ["start_export", "wait_for_export"])
def test_link_in_the_rest_api(api_server: ApiServer, finished_run: dict[str, str], task_id: str) -> None:
    run_id = _run_id(api_server)
    status, body = api_server.request(
        "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/links"
    )
    assert status == 200, body
    expected = f"{finished_run['url']}/ccadmin/v1/exportProcess/{finished_run['export_id']}"
    assert body["extra_links"] == {LINK: expected}, json.dumps(body)


def test_link_on_the_task_page(page: Page, api_server: ApiServer, finished_run: dict[str, str]) -> None:
    run_id = _run_id(api_server)
    expected = f"{finished_run['url']}/ccadmin/v1/exportProcess/{finished_run['export_id']}"
    for task_id in ("start_export", "wait_for_export"):
        page.goto(f"/dags/{DAG_ID}/runs/{run_id}/tasks/{task_id}/details")  # the Details tab
        link = page.get_by_role("link", name=LINK)
        link.wait_for(state="visible")
        assert link.get_attribute("href") == expected
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shot = OUTPUT / "extra_link_wait_for_export.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 0
