"""``DownloadExportOperator``: streams a finished export to a local path or object storage."""

from __future__ import annotations

import functools
import os
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, AssetAlias, BaseOperator, ObjectStoragePath

from airflow_provider_exports.files import download_verified, safe_extract
from airflow_provider_exports.hooks import export_hook
from airflow_provider_exports.hooks.base import ExportHook
from airflow_provider_exports.progress import DEFAULT_EVERY, TransferProgress
from airflow_provider_exports.waiting import require_export_id

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage


def _is_remote(destination: str | os.PathLike[str] | ObjectStoragePath) -> bool:
    if isinstance(destination, ObjectStoragePath):
        return destination.protocol not in ("file", "local", "")
    return "://" in str(destination) and not str(destination).startswith("file://")


def _local_path(destination: str | os.PathLike[str] | ObjectStoragePath) -> Path:
    text = str(destination.path if isinstance(destination, ObjectStoragePath) else destination)
    return Path(text.removeprefix("file://")).expanduser().absolute()


def asset_for(destination: str | os.PathLike[str] | ObjectStoragePath) -> Asset:
    """The Asset a destination stands for (``file://`` URI for local paths)."""
    if _is_remote(destination):
        return Asset(str(destination))
    return Asset(_local_path(destination).as_uri())


class DownloadExportOperator(BaseOperator):
    """Downloads a finished export's file; nothing partial ever appears at the destination.

    The file is streamed to a temp file beside the destination (resumed with ``Range`` after
    a cut where the server allows), verified (length, zip integrity), then renamed into place.
    For object storage it is verified locally first, uploaded under a temp name and renamed.

    :param destination: a local path, or an object-storage URL / ``ObjectStoragePath``
        (templated).
    :param destination_conn_id: the Airflow connection for the object store, if any.
    :param extract_to: also unzip into this local folder (members with absolute paths or
        ``..`` are refused).
    :param verify_zip: check zip integrity (default: when the file looks like a zip).
    :param progress_interval: seconds between progress lines in the task log (bytes, percent,
        rate, time left) while the file downloads or uploads; 0 for the final lines only.

    The task's return value is the destination, as a string. A fixed destination is this task's
    Asset outlet. A templated one is only known at run time: pass
    ``outlets=[AssetAlias("...")]`` and the downloaded file's Asset is attached to it.
    """

    template_fields: Sequence[str] = ("conn_id", "export_id", "destination", "extract_to", "hook_params")

    def __init__(
        self,
        *,
        conn_id: str,
        export_id: str,
        destination: str | os.PathLike[str] | ObjectStoragePath,
        destination_conn_id: str | None = None,
        extract_to: str | None = None,
        verify_zip: bool | None = None,
        hook_params: dict[str, Any] | None = None,
        progress_interval: float = DEFAULT_EVERY,
        **kwargs: Any,
    ) -> None:
        if "outlets" not in kwargs and "{{" not in str(destination):
            kwargs["outlets"] = [asset_for(destination)]
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.export_id = export_id
        self.destination = destination
        self.destination_conn_id = destination_conn_id
        self.extract_to = extract_to
        self.verify_zip = verify_zip
        self.hook_params = dict(hook_params or {})
        self.progress_interval = progress_interval
        self._size: int | None = None

    @functools.cached_property
    def hook(self) -> ExportHook:
        return export_hook(self.conn_id, **self.hook_params)

    def execute(self, context: Any) -> str:
        export_id = require_export_id(self.export_id, self.task_id)
        if _is_remote(self.destination):
            target = str(self._to_object_storage(export_id))
        else:
            path = _local_path(self.destination)
            size = self._download(export_id, path)
            self.log.info("Downloaded export %r: %d bytes to %s", export_id, size, path)
            self._size = size
            if self.extract_to:
                files = safe_extract(path, Path(self.extract_to))
                self.log.info("Extracted %d files to %s", len(files), self.extract_to)
            target = str(path)
        self._emit_asset(context, target)
        return target

    def _download(self, export_id: str, path: Path) -> int:
        """The export into ``path``, verified, with progress lines; its size."""
        progress = TransferProgress(f"Export {export_id!r}", self.log, every=self.progress_interval)
        size = download_verified(
            path, lambda fh: self.hook.download(export_id, fh, progress), check_zip=self.verify_zip
        )
        progress.finish("downloaded")
        return size

    def _emit_asset(self, context: Any, target: str) -> None:
        """For a templated destination, attach the concrete file's Asset to each AssetAlias outlet."""
        for outlet in self.outlets or []:
            if isinstance(outlet, AssetAlias):
                context["outlet_events"][outlet].add(asset_for(target))

    def _to_object_storage(self, export_id: str) -> ObjectStoragePath:
        dest = (
            self.destination
            if isinstance(self.destination, ObjectStoragePath)
            else ObjectStoragePath(str(self.destination), conn_id=self.destination_conn_id)
        )
        with tempfile.TemporaryDirectory(prefix="export-download-") as tmp_dir:
            local = Path(tmp_dir) / dest.name
            size = self._download(export_id, local)
            staging = dest.parent / f".{dest.name}.{uuid.uuid4().hex}.part"
            upload = TransferProgress(f"Upload to {dest}", self.log, every=self.progress_interval, total=size)
            try:
                with local.open("rb") as src, staging.open("wb") as out:  # type: ignore[no-untyped-call]
                    while chunk := src.read(8 * 1024 * 1024):
                        out.write(chunk)
                        upload.advance(len(chunk))
                staging.rename(dest)
                upload.finish("uploaded")
            except BaseException:
                if staging.exists():
                    staging.unlink()
                raise
        self.log.info("Downloaded export %r: %d bytes to %s", export_id, size, dest)
        self._size = size
        return dest

    # OpenLineage (docs/lineage.md): the export is the input dataset, the destination the output.

    def get_openlineage_facets_on_start(self) -> OperatorLineage[Any, Any]:
        """Lineage at the start: the export as input, the (rendered) destination as output."""
        from airflow_provider_exports.lineage import operator_lineage

        return operator_lineage(
            self, export_id=self.export_id, export_as="input", destination=self.destination
        )

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage[Any, Any]:
        """Lineage at the end: as at the start, with the downloaded file's size."""
        from airflow_provider_exports.lineage import operator_lineage

        return operator_lineage(
            self, export_id=self.export_id, export_as="input", destination=self.destination, size=self._size
        )
