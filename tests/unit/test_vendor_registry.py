"""Every place a vendor must appear, checked for each entry of ``vendors.VENDORS``.

Adding a sixth vendor (docs/design.md, "Adding a vendor"): one ``Vendor`` entry, then this test
names each place still missing. The registries that can derive from the entry do (provider
info, emulators, pytest fixtures, demo, package check); the rest are listed here.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from pathlib import Path

import pytest

from airflow_provider_exports.get_provider_info import get_provider_info
from airflow_provider_exports.hooks import hook_class_for, supported_conn_types
from airflow_provider_exports.hooks.base import ExportHook
from airflow_provider_exports.status import ExportState
from airflow_provider_exports.testing import EMULATORS, emulator_class, pytest_plugin
from airflow_provider_exports.vendors import VENDORS, Vendor

ROOT = Path(__file__).resolve().parents[2]
IDS = [vendor.conn_type for vendor in VENDORS]


def _text(relative: str) -> str:
    return (ROOT / relative).read_text()


def test_declarations_are_unique_and_well_formed() -> None:
    assert len(set(IDS)) == len(IDS)
    assert len({vendor.fixture for vendor in VENDORS}) == len(VENDORS)
    for conn_type in IDS:
        # Airflow's provider schema pattern (apache/airflow#72853): '-' would not round-trip.
        assert re.fullmatch(r"[a-z][a-z0-9_]*", conn_type), conn_type


@pytest.mark.parametrize("vendor", VENDORS, ids=IDS)
def test_the_hook_agrees_with_the_declaration(vendor: Vendor) -> None:
    hook = hook_class_for(vendor.conn_type)
    assert f"{hook.__module__}.{hook.__qualname__}" == vendor.hook_class
    assert issubclass(hook, ExportHook)
    assert hook.conn_type == vendor.conn_type
    assert hook.hook_name == vendor.hook_name
    assert hook.default_conn_name == vendor.default_conn_id
    # Its state map lives in its own module (every value an ExportState).
    module = importlib.import_module(hook.__module__)
    maps = [
        value
        for name, value in vars(module).items()
        if name.endswith("_STATES") and isinstance(value, Mapping) and value
    ]
    assert maps, f"{hook.__module__} has no <VENDOR>_STATES map"
    assert all(isinstance(state, ExportState) for table in maps for state in table.values())


@pytest.mark.parametrize("vendor", VENDORS, ids=IDS)
def test_provider_info_has_its_connection_form(vendor: Vendor) -> None:
    (entry,) = [
        c for c in get_provider_info()["connection-types"] if c["connection-type"] == vendor.conn_type
    ]
    assert entry["hook-class-name"] == vendor.hook_class and entry["hook-name"] == vendor.hook_name
    assert entry["ui-field-behaviour"]["hidden-fields"] and entry["conn-fields"]
    assert vendor.conn_type in supported_conn_types()


@pytest.mark.parametrize("vendor", VENDORS, ids=IDS)
def test_the_test_kit_has_its_emulator_and_fixture(vendor: Vendor) -> None:
    assert EMULATORS[vendor.conn_type] == vendor.emulator
    assert emulator_class(vendor.conn_type).vendor == vendor.conn_type
    assert callable(getattr(pytest_plugin, vendor.fixture, None)), vendor.fixture


@pytest.mark.parametrize("vendor", VENDORS, ids=IDS)
def test_the_example_dag_and_the_docs_name_it(vendor: Vendor) -> None:
    dag_file = ROOT / "example_dags" / f"{vendor.example_dag}.py"
    assert dag_file.exists(), dag_file
    dag_text = dag_file.read_text()
    assert f'dag_id="{vendor.example_dag}"' in dag_text and vendor.default_conn_id in dag_text
    assert (ROOT / "docs" / vendor.docs_page).exists()
    assert f": {vendor.docs_page}" in _text("mkdocs.yml"), "not in the mkdocs nav"
    for page in ("README.md", "docs/index.md"):
        assert f"`{vendor.conn_type}`" in _text(page), f"not in {page}'s vendor table"
    assert f"(`{vendor.conn_type}`)" in _text("docs/connections.md"), "no section in docs/connections.md"


@pytest.mark.parametrize("vendor", VENDORS, ids=IDS)
def test_the_suite_covers_it(vendor: Vendor) -> None:
    assert f'"{vendor.conn_type}": Profile(' in _text("tests/reliability/fault_profiles.py"), "fault matrix"
    assert re.search(rf'^\s+"{vendor.conn_type}": \(', _text("tests/ui/test_connection_form.py"), re.M), (
        "the connection-form UI test"
    )
    marks = (vendor.fixture, vendor.emulator.partition(":")[2], f'make_emulator("{vendor.conn_type}"')
    wire = [p for p in (ROOT / "tests" / "wire").glob("test_*.py") if any(m in p.read_text() for m in marks)]
    assert wire, f"no wire test starts the {vendor.conn_type} emulator"
    integration = [
        p for p in (ROOT / "tests" / "integration").glob("test_*.py") if vendor.example_dag in p.read_text()
    ]
    assert integration, f"no integration test runs {vendor.example_dag}"


@pytest.mark.parametrize("vendor", VENDORS, ids=IDS)
def test_watching_is_declared_where_the_api_lists_exports(vendor: Vendor) -> None:
    hook = hook_class_for(vendor.conn_type)
    assert vendor.watchable == callable(getattr(hook, "available_op", None)), "watchable vs available_op"
    assert vendor.watchable or not vendor.marks_downloads
    # The event-driven page says for every vendor whether (and why not) it can be watched.
    assert f"`{vendor.conn_type}`" in _text("docs/event_driven.md"), "not in docs/event_driven.md"
    if not vendor.watchable:
        assert vendor.watch_example_dag is None
        return
    assert vendor.watch_example_dag is not None
    dag_text = _text(f"example_dags/{vendor.watch_example_dag}.py")
    assert f'dag_id="{vendor.watch_example_dag}"' in dag_text and vendor.default_conn_id in dag_text
    assert "ExportAvailableTrigger(" in dag_text and "DownloadExportOperator" in dag_text
    marks = (vendor.fixture, vendor.emulator.partition(":")[2], f'make_emulator("{vendor.conn_type}"')
    assert any(m in _text("tests/wire/test_export_watch.py") for m in marks), "no wire test watches it"
    assert vendor.watch_example_dag in _text("tests/stack/test_event_driven.py"), "no stack test runs it"
