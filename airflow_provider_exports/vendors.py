"""The one declaration of each supported vendor, from which the registries derive.

Provider info (connection types), the emulator registry, the pytest fixtures, the demo and the
package check read this tuple; ``tests/unit/test_vendor_registry.py`` lists every other place a
vendor must appear (hook attributes, state map, form, example DAG, docs, fault profile, UI
test) and fails when one is missing. Importing it is cheap: names and import paths only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Vendor:
    """One vendor API: its connection type and where each of its parts lives."""

    #: The Airflow connection type (the hook's ``conn_type``); ``^[a-z][a-z0-9_]*$``.
    conn_type: str
    #: The name in the Connections UI's type list (the hook's ``hook_name``).
    hook_name: str
    #: The ``ExportHook`` subclass, as ``module.Class``.
    hook_class: str
    #: The emulator, as ``module:Class``.
    emulator: str
    #: The pytest fixture that starts the emulator.
    fixture: str
    #: Its page under docs/.
    docs_page: str
    #: Its API lists finished exports: ``ExportAvailableTrigger`` can watch it (the hook has an
    #: ``available_op``; docs/event_driven.md says why the others cannot be watched).
    watchable: bool = False
    #: Its listing leaves out an export once its file was downloaded, so a download needs no
    #: acknowledgement (``acknowledge_download``) to keep it from being delivered again.
    marks_downloads: bool = False

    @property
    def default_conn_id(self) -> str:
        """The connection id the hook and the example DAG use by default."""
        return f"{self.conn_type}_default"

    @property
    def example_dag(self) -> str:
        """The example DAG's id, also its file name under example_dags/."""
        return f"{self.conn_type}_export"

    @property
    def watch_example_dag(self) -> str | None:
        """The event-driven example DAG's id (and file name), for a watchable vendor."""
        return f"{self.conn_type}_watch" if self.watchable else None


VENDORS: tuple[Vendor, ...] = (
    Vendor(
        conn_type="oracle_commerce",
        hook_name="Oracle Commerce Cloud",
        hook_class="airflow_provider_exports.hooks.oracle_commerce.OracleCommerceHook",
        emulator="airflow_provider_exports.testing.oracle_commerce:OracleCommerceEmulator",
        fixture="occ_emulator",
        docs_page="oracle_commerce.md",
    ),
    Vendor(
        conn_type="informatica_iics",
        hook_name="Informatica Intelligent Cloud Services (IICS)",
        hook_class="airflow_provider_exports.hooks.informatica.InformaticaHook",
        emulator="airflow_provider_exports.testing.informatica:InformaticaEmulator",
        fixture="iics_emulator",
        docs_page="informatica_iics.md",
    ),
    Vendor(
        conn_type="personium",
        hook_name="Personium",
        hook_class="airflow_provider_exports.hooks.personium.PersoniumHook",
        emulator="airflow_provider_exports.testing.personium:PersoniumEmulator",
        fixture="personium_emulator",
        docs_page="personium.md",
        watchable=True,
    ),
    Vendor(
        conn_type="huawei_dataarts",
        hook_name="Huawei Cloud DataArts Studio",
        hook_class="airflow_provider_exports.hooks.huawei.dataarts.HuaweiDataArtsHook",
        emulator="airflow_provider_exports.testing.huawei:DataArtsEmulator",
        fixture="dataarts_emulator",
        docs_page="huawei.md",
    ),
    Vendor(
        conn_type="huawei_workspace",
        hook_name="Huawei Cloud Workspace",
        hook_class="airflow_provider_exports.hooks.huawei.workspace.HuaweiWorkspaceHook",
        emulator="airflow_provider_exports.testing.huawei:WorkspaceEmulator",
        fixture="workspace_emulator",
        docs_page="huawei.md",
        watchable=True,
        marks_downloads=True,
    ),
)
