"""DownloadExportOperator's destinations: local paths and object storage (ObjectStoragePath)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

import fsspec
import pytest
from airflow.sdk import Asset, ObjectStoragePath
from airflow.sdk.io import attach

from airflow_provider_exports import files, zipcheck
from airflow_provider_exports.errors import DownloadError
from airflow_provider_exports.operators import DownloadExportOperator
from airflow_provider_exports.operators.download import asset_for
from airflow_provider_exports.testing import Fault
from airflow_provider_exports.testing.emulator import make_zip
from airflow_provider_exports.testing.oracle_commerce import OracleCommerceEmulator
from airflow_provider_exports.transport.sync import CHUNK

# fsspec's in-memory filesystem stands in for an object store (a real fsspec backend, not a mock).
attach(protocol="memory", fs=fsspec.filesystem("memory"))

CONTENT = make_zip({"content.json": "[]", "Profiles.csv": "id\n" + "x\n" * 5000})


@pytest.fixture
def finished(occ_emulator: OracleCommerceEmulator, export_conn: Any) -> tuple[str, OracleCommerceEmulator]:
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


@pytest.fixture
def fallbacks(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every call of the full ``verify_zip`` (the streaming check's fallback), recorded."""
    calls: list[Path] = []
    real = zipcheck.verify_zip
    monkeypatch.setattr(zipcheck, "verify_zip", lambda path: (calls.append(path), real(path))[1])
    return calls


def test_the_zip_check_streams(
    finished: tuple[str, OracleCommerceEmulator], tmp_path: Path, fallbacks: list[Path]
) -> None:
    conn_id, emulator = finished
    dest = tmp_path / "export.zip"
    assert _op(conn_id, str(dest)).execute({}) == str(dest)
    assert dest.read_bytes() == CONTENT
    assert fallbacks == []  # checked while downloading, not read again
    corrupt = bytearray(CONTENT)
    corrupt[60:120] = bytes(60)
    emulator.exports["done-1"].content = bytes(corrupt)
    with pytest.raises(DownloadError, match="zip archive"):
        _op(conn_id, str(dest)).execute({})
    assert dest.read_bytes() == CONTENT
    assert len(fallbacks) == 1


class _Swapping:
    """A sink that, after the first bytes, replaces the export's file on the server (new ETag)."""

    def __init__(self, sink: IO[bytes], emulator: OracleCommerceEmulator, new: bytes) -> None:
        self.sink, self.emulator, self.new = sink, emulator, new
        self.moves: list[str] = []

    def write(self, data: Any) -> int:
        self.emulator.exports["done-1"].content = self.new
        return self.sink.write(data)

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        self.moves.append(f"seek {pos}")
        return self.sink.seek(pos, whence)

    def truncate(self, size: int | None = None) -> int:
        self.moves.append("truncate")
        return self.sink.truncate(size)


def test_changed_file_restarts_from_zero_and_is_checked(
    finished: tuple[str, OracleCommerceEmulator],
    tmp_path: Path,
    fallbacks: list[Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cut, and the file changed meanwhile: If-Range does not match, the server sends it all
    again (200), the temp file starts over, and the streaming check with it."""
    monkeypatch.setattr(files, "READ_BACK", 4096)  # the verifier reads the first attempt too
    conn_id, emulator = finished
    old = make_zip({"data.bin": os.urandom(600_000)})
    new = make_zip({"other.bin": os.urandom(700_000), "b.txt": "b"})
    emulator.exports["done-1"].content = old
    # Cut after the first whole read: the runner has written something to resume from.
    emulator.inject(Fault("truncate", after_bytes=CHUNK + 40_000, path_prefix="/file/"))
    hook = _op(conn_id, str(tmp_path / "x.zip")).hook
    swapping: list[_Swapping] = []

    def write(fh: IO[bytes]) -> int:
        swapping.append(_Swapping(fh, emulator, new))
        return hook.download("done-1", swapping[0])  # type: ignore[arg-type]

    dest = tmp_path / "export.zip"
    assert files.download_verified(dest, write) == len(new)
    assert dest.read_bytes() == new
    assert swapping[0].moves == ["seek 0", "truncate"]
    ranges = [r.headers.get("Range") for r in emulator.requests_to("/file/")]
    assert ranges[0] is None and ranges[1] is not None and ranges[1] != "bytes=0-"
    assert fallbacks == []


def test_progress_lines_for_the_download_and_the_upload(
    occ_emulator: OracleCommerceEmulator, export_conn: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    """A line per due moment (here every chunk: progress_interval is tiny), with the percent of
    the announced length, the rate and the time left; then a final line for each step."""
    conn_id = export_conn(occ_emulator)
    content = os.urandom(6 * CHUNK)
    occ_emulator.add_export("done-1", "succeeded", content=content, file_name="export.bin")
    dest = ObjectStoragePath("memory://lake/progress/export.bin")
    capfd.readouterr()
    _op(conn_id, dest, progress_interval=1e-9).execute({})
    out, err = capfd.readouterr()
    lines = [_message(line) for line in (out + err).splitlines()]
    download = [m for m in lines if m.startswith("Export 'done-1': ")]
    assert len(download) >= 5, lines
    assert any(" of 3.00 MiB (" in m and "%)" in m and "/s" in m and "left" in m for m in download)
    assert download[-1].startswith("Export 'done-1': downloaded 3.00 MiB in ")
    assert download[-1].endswith("/s on average)")
    upload = [m for m in lines if m.startswith(f"Upload to {dest}: ")]
    assert upload and upload[-1].startswith(f"Upload to {dest}: uploaded 3.00 MiB in ")


def test_no_progress_lines_between_intervals(
    finished: tuple[str, OracleCommerceEmulator], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    conn_id, _ = finished
    capfd.readouterr()
    _op(conn_id, str(tmp_path / "export.zip"), progress_interval=3600).execute({})
    out, err = capfd.readouterr()
    lines = [m for m in map(_message, (out + err).splitlines()) if m.startswith("Export 'done-1': ")]
    assert len(lines) == 1 and " downloaded " in lines[0]


def _message(line: str) -> str:
    """A structlog console line's message: what follows the level, before the logger's name."""
    _, found, rest = line.partition("[info     ] ")
    return rest.split(" [airflow.")[0].strip() if found else ""
