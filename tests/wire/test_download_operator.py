"""DownloadExportOperator's destinations: local paths and object storage (ObjectStoragePath)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fsspec
import pytest
from airflow.sdk import Asset, ObjectStoragePath
from airflow.sdk.io import attach

from airflow_provider_exports.errors import DownloadError
from airflow_provider_exports.operators import DownloadExportOperator
from airflow_provider_exports.operators.download import asset_for
from airflow_provider_exports.testing import Fault
from airflow_provider_exports.testing.emulator import make_zip
from airflow_provider_exports.testing.oracle_commerce import OracleCommerceEmulator
from airflow_provider_exports.transport.auth import CREDENTIALS

# fsspec's in-memory filesystem stands in for an object store (a real fsspec backend, not a mock).
attach(protocol="memory", fs=fsspec.filesystem("memory"))

CONTENT = make_zip({"content.json": "[]", "Profiles.csv": "id\n" + "x\n" * 5000})


@pytest.fixture
def finished(occ_emulator: OracleCommerceEmulator, export_conn: Any) -> tuple[str, OracleCommerceEmulator]:
    CREDENTIALS.clear()
    conn_id = export_conn(occ_emulator)
    occ_emulator.add_export("done-1", "succeeded", content=CONTENT, file_name="export.zip")
    return conn_id, occ_emulator


def _op(conn_id: str, destination: Any, **kw: Any) -> DownloadExportOperator:
    retry = {"attempts": 2, "backoff": 0.01}
    return DownloadExportOperator(
        task_id="dl",
        conn_id=conn_id,
        export_id="done-1",
        destination=destination,
        hook_params={"retry": retry},
        **kw,
    )


def test_local_destination_and_asset(finished: tuple[str, OracleCommerceEmulator], tmp_path: Path) -> None:
    conn_id, _ = finished
    dest = tmp_path / "out" / "export.zip"
    op = _op(conn_id, str(dest))
    assert op.outlets == [Asset(dest.as_uri())]
    assert op.execute({}) == str(dest)
    assert dest.read_bytes() == CONTENT


@pytest.mark.parametrize("url", ["memory://lake/raw/export.zip", "file://{tmp}/lake/export.zip"])
def test_object_storage_destination(
    finished: tuple[str, OracleCommerceEmulator], tmp_path: Path, url: str
) -> None:
    conn_id, _ = finished
    dest = ObjectStoragePath(url.format(tmp=tmp_path))
    if dest.protocol == "file":
        dest.parent.mkdir(parents=True, exist_ok=True)
    result = _op(conn_id, dest).execute({})
    assert result.endswith("export.zip")
    assert dest.read_bytes() == CONTENT
    leftovers = [p.name for p in dest.parent.iterdir() if p.name != "export.zip"]
    assert leftovers == []


def test_object_storage_failure_leaves_nothing(finished: tuple[str, OracleCommerceEmulator]) -> None:
    conn_id, emulator = finished
    emulator.inject(*[Fault("truncate", after_bytes=100, path_prefix="/file/")] * 3)
    dest = ObjectStoragePath("memory://lake/failed/export.zip")
    with pytest.raises(Exception, match="download"):
        _op(conn_id, dest).execute({})
    assert not dest.exists()
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []


def test_remote_asset_uri_is_the_url() -> None:
    assert asset_for("s3://lake/raw/x.zip") == Asset("s3://lake/raw/x.zip")


def test_extract_refuses_parent_paths(finished: tuple[str, OracleCommerceEmulator], tmp_path: Path) -> None:
    conn_id, emulator = finished
    emulator.exports["done-1"].content = make_zip({"../../evil.txt": "x"})
    with pytest.raises(DownloadError, match="unsafe path"):
        _op(conn_id, str(tmp_path / "a" / "export.zip"), extract_to=str(tmp_path / "x")).execute({})
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())
