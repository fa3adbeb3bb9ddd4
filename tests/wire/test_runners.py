"""Both runners (requests and aiohttp) against the OCC emulator over real loopback HTTP."""

from __future__ import annotations

import asyncio
import email.utils
import io
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_exports.errors import (
    DownloadError,
    ExportAuthError,
    ExportRequestError,
    ExportResponseError,
    TransientError,
)
from airflow_provider_exports.hooks.oracle_commerce import OracleCommerceHook
from airflow_provider_exports.status import ExportStatus
from airflow_provider_exports.testing import Fault
from airflow_provider_exports.testing.oracle_commerce import OracleCommerceEmulator
from airflow_provider_exports.transport import RetryPolicy
from airflow_provider_exports.transport.auth import CREDENTIALS

FAST = RetryPolicy(attempts=4, backoff=0.05, backoff_max=0.2, read_timeout=1.0, connect_timeout=1.0)
STATUS = "/ccadmin/v1/exportProcess/"


def make_hook(
    emulator: OracleCommerceEmulator, policy: RetryPolicy = FAST, **conn: Any
) -> OracleCommerceHook:
    fields = {**emulator.connection(), **conn}
    if isinstance(fields.get("extra"), dict):
        fields["extra"] = json.dumps(fields["extra"])
    return OracleCommerceHook(
        "occ_test", connection=Connection(conn_id="occ_test", **fields), retry_policy=policy
    )


def sync_status(hook: OracleCommerceHook, export_id: str) -> ExportStatus:
    return hook.get_status(export_id)


def async_status(hook: OracleCommerceHook, export_id: str) -> ExportStatus:
    return asyncio.run(hook.aget_status(export_id))


RUNNERS = pytest.mark.parametrize("get_status", [sync_status, async_status], ids=["requests", "aiohttp"])
Getter = Callable[[OracleCommerceHook, str], ExportStatus]


@RUNNERS
def test_transient_faults_are_ridden_out(occ_emulator: OracleCommerceEmulator, get_status: Getter) -> None:
    occ_emulator.add_export("e1", "processing")
    occ_emulator.inject(
        Fault("status", status=502, path_prefix=STATUS),
        Fault("status", status=504, path_prefix=STATUS),
        Fault("drop", path_prefix=STATUS),
    )
    assert get_status(make_hook(occ_emulator), "e1").vendor_state == "processing"
    assert not occ_emulator.faults
    assert len(occ_emulator.requests_to(STATUS)) == 4


@RUNNERS
def test_retry_after_is_waited_for(occ_emulator: OracleCommerceEmulator, get_status: Getter) -> None:
    occ_emulator.add_export("e1", "processing")
    occ_emulator.inject(Fault("status", status=429, headers={"Retry-After": "1"}, path_prefix=STATUS))
    started = time.monotonic()
    get_status(make_hook(occ_emulator), "e1")
    assert time.monotonic() - started >= 1.0


@RUNNERS
def test_retry_after_http_date_is_waited_for(
    occ_emulator: OracleCommerceEmulator, get_status: Getter
) -> None:
    occ_emulator.add_export("e1", "processing")
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    occ_emulator.inject(Fault("status", status=429, headers={"Retry-After": when}, path_prefix=STATUS))
    started = time.monotonic()
    get_status(make_hook(occ_emulator), "e1")
    assert time.monotonic() - started >= 1.0  # the date has one-second resolution


@RUNNERS
def test_hanging_server_hits_read_timeout_then_retries(
    occ_emulator: OracleCommerceEmulator, get_status: Getter
) -> None:
    occ_emulator.add_export("e1", "processing")
    occ_emulator.inject(Fault("hang", seconds=3, path_prefix=STATUS))
    started = time.monotonic()
    assert get_status(make_hook(occ_emulator), "e1").vendor_state == "processing"
    assert time.monotonic() - started < 2.9  # did not wait for the hung answer


@RUNNERS
def test_retries_exhausted_raise_transient(
    occ_emulator: OracleCommerceEmulator, get_status: Getter, caplog: pytest.LogCaptureFixture
) -> None:
    occ_emulator.add_export("e1", "processing")
    # One more fault than attempts: a fifth attempt would also fail, but it must not be made.
    occ_emulator.inject(*[Fault("status", status=503, path_prefix=STATUS)] * 5)
    caplog.set_level(logging.WARNING, logger="airflow_provider_exports.transport.retry")
    with pytest.raises(TransientError, match="HTTP 503"):
        get_status(make_hook(occ_emulator), "e1")
    assert len(occ_emulator.requests_to(STATUS)) == FAST.attempts
    retried = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert [m.split("(attempt ")[1].split(")")[0] for m in retried] == ["1 of 4", "2 of 4", "3 of 4"]


@RUNNERS
@pytest.mark.parametrize(
    ("fault", "match"),
    [
        (
            Fault(
                "body",
                body="<!DOCTYPE html><html>Maintenance</html>",
                content_type="text/html",
                path_prefix=STATUS,
            ),
            "HTML page",
        ),
        (
            Fault("body", body='{"progress": "proc', content_type="application/json", path_prefix=STATUS),
            "malformed JSON",
        ),
        (Fault("body", body="", content_type="application/json", path_prefix=STATUS), "empty body"),
    ],
    ids=["html", "truncated-json", "empty"],
)
def test_unreadable_answers_are_clear_errors(
    occ_emulator: OracleCommerceEmulator, get_status: Getter, fault: Fault, match: str
) -> None:
    occ_emulator.add_export("e1", "processing")
    occ_emulator.inject(fault)
    with pytest.raises(ExportResponseError, match=match) as info:
        get_status(make_hook(occ_emulator), "e1")
    assert "Oracle Commerce Cloud" in str(info.value) and "/ccadmin/v1/exportProcess/e1" in str(info.value)


@RUNNERS
def test_unknown_export_is_a_clear_error(occ_emulator: OracleCommerceEmulator, get_status: Getter) -> None:
    with pytest.raises(ExportRequestError, match=r"HTTP 404, code 200001"):
        get_status(make_hook(occ_emulator), "nope")


@RUNNERS
@pytest.mark.parametrize("export_id", ["../x", "a/b", "%2F", "with space", "ünïcode", ".."])
def test_ids_are_percent_encoded(
    occ_emulator: OracleCommerceEmulator, get_status: Getter, export_id: str
) -> None:
    occ_emulator.add_export(export_id, "processing")
    assert get_status(make_hook(occ_emulator), export_id).export_id == export_id
    (request,) = occ_emulator.requests_to(STATUS)
    assert request.path == STATUS + export_id  # decoded by the server: exactly our id
    assert request.raw_path.count("/") == STATUS.count("/")  # no extra path segment on the wire


@RUNNERS
def test_expired_token_is_renewed_once(occ_emulator: OracleCommerceEmulator, get_status: Getter) -> None:
    occ_emulator.add_export("e1", "processing")
    hook = make_hook(occ_emulator)
    get_status(hook, "e1")
    occ_emulator.tokens.expire_all()
    get_status(hook, "e1")
    assert occ_emulator.tokens.issued == 2
    assert len(occ_emulator.requests_to("/ccadmin/v1/login")) == 2


@RUNNERS
def test_repeated_401_fails_clearly(occ_emulator: OracleCommerceEmulator, get_status: Getter) -> None:
    occ_emulator.add_export("e1", "processing")
    body = '{"errorCode": "000003", "message": "Unauthorized"}'
    occ_emulator.inject(
        *[Fault("status", status=401, body=body, content_type="application/json", path_prefix=STATUS)] * 2
    )
    with pytest.raises(ExportAuthError, match="rejected again after a fresh login"):
        get_status(make_hook(occ_emulator), "e1")


def test_bad_application_key_is_an_auth_error(occ_emulator: OracleCommerceEmulator) -> None:
    occ_emulator.add_export("e1", "processing")
    hook = make_hook(occ_emulator, password="wrong-application-key")
    with pytest.raises(ExportAuthError, match="Invalid application key") as info:
        hook.get_status("e1")
    assert "wrong-application-key" not in str(info.value)


def test_concurrent_waits_share_one_login_and_pool(occ_emulator: OracleCommerceEmulator) -> None:
    for n in range(50):
        occ_emulator.add_export(f"e{n}", "processing")

    async def _all() -> list[ExportStatus]:
        hooks = [make_hook(occ_emulator) for _ in range(50)]
        return await asyncio.gather(*(h.aget_status(f"e{n}") for n, h in enumerate(hooks)))

    assert len(asyncio.run(_all())) == 50
    assert occ_emulator.tokens.issued == 1


def test_start_post_is_not_resent_after_a_502(occ_emulator: OracleCommerceEmulator) -> None:
    occ_emulator.inject(Fault("status", status=502, path_prefix="/ccadmin/v1/exportProcess", method="POST"))
    hook = make_hook(occ_emulator)
    with pytest.raises(TransientError):
        hook.start_export({"fileName": "a.zip", "items": [{"id": "Profiles"}]})
    assert (
        len([r for r in occ_emulator.requests if r.method == "POST" and r.path.endswith("exportProcess")])
        == 1
    )


def test_start_post_is_resent_after_a_503(occ_emulator: OracleCommerceEmulator) -> None:
    occ_emulator.inject(Fault("status", status=503, path_prefix="/ccadmin/v1/exportProcess", method="POST"))
    export_id = make_hook(occ_emulator).start_export({"fileName": "a.zip", "items": [{"id": "Profiles"}]})
    assert list(occ_emulator.exports) == [export_id]


def _finished_export(emulator: OracleCommerceEmulator, hook: OracleCommerceHook) -> str:
    emulator.script_next("succeeded")
    export_id = hook.start_export({"fileName": "big.zip", "items": [{"id": "Profiles"}]})
    emulator.exports[export_id].content = bytes(range(256)) * 20_000  # 5 MB
    return export_id


def test_cut_download_resumes_with_range(occ_emulator: OracleCommerceEmulator) -> None:
    hook = make_hook(occ_emulator)
    export_id = _finished_export(occ_emulator, hook)
    occ_emulator.inject(Fault("truncate", after_bytes=1_000_000, path_prefix="/file/"))
    sink = io.BytesIO()
    assert hook.download(export_id, sink) == len(occ_emulator.exports[export_id].content)
    assert sink.getvalue() == occ_emulator.exports[export_id].content
    files = occ_emulator.requests_to("/file/")
    assert len(files) == 2
    resumed_at = int(files[1].headers["Range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= 1_000_000  # resumed where the cut left it, not from zero


def test_download_that_keeps_being_cut_fails(occ_emulator: OracleCommerceEmulator) -> None:
    hook = make_hook(occ_emulator)
    export_id = _finished_export(occ_emulator, hook)
    occ_emulator.inject(*[Fault("truncate", after_bytes=1000, path_prefix="/file/")] * 4)
    with pytest.raises((TransientError, DownloadError)):
        hook.download(export_id, io.BytesIO())


def test_a_cut_download_is_resumed_and_named(occ_emulator: OracleCommerceEmulator) -> None:
    """A body cut short of its Content-Length is a cut, named as such, and resumed."""
    hook = make_hook(occ_emulator)
    export_id = _finished_export(occ_emulator, hook)
    content = occ_emulator.exports[export_id].content
    occ_emulator.inject(*[Fault("truncate", after_bytes=300_000, path_prefix="/file/")] * 4)
    with pytest.raises(TransientError, match=r"download cut after \d+ bytes \(IncompleteRead\)"):
        hook.download(export_id, io.BytesIO())
    occ_emulator.inject(Fault("truncate", after_bytes=300_000, path_prefix="/file/"))
    sink = io.BytesIO()
    assert hook.download(export_id, sink) == len(content)
    assert sink.getvalue() == content


def test_download_resumes_where_the_cut_left_it(occ_emulator: OracleCommerceEmulator) -> None:
    """Same bytes and a Range after the cut; a file that keeps being cut fails, named."""
    hook = make_hook(occ_emulator)
    export_id = _finished_export(occ_emulator, hook)
    content = occ_emulator.exports[export_id].content
    occ_emulator.inject(Fault("truncate", after_bytes=1_000_000, path_prefix="/file/"))
    sink = io.BytesIO()
    assert hook.download(export_id, sink) == len(content)
    assert sink.getvalue() == content
    files = occ_emulator.requests_to("/file/")
    assert len(files) == 2 and files[1].headers["Range"] != "bytes=0-"
    occ_emulator.inject(*[Fault("truncate", after_bytes=1000, path_prefix="/file/")] * 4)
    with pytest.raises(TransientError, match="download cut after"):
        hook.download(export_id, io.BytesIO())


def test_no_credentials_to_another_origin(make_emulator: Callable[..., Any]) -> None:
    emulator = make_emulator("oracle_commerce", files_on_other_origin=True)
    hook = make_hook(emulator)
    export_id = _finished_export(emulator, hook)
    hook.download(export_id, io.BytesIO())
    (file_request,) = emulator.requests_to("/file/")
    assert str(emulator.ports[1]) in file_request.host
    assert "Authorization" not in file_request.headers
    # ...unless the connection opts in.
    CREDENTIALS.clear()
    hook = make_hook(emulator, extra={"allow_cross_origin_auth": True})
    hook.download(export_id, io.BytesIO())
    assert emulator.requests_to("/file/")[-1].headers["Authorization"].startswith("Bearer ")


def test_same_origin_download_gets_the_bearer(occ_emulator: OracleCommerceEmulator) -> None:
    hook = make_hook(occ_emulator)
    export_id = _finished_export(occ_emulator, hook)
    hook.download(export_id, io.BytesIO())
    assert occ_emulator.requests_to("/file/")[-1].headers["Authorization"].startswith("Bearer ")


def test_test_connection_messages(occ_emulator: OracleCommerceEmulator) -> None:
    ok, message = make_hook(occ_emulator).test_connection()
    assert ok and "4 export operations" in message
    CREDENTIALS.clear()
    ok, message = make_hook(occ_emulator, password="bad-key-xyz").test_connection()
    assert not ok and "credentials were rejected" in message and "bad-key-xyz" not in message
    ok, message = make_hook(occ_emulator, host="http://127.0.0.1:9").test_connection()
    assert not ok and "could not reach the service" in message
