"""Each vendor's connection form in a real browser: the fields a person sees, saving it, and the
Test button against the vendor's emulator."""

from __future__ import annotations

import json
import secrets

import pytest

from .support import CONN_TYPES, ApiServer, missing_browser

_MISSING = missing_browser()
if _MISSING:
    pytest.skip(f"Connections UI tests need a browser: {_MISSING}", allow_module_level=True)

from playwright.sync_api import Page, expect  # noqa: E402

from airflow_provider_exports.hooks import hook_class_for  # noqa: E402
from airflow_provider_exports.testing.emulator import Emulator  # noqa: E402

from .connections_page import ConnectionsPage, ConnectionValues, FormSpec, snapshot  # noqa: E402

#: Every type's network fields (docs/connections.md, "Networks").
_NETWORK = {"allow_cross_origin_auth", "verify", "ca_bundle", "proxy", "no_proxy"}
_HUAWEI = {"auth_type", "region", "project_id", "domain", "iam_endpoint"} | _NETWORK
#: What each vendor's connection needs: the standard fields shown, and the extra fields.
NEEDED: dict[str, tuple[set[str], set[str]]] = {
    "oracle_commerce": ({"host", "password"}, _NETWORK),
    "informatica_iics": ({"host", "login", "password"}, _NETWORK),
    "personium": (
        {"host", "login", "password"},
        {"access_token", "refresh_token", "request_key"} | _NETWORK,
    ),
    "huawei_dataarts": ({"host", "login", "password"}, _HUAWEI | {"workspace_id"}),
    "huawei_workspace": ({"host", "login", "password"}, _HUAWEI),
}
#: Extra fields that hold secrets (masked as you type, redacted once saved): the proxy URL may
#: carry the proxy's password.
SECRET_EXTRAS = {
    conn_type: {"proxy"} | ({"access_token", "refresh_token"} if conn_type == "personium" else set())
    for conn_type in NEEDED
}


def test_every_connection_type_has_a_form_spec() -> None:
    assert set(NEEDED) == set(CONN_TYPES)


@pytest.mark.parametrize("conn_type", CONN_TYPES)
def test_form_shows_what_the_vendor_needs(conn_type: str, page: Page) -> None:
    """Only the needed fields, each labelled for a person, with the expected shape as placeholder
    (standard fields) or helper text (extra fields), and secrets in masked inputs."""
    spec = FormSpec.of(conn_type)
    standard, extras = NEEDED[conn_type]
    form = ConnectionsPage(page).open().add()
    form.select_type(spec.hook_name)
    form.open_section("Standard Fields")

    for name in ("host", "schema", "login", "password", "port"):
        box = form.standard(name)
        if name not in standard:
            expect(box).to_have_count(0)
            continue
        expect(box).to_be_visible()
        label = form.label_of(box)
        assert name in spec.relabeling, f"{name} keeps Airflow's generic label"
        assert label == spec.relabeling[name], f"{name}: label {label!r}"
        placeholder = box.get_attribute("placeholder") or ""
        assert placeholder == spec.placeholders.get(name, ""), f"{name}: placeholder {placeholder!r}"
        if name != "password":
            assert placeholder, f"{name} has no placeholder showing the expected shape"
        expect(box).to_have_attribute("type", "password" if name == "password" else "text")
    snapshot(page, f"{conn_type}-1-form.png")

    form.open_section("Extra Fields")
    assert form.extra_names() == extras
    for name in extras:
        box = form.extra(name)
        assert form.label_of(box) == spec.extras[name]["label"], name
        assert form.label_of(box) != name, f"{name} has no label for a person"
        assert form.help_of(box) == spec.extras[name]["description"], name
        assert form.is_required(box) == spec.is_required(name), f"{name}: required mark"
        if name in SECRET_EXTRAS.get(conn_type, set()):
            expect(box).to_have_attribute("type", "password")
        else:
            assert box.get_attribute("type") != "password", f"{name} is masked but not a secret"
    assert set(spec.secret_extras) == SECRET_EXTRAS.get(conn_type, set())
    snapshot(page, f"{conn_type}-2-extra-fields.png")


@pytest.mark.parametrize("conn_type", CONN_TYPES)
def test_save_and_test_against_the_emulator(
    conn_type: str, page: Page, api_server: ApiServer, vendor: Emulator
) -> None:
    """Typing in the emulator's connection saves it as the hook reads it; Test then says it
    connected, and after the password is changed to a wrong one, that the credentials were
    rejected."""
    spec = FormSpec.of(conn_type)
    values = ConnectionValues.from_json(vendor.connection())
    conn_id = f"ui_{conn_type}"
    connections = ConnectionsPage(page).open()
    form = connections.add()
    form.select_type(spec.hook_name)
    form.fill(spec, conn_id, values)
    form.save()

    stored = api_server.connection(conn_id)
    assert (stored["conn_type"], stored["host"]) == (conn_type, values.standard["host"])
    assert stored["login"] == values.standard.get("login")
    assert stored["password"] == "***"
    extra = json.loads(stored["extra"] or "{}")
    assert not [key for key in extra if key.startswith("extra__")], extra
    for name, value in values.extras.items():
        expected = "***" if spec.is_secret(name) else value
        assert str(extra.get(name)).lower() == str(expected).lower(), (name, extra)

    vendor_name = hook_class_for(conn_type).vendor
    good = connections.test(conn_id)
    assert good.ok, good.message
    assert "Test Connection Successful" in good.toast
    assert vendor_name in good.message
    snapshot(page, f"{conn_type}-3-test-ok.png")

    wrong = f"wrong-{secrets.token_hex(6)}"
    form = connections.edit(conn_id)
    expect(form.standard("password")).to_have_value("***")
    form.standard("password").fill(wrong)
    form.save()
    bad = connections.test(conn_id)
    assert not bad.ok, bad.message
    assert "Test Connection Failed" in bad.toast
    assert vendor_name in bad.message
    assert "credentials were rejected" in bad.message, bad.message
    assert wrong not in bad.message
    snapshot(page, f"{conn_type}-4-test-bad-password.png")

    log = api_server.log_text()
    assert "/api/v2/connections/test" in log, "the api-server log shows no test request"
    for secret in (values.standard["password"], wrong):
        assert secret not in log, "a password reached the api-server's log"


@pytest.mark.parametrize("conn_type", ["personium"])
def test_secret_extras_survive_saving_and_testing(
    conn_type: str, page: Page, api_server: ApiServer, vendor: Emulator
) -> None:
    """A token-only Personium connection, typed into the masked extra fields: once saved the page
    only holds ``***``, and Test still logs in with the stored tokens."""
    from airflow_provider_exports.testing.personium import PersoniumEmulator

    assert isinstance(vendor, PersoniumEmulator)
    spec = FormSpec.of(conn_type)
    values = ConnectionValues.from_json(vendor.token_connection())
    assert set(values.extras) == {"access_token", "refresh_token"}
    conn_id = "ui_personium_tokens"
    connections = ConnectionsPage(page).open()
    form = connections.add()
    form.select_type(spec.hook_name)
    form.fill(spec, conn_id, values)
    form.save()

    extra = json.loads(api_server.connection(conn_id)["extra"])
    assert (extra["access_token"], extra["refresh_token"]) == ("***", "***")
    result = connections.test(conn_id)
    assert result.ok, result.message
    html = page.content()
    for token in values.extras.values():
        assert token not in html
