"""Where an export lives at its vendor: the extra link of the start operator and the sensor,
and the names the OpenLineage facets use (:mod:`airflow_provider_exports.lineage`).

Each vendor's export is named from the connection's base URL (no credentials: the host and
port only) and the export id; the URL is the export's resource in the vendor's REST API where
the connection and the id are enough to form it (docs/lineage.md lists what each points to).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from airflow.sdk import BaseOperatorLink

from airflow_provider_exports.errors import ExportError
from airflow_provider_exports.transport.model import path_segment
from airflow_provider_exports.waiting import export_id_or_none


@dataclass(frozen=True)
class ExportLocation:
    """One export at its vendor: an OpenLineage namespace and name, and a URL where one exists."""

    #: ``<connection type, with '-' for '_'>://<host>[:<port>]``, e.g. ``oracle-commerce://host``.
    namespace: str
    #: The export within the namespace, e.g. ``exportProcess/<id>``.
    name: str
    #: The export's resource in the vendor's REST API, or ``None`` where the connection and the
    #: id cannot name it (Informatica IICS: see docs/lineage.md).
    url: str | None


def _oracle_commerce(base: str, base_path: str, settings: Any, export_id: str) -> tuple[str, str | None]:
    return f"exportProcess/{export_id}", f"{base}/ccadmin/v1/exportProcess/{path_segment(export_id)}"


def _informatica(base: str, base_path: str, settings: Any, export_id: str) -> tuple[str, str | None]:
    # The export lives on the POD that the login answers with; the connection names the login host.
    return f"export/{export_id}", None


def _personium(base: str, base_path: str, settings: Any, export_id: str) -> tuple[str, str | None]:
    prefix = f"{base_path}/" if base_path else ""
    return f"{prefix}__snapshot/{export_id}", f"{base}/__snapshot/{path_segment(export_id)}.zip"


def _huawei_dataarts(base: str, base_path: str, settings: Any, export_id: str) -> tuple[str, str | None]:
    project = str(settings.project_id)
    url = f"{base}/v2/{path_segment(project)}/design/export-result?uuid={quote(export_id, safe='')}"
    return f"{project}/{settings.workspace_id}/design/export/{export_id}", url


def _huawei_workspace(base: str, base_path: str, settings: Any, export_id: str) -> tuple[str, str | None]:
    project = str(settings.project_id)
    url = f"{base}/v2/{path_segment(project)}/export-tasks?task_id={quote(export_id, safe='')}"
    return f"{project}/export-tasks/{export_id}", url


_VENDOR_NAMES: dict[str, Callable[[str, str, Any, str], tuple[str, str | None]]] = {
    "oracle_commerce": _oracle_commerce,
    "informatica_iics": _informatica,
    "personium": _personium,
    "huawei_dataarts": _huawei_dataarts,
    "huawei_workspace": _huawei_workspace,
}


def export_location(conn_type: str, settings: Any, export_id: str) -> ExportLocation:
    """Where ``export_id`` lives for a connection of ``conn_type`` read into ``settings``."""
    parts = urlsplit(str(settings.base_url))
    authority = parts.hostname or ""
    if parts.port is not None:
        authority = f"{authority}:{parts.port}"
    base = f"{parts.scheme}://{authority}{parts.path.rstrip('/')}"
    name, url = _VENDOR_NAMES[conn_type](base, parts.path.strip("/"), settings, export_id)
    return ExportLocation(namespace=f"{conn_type.replace('_', '-')}://{authority}", name=name, url=url)


def location_of(operator: Any, export_id: Any) -> ExportLocation | None:
    """The location of an operator's export, or ``None`` without an export id or connection."""
    export_id = export_id_or_none(export_id)
    if export_id is None:
        return None
    try:
        hook = operator.hook
        return export_location(hook.conn_type, hook.settings, export_id)
    except (ExportError, KeyError, AttributeError):
        return None
    except Exception:  # noqa: BLE001 - a missing connection (AirflowNotFoundException) and the like
        return None


def operator_export_id(operator: Any) -> str | None:
    """The export id an operator started or was given (``None`` before it is known)."""
    started = getattr(operator, "_export_id", None)
    return export_id_or_none(started if started else getattr(operator, "export_id", None))


class ExportLink(BaseOperatorLink):
    """The export in the vendor's REST API (``StartExportOperator``, ``ExportStatusSensor``).

    Empty where no export id is known yet or the vendor's API has no URL the connection and the
    id can form (Informatica IICS).
    """

    name = "Export at the vendor"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        location = location_of(operator, operator_export_id(operator))
        return (location.url if location else None) or ""
