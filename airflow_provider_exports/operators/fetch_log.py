"""``FetchExportLogOperator``: writes the vendor's log or status report to the task log and XCom."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_exports.hooks import export_hook
from airflow_provider_exports.hooks.base import ExportHook
from airflow_provider_exports.waiting import NO_EXPORT_ID, export_id_or_none

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage

#: XCom values live in the metadata DB: keep them small.
DEFAULT_MAX_CHARS = 20_000


def truncate(text: str, limit: int) -> str:
    """Keep the head and the tail (where the final status usually is) of a long log."""
    if len(text) <= limit:
        return text
    half = max(0, (limit - 40) // 2)
    return f"{text[:half]}\n... ({len(text) - 2 * half} characters skipped) ...\n{text[-half:]}"


class FetchExportLogOperator(BaseOperator):
    """Fetches an export's log (for failed exports too: run it with ``trigger_rule="all_done"``).

    The task's return value is the (possibly truncated) log text. Without an export id (the
    start task failed before it pushed one) the task is skipped and says so.

    :param max_chars: at most this many characters go to the task log and XCom (head and tail kept).
    """

    template_fields: Sequence[str] = ("conn_id", "export_id", "hook_params")

    def __init__(
        self,
        *,
        conn_id: str,
        export_id: str,
        max_chars: int = DEFAULT_MAX_CHARS,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.export_id = export_id
        self.max_chars = max_chars
        self.hook_params = dict(hook_params or {})

    @functools.cached_property
    def hook(self) -> ExportHook:
        return export_hook(self.conn_id, **self.hook_params)

    def execute(self, context: Any) -> str:
        export_id = export_id_or_none(self.export_id)
        if export_id is None:
            raise AirflowSkipException(f"{NO_EXPORT_ID} (export_id is {self.export_id!r})")
        text = truncate(self.hook.fetch_log(export_id), self.max_chars)
        self.log.info("Log of %s export %r:\n%s", self.hook.vendor, export_id, text)
        return text

    def get_openlineage_facets_on_start(self) -> OperatorLineage[Any, Any]:
        """Lineage (docs/lineage.md): the export whose log is read, as the input dataset."""
        from airflow_provider_exports.lineage import operator_lineage

        return operator_lineage(self, export_id=self.export_id, export_as="input")
