"""The Connections page of Airflow's UI as a person uses it, and what our provider declares for it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from playwright.sync_api import Locator, Page, expect

from airflow_provider_exports.get_provider_info import get_provider_info

from .support import OUTPUT, STANDARD_FIELDS, split_connection

#: Names of a standard field's input in the React form (``schema`` is ``url_schema`` there).
INPUT_NAMES = {"schema": ("schema", "url_schema")}
TOAST = "[data-scope=toast][data-part=root]"


@dataclass(frozen=True)
class FormSpec:
    """What ``get_provider_info()`` declares for one connection type's form."""

    conn_type: str
    hook_name: str
    hidden: frozenset[str]
    relabeling: Mapping[str, str]
    placeholders: Mapping[str, str]
    extras: Mapping[str, Mapping[str, Any]]

    @classmethod
    def of(cls, conn_type: str) -> FormSpec:
        entry = next(c for c in get_provider_info()["connection-types"] if c["connection-type"] == conn_type)
        behaviour = entry.get("ui-field-behaviour", {})
        return cls(
            conn_type=conn_type,
            hook_name=entry["hook-name"],
            hidden=frozenset(behaviour.get("hidden-fields", [])),
            relabeling=behaviour.get("relabeling", {}),
            placeholders=behaviour.get("placeholders", {}),
            extras=entry.get("conn-fields", {}),
        )

    @property
    def visible_standard(self) -> list[str]:
        return [name for name in STANDARD_FIELDS if name not in self.hidden]

    def schema(self, extra: str) -> Mapping[str, Any]:
        schema: Mapping[str, Any] = self.extras[extra].get("schema", {})
        return schema

    def is_secret(self, extra: str) -> bool:
        return self.schema(extra).get("format") == "password"

    def is_required(self, extra: str) -> bool:
        kind = self.schema(extra).get("type")
        return isinstance(kind, str) or (isinstance(kind, list) and "null" not in kind)

    @property
    def secret_extras(self) -> list[str]:
        return [name for name in self.extras if self.is_secret(name)]


@dataclass
class ConnectionValues:
    """A connection as the form takes it: standard fields and extras (plain names)."""

    standard: dict[str, str]
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, conn: Mapping[str, Any]) -> ConnectionValues:
        """From Airflow's connection JSON (``emulator.connection()``)."""
        standard, extras = split_connection(conn)
        return cls(standard=standard, extras=extras)


@dataclass(frozen=True)
class ConnectionTestResult:
    """What the Test button reported: the API's answer and the toast a person sees."""

    ok: bool
    message: str
    toast: str


def snapshot(page: Page, name: str) -> None:
    """Save a screenshot of the page as ``test-output/ui/<name>`` (animations run to their end)."""
    page.screenshot(path=OUTPUT / name, animations="disabled")


def _field_root(locator: Locator) -> Locator:
    return locator.locator("xpath=ancestor::*[@data-scope='field' and @data-part='root'][1]")


class ConnectionDialog:
    """The "Add Connection" / "Edit Connection" dialog."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.root = page.get_by_role("dialog")
        expect(self.root).to_be_visible()

    # ---- reading -------------------------------------------------------------------------------

    def standard(self, name: str) -> Locator:
        """The input of a standard field (none when the field is hidden)."""
        names = INPUT_NAMES.get(name, (name,))
        return self.root.locator(", ".join(f"input[name='{n}'], textarea[name='{n}']" for n in names))

    def extra(self, name: str) -> Locator:
        """The input that holds an extra field's value."""
        return self.root.locator(f"[name='element_{name}']")

    def extra_names(self) -> set[str]:
        """Names of every extra field the form shows."""
        names = self.root.locator("[name^='element_']").evaluate_all("els => els.map(e => e.name)")
        return {n.removeprefix("element_") for n in names}

    @staticmethod
    def label_of(locator: Locator) -> str:
        """The label a person reads next to an input (without the required mark)."""
        text = _field_root(locator).locator("label[data-part=label]").first.inner_text()
        return text.replace("*", "").strip()

    @staticmethod
    def help_of(locator: Locator) -> str:
        """The helper text under an input ("" when there is none)."""
        helper = _field_root(locator).locator("[data-part=helper-text]")
        return helper.first.inner_text().strip() if helper.count() else ""

    @staticmethod
    def is_required(locator: Locator) -> bool:
        """Whether the form marks the input's field as required."""
        return _field_root(locator).locator("label[data-part=label][data-required]").count() > 0

    def error_texts(self) -> list[str]:
        """Validation errors the form shows, with the label of the field each belongs to."""
        errors = []
        for error in self.root.locator("[data-part=error-text]").all():
            label = _field_root(error).locator("label[data-part=label]").first.inner_text()
            errors.append(f"{label.replace('*', '').strip()}: {error.inner_text()}")
        return errors

    # ---- acting --------------------------------------------------------------------------------

    def select_type(self, hook_name: str) -> None:
        """Pick the connection type by the name the dropdown shows."""
        combobox = self.root.get_by_role("combobox").first
        combobox.click()
        combobox.fill(hook_name)
        self.page.get_by_role("option", name=hook_name, exact=True).click()
        expect(self.root.get_by_role("button", name="Standard Fields", exact=True)).to_be_visible()

    def open_section(self, title: str) -> None:
        """Expand an accordion section ("Standard Fields", "Extra Fields", "Extra Fields JSON")."""
        trigger = self.root.get_by_role("button", name=title, exact=True)
        if trigger.get_attribute("aria-expanded") != "true":
            trigger.click()
        expect(trigger).to_have_attribute("aria-expanded", "true")

    def fill(self, spec: FormSpec, conn_id: str | None, values: ConnectionValues) -> None:
        """Type the values in as a person would; fails on a value the form has no field for."""
        if conn_id is not None:
            self.root.locator("input[name=connection_id]").fill(conn_id)
        self.open_section("Standard Fields")
        for name, value in values.standard.items():
            box = self.standard(name)
            assert box.count() == 1, f"{spec.conn_type}: the connection needs {name!r}, the form hides it"
            box.fill(value)
        unknown = set(values.extras) - set(spec.extras)
        assert not unknown, f"{spec.conn_type}: the connection needs extras {unknown}, the form lacks them"
        if values.extras:
            self.open_section("Extra Fields")
        for name, value in values.extras.items():
            self.set_extra(spec, name, value)

    def set_extra(self, spec: FormSpec, name: str, value: Any) -> None:
        """Set an extra field through its widget (switch, dropdown or text box)."""
        box = self.extra(name)
        schema = spec.schema(name)
        if "boolean" in (schema.get("type") or []):
            wanted = str(value).lower() in ("1", "true", "yes", "on")
            if box.is_checked() != wanted:
                box.locator("xpath=ancestor::*[@data-scope='switch' or @data-scope='checkbox'][1]").click()
            expect(box).to_be_checked(checked=wanted)
        elif "enum" in schema:
            shown = schema.get("values_display", {}).get(value, value)
            _field_root(box).get_by_role("combobox").click()
            self.page.get_by_role("option", name=shown, exact=True).click()
            expect(box).to_have_value(str(value))
        else:
            box.fill(str(value))

    def save(self) -> Any:
        """Save; returns the connection as the API answered the save (secrets redacted)."""
        button = self.root.get_by_role("button", name="Save")
        try:
            expect(button).to_be_enabled(timeout=5_000)
        except AssertionError as exc:
            raise AssertionError(f"Save stays disabled; the form shows: {self.error_texts()}") from exc
        with self.page.expect_response(
            lambda r: "/api/v2/connections" in r.url and r.request.method in ("POST", "PATCH")
        ) as answer:
            button.click()
        response = answer.value
        assert response.ok, f"saving answered {response.status}: {response.text()}"
        expect(self.root).to_be_hidden()
        return response.json()


class ConnectionsPage:
    """Admin > Connections."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def open(self) -> ConnectionsPage:
        self.page.goto("/connections")
        expect(self.page.get_by_role("button", name="Add Connection")).to_be_visible()
        return self

    def add(self) -> ConnectionDialog:
        self.page.get_by_role("button", name="Add Connection").click()
        return ConnectionDialog(self.page)

    def row(self, conn_id: str) -> Locator:
        cell = self.page.locator("td[data-testid=table-cell-connection_id]").filter(
            has_text=re.compile(rf"^{re.escape(conn_id)}$")
        )
        return self.page.locator("tr").filter(has=cell)

    def edit(self, conn_id: str) -> ConnectionDialog:
        self.row(conn_id).get_by_role("button", name="Edit Connection").click()
        return ConnectionDialog(self.page)

    def test(self, conn_id: str) -> ConnectionTestResult:
        """Press the connection's Test button; the API's verdict and the toast that shows it."""
        with self.page.expect_response(
            lambda r: r.url.endswith("/api/v2/connections/test") and r.request.method == "POST",
            timeout=90_000,
        ) as answer:
            self.row(conn_id).get_by_role("button", name="Test Connection").click()
        response = answer.value
        assert response.status == 200, f"POST /connections/test answered {response.status}: {response.text()}"
        body = response.json()
        title = "Test Connection Successful" if body["status"] else "Test Connection Failed"
        toast = self.page.locator(TOAST).filter(has_text=title).filter(has_text=body["message"]).last
        expect(toast).to_be_visible()
        return ConnectionTestResult(
            ok=bool(body["status"]), message=str(body["message"]), toast=toast.inner_text()
        )
