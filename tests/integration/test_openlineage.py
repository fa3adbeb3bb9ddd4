"""OpenLineage on real Airflow (dag.test, SQLite): the OCC example DAG runs with the OpenLineage
provider and its file transport (AIRFLOW__OPENLINEAGE__TRANSPORT, events written as JSON lines),
and the events it wrote name the export and the downloaded file as docs/lineage.md says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_exports.testing.oracle_commerce import OracleCommerceEmulator
from integration.expect import assert_exported

pytest.importorskip("airflow.providers.openlineage", reason="needs the [openlineage] extra")
pytestmark = pytest.mark.integration
NAMESPACE = "exports-lineage-test"


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _task_events(events: list[dict[str, Any]], task_id: str) -> dict[str, dict[str, Any]]:
    """The task's first START and its one COMPLETE (a deferred task starts twice: before the
    deferral and on resuming); no FAIL."""
    mine = [e for e in events if e.get("job", {}).get("name") == f"oracle_commerce_export.{task_id}"]
    types = [e["eventType"] for e in mine]
    assert types.count("COMPLETE") == 1 and "FAIL" not in types and types[0] == "START", types
    return {"START": mine[0], "COMPLETE": next(e for e in mine if e["eventType"] == "COMPLETE")}


def _datasets(event: dict[str, Any], kind: str) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in event.get(kind, [])]


def test_events_name_the_export_and_the_file(
    occ_emulator: OracleCommerceEmulator, run_dag: Any, tmp_path: Path
) -> None:
    log_file = tmp_path / "openlineage.jsonl"
    name, value = occ_emulator.connection_env("oracle_commerce_default")
    env = {
        name: value,
        "EXPORTS_POKE_INTERVAL": "0.2",
        "AIRFLOW__OPENLINEAGE__NAMESPACE": NAMESPACE,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(log_file), "append": True}
        ),
    }
    result = run_dag("oracle_commerce_export", env)
    export = assert_exported(result, occ_emulator, vendor_state="succeeded")
    assert log_file.exists(), "the file transport wrote no event: " + result.output[-3000:]
    events = _events(log_file)

    vendor_ns = f"oracle-commerce://127.0.0.1:{occ_emulator.ports[0]}"
    exported = (vendor_ns, f"exportProcess/{export.export_id}")
    downloaded = Path(result.return_value("download_export"))

    start = _task_events(events, "start_export")
    assert _datasets(start["START"], "outputs") == []  # no export exists before the vendor answers
    assert _datasets(start["COMPLETE"], "outputs") == [exported]
    assert start["COMPLETE"]["job"]["namespace"] == NAMESPACE
    vendor_facet = start["COMPLETE"]["job"]["facets"]["exports_vendor"]
    assert (vendor_facet["vendor"], vendor_facet["connectionType"]) == (
        "Oracle Commerce Cloud",
        "oracle_commerce",
    )
    query = start["COMPLETE"]["run"]["facets"]["externalQuery"]
    assert (query["externalQueryId"], query["source"]) == (export.export_id, vendor_ns)

    wait = _task_events(events, "wait_for_export")
    for event in (wait["START"], wait["COMPLETE"]):
        assert _datasets(event, "inputs") == [exported]
    run_facet = wait["COMPLETE"]["run"]["facets"]["exports_export"]
    assert (run_facet["exportId"], run_facet["vendorState"], run_facet["state"]) == (
        export.export_id,
        "succeeded",
        "succeeded",
    )

    download = _task_events(events, "download_export")
    for event in (download["START"], download["COMPLETE"]):
        assert _datasets(event, "inputs") == [exported]
        assert _datasets(event, "outputs") == [("file", str(downloaded))]
    log = _task_events(events, "fetch_export_log")
    assert _datasets(log["COMPLETE"], "inputs") == [exported]
    stats = download["COMPLETE"]["outputs"][0]["outputFacets"]["outputStatistics"]
    assert (stats["size"], stats["fileCount"]) == (len(export.content), 1)

    # No credential of the connection, and no token the emulator issued, is in any event.
    text = log_file.read_text()
    for secret in {occ_emulator.app_key, *occ_emulator.tokens.issued_tokens()}:
        assert secret not in text
