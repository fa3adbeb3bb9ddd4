"""Huawei Cloud: connection settings, IAM token and AK/SK authentication, and error bodies.

Shared by the DataArts Studio and Workspace hooks (pure: no I/O). Sources: shared/vendor-apis/huawei.md (IAM
``POST /v3/auth/tokens``, ``SDK-HMAC-SHA256`` signing, endpoints, error bodies) and the
huaweicloudsdkcore error handler (``error_code``/``error_msg``, ``code``/``message``, nested).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from airflow_provider_exports.errors import (
    ExportAuthError,
    ExportConfigError,
    ExportRequestError,
    ExportResponseError,
)
from airflow_provider_exports.hooks.huawei.signing import sign_headers
from airflow_provider_exports.status import parse_time
from airflow_provider_exports.transport import (
    Authenticator,
    Credential,
    Op,
    Request,
    Response,
    json_request,
    no_io,
)

AUTH_AKSK = "aksk"
AUTH_IAM = "iam"
AUTH_TYPES = (AUTH_AKSK, AUTH_IAM)

#: Tokens live 24 hours (IAM docs); used when the answer has no usable expiry.
DEFAULT_TOKEN_SECONDS = 24 * 3600.0
#: IAM endpoints that do not follow ``iam.{region}.myhuaweicloud.com`` (SDK iam_region.py).
IAM_ENDPOINT_EXCEPTIONS: Mapping[str, str] = {"eu-west-101": "https://iam.eu-west-101.myhuaweicloud.eu"}

_HINTS: Mapping[int, str] = {
    400: "the request was refused as invalid: check the payload, and the project ID "
    "(and workspace ID) in the connection",
    403: "the credentials are valid but not allowed to do this: grant the IAM user the service's "
    "permissions in this project, and check the project ID (and workspace ID) in the connection",
    404: "not found: check the region or endpoint URL in the connection, and the ids",
}
_AUTH_HINTS: Mapping[str, str] = {
    AUTH_AKSK: "the AK/SK signature was refused: check that the access key and secret key belong "
    "together (no stray spaces) and that this machine's clock is within 15 minutes of real time "
    "(X-Sdk-Date). Five failed signatures in a row lock the AK for five minutes",
    AUTH_IAM: "the IAM token or password was refused: check the IAM user name, password and account "
    "(domain) name; a password change or a disabled user invalidates tokens",
}
_APIGW_HINTS: Mapping[str, str] = {
    "APIGW.0101": "the API does not exist at this endpoint: check the region or endpoint URL",
    "APIG.0101": "the API does not exist at this endpoint: check the region or endpoint URL",
}


# ---- connection settings ---------------------------------------------------------------------


@dataclass(frozen=True)
class HuaweiSettings:
    """What a Huawei Cloud connection says; ``secret`` (password or SK) is never printed."""

    auth_type: str
    login: str
    secret: str = field(repr=False)
    project_id: str
    endpoint: str
    region: str | None = None
    domain: str | None = None
    iam_endpoint: str | None = None
    workspace_id: str | None = None

    @property
    def base_url(self) -> str:
        """The service's endpoint: the base URL of its API."""
        return self.endpoint

    def authenticator(self, vendor: str) -> Authenticator:
        """IAM token or AK/SK signing, as ``auth_type`` says."""
        return huawei_authenticator(self, vendor)


def service_endpoint(service: str, region: str) -> str:
    """The default endpoint of a regional service, e.g. ``https://dayu.cn-north-4.myhuaweicloud.com``."""
    return f"https://{service}.{region}.myhuaweicloud.com"


def iam_endpoint_for(region: str) -> str:
    """The IAM endpoint of a region."""
    return IAM_ENDPOINT_EXCEPTIONS.get(region, service_endpoint("iam", region))


def url_with_scheme(value: str, port: int | None = None) -> str:
    """``host`` or ``https://host`` (with the connection's port when set), without a trailing ``/``."""
    url = value.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        url = "https://" + url
    return f"{url}:{port}" if port else url


# ---- authentication --------------------------------------------------------------------------


def iam_token_body(settings: HuaweiSettings) -> dict[str, Any]:
    """The project-scoped password login body of ``POST /v3/auth/tokens``."""
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": settings.login,
                        "password": settings.secret,
                        "domain": {"name": settings.domain},
                    }
                },
            },
            "scope": {"project": {"id": settings.project_id}},
        }
    }


def parse_token(resp: Response, vendor: str, what: str, now: float | None = None) -> Credential:
    """The token from ``X-Subject-Token`` and its expiry from the body's ``token`` object.

    The lifetime is taken as ``expires_at - issued_at`` (both server times) and added to the
    local clock, so a skewed local clock neither shortens nor lengthens it.
    """
    token = resp.header("X-Subject-Token")
    if not token:
        raise ExportResponseError(
            vendor, what, status=resp.status, message="the answer has no X-Subject-Token header"
        )
    now = time.time() if now is None else now
    info: Any = None
    try:
        info = json.loads(resp.body).get("token")
    except (ValueError, AttributeError, UnicodeDecodeError):
        info = None
    info = info if isinstance(info, dict) else {}
    expires = parse_time(info.get("expires_at"))
    issued = parse_time(info.get("issued_at"))
    if expires is not None and issued is not None and expires > issued:
        lifetime = (expires - issued).total_seconds()
    elif expires is not None and expires.timestamp() > now:
        lifetime = expires.timestamp() - now
    else:
        lifetime = DEFAULT_TOKEN_SECONDS
    return Credential(token=token, expires_at=now + lifetime)


class IamTokenAuth(Authenticator):
    """IAM password login to a project-scoped token, sent as ``X-Auth-Token``."""

    # Tokens live 24 h but can be invalidated early; renew well before the end anyway.
    refresh_margin = 600.0

    def __init__(self, settings: HuaweiSettings, vendor: str) -> None:
        if not settings.iam_endpoint:
            raise ExportConfigError(f"{vendor}: IAM authentication needs an IAM endpoint or a region")
        self.vendor = vendor
        self._settings = settings

    def secrets(self) -> Iterable[str]:
        return (self._settings.secret,)

    def login(self, previous: Credential | None) -> Op[Credential]:
        what = "get an IAM token"
        resp = yield json_request(
            "POST",
            f"{self._settings.iam_endpoint}/v3/auth/tokens",
            what,
            iam_token_body(self._settings),
            headers={"Content-Type": "application/json;charset=utf8"},
            params=(("nocatalog", "true"),),
            # The IAM host is another origin than the service: no credentials go there.
            authenticate=False,
        )
        raise_for_status(resp, self.vendor, what, auth_type=AUTH_IAM)
        return parse_token(resp, self.vendor, what)

    def apply(self, request: Request, credential: Credential) -> Request:
        return request.with_headers({"X-Auth-Token": credential.token})


class AkSkAuth(Authenticator):
    """AK/SK request signing (``SDK-HMAC-SHA256``); each attempt is signed with a fresh date."""

    def __init__(self, settings: HuaweiSettings, vendor: str) -> None:
        self.vendor = vendor
        self._settings = settings

    def secrets(self) -> Iterable[str]:
        return (self._settings.secret,)

    def login(self, previous: Credential | None) -> Op[Credential]:
        return no_io(Credential(token=""))

    def apply(self, request: Request, credential: Credential) -> Request:
        headers = dict(request.headers)
        if not any(name.lower() == "x-project-id" for name in headers):
            # As the SDK does for BasicCredentials: signed, and required in multi-project accounts.
            headers["X-Project-Id"] = self._settings.project_id
        try:
            signed = sign_headers(
                request.method,
                request.url,
                headers,
                request.body or b"",
                self._settings.login,
                self._settings.secret,
            )
        except ValueError as exc:
            raise ExportConfigError(f"{self.vendor}: cannot sign {request.safe_target}: {exc}") from None
        return replace(request, headers=signed)

    def is_rejected(self, response: Response) -> bool:
        # Signing again the same way cannot help, and repeated failures lock the AK.
        return False


def huawei_authenticator(settings: HuaweiSettings, vendor: str) -> Authenticator:
    """The authenticator for the connection's ``auth_type``."""
    if settings.auth_type == AUTH_IAM:
        return IamTokenAuth(settings, vendor)
    return AkSkAuth(settings, vendor)


# ---- error bodies ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HuaweiError:
    """The fields of a Huawei Cloud error body."""

    code: str | None = None
    message: str | None = None
    request_id: str | None = None
    encoded_authorization: bool = False


def parse_error(body: Any) -> HuaweiError:
    """Read ``error_code``/``error_msg`` (or ``errorCode``/``errorMsg``, ``code``/``message``),
    looking into nested objects such as IAM's ``{"error": {...}}``, like the SDK does."""
    if not isinstance(body, dict):
        return HuaweiError()
    request_id = body.get("request_id")
    encoded = bool(body.get("encoded_authorization_message"))
    for code_key, msg_key in (("error_code", "error_msg"), ("errorCode", "errorMsg"), ("code", "message")):
        if code_key in body or msg_key in body:
            code, message = body.get(code_key), body.get(msg_key)
            if code is not None or message is not None:
                return HuaweiError(
                    code=None if code in (None, "") else str(code),
                    message=None if message in (None, "") else str(message),
                    request_id=str(request_id) if request_id else None,
                    encoded_authorization=encoded,
                )
    for value in body.values():
        nested = parse_error(value)
        if nested.code or nested.message:
            return replace(nested, request_id=nested.request_id or (str(request_id) if request_id else None))
    return HuaweiError(request_id=str(request_id) if request_id else None, encoded_authorization=encoded)


def explain(status: int, error: HuaweiError, auth_type: str | None) -> str | None:
    """What a person should check for this status and error code."""
    if error.code is not None and error.code in _APIGW_HINTS:
        return _APIGW_HINTS[error.code]
    if status == 401:
        return _AUTH_HINTS.get(auth_type or "", " / ".join(_AUTH_HINTS.values()))
    hint = _HINTS.get(status)
    if hint and error.encoded_authorization:
        hint += (
            " (the answer carries an encoded deny reason: decode it with STS decode-authorization-message)"
        )
    return hint


def error_from(resp: Response, vendor: str, what: str, auth_type: str | None) -> ExportRequestError:
    """A clear exception for a failed Huawei Cloud answer (code, message, request id, hint)."""
    detail: str | None
    if resp.body_skipped:
        error, detail = HuaweiError(), f"a {resp.content_type or 'untyped'} answer"
    else:
        try:
            error = parse_error(json.loads(resp.body))
        except (ValueError, UnicodeDecodeError):
            error = HuaweiError()
        detail = error.message or resp.snippet() or None
    parts = [p for p in (detail, explain(resp.status, error, auth_type)) if p]
    if error.request_id:
        parts.append(f"request id {error.request_id}")
    cls = ExportAuthError if resp.status in (401, 403) else ExportRequestError
    return cls(vendor, what, status=resp.status, code=error.code, message="; ".join(parts) or None)


def raise_for_status(resp: Response, vendor: str, what: str, *, auth_type: str | None = None) -> Response:
    """Return a 2xx response; raise a clear exception for anything else."""
    if resp.ok:
        return resp
    raise error_from(resp, vendor, what, auth_type)


def vendor_error_with_200(body: dict[str, Any], resp: Response, vendor: str, what: str) -> dict[str, Any]:
    """``body``, unless it is an error body (``error_code`` and ``error_msg``) sent with a 2xx."""
    if body.get("error_code") and body.get("error_msg"):
        error = parse_error(body)
        raise ExportRequestError(vendor, what, status=resp.status, code=error.code, message=error.message)
    return body


def json_answer(resp: Response, vendor: str, what: str) -> dict[str, Any]:
    """A 2xx JSON object; an error body sent with 200 (some WKS codes are) raises like an error."""
    return vendor_error_with_200(resp.json_object(vendor), resp, vendor, what)
