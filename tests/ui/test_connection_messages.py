"""What the Test button says, per cause, as each hook's ``test_connection()`` returns it to the UI:
a person must tell a wrong password from an unreachable host and from a wrong project."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_exports.hooks import hook_class_for
from airflow_provider_exports.testing.emulator import Emulator

from .support import CONN_TYPES, free_port, split_connection


def _test(conn_type: str, conn: dict[str, Any], extra: dict[str, Any]) -> tuple[bool, str]:
    """``test_connection()`` of the type's hook on this connection, trying each call once."""
    connection = Connection(
        conn_id="ui_messages",
        conn_type=conn_type,
        host=conn.get("host"),
        login=conn.get("login"),
        password=conn.get("password"),
        extra=json.dumps(extra),
    )
    hook = hook_class_for(conn_type)("ui_messages", connection=connection, retry={"attempts": 1})
    try:
        ok, message = hook.test_connection()
    finally:
        hook.close()
    return bool(ok), str(message)


@pytest.mark.parametrize("conn_type", CONN_TYPES)
def test_messages_name_the_cause(conn_type: str, vendor: Emulator) -> None:
    conn, extra = split_connection(vendor.connection())
    vendor_name = hook_class_for(conn_type).vendor

    ok, message = _test(conn_type, conn, extra)
    assert ok, message
    assert vendor_name in message

    wrong = f"wrong-{secrets.token_hex(6)}"
    ok, message = _test(conn_type, {**conn, "password": wrong}, extra)
    assert not ok
    assert vendor_name in message and "credentials were rejected" in message, message
    assert wrong not in message

    closed = f"http://127.0.0.1:{free_port()}"
    unreachable = {name: closed for name in ("iam_endpoint",) if name in extra}
    ok, message = _test(conn_type, {**conn, "host": closed}, {**extra, **unreachable})
    assert not ok
    assert "could not reach" in message and "Check the host URL" in message, message

    if "project_id" in extra:
        ok, message = _test(conn_type, conn, {**extra, "project_id": "f" * 32})
        assert not ok
        assert "access was refused" in message and "project" in message, message
        assert "credentials were rejected" not in message, "a wrong project reads as a wrong password"

    if "workspace_id" in extra:
        ok, message = _test(conn_type, conn, {**extra, "workspace_id": "f" * 32})
        assert not ok
        assert "workspace" in message and "credentials were rejected" not in message, message
