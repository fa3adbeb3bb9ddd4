"""Writing downloads safely: temp file beside the destination, verify, atomic rename; safe unzip."""

from __future__ import annotations

import contextlib
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO

from airflow_provider_exports.errors import DownloadError

ZIP_MAGIC = b"PK\x03\x04"


def verify_zip(path: Path) -> None:
    """Raise unless ``path`` is a readable zip whose every member passes its CRC check."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DownloadError(f"downloaded file is not a valid zip archive: {exc}") from None
    if bad is not None:
        raise DownloadError(f"downloaded zip archive is corrupt (member {bad!r} fails its CRC check)")


def looks_like_zip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(4) == ZIP_MAGIC


@contextlib.contextmanager
def atomic_file(destination: Path) -> Iterator[tuple[IO[bytes], Path]]:
    """A temp file beside ``destination``, renamed over it only if the block succeeds.

    On any error the temp file is removed and the destination is untouched.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part", dir=destination.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh, tmp
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, destination)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def download_verified(
    destination: Path, write: Callable[[IO[bytes]], int], *, check_zip: bool | None = None
) -> int:
    """Run ``write`` into a temp file, verify it (zip integrity), then move it into place."""
    with atomic_file(destination) as (fh, tmp):
        size = write(fh)
        fh.flush()
        if check_zip or (check_zip is None and (destination.suffix.lower() == ".zip" or looks_like_zip(tmp))):
            verify_zip(tmp)
    return size


def safe_member_path(name: str) -> PurePosixPath:
    """A zip member's relative path, or an error for absolute paths and ``..`` parts."""
    normalized = name.replace("\\", "/")
    path = PurePosixPath(normalized)
    if (
        normalized.startswith("/")
        or path.is_absolute()
        or ".." in path.parts
        or (len(normalized) > 1 and normalized[1] == ":")
    ):
        raise DownloadError(f"refusing to extract zip member with an unsafe path: {name!r}")
    return path


def safe_extract(archive_path: Path, target: Path) -> list[Path]:
    """Extract a zip into ``target``, refusing absolute and ``..`` member names (checked first,
    so a bad archive extracts nothing)."""
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive_path) as archive:
        members = [(info, safe_member_path(info.filename)) for info in archive.infolist()]
        out = []
        root = target.resolve()
        for info, rel in members:
            dest = (root / rel).resolve()
            if root != dest and root not in dest.parents:
                raise DownloadError(f"refusing to extract zip member outside the target: {info.filename!r}")
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, atomic_file(dest) as (fh, _):
                while chunk := src.read(1024 * 1024):
                    fh.write(chunk)
            out.append(dest)
    return out
