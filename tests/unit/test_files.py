"""Atomic download writes and safe zip extraction."""

from __future__ import annotations

import errno
import io
import os
import random
import struct
import threading
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest

from airflow_provider_exports import files, zipcheck
from airflow_provider_exports.errors import DownloadError
from airflow_provider_exports.files import (
    download_verified,
    safe_extract,
    safe_member_path,
)
from airflow_provider_exports.testing.emulator import make_zip
from airflow_provider_exports.zipcheck import StreamingZipVerifier


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


# ---- streaming zip verification -------------------------------------------------------------


class _Unseekable(io.RawIOBase):
    """A write-only stream: ``zipfile`` then writes data descriptors (flag bit 3)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.data += b
        return len(b)


MEMBERS: dict[str, bytes] = {
    "a.csv": b"id,name\n" + b"".join(b"%d,row %d\n" % (i, i) for i in range(2000)),
    "empty.txt": b"",
    "random.bin": random.Random(7).randbytes(30_000),
    "sub/ünïcode.json": '{"ü": 1}'.encode(),
}


def _archive(
    compression: int, *, seekable: bool = True, zip64: bool = False, directory: bool = True
) -> bytes:
    """``MEMBERS`` (and a directory entry), as ``zipfile`` writes them."""
    out: Any = io.BytesIO() if seekable else _Unseekable()
    with zipfile.ZipFile(out, "w", compression) as zf:
        if directory:
            zf.writestr(zipfile.ZipInfo("sub/"), b"")
        for name, data in MEMBERS.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            with zf.open(info, "w", force_zip64=zip64) as fh:
                fh.write(data)
    return bytes(out.getvalue() if seekable else out.data)


ARCHIVES = {
    "stored": lambda: _archive(zipfile.ZIP_STORED),
    "deflated": lambda: _archive(zipfile.ZIP_DEFLATED),
    "stored-zip64": lambda: _archive(zipfile.ZIP_STORED, zip64=True),
    "deflated-zip64": lambda: _archive(zipfile.ZIP_DEFLATED, zip64=True),
    "data-descriptors": lambda: _archive(zipfile.ZIP_DEFLATED, seekable=False, directory=False),
    "data-descriptors-zip64": lambda: _archive(
        zipfile.ZIP_DEFLATED, seekable=False, zip64=True, directory=False
    ),
    "emulator": lambda: make_zip({"content.json": "[]", "Profiles.csv": "id\n" + "x\n" * 5000}),
    "empty-archive": lambda: _empty_zip(),
}


def _empty_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w"):
        pass
    return buf.getvalue()


def _feed(verifier: StreamingZipVerifier, data: bytes, sizes: tuple[int, int], seed: int = 0) -> None:
    rng = random.Random(seed)
    pos = 0
    while pos < len(data):
        n = rng.randint(*sizes)
        verifier.feed(memoryview(data)[pos : pos + n])
        pos += n


@pytest.fixture
def fallbacks(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every call of the full ``verify_zip`` (the fallback), recorded."""
    calls: list[Path] = []
    real = zipcheck.verify_zip

    def counted(path: Path) -> None:
        calls.append(path)
        real(path)

    monkeypatch.setattr(zipcheck, "verify_zip", counted)
    return calls


@pytest.mark.parametrize("kind", sorted(ARCHIVES))
@pytest.mark.parametrize("sizes", [(1, 1), (1, 100), (1, 70_000), (10**9, 10**9)], ids=str)
def test_streaming_verifier_verifies_without_reading_again(
    kind: str, sizes: tuple[int, int], tmp_path: Path, fallbacks: list[Path]
) -> None:
    data = ARCHIVES[kind]()
    path = tmp_path / "x.zip"
    path.write_bytes(data)
    verifier = StreamingZipVerifier()
    _feed(verifier, data, sizes)
    verifier.finish(path)
    assert verifier.unsure is None
    assert verifier.verified_streaming
    assert fallbacks == []
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    assert sorted(verifier.entries) == sorted(i.header_offset for i in infos)
    for info in infos:
        entry = verifier.entries[info.header_offset]
        assert (entry.crc, entry.compressed_size, entry.size) == (
            info.CRC,
            info.compress_size,
            info.file_size,
        )
    if kind.startswith("data-descriptors"):
        assert all(i.flag_bits & 0x08 for i in infos)
    if kind.endswith("zip64"):
        assert all(e.size == len(MEMBERS[e.name.decode()]) for e in verifier.entries.values() if e.size)


def _member_data_offset(data: bytes, name: str) -> int:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(name)
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
    return info.header_offset + 30 + name_len + extra_len


@pytest.mark.parametrize("kind", ["stored", "deflated", "data-descriptors"])
def test_flipped_byte_is_refused(kind: str, tmp_path: Path, fallbacks: list[Path]) -> None:
    data = bytearray(ARCHIVES[kind]())
    data[_member_data_offset(bytes(data), "random.bin") + 1000] ^= 0x01
    dest = tmp_path / "export.zip"
    with pytest.raises(DownloadError, match="zip archive"):
        download_verified(dest, lambda fh: fh.write(data))
    assert len(fallbacks) == 1  # the streaming check could not vouch for it: verify_zip decided
    assert list(tmp_path.iterdir()) == []


def test_truncated_zip_is_refused(tmp_path: Path) -> None:
    data = ARCHIVES["deflated"]()
    for cut in (len(data) - 1, len(data) // 2, 10):
        with pytest.raises(DownloadError, match="not a valid zip archive"):
            download_verified(tmp_path / "export.zip", lambda fh, cut=cut: fh.write(data[:cut]))
    assert list(tmp_path.iterdir()) == []


def test_non_zip_bytes_with_zip_suffix_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="not a valid zip archive"):
        download_verified(tmp_path / "export.zip", lambda fh: fh.write(b"<html>not found</html>" * 100))
    assert list(tmp_path.iterdir()) == []


def _outcome(check: Callable[[], None]) -> tuple[str, str]:
    try:
        check()
    except Exception as exc:  # noqa: BLE001 - compared, not handled
        return type(exc).__name__, str(exc)
    return "ok", ""


def _encrypted(data: bytes) -> bytes:
    """``data`` with the 'encrypted' flag set on the first member (local and central headers)."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        first = zf.infolist()[0]
    out[first.header_offset + 6] |= 0x01
    central = data.index(b"PK\x01\x02")
    out[central + 8] |= 0x01
    return bytes(out)


CANNOT_TELL = {
    "bzip2": lambda: _archive(zipfile.ZIP_BZIP2),
    "lzma": lambda: _archive(zipfile.ZIP_LZMA),
    "stored-data-descriptors": lambda: _archive(zipfile.ZIP_STORED, seekable=False),
    "encrypted": lambda: _encrypted(_archive(zipfile.ZIP_STORED, directory=False)),
    "prepended-bytes": lambda: b"#!/bin/sh\nexit 0\n" + ARCHIVES["deflated"](),
    "corrupt-deflate": lambda: _corrupt_deflate(),
}


def _corrupt_deflate() -> bytes:
    data = bytearray(ARCHIVES["deflated"]())
    start = _member_data_offset(bytes(data), "a.csv")
    data[start : start + 8] = b"\xff" * 8
    return bytes(data)


@pytest.mark.parametrize("kind", sorted(CANNOT_TELL))
def test_what_the_stream_cannot_tell_is_decided_by_verify_zip(
    kind: str, tmp_path: Path, fallbacks: list[Path]
) -> None:
    data = CANNOT_TELL[kind]()
    path = tmp_path / "x.zip"
    path.write_bytes(data)
    verifier = StreamingZipVerifier()
    _feed(verifier, data, (1, 5000))
    streamed = _outcome(lambda: verifier.finish(path))
    assert not verifier.verified_streaming
    assert verifier.fallbacks == 1
    assert len(fallbacks) == 1
    assert streamed == _outcome(lambda: zipcheck.verify_zip(path))


def test_a_zip_bomb_is_inflated_in_small_pieces(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.bin", bytes(200 * 1024 * 1024))
    data = buf.getvalue()
    assert len(data) < 1024 * 1024
    path = tmp_path / "bomb.zip"
    path.write_bytes(data)
    verifier = StreamingZipVerifier()
    tracemalloc.start()
    try:
        verifier.feed(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    verifier.finish(path)
    assert verifier.verified_streaming
    assert peak < 16 * 1024 * 1024


# ---- download_verified with the streaming check ---------------------------------------------


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name in ("zip-verifier", "download-flush")}


def _chunked(data: bytes, size: int = 4096) -> Callable[[IO[bytes]], int]:
    def write(fh: IO[bytes]) -> int:
        for pos in range(0, len(data), size):
            fh.write(memoryview(data)[pos : pos + size])
        return len(data)

    return write


def _slowly(data: bytes, size: int) -> Callable[[IO[bytes]], int]:
    """Writes ``size`` bytes at a time, giving the flush thread time to run in between."""

    def write(fh: IO[bytes]) -> int:
        for pos in range(0, len(data), size):
            fh.write(data[pos : pos + size])
            time.sleep(0.002)
        return len(data)

    return write


@pytest.mark.parametrize("read_back", [4096, files.READ_BACK])
@pytest.mark.parametrize("name", ["export.zip", "export.bin", "EXPORT.ZIP"])
def test_download_verified_streams_the_check(
    name: str, read_back: int, tmp_path: Path, fallbacks: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "READ_BACK", read_back)
    data = ARCHIVES["deflated"]()
    dest = tmp_path / name
    assert download_verified(dest, _slowly(data, 4000)) == len(data)
    assert dest.read_bytes() == data
    assert fallbacks == []  # by suffix or, for export.bin, by its first bytes
    assert _threads() == set()


def test_sniffed_zip_is_checked_too(tmp_path: Path) -> None:
    corrupt = bytearray(ARCHIVES["stored"]())
    corrupt[_member_data_offset(bytes(corrupt), "random.bin") + 5] ^= 0xFF
    with pytest.raises(DownloadError, match="corrupt"):
        download_verified(tmp_path / "export.bin", _chunked(bytes(corrupt), 1))
    assert list(tmp_path.iterdir()) == []


def test_no_verifier_thread_when_not_checking(tmp_path: Path) -> None:
    seen: list[set[str]] = []

    def writer(data: bytes) -> Callable[[IO[bytes]], int]:
        def write(fh: IO[bytes]) -> int:
            fh.write(data)
            seen.append(_threads())
            return len(data)

        return write

    download_verified(tmp_path / "export.zip", writer(ARCHIVES["stored"]()), check_zip=False)
    download_verified(tmp_path / "report.json", writer(b'{"a": 1}'))  # not a zip by name or bytes
    assert seen == [{"download-flush"}, {"download-flush"}]


def test_check_zip_true_checks_any_name(tmp_path: Path, fallbacks: list[Path]) -> None:
    with pytest.raises(DownloadError):
        download_verified(tmp_path / "report.json", lambda fh: fh.write(b'{"a": 1}'), check_zip=True)
    data = ARCHIVES["stored"]()
    download_verified(tmp_path / "report.json", _chunked(data), check_zip=True)
    assert len(fallbacks) == 1  # only the non-zip


@pytest.fixture
def small_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The verifier thread reads 4 KiB at a time: it follows small test files while written."""
    monkeypatch.setattr(files, "READ_BACK", 4096)


@pytest.mark.usefixtures("small_reads")
def test_restart_from_zero_restarts_the_check(tmp_path: Path, fallbacks: list[Path]) -> None:
    """What the transport does when the server ignores the Range header: seek(0), truncate()."""
    old, new = ARCHIVES["stored"](), ARCHIVES["deflated"]()

    def write(fh: IO[bytes]) -> int:
        _slowly(old[: len(old) // 2], 8192)(fh)  # the verifier reads some of it
        fh.seek(0)
        fh.truncate()
        return _chunked(new, 1000)(fh)

    dest = tmp_path / "export.zip"
    assert download_verified(dest, write) == len(new)
    assert dest.read_bytes() == new
    assert fallbacks == []


def _stored_then_deflated() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("first.bin", MEMBERS["random.bin"], compress_type=zipfile.ZIP_STORED)
        zf.writestr("second.csv", MEMBERS["a.csv"] * 20, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


@pytest.fixture
def thread_starts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The offset each verifier thread starts reading the file back from."""
    starts: list[int] = []
    real = files._VerifierThread.__init__

    def recorded(
        self: Any, verifier: StreamingZipVerifier, fd: int, written: int = 0, start: int = 0
    ) -> None:
        starts.append(start)
        real(self, verifier, fd, written, start)

    monkeypatch.setattr(files._VerifierThread, "__init__", recorded)
    return starts


@pytest.mark.parametrize("name", ["export.zip", "export.bin"])
def test_stored_members_are_checked_by_the_writer(
    name: str, tmp_path: Path, fallbacks: list[Path], thread_starts: list[int]
) -> None:
    data = ARCHIVES["stored"]()
    assert download_verified(tmp_path / name, _chunked(data)) == len(data)
    assert thread_starts == [] and fallbacks == []  # CRC-32s in the writer's thread, no read-back


@pytest.mark.usefixtures("small_reads")
def test_a_deflated_member_hands_the_check_to_a_thread(
    tmp_path: Path, fallbacks: list[Path], thread_starts: list[int]
) -> None:
    data = _stored_then_deflated()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        deflated_at = zf.getinfo("second.csv").header_offset
    dest = tmp_path / "export.zip"
    assert download_verified(dest, _slowly(data, 4000)) == len(data)
    assert dest.read_bytes() == data and fallbacks == []
    # One thread, from the end of the write in which the deflated member's data began.
    (start,) = thread_starts
    assert deflated_at < start <= _member_data_offset(data, "second.csv") + 4000 < len(data)
    assert _threads() == set()


@pytest.mark.usefixtures("small_reads")
def test_corruption_after_the_hand_over_is_found(tmp_path: Path, thread_starts: list[int]) -> None:
    data = bytearray(_stored_then_deflated())
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        half = zf.getinfo("second.csv").compress_size // 2
    data[_member_data_offset(bytes(data), "second.csv") + half] ^= 0xFF
    dest = tmp_path / "export.zip"
    with pytest.raises(DownloadError, match="zip archive"):
        download_verified(dest, _slowly(bytes(data), 4000))
    assert len(thread_starts) == 1 and list(tmp_path.iterdir()) == []


def test_other_moves_fall_back_to_verify_zip(tmp_path: Path, fallbacks: list[Path]) -> None:
    data = ARCHIVES["stored"]()

    def write(fh: IO[bytes]) -> int:
        fh.write(data[:100])
        fh.seek(50)
        fh.write(data[50:])
        return len(data)

    download_verified(tmp_path / "export.zip", write)
    assert (tmp_path / "export.zip").read_bytes() == data
    assert len(fallbacks) == 1


def test_errors_in_the_verifier_thread_surface(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "export.zip"
    dest.write_bytes(b"yesterday")

    def broken(self: StreamingZipVerifier, data: Any) -> None:
        raise RuntimeError("verifier bug")

    monkeypatch.setattr(StreamingZipVerifier, "feed", broken)
    with pytest.raises(RuntimeError, match="verifier bug"):
        download_verified(dest, _chunked(ARCHIVES["stored"]()))
    assert dest.read_bytes() == b"yesterday"
    assert [p.name for p in tmp_path.iterdir()] == ["export.zip"]
    assert _threads() == set()


def test_writeback_starts_during_the_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "FLUSH_EVERY", 64 * 1024)
    syncs: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (syncs.append(fd), real(fd))[1])
    data = random.Random(1).randbytes(2 * 1024 * 1024)
    download_verified(tmp_path / "x.bin", _slowly(data, 64 * 1024))
    assert (tmp_path / "x.bin").read_bytes() == data
    assert len(syncs) >= 2


def test_failed_background_flush_fails_the_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "FLUSH_EVERY", 1024)

    def eio(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", eio)
    with pytest.raises(OSError, match="Input/output error"):
        download_verified(tmp_path / "x.bin", _slowly(bytes(100_000), 2048))
    assert list(tmp_path.iterdir()) == []
    assert _threads() == set()

    def unsupported(fd: int) -> None:
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(os, "fdatasync", unsupported)  # only an optimization: ignored
    assert download_verified(tmp_path / "x.bin", _slowly(bytes(100_000), 2048)) == 100_000
