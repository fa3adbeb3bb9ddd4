"""docs/connections.md: for each vendor, the URI, JSON and environment-variable examples define the
same connection, one the vendor's hook accepts, and the field table names the form's labels."""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_exports.hooks import hook_class_for
from airflow_provider_exports.transport.network import NETWORK_EXTRAS

from .support import CONN_TYPES, ROOT, not_landed

DOC = ROOT / "docs" / "connections.md"


def _sections() -> dict[str, str]:
    """The doc's vendor sections (``## Name (`conn_type`)``) by connection type."""
    parts = re.split(r"^## .*\(`(\w+)`\)[ \t]*$", DOC.read_text(), flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _block(body: str, lang: str) -> str:
    (block,) = re.findall(rf"^```{lang}\n(.*?)^```", body, flags=re.MULTILINE | re.DOTALL)
    text: str = block.strip()
    return text


def _fields(conn: Connection) -> tuple[Any, ...]:
    return (
        conn.conn_type,
        conn.host or None,
        conn.login or None,
        conn.password or None,
        conn.port,
        conn.schema or None,
        conn.extra_dejson,
    )


def test_every_connection_type_has_a_section() -> None:
    assert sorted(_sections()) == sorted(CONN_TYPES)


@pytest.mark.parametrize("conn_type", CONN_TYPES)
def test_examples_agree_and_the_hook_accepts_them(conn_type: str) -> None:
    body = _sections()[conn_type]
    from_uri = Connection.from_uri(_block(body, "text"), conn_id="doc")
    from_json = Connection.from_json(_block(body, "json"), conn_id="doc")
    (assignment,) = shlex.split(_block(body, "bash").removeprefix("export "))
    name, _, value = assignment.partition("=")
    assert re.fullmatch(r"AIRFLOW_CONN_[A-Z0-9_]+", name), name
    from_env = Connection.from_json(value, conn_id="doc")

    assert from_json.conn_type == conn_type
    assert _fields(from_uri) == _fields(from_json) == _fields(from_env)

    reason = not_landed(conn_type)
    if reason:
        pytest.skip(reason)
    hook = hook_class_for(conn_type)("doc", connection=from_json)
    assert hook.base_url(from_json).startswith("https://")
    assert hook.authenticator(from_json) is not None


@pytest.mark.parametrize("conn_type", CONN_TYPES)
def test_field_table_matches_the_form(conn_type: str) -> None:
    from airflow_provider_exports.get_provider_info import get_provider_info

    body = _sections()[conn_type]
    entry = next(c for c in get_provider_info()["connection-types"] if c["connection-type"] == conn_type)
    behaviour = entry["ui-field-behaviour"]
    for name, label in behaviour["relabeling"].items():
        assert f"| {label} | `{name}`" in body, f"{name}: no row for {label!r}"
    for name, field in entry["conn-fields"].items():
        if name in NETWORK_EXTRAS:
            continue  # one table for every type: tests/docs/test_networks_doc.py
        assert f"| {field['label']} | extra `{name}`" in body, f"extra {name}: no row for {field['label']!r}"
    for name in behaviour["hidden-fields"]:
        assert f"`{name}`" not in body.split("Hidden:")[0], f"{name} is hidden in the form but documented"
