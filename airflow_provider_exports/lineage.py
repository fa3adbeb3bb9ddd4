"""OpenLineage facets of the operators and the sensor (with the ``[openlineage]`` extra).

The OpenLineage provider calls the operators' ``get_openlineage_facets_on_*`` methods, which
build their answer here. Nothing in this module imports OpenLineage at import time: without the
provider installed the methods are never called and the operators run unchanged.

Naming (docs/lineage.md): a vendor-side export is the dataset
``<connection type>://<host>[:<port>]`` / ``<vendor resource>/<export id>``
(:func:`airflow_provider_exports.links.export_location`); a local destination is ``file`` /
``<absolute path>`` and object storage is ``<scheme>://<bucket>`` / ``<key>``, as the
OpenLineage provider names files and object storage.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_exports.links import ExportLocation, location_of
from airflow_provider_exports.waiting import export_id_or_none

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import ObjectStoragePath

#: Prefix of this provider's custom facets (OpenLineage asks custom facet keys to carry one).
FACET_PREFIX = "exports"
#: Where the custom facets are described.
SCHEMA_URL = "https://github.com/airflow-provider-exports/airflow-provider-exports/blob/main/docs/lineage.md"


@functools.cache
def _facet_classes() -> tuple[type[Any], type[Any]]:
    """The custom job and run facet classes (defined on first use: attrs classes of the client)."""
    import attr
    from openlineage.client.generated.base import JobFacet, RunFacet

    @attr.define
    class ExportVendorJobFacet(JobFacet):
        """Which vendor and connection type the task's export belongs to."""

        vendor: str
        connectionType: str  # OpenLineage facets use camelCase fields

        @staticmethod
        def _get_schema() -> str:
            return f"{SCHEMA_URL}#exports_vendor-job-facet"

    @attr.define
    class ExportRunFacet(RunFacet):
        """The export this run started, waited for or downloaded, and what the vendor last said."""

        exportId: str
        vendorState: str | None = None
        state: str | None = None

        @staticmethod
        def _get_schema() -> str:
            return f"{SCHEMA_URL}#exports_export-run-facet"

    return ExportVendorJobFacet, ExportRunFacet


def destination_dataset(destination: str | os.PathLike[str] | ObjectStoragePath) -> tuple[str, str]:
    """The (namespace, name) of a download destination."""
    from airflow_provider_exports.operators.download import _is_remote, _local_path

    if not _is_remote(destination):
        return "file", str(_local_path(destination))
    namespace = getattr(destination, "namespace", None)
    key = getattr(destination, "key", None)
    if isinstance(namespace, str) and isinstance(key, str):
        return namespace, key.lstrip("/")
    parts = urlsplit(str(destination))
    return (f"{parts.scheme}://{parts.netloc}" if parts.netloc else parts.scheme), parts.path.lstrip("/")


def operator_lineage(
    operator: Any,
    *,
    export_id: Any,
    export_as: str,
    destination: Any = None,
    size: int | None = None,
    vendor_state: str | None = None,
    state: str | None = None,
) -> OperatorLineage[Any, Any]:
    """The lineage of one task: its export as an ``input`` or ``output`` dataset, a destination
    as an output (with its size once known), the vendor as a job facet, the export id as run
    facets. Credentials never appear: names come from the host, port and ids only."""
    from airflow.providers.common.compat.openlineage.facet import (
        Dataset,
        ExternalQueryRunFacet,
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
    )
    from airflow.providers.openlineage.extractors import OperatorLineage

    job_facet_class, run_facet_class = _facet_classes()
    inputs: list[Any] = []
    outputs: list[Any] = []
    run_facets: dict[str, Any] = {}
    job_facets: dict[str, Any] = {}
    hook = _hook_or_none(operator)
    if hook is not None:
        job_facets[f"{FACET_PREFIX}_vendor"] = job_facet_class(
            vendor=str(hook.vendor), connectionType=str(hook.conn_type)
        )
    export_id = export_id_or_none(export_id)
    location: ExportLocation | None = location_of(operator, export_id)
    if export_id is not None and location is not None:
        dataset = Dataset(namespace=location.namespace, name=location.name)
        (inputs if export_as == "input" else outputs).append(dataset)
        run_facets["externalQuery"] = ExternalQueryRunFacet(
            externalQueryId=export_id, source=location.namespace
        )
        run_facets[f"{FACET_PREFIX}_export"] = run_facet_class(
            exportId=export_id,
            vendorState=vendor_state,
            state=state,
        )
    if destination is not None and "{{" not in str(destination):
        namespace, name = destination_dataset(destination)
        statistics: dict[str, Any] = {}
        if size is not None:
            statistics["outputStatistics"] = OutputStatisticsOutputDatasetFacet(size=size, fileCount=1)
        outputs.append(OutputDataset(namespace=namespace, name=name, outputFacets=statistics))
    return OperatorLineage(inputs=inputs, outputs=outputs, run_facets=run_facets, job_facets=job_facets)


def _hook_or_none(operator: Any) -> Any:
    try:
        return operator.hook
    except Exception:  # noqa: BLE001 - no connection: the lineage names what it can
        return None
