"""Every request the Huawei hooks make, compared with the one Huawei's official Python SDK makes
for the same operation and inputs (defect 6 of issue 17).

Both clients talk real HTTP over loopback to the project's emulators, which record each request
as it arrived; the test then compares what reached the server: method, raw path, the query as a
multiset of (key, value) pairs, the headers that carry meaning (``workspace``, ``X-Project-Id``,
and ``Content-Type`` when there is a body) and the JSON body. Both requests must also be accepted:
the emulators check AK/SK signatures and the documented parameters, so the SDK's form passing
proves they take what the vendor's own client sends.

What is deliberately not compared (see docs/huawei.md, "Requests compared with the official SDK"):
``Content-Type`` on requests without a body (the SDK sends ``application/json`` on every GET; the
API pages say it is not needed without a body), ``User-Agent``/``Accept`` and the signature
headers (different on every request by design).
"""

from __future__ import annotations

import asyncio
import codecs
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_exports.hooks.huawei.dataarts import HuaweiDataArtsHook
from airflow_provider_exports.hooks.huawei.signing import parse_query
from airflow_provider_exports.hooks.huawei.workspace import HuaweiWorkspaceHook
from airflow_provider_exports.testing.emulator import Recorded
from airflow_provider_exports.testing.huawei import DataArtsEmulator, HuaweiCloudEmulator, WorkspaceEmulator
from airflow_provider_exports.transport import Request, RetryPolicy, json_request

core_credentials = pytest.importorskip("huaweicloudsdkcore.auth.credentials")
core_http = pytest.importorskip("huaweicloudsdkcore.http.http_config")
workspace_sdk = pytest.importorskip("huaweicloudsdkworkspace.v2")
dataarts_sdk = pytest.importorskip("huaweicloudsdkdataartsstudio.v1")
iam_sdk = pytest.importorskip("huaweicloudsdkiam.v3")

#: Headers whose value the service reads (besides the signature, checked by the emulator).
MEANINGFUL_HEADERS = ("workspace", "x-project-id")
NO_RETRIES = RetryPolicy(attempts=1)


# ---- what reached the server ---------------------------------------------------------------------


def content_type(value: str) -> str:
    """A Content-Type for comparison: media type lower-cased, charset by its codec's name
    (``utf8`` and ``UTF-8`` are one charset), other parameters kept."""
    media, *params = (part.strip() for part in value.split(";"))
    normal = []
    for param in params:
        name, _, arg = param.partition("=")
        if name.strip().lower() == "charset":
            arg = codecs.lookup(arg.strip().strip('"')).name
        normal.append(f"{name.strip().lower()}={arg.strip()}")
    return "; ".join([media.lower(), *sorted(normal)])


@dataclass(frozen=True)
class Wire:
    """The parts of one received request that the service acts on."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...]
    body: Any

    @classmethod
    def of(cls, record: Recorded) -> Wire:
        path, _, query = record.raw_path.partition("?")
        headers = {k.lower(): v for k, v in record.headers.items() if k.lower() in MEANINGFUL_HEADERS}
        if record.body:
            headers["content-type"] = content_type(record.headers.get("Content-Type", ""))
        return cls(
            method=record.method,
            path=path,
            query=tuple(sorted(parse_query(query))),
            headers=tuple(sorted(headers.items())),
            body=json.loads(record.body) if record.body else None,
        )


# ---- the two clients -----------------------------------------------------------------------------


def _connection(emulator: HuaweiCloudEmulator) -> Connection:
    data = emulator.connection()
    return Connection(
        conn_id=f"{emulator.vendor}_sdk_compare",
        conn_type=data["conn_type"],
        host=data["host"],
        login=data["login"],
        password=data["password"],
        extra=json.dumps(data["extra"]),
    )


def _sdk_client(module: Any, client_name: str, emulator: HuaweiCloudEmulator) -> Any:
    credentials = core_credentials.BasicCredentials(
        emulator.access_key, emulator.secret_key, emulator.project_id
    )
    client_class = getattr(module, client_name)
    return (
        client_class.new_builder()
        .with_credentials(credentials)
        .with_endpoints([emulator.url])
        .with_http_config(core_http.HttpConfig.get_default_config())
        .build()
    )


@pytest.fixture(scope="module")
def workspace() -> Iterator[WorkspaceEmulator]:
    with WorkspaceEmulator() as emulator:
        assert isinstance(emulator, WorkspaceEmulator)
        yield emulator


@pytest.fixture(scope="module")
def dataarts() -> Iterator[DataArtsEmulator]:
    with DataArtsEmulator(file_padding=0) as emulator:
        assert isinstance(emulator, DataArtsEmulator)
        yield emulator


def _received(
    emulator: HuaweiCloudEmulator, run: Callable[[], object], method: str, path_end: str
) -> tuple[Wire, object]:
    """Run one client's call; the last request it sent to ``method ...path_end``, and its result."""
    with emulator.lock:
        emulator.requests.clear()
    result = run()
    with emulator.lock:
        hits = [r for r in emulator.requests if r.method == method and r.path.endswith(path_end)]
    assert hits, f"no {method} ...{path_end} reached the emulator: {[r.raw_path for r in emulator.requests]}"
    return Wire.of(hits[-1]), result


def _compare(
    emulator: HuaweiCloudEmulator,
    ours: Callable[[], object],
    sdk: Callable[[], object],
    method: str,
    path_end: str,
) -> tuple[Wire, object, object]:
    ours_wire, ours_result = _received(emulator, ours, method, path_end)
    sdk_wire, sdk_result = _received(emulator, sdk, method, path_end)
    assert ours_wire == sdk_wire
    return ours_wire, ours_result, sdk_result


# ---- Workspace -----------------------------------------------------------------------------------

W = workspace_sdk

#: (payload of StartExportOperator, the SDK request for the same export, path it goes to).
WORKSPACE_STARTS: dict[str, tuple[dict[str, Any], Callable[[], Any], str, str]] = {
    "users": (
        {
            "export": "users",
            "params": {"user_names": ["alice", "bob"], "language": "zh_CN", "active_type": "USER_ACTIVATE"},
        },
        lambda: W.ExportUsersNewRequest(
            body=W.ExportUsersNewReq(
                user_names=["alice", "bob"], language="zh_CN", active_type="USER_ACTIVATE"
            )
        ),
        "export_users_new",
        "POST /users/export",
    ),
    "desktops": (
        {
            "export": "desktops",
            "params": {
                "status": "ACTIVE",
                "user_names": ["alice", "bob", "carol"],
                "in_maintenance_mode": False,
                "pool_id": "pool-1,pool-2",
                "tag": "team=data",
            },
        },
        lambda: W.ExportDesktopListNewRequest(
            language="en_US",
            status="ACTIVE",
            user_names=["alice", "bob", "carol"],
            in_maintenance_mode=False,
            pool_id="pool-1,pool-2",
            tag="team=data",
        ),
        "export_desktop_list_new",
        "GET /desktops/export",
    ),
    "desktops_pool_list": (
        # pool_id is a String of comma-separated ids (API page): a list given for it is joined.
        {"export": "desktops", "params": {"language": "zh_CN", "pool_id": ["pool-1", "pool-2"]}},
        lambda: W.ExportDesktopListNewRequest(language="zh_CN", pool_id="pool-1,pool-2"),
        "export_desktop_list_new",
        "GET /desktops/export",
    ),
    "desktop_connections": (
        {
            "export": "desktop_connections",
            "params": {
                "start_time": "2026-11-20T00:00:00Z",
                "end_time": "2026-11-21T00:00:00Z",
                "user_name": "alice",
                "language": "en_US",
                "min_e2e_rtt": 10,
            },
        },
        lambda: W.ExportUserConnectionNewRequest(
            start_time="2026-11-20T00:00:00Z",
            end_time="2026-11-21T00:00:00Z",
            user_name="alice",
            language="en_US",
            min_e2e_rtt=10,
        ),
        "export_user_connection_new",
        "GET /desktops/connections/export",
    ),
    "group_users": (
        {
            "export": "group_users",
            "params": {"group_id": "group 7+x", "user_names": ["alice", "bob"], "language": "en_US"},
        },
        lambda: W.ExportUserGroupUsersNewRequest(
            group_id="group 7+x", user_names=["alice", "bob"], language="en_US"
        ),
        "export_user_group_users_new",
        "GET /users/export",
    ),
    "app_user_access_metrics": (
        {
            "export": "app_user_access_metrics",
            "params": {
                "start_time": "2026-11-20T00:00:00Z",
                "end_time": "2026-11-21T00:00:00Z",
                "username": "alice",
            },
        },
        lambda: W.ExportAppUserAccessDataRequest(
            body=W.ExportAppUserAccessDataRequestBody(
                start_time="2026-11-20T00:00:00Z", end_time="2026-11-21T00:00:00Z", username="alice"
            )
        ),
        "export_app_user_access_data",
        "POST /statistics/metrics/app-user-access/export",
    ),
    "desktop_metrics": (
        {
            "export": "desktop_metrics",
            "params": {
                "start_time": "2026-11-20T00:00:00Z",
                "end_time": "2026-11-21T00:00:00Z",
                "min_idle_days": 3,
                "sort_field": "idle_days",
                "sort_type": "DESC",
            },
        },
        lambda: W.ExportDesktopUsageMetricNewRequest(
            start_time="2026-11-20T00:00:00Z",
            end_time="2026-11-21T00:00:00Z",
            min_idle_days=3,
            sort_field="idle_days",
            sort_type="DESC",
        ),
        "export_desktop_usage_metric_new",
        "GET /statistics/metrics/desktops/export",
    ),
    "user_metrics": (
        {
            "export": "user_metrics",
            "params": {
                "start_time": "2026-11-20T00:00:00Z",
                "end_time": "2026-11-21T00:00:00Z",
                "username": "alice",
                "usage_min_hours": 1,
            },
        },
        lambda: W.ExportUserUsageMetricNewRequest(
            start_time="2026-11-20T00:00:00Z",
            end_time="2026-11-21T00:00:00Z",
            username="alice",
            usage_min_hours=1,
        ),
        "export_user_usage_metric_new",
        "GET /statistics/metrics/users/export",
    ),
    "binding_desktops_template": (
        {
            "export": "binding_desktops_template",
            "params": {"language": "en_US", "computer_name": "desk-01", "mac": "00:1A:2B:3C:4D:5E"},
        },
        lambda: W.ExportTerminalsBindingDesktopsInfoNewRequest(
            language="en_US", computer_name="desk-01", mac="00:1A:2B:3C:4D:5E"
        ),
        "export_terminals_binding_desktops_info_new",
        "GET /terminals/binding-desktops/template/export",
    ),
}


@pytest.mark.parametrize("case", list(WORKSPACE_STARTS))
def test_workspace_start_matches_the_sdk(workspace: WorkspaceEmulator, case: str) -> None:
    payload, sdk_request, sdk_method, target = WORKSPACE_STARTS[case]
    hook = HuaweiWorkspaceHook("ours", connection=_connection(workspace), retry_policy=NO_RETRIES)
    client = _sdk_client(W, "WorkspaceClient", workspace)
    method, path_end = target.split(" ", 1)
    wire, ours, sdk = _compare(
        workspace,
        lambda: hook.start_export(payload),
        lambda: getattr(client, sdk_method)(sdk_request()),
        method,
        path_end,
    )
    assert isinstance(ours, str) and ours in workspace.exports
    assert sdk.task_id in workspace.exports
    if case == "desktops":
        # The array parameter goes as repeated keys, the way the SDK sends it.
        assert [v for k, v in wire.query if k == "user_names"] == ["alice", "bob", "carol"]
        assert ("pool_id", "pool-1,pool-2") in wire.query


@pytest.mark.parametrize("case", ["desktops", "group_users"])
def test_workspace_start_from_the_async_runner_matches_the_sdk(
    workspace: WorkspaceEmulator, case: str
) -> None:
    # start_from_trigger starts exports on the triggerer: the aiohttp runner sends the same query.
    payload, sdk_request, sdk_method, target = WORKSPACE_STARTS[case]
    hook = HuaweiWorkspaceHook("ours", connection=_connection(workspace), retry_policy=NO_RETRIES)
    client = _sdk_client(W, "WorkspaceClient", workspace)

    async def _start() -> str:
        transport = await hook.async_transport()
        return await transport.run(hook.start_op(payload))

    method, path_end = target.split(" ", 1)
    _compare(
        workspace,
        lambda: asyncio.run(_start()),
        lambda: getattr(client, sdk_method)(sdk_request()),
        method,
        path_end,
    )


def test_workspace_status_download_and_check_match_the_sdk(workspace: WorkspaceEmulator) -> None:
    hook = HuaweiWorkspaceHook("ours", connection=_connection(workspace), retry_policy=NO_RETRIES)
    client = _sdk_client(W, "WorkspaceClient", workspace)
    task_id = "task 1+x/y"  # a space, a plus and a slash: encoded the same way in both paths
    workspace.add_export(task_id, "SUCCESS", file_name="users.xlsx").content = b"PK\x03\x04 workbook"

    _compare(
        workspace,
        lambda: hook.get_status(task_id),
        lambda: client.list_export_tasks(
            W.ListExportTasksRequest(
                task_id=task_id, sort_field="create_time", sort_type="DESC", offset=0, limit=100
            )
        ),
        "GET",
        "/export-tasks",
    )
    sink = io.BytesIO()
    wire, _, sdk = _compare(
        workspace,
        lambda: hook.download(task_id, sink),
        lambda: client.download_export_file(W.DownloadExportFileRequest(task_id=task_id)),
        "GET",
        "/download",
    )
    assert wire.path.endswith("/export-tasks/task%201%2Bx%2Fy/download")
    assert sink.getvalue() == b"PK\x03\x04 workbook" and sdk.status_code == 200
    _compare(
        workspace,
        hook.test_connection,
        lambda: client.list_export_tasks(W.ListExportTasksRequest(limit=1)),
        "GET",
        "/export-tasks",
    )


def test_iam_token_request_matches_the_sdk() -> None:
    with WorkspaceEmulator(auth_type="iam") as emulator:
        assert isinstance(emulator, WorkspaceEmulator)
        hook = HuaweiWorkspaceHook("ours", connection=_connection(emulator), retry_policy=NO_RETRIES)
        client = (
            iam_sdk.IamClient.new_builder()
            .with_credentials(core_credentials.GlobalCredentials("AK", "SK", "domain-id"))
            .with_endpoints([emulator.iam_url])
            .with_http_config(core_http.HttpConfig.get_default_config())
            .build()
        )
        user = iam_sdk.PwdPasswordUser(
            domain=iam_sdk.PwdPasswordUserDomain(name=emulator.domain),
            name=emulator.user_name,
            password=emulator.password,
        )
        body = iam_sdk.KeystoneCreateUserTokenByPasswordRequestBody(
            auth=iam_sdk.PwdAuth(
                identity=iam_sdk.PwdIdentity(methods=["password"], password=iam_sdk.PwdPassword(user=user)),
                scope=iam_sdk.AuthScope(project=iam_sdk.AuthScopeProject(id=emulator.project_id)),
            )
        )
        request = iam_sdk.KeystoneCreateUserTokenByPasswordRequest(nocatalog="true", body=body)
        _, ours, sdk = _compare(
            emulator,
            hook.test_connection,
            lambda: client.keystone_create_user_token_by_password(request),
            "POST",
            "/v3/auth/tokens",
        )
        assert isinstance(ours, tuple) and ours[0] is True
        assert sdk.x_subject_token in emulator.tokens


# ---- DataArts Studio -----------------------------------------------------------------------------

D = dataarts_sdk
EXPORT_PARAM = {
    "type": "TABLE_MODEL",
    "model_id": "1160236484595425285",
    "ids": ["1160236484595425279", "1160236484595425281"],
    "biz_catalog_id": "1160236484595425282",
    "directory_id": "1160236484595425280",
}


def test_dataarts_requests_match_the_sdk(dataarts: DataArtsEmulator) -> None:
    hook = HuaweiDataArtsHook("ours", connection=_connection(dataarts), retry_policy=NO_RETRIES)
    client = _sdk_client(D, "DataArtsStudioClient", dataarts)
    ws = dataarts.workspace_id

    wire, ours, sdk = _compare(
        dataarts,
        lambda: hook.start_export(EXPORT_PARAM),
        lambda: client.export_design_models(
            D.ExportDesignModelsRequest(workspace=ws, body=D.ExportParam(**EXPORT_PARAM, asyn=True))
        ),
        "POST",
        "/design/export-model",
    )
    assert wire.body == {**EXPORT_PARAM, "asyn": True}
    assert isinstance(ours, str) and sdk.data.uuid in dataarts.exports

    dataarts.script_next("importing", "importing", "success")
    export_id = hook.start_export(EXPORT_PARAM)
    result = D.ExportDesignResultRequest(workspace=ws, uuid=export_id)
    _compare(
        dataarts,
        lambda: hook.get_status(export_id),
        lambda: client.export_design_result(result),
        "GET",
        "/design/export-result",
    )
    sink = io.BytesIO()
    _compare(
        dataarts,
        lambda: hook.download(export_id, sink),
        lambda: client.export_design_result(result),
        "GET",
        "/design/export-result",
    )
    assert sink.getvalue() == dataarts.exports[export_id].content
    _compare(
        dataarts,
        hook.test_connection,
        lambda: client.list_directories(D.ListDirectoriesRequest(workspace=ws, type="CODE")),
        "GET",
        "/design/directorys",
    )


# ---- what the emulator refuses, as the service would -----------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "says"),
    [
        # An array parameter comma-joined: one "user name" with a comma, which no user can have.
        ("/desktops/export", (("language", "en_US"), ("user_names", "alice,bob")), "user_names"),
        ("/groups/g-1/users/export", (("user_names", "alice,bob"),), "user_names"),
        # The API page's limit: at most 100 users.
        (
            "/desktops/export",
            (("language", "en_US"), *(("user_names", f"user{n}") for n in range(101))),
            "100",
        ),
        # Mandatory parameters of the API pages.
        ("/desktops/export", (("user_names", "alice"),), "language"),
        ("/terminals/binding-desktops/template/export", (("mac", "00:1A:2B:3C:4D:5E"),), "language"),
        ("/statistics/metrics/users/export", (("start_time", "2026-11-20T00:00:00Z"),), "end_time"),
        ("/statistics/metrics/desktops/export", (("end_time", "2026-11-21T00:00:00Z"),), "start_time"),
    ],
)
def test_workspace_emulator_refuses_what_the_service_refuses(
    workspace: WorkspaceEmulator, path: str, params: tuple[tuple[str, str], ...], says: str
) -> None:
    hook = HuaweiWorkspaceHook("wrong", connection=_connection(workspace), retry_policy=NO_RETRIES)
    before = set(workspace.exports)
    url = f"/v3/{workspace.project_id}{path}"
    response = hook.sync_transport().call(Request("GET", url, "a wrong request", params=params))
    assert response.status == 400
    body = json.loads(response.body)
    assert body["error_code"].startswith("WKS.") and says in body["error_msg"]
    assert set(workspace.exports) == before


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        ("/v2/{project}/statistics/metrics/app-user-access/export", {"username": "alice"}, "start_time"),
        # The body's user_names is an array of user names too.
        ("/v3/{project}/users/export", {"user_names": "alice,bob"}, "user_names"),
        ("/v3/{project}/users/export", {"user_names": ["alice,bob"]}, "user_names"),
    ],
)
def test_workspace_emulator_refuses_wrong_bodies(
    workspace: WorkspaceEmulator, path: str, body: dict[str, Any], says: str
) -> None:
    hook = HuaweiWorkspaceHook("wrong", connection=_connection(workspace), retry_policy=NO_RETRIES)
    before = set(workspace.exports)
    url = path.format(project=workspace.project_id)
    response = hook.sync_transport().call(json_request("POST", url, "a wrong request", body))
    assert response.status == 400
    assert says in json.loads(response.body)["error_msg"]
    assert set(workspace.exports) == before
