"""Writing downloads safely: temp file beside the destination, verify, atomic rename; safe unzip.

A download is written to a temp file beside its destination and renamed over it only once it is
complete, verified and on disk (``fsync``). For zip files the verification (the CRC-32 of every
member, as ``zipfile.ZipFile.testzip`` checks it) runs *while* the file arrives: the bytes are
parsed in order (``zipcheck.StreamingZipVerifier``), in the writer's thread while that costs
only a CRC-32 (stored members), by a background thread reading the file back once a deflated
member needs inflating. Once the download ends only the central directory is read to match its
entries with what was computed. Anything the streaming parser is not certain about falls back to
``zipcheck.verify_zip``, which re-reads the file and stays the authority. Likewise a background
thread starts the data's writeback every :data:`FLUSH_EVERY` bytes, so the ``fsync`` before the
rename only has the tail left to flush.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Final

from airflow_provider_exports import zipcheck
from airflow_provider_exports.errors import DownloadError
from airflow_provider_exports.zipcheck import StreamingZipVerifier

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

ZIP_MAGIC = b"PK\x03\x04"

#: Writes to the temp file are cut into slices of this size. On some kernels (e.g. 6.x guests
#: with large page-cache folios) large ``write()`` calls cost several times more CPU per byte.
WRITE_SLICE: Final = 16 * 1024
#: Bytes between two background ``fdatasync`` calls while downloading (one at a time).
FLUSH_EVERY: Final = 64 * 1024 * 1024


def looks_like_zip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(4) == ZIP_MAGIC


# ---- the download sink ----------------------------------------------------------------------

#: The verifier thread reads the file back (from the page cache) this much at a time.
READ_BACK: Final = 4 * 1024 * 1024


class _VerifierThread:
    """Runs a :class:`StreamingZipVerifier` over the temp file while it is written.

    The thread reads the file back a step behind the writer (from the page cache: the bytes
    that are really in the file), from ``start`` (where the writer's thread stopped feeding the
    verifier itself), and feeds the verifier. The writer's thread only says how far it has
    written (:meth:`advance`): it neither copies nor queues anything, and memory stays at one
    :data:`READ_BACK` buffer. ``restart`` (the file was truncated to zero) and
    ``give_up`` (it was rewritten elsewhere) come from the writer too.

    When the download ends, :meth:`finish` stops the thread wherever it got to and verifies the
    rest in the caller's thread. The thread keeps the default priority: at ``SCHED_IDLE`` the
    benchmark was faster on a quiet machine, but with the CPUs busy the thread got almost no
    CPU and the caller ended up waiting for it (1.4x slower end to end).
    """

    def __init__(self, verifier: StreamingZipVerifier, fd: int, written: int = 0, start: int = 0) -> None:
        self.verifier = verifier
        self.error: BaseException | None = None
        self._fd = fd
        self._view = memoryview(bytearray(READ_BACK))
        self._cond = threading.Condition()
        self._written = written  # bytes written from offset 0 in this generation
        self._generation = 0
        self._unsure: tuple[int, str] | None = None  # (generation, reason)
        self._stopping = False
        self._wake_at: int | None = None  # set while the thread waits for this many bytes
        self._pos = start  # how far the verifier has read, in generation self._seen
        self._seen = 0
        self._thread = threading.Thread(target=self._run, name="zip-verifier", daemon=True)
        self._thread.start()

    # -- the writer's side --

    def advance(self, size: int) -> None:
        self._written += size
        wake_at = self._wake_at
        if wake_at is not None and self._written >= wake_at:
            with self._cond:
                self._cond.notify()

    def restart(self) -> None:
        with self._cond:
            self._generation += 1
            self._written = 0
            self._cond.notify()

    def give_up(self, reason: str) -> None:
        with self._cond:
            self._unsure = (self._generation, reason)
            self._cond.notify()

    def stop(self) -> None:
        """End the thread where it is (idempotent)."""
        if self._thread.is_alive():
            with self._cond:
                self._stopping = True
                self._cond.notify()
            self._thread.join()

    def finish(self) -> None:
        """End the thread and verify whatever it had not got to yet, in this thread; raises
        what the thread raised, if anything."""
        self.stop()
        if self.error is not None:
            raise self.error
        self._follow(to_the_end=True)

    # -- the thread --

    def _run(self) -> None:
        try:
            self._follow(to_the_end=False)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller by finish()
            self.error = exc

    def _follow(self, *, to_the_end: bool) -> None:
        verifier, cond, view = self.verifier, self._cond, self._view
        while True:
            with cond:
                while True:
                    if self._generation != self._seen:
                        self._seen, self._pos = self._generation, 0
                        verifier.reset()
                    if self._unsure is not None and self._unsure[0] == self._seen:
                        verifier.give_up(self._unsure[1])
                    available = self._written - self._pos
                    if self._stopping:
                        if not to_the_end or available <= 0:
                            return
                        break
                    if available >= READ_BACK:
                        break
                    # Wake up for a whole buffer's worth (fewer wake-ups, bigger reads).
                    self._wake_at = self._pos + READ_BACK
                    cond.wait(1.0)
                    self._wake_at = None
            if verifier.settled:  # nothing more to learn from the bytes: only count them
                verifier.skip(available)
                self._pos += available
                continue
            got = _pread_into(self._fd, view[: min(available, READ_BACK)], self._pos)
            if self._generation != self._seen:
                continue  # truncated meanwhile: what was read may be stale
            if got <= 0:
                verifier.give_up(f"the file is shorter than written ({self._pos} bytes)")
                continue
            verifier.feed(view[:got])
            self._pos += got


def _pread_into(fd: int, view: memoryview, offset: int) -> int:
    preadv = getattr(os, "preadv", None)
    if preadv is not None:
        return int(preadv(fd, [view], offset))
    data = os.pread(fd, len(view), offset)
    view[: len(data)] = data
    return len(data)


_UNSUPPORTED: Final = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP}


class _Flusher:
    """Starts the writeback of what was written so far (``fdatasync``) in a background thread,
    one call at a time, so that the final ``fsync`` has little left to do."""

    def __init__(self, fd: int) -> None:
        self.error: OSError | None = None
        self.syncs = 0
        self._fd = fd
        self._wake = threading.Event()
        self._idle = True
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="download-flush", daemon=True)
        self._thread.start()

    def poke(self) -> bool:
        """Start a flush unless one is under way (or the thread ended); whether one was."""
        if not self._idle or not self._thread.is_alive():
            return False
        self._idle = False
        self._wake.set()
        return True

    def stop(self, *, wait: bool = True) -> None:
        """End the thread (after the flush under way, if any); idempotent."""
        self._stopping = True
        self._wake.set()
        if wait and self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        sync = getattr(os, "fdatasync", os.fsync)
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            try:
                sync(self._fd)
                self.syncs += 1
            except OSError as exc:
                if exc.errno in _UNSUPPORTED:
                    return  # only an optimization: the final fsync decides
                self.error = exc
                return
            self._idle = True


class DownloadSink(io.FileIO):
    """The temp file a download is written into (an ordinary binary file for the writer).

    ``write`` writes in :data:`WRITE_SLICE` slices, feeds the zip verifier (if any) and pokes the
    flush thread every :data:`FLUSH_EVERY` bytes. The verifier is fed in the writer's thread
    until a deflated member begins (checking a stored member is a CRC-32: ~0.02 s per GiB with
    zlib-ng, less than handing the bytes to a thread); from there on a :class:`_VerifierThread`
    follows the file, so that inflating runs beside the download.
    ``seek(0)`` (with ``truncate()``: a download restarting from zero) starts the verification
    again; any other move makes the verifier give up, and :func:`verify_zip` decides at the end.

    :param check_zip: ``True``: verify from the first byte; ``None``: verify if the file starts
        like a zip; ``False``: no verifier thread.
    """

    def __init__(self, fd: int, *, check_zip: bool | None, flush: bool = True) -> None:
        super().__init__(fd, "wb", closefd=True)
        self._check = check_zip
        self._inline: StreamingZipVerifier | None = StreamingZipVerifier() if check_zip else None
        self._verifier: _VerifierThread | None = None
        self._flusher = _Flusher(fd) if flush else None
        self._pos = 0
        self._unflushed = 0
        self._head = b""  # the first bytes, while deciding whether the file is a zip

    @property
    def verifier(self) -> StreamingZipVerifier | None:
        if self._inline is not None:
            return self._inline
        return self._verifier.verifier if self._verifier is not None else None

    @property
    def background_syncs(self) -> int:
        return self._flusher.syncs if self._flusher is not None else 0

    def write(self, data: ReadableBuffer, /) -> int:
        view = memoryview(data).cast("B")
        size = len(view)
        write = super().write
        done = 0
        while done < size:
            written = write(view[done : done + WRITE_SLICE])
            if not written:
                raise OSError(f"short write to {self.name!r}")
            done += written
        self._pos += size
        if self._inline is not None:
            self._feed_inline(view)
        elif self._verifier is not None:
            self._verifier.advance(size)
        elif self._check is None and self._pos - size == len(self._head) < 4:
            # Not a .zip name: verify if the file starts like a zip.
            before = len(self._head)
            self._head += bytes(view[: 4 - before])
            if self._head == ZIP_MAGIC:
                self._inline = StreamingZipVerifier()
                self._inline.feed(self._head)
                self._feed_inline(view[4 - before :])
        if self._flusher is not None:
            self._unflushed += size
            if self._unflushed >= FLUSH_EVERY and self._flusher.poke():
                self._unflushed = 0
        return size

    def _feed_inline(self, view: memoryview) -> None:
        inline = self._inline
        assert inline is not None
        inline.feed(view)
        if inline.inflating:
            self._verifier = _VerifierThread(inline, self.fileno(), written=self._pos, start=inline.fed)
            self._inline = None

    def seek(self, pos: int, whence: int = 0, /) -> int:
        new = super().seek(pos, whence)
        if new != self._pos:
            self._moved(new)
        return new

    def truncate(self, size: int | None = None, /) -> int:
        new = super().truncate(size)
        if new < self._pos:
            self._moved(new)
        return new

    def _moved(self, pos: int) -> None:
        self._pos = pos
        self._unflushed = 0
        if pos == 0:
            self._head = b""
            if self._inline is not None:
                self._inline.reset()
            elif self._verifier is not None:
                self._verifier.restart()
        elif self._inline is not None:
            self._inline.give_up(f"the file was rewritten from offset {pos}")
        elif self._verifier is not None:
            self._verifier.give_up(f"the file was rewritten from offset {pos}")
        else:
            self._head = b"\0" * 4  # not sniffed any more: verify_zip decides

    def finish_writing(self, *, verify: bool) -> StreamingZipVerifier | None:
        """The writer is done: end the background threads and raise the first error either hit.

        With ``verify``, the zip verifier (if one runs) first catches up with the end of the file
        in this thread, and is returned for its verdict (:meth:`StreamingZipVerifier.finish`).
        """
        if self._flusher is not None:
            self._flusher.stop(wait=False)  # a flush under way goes on while the verifier ends
        try:
            if self._verifier is not None:
                if verify:
                    self._verifier.finish()
                else:
                    self._verifier.stop()
                    if self._verifier.error is not None:
                        raise self._verifier.error
        finally:
            if self._flusher is not None:
                self._flusher.stop()
        if self._flusher is not None and self._flusher.error is not None:
            # Its data may not be on disk: a later fsync would not necessarily say so again.
            raise self._flusher.error
        return self.verifier if verify else None

    def close(self) -> None:
        try:
            if self._verifier is not None:
                self._verifier.stop()
            if self._flusher is not None:
                self._flusher.stop()
        finally:
            super().close()


# ---- atomic writes --------------------------------------------------------------------------


@contextlib.contextmanager
def _temp_beside(destination: Path) -> Iterator[tuple[int, Path]]:
    """A new temp file (descriptor, path) beside ``destination``, renamed over it if the block
    succeeds; on any error it is removed and the destination is untouched. The block must close
    the descriptor (after ``fsync``)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part", dir=destination.parent)
    tmp = Path(tmp_name)
    try:
        yield fd, tmp
        os.replace(tmp, destination)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_file(destination: Path) -> Iterator[tuple[IO[bytes], Path]]:
    """A temp file beside ``destination``, renamed over it only if the block succeeds.

    On any error the temp file is removed and the destination is untouched.
    """
    with _temp_beside(destination) as (fd, tmp), os.fdopen(fd, "wb") as fh:
        yield fh, tmp
        fh.flush()
        os.fsync(fh.fileno())


def download_verified(
    destination: Path, write: Callable[[IO[bytes]], int], *, check_zip: bool | None = None
) -> int:
    """Run ``write`` into a temp file, verify it (zip integrity), then move it into place.

    ``check_zip``: ``None`` checks zip files (by suffix or by their first bytes), ``True``
    always, ``False`` never. The check runs while the file is written (see
    :class:`StreamingZipVerifier`); the file is ``fsync``-ed before the rename.
    """
    zip_suffix = destination.suffix.lower() == ".zip"
    with (
        _temp_beside(destination) as (fd, tmp),
        DownloadSink(fd, check_zip=True if check_zip is None and zip_suffix else check_zip) as sink,
    ):
        size = write(sink)
        check = check_zip or (check_zip is None and (zip_suffix or looks_like_zip(tmp)))
        verifier = sink.finish_writing(verify=bool(check))
        if check:
            if verifier is not None:
                verifier.finish(tmp)
            else:
                zipcheck.verify_zip(tmp)
        os.fsync(fd)
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
