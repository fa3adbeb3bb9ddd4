"""Where each vendor's export lives (the extra link and the OpenLineage names, docs/lineage.md),
from connections as docs/connections.md writes them; provider info registers the link and one
integration per vendor."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_exports.get_provider_info import get_provider_info
from airflow_provider_exports.hooks import hook_class_for
from airflow_provider_exports.links import ExportLink, export_location, location_of
from airflow_provider_exports.vendors import VENDORS

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
WORKSPACE = "1a2b3c4d5e6f70819203a4b5c6d7e8f9"
HUAWEI = {"auth_type": "aksk", "region": "cn-north-4", "project_id": PROJECT}

CASES: dict[str, tuple[dict[str, Any], str, str, str | None]] = {
    "oracle_commerce": (
        {"host": "https://p1234567c1prd-admin.occa.ocs.oraclecloud.com", "password": "eyJ.key"},
        "oracle-commerce://p1234567c1prd-admin.occa.ocs.oraclecloud.com",
        "exportProcess/exp 1/a",
        "https://p1234567c1prd-admin.occa.ocs.oraclecloud.com/ccadmin/v1/exportProcess/exp%201%2Fa",
    ),
    "informatica_iics": (
        {"host": "https://dm-us.informaticacloud.com", "login": "jdoe@example.com", "password": "pw"},
        "informatica-iics://dm-us.informaticacloud.com",
        "export/exp 1/a",
        None,
    ),
    "personium": (
        {"host": "https://personium.example/mycell/", "login": "me", "password": "pw"},
        "personium://personium.example",
        "mycell/__snapshot/exp 1/a",
        "https://personium.example/mycell/__snapshot/exp%201%2Fa.zip",
    ),
    "huawei_dataarts": (
        {"login": "AK", "password": "SK", "extra": {**HUAWEI, "workspace_id": WORKSPACE}},
        "huawei-dataarts://dayu.cn-north-4.myhuaweicloud.com",
        f"{PROJECT}/{WORKSPACE}/design/export/exp 1/a",
        f"https://dayu.cn-north-4.myhuaweicloud.com/v2/{PROJECT}/design/export-result?uuid=exp%201%2Fa",
    ),
    "huawei_workspace": (
        {"login": "AK", "password": "SK", "extra": HUAWEI},
        "huawei-workspace://workspace.cn-north-4.myhuaweicloud.com",
        f"{PROJECT}/export-tasks/exp 1/a",
        f"https://workspace.cn-north-4.myhuaweicloud.com/v2/{PROJECT}/export-tasks?task_id=exp%201%2Fa",
    ),
}


def test_every_vendor_has_a_case() -> None:
    assert sorted(CASES) == sorted(v.conn_type for v in VENDORS)


@pytest.mark.parametrize("conn_type", sorted(CASES))
def test_location(conn_type: str) -> None:
    fields, namespace, name, url = CASES[conn_type]
    extra = fields.get("extra")
    fields = {**fields, "extra": json.dumps(extra)} if extra else fields
    conn = Connection(conn_id="c", conn_type=conn_type, **fields)
    settings = hook_class_for(conn_type)("c", connection=conn).read_settings(conn)
    location = export_location(conn_type, settings, "exp 1/a")
    assert (location.namespace, location.name, location.url) == (namespace, name, url)
    for secret in ("eyJ.key", "pw", "SK"):
        assert secret not in repr(location)


def test_a_port_is_part_of_the_namespace_and_userinfo_is_not() -> None:
    conn = Connection(conn_id="c", conn_type="oracle_commerce", host="https://u:p@occ.example", port=8443)
    conn.password = "key"
    settings = hook_class_for("oracle_commerce")("c", connection=conn).read_settings(conn)
    location = export_location("oracle_commerce", settings, "e1")
    assert location.namespace == "oracle-commerce://occ.example:8443"
    assert location.url == "https://occ.example:8443/ccadmin/v1/exportProcess/e1"


class _Operator:
    def __init__(self, export_id: Any) -> None:
        conn = Connection(conn_id="c", conn_type="oracle_commerce", host="https://occ.example", password="k")
        self.hook = hook_class_for("oracle_commerce")("c", connection=conn)
        self.export_id = export_id


@pytest.mark.parametrize("missing", [None, "", "None"])
def test_no_link_without_an_export_id(missing: Any) -> None:
    assert location_of(_Operator(missing), missing) is None
    assert ExportLink().get_link(_Operator(missing), ti_key=None) == ""


def test_link_of_an_operator() -> None:
    link = ExportLink().get_link(_Operator("e1"), ti_key=None)
    assert link == "https://occ.example/ccadmin/v1/exportProcess/e1"


def test_provider_info_registers_the_link_and_every_integration() -> None:
    info = get_provider_info()
    for path in info["extra-links"]:
        module, _, name = path.rpartition(".")
        assert getattr(importlib.import_module(module), name) is ExportLink
    names = [i["integration-name"] for i in info["integrations"]]
    assert names == [v.hook_name for v in VENDORS]
    for integration in info["integrations"]:
        assert integration["external-doc-url"].startswith("https://")
        for page in integration["how-to-guide"]:
            assert (ROOT / page).is_file(), page  # the repository's docs (not in the wheel)
