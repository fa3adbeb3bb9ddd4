"""Atomic download writes and safe zip extraction."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from airflow_provider_exports.errors import DownloadError
from airflow_provider_exports.files import download_verified, safe_extract, safe_member_path
from airflow_provider_exports.testing.emulator import make_zip


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "out" / "export.zip"

    def _write(fh):  # type: ignore[no-untyped-def]
        fh.write(b"PK\x03\x04 half a file")
        raise ConnectionResetError("cut")

    with pytest.raises(ConnectionResetError):
        download_verified(dest, _write)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []


def test_corrupt_zip_is_refused_and_previous_file_kept(tmp_path: Path) -> None:
    dest = tmp_path / "export.zip"
    dest.write_bytes(b"yesterday")
    good = make_zip({"a.csv": "1,2\n" * 1000})
    corrupt = good[:40] + bytes(b ^ 0xFF for b in good[40:80]) + good[80:]
    with pytest.raises(DownloadError, match="zip"):
        download_verified(dest, lambda fh: fh.write(corrupt))
    assert dest.read_bytes() == b"yesterday"
    assert [p.name for p in tmp_path.iterdir()] == ["export.zip"]
    assert download_verified(dest, lambda fh: fh.write(good)) == len(good)
    assert dest.read_bytes() == good


def test_non_zip_file_is_not_zip_checked(tmp_path: Path) -> None:
    dest = tmp_path / "report.xlsx.json"
    assert download_verified(dest, lambda fh: fh.write(b'{"a": 1}')) == 8


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/passwd", "a/../../b", "C:\\win.ini", "..\\x"])
def test_unsafe_members_refused(name: str) -> None:
    with pytest.raises(DownloadError, match="unsafe path"):
        safe_member_path(name)


def test_safe_extract_refuses_whole_archive_with_one_bad_member(tmp_path: Path) -> None:
    archive = tmp_path / "x.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.txt", "fine")
        zf.writestr("../escape.txt", "bad")
    target = tmp_path / "out"
    with pytest.raises(DownloadError):
        safe_extract(archive, target)
    assert not (tmp_path / "escape.txt").exists()
    assert not (target / "ok.txt").exists()


def test_safe_extract_extracts_nested(tmp_path: Path) -> None:
    archive = tmp_path / "x.zip"
    archive.write_bytes(make_zip({"dir/a.csv": "1", "b.json": "{}"}))
    files = safe_extract(archive, tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in files) == ["b.json", "dir/a.csv"]
