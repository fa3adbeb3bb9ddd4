"""Checking a zip archive: all at once (:func:`verify_zip`) or from its bytes as they arrive
(:class:`StreamingZipVerifier`), with the same verdict."""

from __future__ import annotations

import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from airflow_provider_exports.errors import DownloadError

if TYPE_CHECKING:
    import zlib as fast_zlib

    from _typeshed import ReadableBuffer
else:
    try:  # zlib-ng's CRC-32 is ~7x faster than the zlib CPython links (0.07 vs 0.48 s per GiB)
        from zlib_ng import zlib_ng as fast_zlib
    except ImportError:  # pragma: no cover - a platform without its wheels
        import zlib as fast_zlib


def verify_zip(path: Path) -> None:
    """Raise unless ``path`` is a readable zip whose every member passes its CRC check."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise DownloadError(f"downloaded file is not a valid zip archive: {exc}") from None
    if bad is not None:
        raise DownloadError(f"downloaded zip archive is corrupt (member {bad!r} fails its CRC check)")


_LOCAL_SIG: Final = b"PK\x03\x04"
_END_SIGS: Final = (b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06")  # central dir, end records
_DESCRIPTOR_SIG: Final = b"PK\x07\x08"
_LOCAL_HEADER: Final = struct.Struct("<4sHHHHHIIIHH")  # 30 bytes
_ZIP64_EXTRA: Final = 0x0001
_UNSAFE_FLAGS: Final = 0x0001 | 0x0020 | 0x0040  # encrypted, patched data, strong encryption
_DATA_DESCRIPTOR_FLAG: Final = 0x0008
_UTF8_FLAG: Final = 0x0800
_MAX_INFLATE: Final = 1024 * 1024  # output per decompress() call: a zip bomb stays small in RAM

# Parser states.
_SIGNATURE, _LOCAL, _NAMES, _DATA, _DESCRIPTOR, _DONE, _UNSURE = range(7)


@dataclass(frozen=True)
class LocalEntry:
    """A member as found in the stream: its local header and what its data really holds."""

    offset: int
    name: bytes
    flags: int
    method: int
    crc: int
    compressed_size: int
    size: int


class StreamingZipVerifier:
    """Checks a zip archive from its bytes, in order, as they are downloaded.

    :meth:`feed` parses local file headers one after the other, computes each member's CRC-32
    (inflating deflated members) and records a :class:`LocalEntry` per member, until the central
    directory. :meth:`finish` then reads only the central directory of the finished file and
    requires every entry to match a verified local entry (offset, name, method, CRC and both
    sizes): then every member is known to pass ``testzip`` without reading the file again.

    Whatever it cannot tell with certainty (encryption, methods other than stored and deflate,
    a stored member with a data descriptor, unexpected bytes, a file changed behind its back)
    is never an error by itself: :meth:`finish` then runs :func:`verify_zip` on the file, which
    decides. ``verified_streaming`` says which way the last :meth:`finish` went.
    """

    def __init__(self) -> None:
        self.verified_streaming = False
        self.fallbacks = 0
        self.reset()

    # -- feeding --

    def reset(self) -> None:
        """Forget everything: the file is being written again from its first byte."""
        self.entries: dict[int, LocalEntry] = {}
        self.unsure: str | None = None
        self.fed = 0
        self.central_at: int | None = None
        self._state = _SIGNATURE
        self._need = 4
        self._buf = bytearray()
        self._buf_at = 0  # stream offset of self._buf[0]
        self._header: tuple[int, ...] = ()
        self._name = b""
        self._flags = self._method = 0
        self._zip64 = False
        self._entry_at = 0
        self._left = 0  # data bytes still to come (sizes known from the header)
        self._crc = 0
        self._csize = 0
        self._usize = 0
        self._inflater: fast_zlib._Decompress | None = None

    def give_up(self, reason: str) -> None:
        """Stop parsing; :meth:`finish` will fall back to :func:`verify_zip`."""
        if self.unsure is None:
            self.unsure = reason
        self._state = _UNSURE
        self._buf = bytearray()
        self._inflater = None

    @property
    def inflating(self) -> bool:
        """Whether the bytes being parsed are a deflated member's (costly to check, unlike the
        CRC-32 of a stored member's)."""
        return self._state == _DATA and self._inflater is not None

    @property
    def settled(self) -> bool:
        """Whether more bytes cannot change anything (central directory reached, or given up)."""
        return self._state >= _DONE

    def skip(self, size: int) -> None:
        """Bytes that follow, once :attr:`settled`, counted but not looked at."""
        self.fed += size

    def feed(self, data: ReadableBuffer) -> None:
        """The next bytes of the file."""
        view = memoryview(data).cast("B")
        start = self.fed
        self.fed += len(view)
        if self._state >= _DONE:
            return
        try:
            self._run(view, start)
        except (zlib.error, fast_zlib.error, struct.error, ValueError, OverflowError) as exc:
            self.give_up(f"{type(exc).__name__}: {exc}")

    def _run(self, view: memoryview, start: int) -> None:
        pos, end = 0, len(view)
        while True:
            state = self._state
            if state == _DATA:
                if pos >= end:
                    return
                pos = self._data(view, pos)
            elif state >= _DONE:
                return
            elif len(self._buf) < self._need:
                if pos >= end:
                    return
                if not self._buf:
                    self._buf_at = start + pos
                take = min(self._need - len(self._buf), end - pos)
                self._buf += view[pos : pos + take]
                pos += take
            else:
                self._step()

    def _step(self) -> None:
        """Parse the header bytes in ``self._buf`` (at least ``self._need`` of them)."""
        buf = self._buf
        if self._state == _SIGNATURE:
            sig = bytes(buf[:4])
            if sig == _LOCAL_SIG:
                self._state, self._need = _LOCAL, _LOCAL_HEADER.size
            elif sig in _END_SIGS:
                self.central_at = self._buf_at
                self._state = _DONE
                self._buf = bytearray()
            else:
                self.give_up(f"unexpected bytes {sig!r} at offset {self._buf_at}")
        elif self._state == _LOCAL:
            self._header = _LOCAL_HEADER.unpack_from(buf)
            name_len, extra_len = self._header[9], self._header[10]
            self._state, self._need = _NAMES, _LOCAL_HEADER.size + name_len + extra_len
        elif self._state == _NAMES:
            self._begin_member()
        elif self._state == _DESCRIPTOR:
            self._descriptor()

    def _begin_member(self) -> None:
        _, _, flags, method, _, _, _, csize, usize, name_len, extra_len = self._header
        fixed = _LOCAL_HEADER.size
        name = bytes(self._buf[fixed : fixed + name_len])
        extra = bytes(self._buf[fixed + name_len : fixed + name_len + extra_len])
        self._entry_at = self._buf_at
        self._buf = bytearray()
        described = bool(flags & _DATA_DESCRIPTOR_FLAG)
        zip64 = _zip64_sizes(extra)
        if flags & _UNSAFE_FLAGS:
            self.give_up(f"member {name!r}: flags {flags:#x} (encryption or patch data)")
        elif method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            self.give_up(f"member {name!r}: compression method {method}")
        elif described and method == zipfile.ZIP_STORED:
            self.give_up(f"member {name!r}: stored, with a data descriptor")
        elif not described and 0xFFFFFFFF in (csize, usize) and zip64 is None:
            self.give_up(f"member {name!r}: zip64 sizes without a zip64 extra field")
        else:
            if not described and zip64 is not None and 0xFFFFFFFF in (csize, usize):
                usize, csize = zip64
            self._name, self._flags, self._method = name, flags, method
            self._zip64 = zip64 is not None
            self._left = -1 if described else csize
            self._crc = self._csize = self._usize = 0
            self._inflater = fast_zlib.decompressobj(-15) if method == zipfile.ZIP_DEFLATED else None
            self._state = _DATA
            if self._left == 0:
                self._end_data()

    def _data(self, view: memoryview, pos: int) -> int:
        """Consume member data from ``view[pos:]``; returns the position after it."""
        end = len(view)
        if self._left >= 0:  # the size is known from the local header
            take = min(self._left, end - pos)
            chunk = view[pos : pos + take]
            self._left -= take
            self._csize += take
            if self._inflater is None:
                self._crc = fast_zlib.crc32(chunk, self._crc)
                self._usize += take
            elif self._inflate(chunk) and (self._left or self._inflater.unused_data):
                self.give_up(f"member {self._name!r}: deflate stream ends before its compressed size")
                return end
            if self._left == 0:
                self._end_data()
            return pos + take
        # Deflated, with a data descriptor: the deflate stream itself says where it ends.
        chunk = view[pos:]
        if not self._inflate(chunk):
            self._csize += len(chunk)
            return end
        assert self._inflater is not None
        unused = len(self._inflater.unused_data)
        self._csize += len(chunk) - unused
        self._inflater = None
        self._state, self._need = _DESCRIPTOR, 24
        return end - unused

    def _inflate(self, data: ReadableBuffer) -> bool:
        """Inflate the next compressed bytes; whether the deflate stream has ended."""
        inflater = self._inflater
        assert inflater is not None
        while True:
            out = inflater.decompress(data, _MAX_INFLATE)
            if out:
                self._crc = fast_zlib.crc32(out, self._crc)
                self._usize += len(out)
            if inflater.eof:
                return True
            data = inflater.unconsumed_tail
            if not data and len(out) < _MAX_INFLATE:
                return False

    def _end_data(self) -> None:
        if self._inflater is not None and not self._inflater.eof:
            self.give_up(f"member {self._name!r}: deflate stream incomplete at its compressed size")
            return
        self._inflater = None
        self._record()
        self._state, self._need = _SIGNATURE, 4

    def _descriptor(self) -> None:
        """Match the data descriptor after a deflated member against what was computed: with or
        without its signature, with 8-byte sizes if the local header has a zip64 field, else
        4-byte ones (the other size tried second). Give up unless one layout matches."""
        buf = bytes(self._buf)
        wanted = (self._crc, self._csize, self._usize)
        sizes = ["<LQQ", "<LLL"] if self._zip64 else ["<LLL", "<LQQ"]
        for skip, fmt in [(4, sizes[0]), (0, sizes[0]), (4, sizes[1]), (0, sizes[1])]:
            if skip and buf[:4] != _DESCRIPTOR_SIG:
                continue
            if struct.unpack_from(fmt, buf, skip) == wanted:
                length = skip + struct.calcsize(fmt)
                break
        else:
            self.give_up(f"member {self._name!r}: data descriptor does not match its data")
            return
        self._record()
        del self._buf[:length]
        self._buf_at += length
        self._state, self._need = _SIGNATURE, 4

    def _record(self) -> None:
        self.entries[self._entry_at] = LocalEntry(
            self._entry_at, self._name, self._flags, self._method, self._crc, self._csize, self._usize
        )

    # -- the verdict --

    def matches(self, path: Path) -> bool:
        """Whether the finished file at ``path`` is verified by what was parsed."""
        if self._state != _DONE or self.central_at is None:
            return False
        try:
            if path.stat().st_size != self.fed:
                return False
            with zipfile.ZipFile(path) as archive:
                infos = archive.infolist()
                start_dir = getattr(archive, "start_dir", None)
        except Exception:  # noqa: BLE001 - verify_zip decides and reports
            return False
        if start_dir != self.central_at:
            return False
        seen: set[int] = set()
        for info in infos:
            entry = self.entries.get(info.header_offset)
            if entry is None or info.header_offset in seen:
                return False
            seen.add(info.header_offset)
            if (
                info.flag_bits & _UNSAFE_FLAGS
                or info.compress_type != entry.method
                or entry.crc != info.CRC
                or info.compress_size != entry.compressed_size
                or info.file_size != entry.size
                or _member_name(entry) != info.orig_filename
            ):
                return False
        return True

    def finish(self, path: Path) -> None:
        """Raise unless the finished file at ``path`` is a zip whose every member passes its CRC
        check: from the stream when it can tell, else by :func:`verify_zip`."""
        self.verified_streaming = self.matches(path)
        if not self.verified_streaming:
            self.fallbacks += 1
            verify_zip(path)


def _zip64_sizes(extra: bytes) -> tuple[int, int] | None:
    """(uncompressed, compressed) sizes from a local header's zip64 extra field, if it has one."""
    pos = 0
    while pos + 4 <= len(extra):
        kind, size = struct.unpack_from("<HH", extra, pos)
        if kind == _ZIP64_EXTRA:
            if size < 16 or pos + 4 + 16 > len(extra):
                raise ValueError("short zip64 extra field")
            usize, csize = struct.unpack_from("<QQ", extra, pos + 4)
            return usize, csize
        pos += 4 + size
    return None


def _member_name(entry: LocalEntry) -> str | None:
    """The local header's name as ``zipfile`` decodes it (to compare with the directory's)."""
    try:
        return entry.name.decode("utf-8" if entry.flags & _UTF8_FLAG else "cp437")
    except UnicodeDecodeError:
        return None
