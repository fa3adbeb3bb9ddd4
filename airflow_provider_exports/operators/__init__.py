"""Operators: start an export, download its result, fetch its log."""

from airflow_provider_exports.operators.download import DownloadExportOperator
from airflow_provider_exports.operators.fetch_log import FetchExportLogOperator
from airflow_provider_exports.operators.start import StartExportOperator

__all__ = ["DownloadExportOperator", "FetchExportLogOperator", "StartExportOperator"]
