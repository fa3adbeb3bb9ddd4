"""Once a connection is saved, none of its secrets reach the browser: not the list, not the edit
form, not the extra-fields JSON, not any API answer the page received."""

from __future__ import annotations

import secrets

import pytest

from .support import CONN_TYPES, ApiServer, missing_browser

_MISSING = missing_browser()
if _MISSING:
    pytest.skip(f"Connections UI tests need a browser: {_MISSING}", allow_module_level=True)

from playwright.sync_api import Page, Response, expect  # noqa: E402

from .connections_page import ConnectionsPage, ConnectionValues, FormSpec, snapshot  # noqa: E402


def _values(spec: FormSpec, token: str) -> tuple[ConnectionValues, dict[str, str]]:
    """A connection with a distinct marker in every secret field, and those markers by field."""
    markers = {"password": f"pw-{token}"} | {name: f"{name}-{token}" for name in spec.secret_extras}
    standard = {"host": "https://vendor.example.invalid", "password": markers["password"]}
    if "login" in spec.visible_standard:
        standard["login"] = "someone"
    extras: dict[str, str] = {name: markers[name] for name in spec.secret_extras}
    for name in spec.extras:
        if spec.is_required(name) and "enum" not in spec.schema(name):
            extras[name] = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    return ConnectionValues(standard=standard, extras=extras), markers


@pytest.mark.parametrize("conn_type", CONN_TYPES)
def test_saved_secrets_never_reach_the_page(conn_type: str, page: Page, api_server: ApiServer) -> None:
    spec = FormSpec.of(conn_type)
    values, markers = _values(spec, secrets.token_hex(8))
    conn_id = f"masked_{conn_type}"
    connections = ConnectionsPage(page).open()
    form = connections.add()
    form.select_type(spec.hook_name)
    form.fill(spec, conn_id, values)

    answers: list[Response] = []
    page.on("response", lambda r: answers.append(r) if "/api/" in r.url else None)
    form.save()
    stored = api_server.connection(conn_id)
    assert stored["password"] == "***", "the password was not stored"
    list_html = page.content()

    form = connections.edit(conn_id)
    expect(form.standard("password")).to_have_value("***")
    form.open_section("Extra Fields")
    for name in spec.secret_extras:
        expect(form.extra(name)).to_have_value("***")
    form.open_section("Extra Fields JSON")
    editor = form.root.locator(".monaco-editor .view-lines").first
    expect(editor).to_contain_text('"***"' if spec.secret_extras else "{")
    snapshot(page, f"{conn_type}-5-edit-masked.png")
    edit_html = page.content()

    bodies = [r.text() for r in answers if r.request.method != "OPTIONS"]
    assert any(conn_id in body for body in bodies), "the page received no answer about the connection"
    for field, marker in markers.items():
        assert marker not in list_html, f"{field} is in the Connections list's HTML"
        assert marker not in edit_html, f"{field} is in the edit form's HTML"
        assert not [b for b in bodies if marker in b], f"{field} is in an API answer the page received"
