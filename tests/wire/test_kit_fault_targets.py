"""The test kit's faults aimed by meaning (``Fault(..., on=...)``, ``times=``) and its
vendor-neutral script words (``Step("running", 50)``, ``Step("failed", message=...)``), checked
with each vendor's real hook over loopback: which request each target hits, and what the hook
makes of each neutral word.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from wire_support import wire_hook

from airflow_provider_exports.hooks.base import ExportHook
from airflow_provider_exports.status import ExportState, ExportStatus
from airflow_provider_exports.testing import Fault, Step
from airflow_provider_exports.testing.emulator import FAULT_TARGETS, NEUTRAL_STATES, Emulator, Recorded

PAYLOADS: dict[str, dict[str, Any]] = {
    "oracle_commerce": {"mode": "bundle", "fileName": "kit.zip", "items": [{"id": "Profiles"}]},
    "informatica_iics": {"name": "kit", "objects": [{"id": "l7bgB85m5oGiXObDxwnvK9"}]},
    "personium": {"Name": "kit_snapshot"},
    "huawei_dataarts": {"type": "TABLE_MODEL", "ids": ["kit"]},
    "huawei_workspace": {"export": "users", "params": {"language": "en_US"}},
}
#: Options that give every vendor a login request (Huawei: IAM tokens instead of AK/SK signing).
OPTIONS: dict[str, dict[str, Any]] = {
    "huawei_dataarts": {"auth_type": "iam"},
    "huawei_workspace": {"auth_type": "iam"},
}

# What each target must hit, written from the vendors' API pages (method, path), for export ``x``.
EXPECTED: dict[str, dict[str, Callable[[Recorded, str], bool]]] = {
    "oracle_commerce": {
        "login": lambda r, x: (r.method, r.path) == ("POST", "/ccadmin/v1/login"),
        "start": lambda r, x: (r.method, r.path) == ("POST", "/ccadmin/v1/exportProcess"),
        "status": lambda r, x: (r.method, r.path) == ("GET", f"/ccadmin/v1/exportProcess/{x}"),
        "download": lambda r, x: (r.method, r.path) == ("GET", f"/file/export/{x}/kit.zip"),
        "log": lambda r, x: (r.method, r.path) == ("GET", f"/file/export/{x}/exportStatus.zip"),
    },
    "informatica_iics": {
        "login": lambda r, x: (r.method, r.path) == ("POST", "/saas/public/core/v3/login"),
        "start": lambda r, x: (r.method, r.path) == ("POST", "/saas/public/core/v3/export"),
        "status": lambda r, x: (r.method, r.path) == ("GET", f"/saas/public/core/v3/export/{x}"),
        "download": lambda r, x: (r.method, r.path) == ("GET", f"/saas/public/core/v3/export/{x}/package"),
        "log": lambda r, x: (r.method, r.path) == ("GET", f"/saas/public/core/v3/export/{x}/log"),
    },
    "personium": {
        "login": lambda r, x: (r.method, r.path) == ("POST", "/cell1/__token"),
        "start": lambda r, x: (r.method, r.path) == ("POST", "/cell1/__export"),
        "status": lambda r, x: (r.method, r.path) == ("GET", "/cell1/__export"),
        "download": lambda r, x: (r.method, r.path) == ("GET", f"/cell1/__snapshot/{x}.zip"),
    },
    "huawei_dataarts": {
        "login": lambda r, x: (r.method, r.path) == ("POST", "/v3/auth/tokens"),
        "start": lambda r, x: r.method == "POST" and r.path.endswith("/design/export-model"),
        # The first status request: the export is still running.
        "status": lambda r, x: r.method == "GET" and r.path.endswith("/design/export-result"),
        # After the waiting side saw the file: the download task's requests.
        "download": lambda r, x: r.method == "GET" and r.path.endswith("/design/export-result"),
    },
    "huawei_workspace": {
        "login": lambda r, x: (r.method, r.path) == ("POST", "/v3/auth/tokens"),
        "start": lambda r, x: r.method == "POST" and r.path.endswith("/users/export"),
        "status": lambda r, x: r.method == "GET" and r.path.endswith("/export-tasks"),
        "download": lambda r, x: r.method == "GET" and r.path.endswith(f"/export-tasks/{x}/download"),
    },
}
NO_LOG = {
    "personium": "keeps no export log",
    "huawei_dataarts": "keeps no export log",
    "huawei_workspace": "keeps no export task log",
}
VENDORS = sorted(PAYLOADS)


def lifecycle(hook: ExportHook, payload: dict[str, Any]) -> tuple[str, list[ExportStatus]]:
    """Start, poll until done, download, fetch the log: what the example DAGs' tasks do."""
    export_id = hook.start_export(payload)
    seen = [hook.get_status(export_id)]
    while not seen[-1].is_terminal and len(seen) < 20:
        seen.append(hook.get_status(export_id))
    if seen[-1].is_success:
        hook.download(export_id, io.BytesIO())
    hook.fetch_log(export_id)
    return export_id, seen


@pytest.mark.parametrize("conn_type", VENDORS)
def test_each_target_hits_the_vendors_request_of_that_meaning(
    conn_type: str, make_emulator: Callable[..., Emulator]
) -> None:
    emulator = make_emulator(conn_type, **OPTIONS.get(conn_type, {}))
    targets = list(EXPECTED[conn_type])
    # "pass" answers normally, so one run shows where each target lands.
    emulator.inject(*(Fault("pass", on=target) for target in targets))
    export_id, seen = lifecycle(wire_hook(emulator), PAYLOADS[conn_type])

    assert seen[-1].is_success
    assert not emulator.faults, f"targets never hit: {[f.on for f in emulator.faults]}"
    for target in targets:
        (hit,) = emulator.faulted(target)
        assert EXPECTED[conn_type][target](hit, export_id), f"{target} hit {hit.method} {hit.path}"
    if conn_type == "huawei_dataarts":
        # status: a running export's state; download: only after the file was first served.
        status_hit, download_hit = emulator.faulted("status")[0], emulator.faulted("download")[0]
        results = [r for r in emulator.requests if r.path.endswith("/export-result")]
        assert results.index(status_hit) == 0
        assert results.index(download_hit) == len(seen)


@pytest.mark.parametrize("conn_type", VENDORS)
def test_times_hits_that_many_requests_and_the_hook_rides_them_out(
    conn_type: str, make_emulator: Callable[..., Emulator]
) -> None:
    emulator = make_emulator(conn_type)
    emulator.inject(Fault("status", status=503, on="status", times=2))
    export_id, seen = lifecycle(wire_hook(emulator), PAYLOADS[conn_type])

    assert seen[-1].is_success
    hits = emulator.faulted("status")
    assert len(hits) == 2 and not emulator.faults
    assert all(EXPECTED[conn_type]["status"](hit, export_id) for hit in hits)
    # The two 503s were the first two status requests: the hook retried, then went on.
    statuses = [r for r in emulator.requests if EXPECTED[conn_type]["status"](r, export_id)]
    assert statuses[:2] == hits and len(statuses) > 2


@pytest.mark.parametrize("conn_type", VENDORS)
def test_a_target_the_vendor_lacks_is_a_clear_error(
    conn_type: str, make_emulator: Callable[..., Emulator]
) -> None:
    emulator = make_emulator(conn_type)
    if conn_type in NO_LOG:
        with pytest.raises(ValueError, match=f"has no 'log' request: .*{NO_LOG[conn_type]}"):
            emulator.inject(Fault("drop", on="log"))
    if conn_type.startswith("huawei"):
        with pytest.raises(ValueError, match="no login request with auth_type='aksk'"):
            emulator.inject(Fault("drop", on="login"))
    with pytest.raises(ValueError, match="unknown fault target on='poll'; the targets are login, start"):
        emulator.inject(Fault("drop", on="poll"))
    assert not emulator.faults


def test_fault_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown fault kind 'timeout'; the kinds are status, drop"):
        Fault("timeout")
    with pytest.raises(ValueError, match="at least 1"):
        Fault("drop", times=0)
    assert set(FAULT_TARGETS) == {"login", "start", "status", "download", "log"}


@pytest.mark.parametrize("conn_type", VENDORS)
def test_neutral_words_script_every_vendor(conn_type: str, make_emulator: Callable[..., Emulator]) -> None:
    emulator = make_emulator(conn_type)
    hook = wire_hook(emulator)
    emulator.script_next(Step("running", 50), Step("failed", message="disk full"))
    export_id = hook.start_export(PAYLOADS[conn_type])
    seen = [hook.get_status(export_id)]
    while not seen[-1].is_terminal and len(seen) < 10:
        seen.append(hook.get_status(export_id))

    assert seen[-1].state is ExportState.FAILED, seen
    assert "disk full" in (seen[-1].message or ""), seen[-1]
    running = [s for s in seen if s.state is ExportState.RUNNING]
    assert running, seen
    if conn_type in ("oracle_commerce", "huawei_dataarts", "personium"):
        assert 50 in [s.progress for s in running], running

    # And a success, to the end: the neutral word is the vendor's success.
    emulator.script_next("running", "succeeded")
    other = hook.start_export(
        {**PAYLOADS[conn_type], **({"Name": "kit_second"} if conn_type == "personium" else {})}
    )
    done = [hook.get_status(other)]
    while not done[-1].is_terminal and len(done) < 10:
        done.append(hook.get_status(other))
    assert done[-1].is_success, done


def test_raw_vendor_states_still_script(make_emulator: Callable[..., Emulator]) -> None:
    emulator = make_emulator("oracle_commerce")
    hook = wire_hook(emulator)
    emulator.script_next(Step("processing", 20), Step("failed", code="EXPORT_IO", message="no space"))
    export_id = hook.start_export(PAYLOADS["oracle_commerce"])
    first, last = hook.get_status(export_id), hook.get_status(export_id)
    assert (first.vendor_state, first.progress) == ("processing", 20)
    assert last.state is ExportState.FAILED and "EXPORT_IO" in (last.message or "")


@pytest.mark.parametrize(
    ("conn_type", "word"), [("oracle_commerce", "expired"), ("informatica_iics", "cancelled")]
)
def test_a_word_the_vendor_lacks_is_a_clear_error(
    conn_type: str, word: str, make_emulator: Callable[..., Emulator]
) -> None:
    emulator = make_emulator(conn_type)
    with pytest.raises(ValueError, match=re.escape(f"has no {word!r} state; its neutral words are pending")):
        emulator.script_next("running", word)
    assert not emulator.scripts


def test_dataarts_truncate_on_download_needs_times_2(make_emulator: Callable[..., Emulator]) -> None:
    """As docs/testing.md says: the download task asks export-result for the state, then for the
    file; times=2 cuts the file, and the hook asks for it again (the file is smaller than the
    runner's first whole read, so there is nothing to resume from)."""
    emulator = make_emulator("huawei_dataarts")
    emulator.inject(Fault("truncate", after_bytes=64 * 1024, on="download", times=2))
    hook = wire_hook(emulator)
    export_id = hook.start_export(PAYLOADS["huawei_dataarts"])
    while not hook.get_status(export_id).is_terminal:
        pass
    sink = io.BytesIO()
    hook.download(export_id, sink)

    assert sink.getvalue() == emulator.exports[export_id].content
    assert len(emulator.faulted("download")) == 2 and not emulator.faults
    cut = emulator.faulted("download")[-1]
    # By identity: the state check and the file request are equal records.
    after = emulator.requests[next(i for i, r in enumerate(emulator.requests) if r is cut) + 1 :]
    # The cut download was retried: the whole file again.
    assert [r.path.rsplit("/", 1)[-1] for r in after] == ["export-result"]
    assert all(r.fault is None for r in after)


#: Neutral words the vendor has no state of its own for, and what its hook then reads.
NO_OWN_STATE = {("huawei_dataarts", "pending"): "running", ("huawei_workspace", "pending"): "running"}


@pytest.mark.parametrize("conn_type", VENDORS)
def test_each_neutral_word_reads_as_that_state(
    conn_type: str, make_emulator: Callable[..., Emulator]
) -> None:
    """A script of one word is read by the vendor's hook as the ExportState of that name
    (Personium first runs once: its exports only end after they ran)."""
    emulator = make_emulator(conn_type)
    hook = wire_hook(emulator)
    words = [w for w in NEUTRAL_STATES if w in emulator.neutral_states]
    assert {"pending", "running", "succeeded", "failed"} <= set(words)
    for word in words:
        emulator.script_next(word)
        payload = {"Name": f"kit_{word}"} if conn_type == "personium" else PAYLOADS[conn_type]
        export_id = hook.start_export(payload)
        seen = [hook.get_status(export_id).state.value for _ in range(3)]
        expected = NO_OWN_STATE.get((conn_type, word), word)
        if conn_type == "personium" and word in ("succeeded", "failed"):
            assert seen == ["running", expected, expected], word
        else:
            assert seen == [expected] * 3, word
