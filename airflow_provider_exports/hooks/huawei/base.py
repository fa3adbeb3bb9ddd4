"""What the DataArts Studio and Workspace hooks share: the hook base class (settings from the
connection, authentication, errors) and the check of a start call's documented answer."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from airflow.sdk import Connection

from airflow_provider_exports.errors import ExportConfigError, ExportResponseError
from airflow_provider_exports.hooks.base import ExportHook
from airflow_provider_exports.hooks.huawei.auth import (
    AUTH_AKSK,
    AUTH_IAM,
    AUTH_TYPES,
    HuaweiSettings,
    iam_endpoint_for,
    raise_for_status,
    service_endpoint,
    url_with_scheme,
    vendor_error_with_200,
)
from airflow_provider_exports.transport import Response, path_segment
from airflow_provider_exports.transport.bodies import is_json_type

#: The documented status of a successful start call (DataArts export-model, the Workspace exports).
START_STATUS = 200
#: The HTML label :attr:`Response.is_html` does not know (it knows ``text/html`` and the body).
XHTML_TYPE = "application/xhtml+xml"


def answer_error(vendor: str, what: str, problem: str, resp: Response) -> ExportResponseError:
    """An unreadable answer: the vendor, the call, the status, the content type and the body's start."""
    return ExportResponseError(
        vendor,
        what,
        status=resp.status,
        message=f"{problem} ({resp.content_type or 'no content type'}): {resp.snippet() or '<empty body>'}",
    )


def start_answer(resp: Response, vendor: str, what: str) -> dict[str, Any]:
    """The JSON object of a start call's documented answer: HTTP 200 with a JSON body.

    Anything else (another 2xx, an HTML page, another content type, malformed JSON, not an
    object) raises :class:`ExportResponseError` at once: a proxy or portal answered instead of the
    service, and whether an export was started is unknown, so the start is not repeated. A
    Content-Type that says JSON is accepted with any parameters, as is a missing one when the body
    is a JSON object. An error body sent with 200 raises as that error (see :func:`json_answer`).
    """
    if resp.status != START_STATUS:
        raise answer_error(
            vendor, what, f"expected HTTP {START_STATUS} with a JSON body, as documented", resp
        )
    if resp.is_html or resp.content_type == XHTML_TYPE:
        raise answer_error(vendor, what, "expected JSON, got an HTML page", resp)
    if resp.content_type and not is_json_type(resp.headers):
        raise answer_error(vendor, what, "expected a JSON body", resp)
    try:
        body = json.loads(resp.body)
    except (ValueError, UnicodeDecodeError):
        raise answer_error(vendor, what, "expected JSON, got malformed JSON", resp) from None
    if not isinstance(body, dict):
        raise answer_error(vendor, what, f"expected a JSON object, got a {type(body).__name__}", resp)
    return vendor_error_with_200(body, resp, vendor, what)


def start_id(value: Any, name: str, resp: Response, vendor: str, what: str) -> str:
    """The export id a start answer must carry (``name`` in messages): a non-empty string."""
    if isinstance(value, str) and value:
        return value
    raise answer_error(vendor, what, f"the answer has no {name}", resp)


class HuaweiCloudHook(ExportHook):
    """What both Huawei Cloud hooks share: settings from the connection, auth, errors.

    Connection: login/password = IAM user and password (``auth_type`` ``iam``) or AK and SK
    (``aksk``, the default); extras ``region``, ``project_id``, ``domain`` (IAM), ``iam_endpoint``,
    ``workspace_id`` (DataArts); host = endpoint override (default from the region).
    """

    #: First label of the service's host name (``dayu``, ``workspace``).
    service_host: ClassVar[str]
    #: Whether the service needs a ``workspace_id`` extra.
    needs_workspace: ClassVar[bool] = False

    def read_settings(self, conn: Connection) -> HuaweiSettings:
        """Validate the connection into :class:`HuaweiSettings` (clear errors naming each field)."""
        auth_type = str(self.extra(conn, "auth_type", AUTH_AKSK)).strip().lower()
        if auth_type not in AUTH_TYPES:
            raise ExportConfigError(
                f"Connection {self.conn_id!r} ({self.hook_name}): "
                f"auth_type must be 'aksk' or 'iam', not {auth_type!r}."
            )
        iam = auth_type == AUTH_IAM
        login = self.require(conn.login, "IAM user name (login field)" if iam else "access key (login field)")
        secret = self.require(
            conn.password, "IAM password (password field)" if iam else "secret key (password field)"
        )
        region = self.extra(conn, "region")
        project_id = self.require(self.extra(conn, "project_id"), "project_id extra")
        if conn.host:
            endpoint = url_with_scheme(conn.host, conn.port)
        else:
            endpoint = service_endpoint(self.service_host, self.require(region, "region extra (or host)"))
        iam_endpoint = None
        domain = None
        if iam:
            domain = self.require(
                self.extra(conn, "domain"), "domain extra (the account the IAM user belongs to)"
            )
            explicit = self.extra(conn, "iam_endpoint")
            iam_endpoint = (
                # SDK configurations often name the endpoint with its version: ".../v3".
                url_with_scheme(explicit).removesuffix("/v3")
                if explicit
                else iam_endpoint_for(self.require(region, "region extra (or iam_endpoint)"))
            )
        workspace_id = None
        if self.needs_workspace:
            workspace_id = self.require(self.extra(conn, "workspace_id"), "workspace_id extra")
        return HuaweiSettings(
            auth_type=auth_type,
            login=login,
            secret=secret,
            project_id=project_id,
            endpoint=endpoint,
            region=str(region) if region else None,
            domain=domain,
            iam_endpoint=iam_endpoint,
            workspace_id=workspace_id,
        )

    @property
    def settings(self) -> HuaweiSettings:
        """The connection's settings, read once (see :attr:`ExportHook.settings`)."""
        settings = super().settings
        assert isinstance(settings, HuaweiSettings)  # what read_settings returns
        return settings

    @property
    def project_path(self) -> str:
        """The project id as one URL path segment (the ``{project_id}`` of every path)."""
        return path_segment(self.settings.project_id)

    def check(self, resp: Response, what: str) -> Response:
        """Return a 2xx response; raise a clear Huawei error otherwise."""
        return raise_for_status(resp, self.vendor, what, auth_type=self.settings.auth_type)
