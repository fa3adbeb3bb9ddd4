"""The sans-I/O engine driven by hand: each test answers the engine's commands itself and
checks the commands it got (no sockets, no HTTP client)."""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from airflow_provider_exports.errors import DownloadError, ExportAuthError, TransientError
from airflow_provider_exports.transport.auth import (
    Authenticator,
    Credential,
    CredentialCache,
    Endpoint,
)
from airflow_provider_exports.transport.engine import (
    BodyCut,
    Close,
    CopyTo,
    Engine,
    Head,
    Lock,
    Open,
    Program,
    ReadSome,
    Send,
    Sleep,
    Steps,
    Unlock,
)
from airflow_provider_exports.transport.model import Op, Request, Response
from airflow_provider_exports.transport.retry import RetryPolicy

BASE = "https://api.example.com"


class TokenAuth(Authenticator):
    vendor = "Example"

    def __init__(self) -> None:
        self.logins = 0

    def login(self, previous: Credential | None) -> Op[Credential]:
        self.logins += 1
        resp = yield Request("POST", "/login", "log in", authenticate=False, idempotent=False)
        return Credential(token=resp.json_object("Example")["token"])

    def apply(self, request: Request, credential: Credential) -> Request:
        return request.with_headers({"Authorization": f"Bearer {credential.token}"})


def engine(**policy: Any) -> tuple[Engine, TokenAuth]:
    auth = TokenAuth()
    endpoint = Endpoint(base_url=BASE, auth=auth, cache_key="k")
    return Engine(endpoint, RetryPolicy(**{"backoff": 1.0, **policy}), cache=CredentialCache()), auth


def response(request: Request, status: int = 200, body: Any = None, **headers: str) -> Response:
    data = json.dumps(body).encode() if body is not None else b""
    return Response(status, {"Content-Type": "application/json", **headers}, data, request.url, request)


def drive(program: Program[Any], answer: Callable[[Any], Any]) -> tuple[Any, list[Any]]:
    """Run a program, answering each command with ``answer`` (an exception it returns is thrown in)."""
    seen: list[Any] = []
    steps = Steps(program)
    for command in steps:
        seen.append(command)
        steps.settle(functools.partial(_raise_returned, answer, command))
    return steps.value, seen


def _raise_returned(answer: Callable[[Any], Any], command: Any) -> Any:
    result = answer(command)
    if isinstance(result, BaseException):
        raise result
    return result


def server(*answers: Callable[[Request], Any]) -> Callable[[Any], Any]:
    """Answers logins with a token and each other Send with the next of ``answers``."""
    queue = list(answers)

    def _answer(command: Any) -> Any:
        if isinstance(command, Send):
            if command.request.url.endswith("/login"):
                return response(command.request, body={"token": "t1"})
            return queue.pop(0)(command.request)
        return None

    return _answer


def sends(commands: Iterable[Any]) -> list[str]:
    return [c.request.url.removeprefix(BASE) for c in commands if isinstance(c, Send)]


def test_logs_in_under_the_lock_then_sends_with_the_credential() -> None:
    eng, auth = engine()
    result, seen = drive(
        eng.exchange(Request("GET", "/status", "status")), server(lambda r: response(r, body={}))
    )
    assert result.status == 200
    kinds = [type(c) for c in seen]
    assert kinds == [Lock, Send, Unlock, Send]
    assert seen[3].request.headers["Authorization"] == "Bearer t1"
    # The credential is cached: a second call neither locks nor logs in.
    _, seen = drive(eng.exchange(Request("GET", "/status", "status")), server(lambda r: response(r, body={})))
    assert [type(c) for c in seen] == [Send] and auth.logins == 1


def test_a_failed_login_releases_the_lock() -> None:
    eng, _ = engine()

    def answer(command: Any) -> Any:
        return (
            TransientError("log in", "connection refused", sent=False) if isinstance(command, Send) else None
        )

    with pytest.raises(TransientError):
        drive(eng.exchange(Request("GET", "/status", "status")), answer)


def test_retries_503_with_backoff_and_honours_retry_after() -> None:
    eng, _ = engine(attempts=4)
    result, seen = drive(
        eng.exchange(Request("GET", "/status", "status")),
        server(
            lambda r: response(r, 503),
            lambda r: response(r, 429, **{"Retry-After": "7"}),
            lambda r: TransientError("status", "connection dropped"),
            lambda r: response(r, body={"ok": True}),
        ),
    )
    assert result.json("x") == {"ok": True}
    sleeps = [c.seconds for c in seen if isinstance(c, Sleep)]
    assert len(sleeps) == 3 and 0.5 <= sleeps[0] <= 1.5 and sleeps[1] == 7 and 1.0 <= sleeps[2] <= 6.0


def test_gives_up_after_the_policys_attempts() -> None:
    eng, _ = engine(attempts=3)
    answers = [lambda r: response(r, 502)] * 3
    with pytest.raises(TransientError, match="HTTP 502"):
        drive(eng.exchange(Request("GET", "/status", "status")), server(*answers))


def test_a_start_post_is_resent_only_when_the_server_did_not_act() -> None:
    eng, _ = engine(attempts=5)
    post = Request("POST", "/start", "start", idempotent=False)
    # 502: the server may have acted on it: not resent.
    with pytest.raises(TransientError, match="HTTP 502"):
        drive(eng.exchange(post), server(lambda r: response(r, 502)))
    # 503 and a refused connection: surely not acted on: resent.
    result, seen = drive(
        eng.exchange(post),
        server(
            lambda r: response(r, 503),
            lambda r: TransientError("start", "connection refused", sent=False),
            lambda r: response(r, 202, body={"id": "e1"}),
        ),
    )
    assert result.status == 202 and sends(seen).count("/start") == 3


def test_one_fresh_login_after_a_rejection_then_a_clear_error() -> None:
    eng, auth = engine()
    result, _ = drive(
        eng.exchange(Request("GET", "/status", "status")),
        server(lambda r: response(r, 401), lambda r: response(r, body={})),
    )
    assert result.status == 200 and auth.logins == 2
    with pytest.raises(ExportAuthError, match="rejected again after a fresh login"):
        drive(
            eng.exchange(Request("GET", "/status", "status")),
            server(lambda r: response(r, 401), lambda r: response(r, 401)),
        )


def test_redirects_are_followed_and_credentials_stay_on_origin() -> None:
    eng, _ = engine()
    result, seen = drive(
        eng.exchange(Request("GET", "/status", "status")),
        server(
            lambda r: response(r, 302, Location="/moved"),
            lambda r: response(r, 307, Location="https://cdn.example.net/file"),
            lambda r: response(r, body={}),
        ),
    )
    final = [c.request for c in seen if isinstance(c, Send)][-1]
    assert result.status == 200 and final.url == "https://cdn.example.net/file"
    assert "Authorization" not in final.headers
    moved = [c.request for c in seen if isinstance(c, Send) and c.request.url.endswith("/moved")]
    assert moved[0].headers["Authorization"] == "Bearer t1"


def file_server(answers: list[tuple[int, dict[str, str], bytes | int]]) -> Callable[[Any], Any]:
    """Answers Open with the next (status, headers, body); an int body is the content's first
    that many bytes, then a cut."""
    content = bytes(range(256)) * 40
    queue = list(answers)

    def _answer(command: Any) -> Any:
        if isinstance(command, Send):
            return response(command.request, body={"token": "t1"})
        if isinstance(command, Open):
            status, headers, body = queue.pop(0)
            request = command.request
            return Head(Response(status, headers, b"", request.url, request), body)
        if isinstance(command, CopyTo):
            body = command.handle
            if isinstance(body, int):
                command.sink.write(content[:body])
                return BodyCut(body, "IncompleteRead")
            command.sink.write(body)
            return len(body)
        if isinstance(command, ReadSome):
            return b"denied"
        return None

    return _answer


def test_a_cut_download_resumes_with_range_and_if_range() -> None:
    eng, _ = engine()
    content = bytes(range(256)) * 40
    sink = io.BytesIO()
    written, seen = drive(
        eng.fetch(Request("GET", "/file", "download"), sink),
        file_server(
            [
                (200, {"Content-Length": str(len(content)), "Accept-Ranges": "bytes", "ETag": '"v1"'}, 1000),
                (206, {"Content-Range": f"bytes 1000-{len(content) - 1}/{len(content)}"}, content[1000:]),
            ]
        ),
    )
    assert written == len(content) and sink.getvalue() == content
    opens = [c.request for c in seen if isinstance(c, Open)]
    assert opens[1].headers["Range"] == "bytes=1000-" and opens[1].headers["If-Range"] == '"v1"'
    assert sum(isinstance(c, Close) for c in seen) == 2  # every opened body is closed


def test_a_download_that_ignores_the_range_starts_again() -> None:
    eng, _ = engine()
    content = bytes(range(256)) * 40
    sink = io.BytesIO()
    written, _ = drive(
        eng.fetch(Request("GET", "/file", "download"), sink),
        file_server(
            [
                (200, {"Content-Length": str(len(content)), "Accept-Ranges": "bytes"}, 1000),
                (200, {"Content-Length": str(len(content))}, content),
            ]
        ),
    )
    assert written == len(content) and sink.getvalue() == content


def test_a_download_refused_twice_names_the_rejection() -> None:
    eng, auth = engine()
    with pytest.raises(DownloadError, match="credentials rejected"):
        drive(
            eng.fetch(Request("GET", "/file", "download"), io.BytesIO()),
            file_server([(401, {}, b""), (401, {}, b"")]),
        )
    assert auth.logins == 2
