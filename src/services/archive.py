"""Write backup ZIPs member by member (hashing as we go) and read them back to verify."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import queue
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import orjson

from src.errors import ArchiveInvalid
from src.services import progress
from src.services.member_names import METADATA_NAME, check_infos
from src.services.zip_structure import check_structure, open_zip

logger = logging.getLogger(__name__)

try:  # ISA-L: the same raw deflate, about four times faster than zlib at level 1 here
    from isal import isal_zlib
except ImportError:  # pragma: no cover - the wheel exists for the usual platforms
    isal_zlib = None  # type: ignore[assignment]

_INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error,)
if isal_zlib is not None:
    _INFLATE_ERRORS += (cast(type[Exception], isal_zlib.error),)
READ_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    OSError,
    EOFError,
    KeyError,  # a member the archive does not have
    RuntimeError,  # an encrypted member
    NotImplementedError,  # an unknown compression method
    *_INFLATE_ERRORS,
)
_METADATA_ERRORS: tuple[type[Exception], ...] = (
    *READ_ERRORS,
    zipfile.LargeZipFile,
    RuntimeError,  # an encrypted member
    NotImplementedError,  # an unknown compression method
)
READ_CHUNK = 1 << 20
SYNC_BYTES = 64 << 20
ZIP64_FROM = 1 << 31  # members this big (or of unknown size) get ZIP64 fields
QUEUED_CHUNKS = 8  # chunks of about 1 MB waiting to be compressed, per member


PROGRESS_FROM = 4 << 20  # bytes: a file this big gets a progress phase of its own


@dataclass(frozen=True)
class Member:
    """One file inside an archive."""

    path: str
    size: int
    sha256: str
    role: str
    source: str | None = None
    original: str | None = None  # the file's own name, when it is stored under another

    def to_json(self) -> dict[str, Any]:
        """Return the member as metadata records it."""
        data = {"path": self.path, "size": self.size, "sha256": self.sha256, "role": self.role}
        if self.source is not None:
            data["source"] = self.source
        if self.original is not None:
            data["original"] = self.original
        return data


def deflate_engine(level: int) -> str:
    """Name the compressor a compression level uses."""
    if level == 0:
        return "stored"
    if level <= 3 and isal_zlib is not None:
        return f"isal level {level}"
    return f"zlib level {level}"


def new_compressor(level: int) -> Any:
    """Return a raw-deflate compressor for a level (ISA-L for 1-3), or None to store."""
    if level == 0:
        return None
    if level <= 3 and isal_zlib is not None:
        return isal_zlib.compressobj(level, isal_zlib.DEFLATED, -15)
    return zlib.compressobj(level, zlib.DEFLATED, -15)


class _HashingWriter:
    """Pass writes through to a ZIP member, hashing and counting them."""

    def __init__(self, target: IO[bytes], after_write: Callable[[], None]) -> None:
        self.target = target
        self.after_write = after_write
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes, /) -> int:
        self.sha.update(data)
        self.size += len(data)
        self.target.write(data)
        self.after_write()
        return len(data)


class DeflatedFile:
    """One future member, compressed into a file of its own (so members are made in parallel).

    The writer only queues chunks; a thread of its own hashes and compresses them (both
    release the GIL), so producing the text and compressing it use both cores.
    """

    def __init__(self, path: Path, level: int, cancelled: threading.Event | None = None) -> None:
        self.path = path
        self.level = level
        self.cancelled = cancelled or threading.Event()
        self.crc = 0
        self.size = 0
        self.sha = hashlib.sha256()
        self._compressor = new_compressor(level)
        self._out = path.open("xb")
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUED_CHUNKS)
        self._error: BaseException | None = None
        self._ended = False
        self._worker = threading.Thread(
            target=self._drain, name=f"deflate-{path.name}", daemon=True
        )
        self._worker.start()

    def _drain(self) -> None:
        """Hash, count and compress queued chunks until the end marker.

        On any error (a full disk at any write, the final flush included) the error is
        kept for the producer and the queue is emptied up to the end marker, unless that
        marker was taken already: the thread always ends and the producer never blocks.
        """
        ended = False
        try:
            while (data := self._chunks.get()) is not None:
                self.crc = zlib.crc32(data, self.crc)
                self.sha.update(data)
                self.size += len(data)
                self._out.write(self._compressor.compress(data) if self._compressor else data)
            ended = True
            if self._compressor:
                self._out.write(self._compressor.flush())
            self._out.flush()  # a full disk shows here, not at an unchecked close
        except BaseException as error:  # noqa: BLE001 - handed to the producer, which raises it
            self._error = error
            while not ended and self._chunks.get() is not None:  # never leave it blocked
                pass
        finally:
            try:
                self._out.close()
            except OSError as error:  # the buffered rest did not fit either
                self._error = self._error or error

    def write(self, data: bytes, /) -> int:
        """Queue `data` to be hashed and compressed."""
        if self.cancelled.is_set():
            raise BackupCancelled("the backup was called off")
        if self._error is not None:
            raise self._error
        self._chunks.put(bytes(data))
        return len(data)

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._chunks.put(None)
            self._worker.join()

    def finish(self) -> None:
        """Wait until everything is compressed and the file is closed."""
        self._end()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Stop and close whatever happened."""
        self._end()


class BackupCancelled(Exception):
    """Raised inside a parallel export when the backup was called off."""


class _Passthrough:
    """A 'compressor' for bytes that are deflated already."""

    def compress(self, data: bytes) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


class ArchiveWriter:
    """Write a ZIP archive whose members are recorded with size and SHA-256."""

    def __init__(self, path: Path, level: int) -> None:
        self.path = path
        self.level = level
        self.members: list[Member] = []
        method = zipfile.ZIP_STORED if level == 0 else zipfile.ZIP_DEFLATED
        self._zip = zipfile.ZipFile(path, "x", compression=method, allowZip64=True)
        self._synced_at = 0

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=_zip_time())
        info.compress_type = self._zip.compression
        info.external_attr = 0o100600 << 16  # a regular file, owner read/write
        return info

    def _sync_now_and_then(self) -> None:
        """Sync every SYNC_BYTES so no single huge flush stalls the bot's own fsyncs."""
        fp = self._zip.fp
        assert fp is not None
        position = fp.tell()
        if position - self._synced_at >= SYNC_BYTES:
            fp.flush()
            os.fsync(fp.fileno())
            self._synced_at = position

    @contextmanager
    def stream(
        self, name: str, role: str, source: str | None = None, size: int | None = None
    ) -> Iterator[_HashingWriter]:
        """Open member `name` for writing; yield a writer that hashes what it passes on.

        ZIP64 fields are written when the size is unknown or near the 4 GB limit (zipfile
        needs to know before the member starts).
        """
        large = size is None or size >= ZIP64_FROM
        with self._zip.open(self._info(name), "w", force_zip64=large) as handle:
            if self.level:
                # ISA-L (or zlib at our level) in place of zipfile's default compressor;
                # nothing has been written yet, and the output is the same raw deflate
                handle._compressor = new_compressor(self.level)  # type: ignore[attr-defined]
            writer = _HashingWriter(handle, self._sync_now_and_then)
            yield writer
        self.members.append(Member(name, writer.size, writer.sha.hexdigest(), role, source))

    def add_deflated(self, name: str, role: str, member: DeflatedFile) -> None:
        """Copy a member compressed beforehand into the archive, as it is."""
        if member.level != self.level:
            raise ValueError("a member must be compressed at the archive's level")
        large = member.size >= ZIP64_FROM
        with self._zip.open(self._info(name), "w", force_zip64=large) as handle:
            if self.level:
                handle._compressor = _Passthrough()  # type: ignore[attr-defined]
            with member.path.open("rb") as src:
                while chunk := src.read(READ_CHUNK):
                    handle.write(chunk)
                    self._sync_now_and_then()
            # zipfile counted the deflated bytes; the header must name the original ones
            handle._crc = member.crc  # type: ignore[attr-defined]
            handle._file_size = member.size  # type: ignore[attr-defined]
        self.members.append(Member(name, member.size, member.sha.hexdigest(), role))

    def add_file(self, name: str, path: Path, role: str, source: str | None = None) -> None:
        """Copy a file into the archive."""
        size = path.stat().st_size
        shown = size >= PROGRESS_FROM  # small files are done before a line could show them
        if shown:
            progress.phase(f"compressing {path.name}", size)
        with path.open("rb") as handle, self.stream(name, role, source, size) as writer:
            while chunk := handle.read(READ_CHUNK):
                writer.write(chunk)
                if shown:
                    progress.advance(len(chunk))

    def note_original(self, name: str, original: str) -> None:
        """Record the own name of a file stored as member `name` under a cleaned one."""
        if not self.members or self.members[-1].path != name:
            raise ValueError(f"{name} is not the member written last")
        self.members[-1] = dataclasses.replace(self.members[-1], original=original)

    def add_metadata(self, metadata: dict[str, Any]) -> None:
        """Write metadata.json (it lists every other member with its SHA-256)."""
        data = orjson.dumps(metadata, option=orjson.OPT_INDENT_2) + b"\n"
        with self.stream(METADATA_NAME, "metadata", size=len(data)) as writer:
            writer.write(data)

    def close(self) -> None:
        """Finish the ZIP and sync it to disk."""
        self._zip.close()
        with self.path.open("rb+") as handle:
            os.fsync(handle.fileno())

    def abort(self) -> None:
        """Close without caring about the result (the caller deletes the file)."""
        try:
            self._zip.close()
        except (OSError, ValueError, zipfile.BadZipFile):
            logger.debug("closing an aborted archive failed", exc_info=True)


def _zip_time() -> tuple[int, int, int, int, int, int]:
    """Return the local time as a ZIP timestamp."""
    import time

    now = time.localtime()
    return (max(now.tm_year, 1980), now.tm_mon, now.tm_mday, now.tm_hour, now.tm_min, now.tm_sec)


def read_metadata(path: Path) -> dict[str, Any]:
    """Read metadata.json from an archive.

    Raises:
        ArchiveInvalid: not a ZIP, no metadata, or metadata that is not JSON.
    """
    try:
        with open_zip(path) as archive:
            info = archive.getinfo(METADATA_NAME)
            if info.file_size > 64 << 20:
                raise ArchiveInvalid(f"{path.name}: metadata.json is implausibly large")
            data = orjson.loads(archive.read(info))
    except KeyError:
        raise ArchiveInvalid(f"{path.name} has no metadata.json: not one of our backups") from None
    except _METADATA_ERRORS as error:
        raise ArchiveInvalid(f"{path.name} is not a readable ZIP archive: {error}") from None
    except orjson.JSONDecodeError as error:
        raise ArchiveInvalid(f"{path.name}: metadata.json is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ArchiveInvalid(f"{path.name}: metadata.json is not a JSON object")
    return data


def refused_names(path: Path) -> list[str]:
    """The member names (and kinds) restore would refuse, from the central directory.

    Raises:
        ArchiveInvalid: not a readable ZIP.
    """
    try:
        with open_zip(path) as archive:
            return check_infos(archive.infolist())
    except _METADATA_ERRORS as error:
        raise ArchiveInvalid(f"{path.name} is not a readable ZIP archive: {error}") from None


def check_members(
    path: Path,
    metadata: dict[str, Any],
    skip: frozenset[str] = frozenset(),
    phase: str | None = "checking every member",
) -> list[str]:
    """Check an archive as `restore` would: names, layout, then every member's bytes.

    The names follow the one policy restore applies (member_names); the local headers
    must agree with the central directory (zip_structure); each member's CRC and
    SHA-256 must match the metadata. Members in `skip` must be there but are not read
    (the caller checks them as it extracts them). Linear in the member count. Progress
    is reported as `phase` (None: the caller has begun a phase that counts these bytes).
    """
    expected = {m["path"]: m for m in metadata.get("members", [])}
    if phase is not None:
        progress.phase(phase, member_bytes(metadata, skip))
    try:
        with open_zip(path) as archive:
            infos = archive.infolist()
            problems = check_infos(infos) + check_structure(archive)
            if problems:
                return problems
            names = {info.filename for info in infos} - {METADATA_NAME}
            problems += [
                f"{missing}: listed in metadata.json but not in the archive"
                for missing in sorted(set(expected) - names)
            ]
            problems += [
                f"{extra}: in the archive but not listed in metadata.json"
                for extra in sorted(names - set(expected))
            ]
            # the big members decompress on both cores at once (zipfile locks the file
            # for each read, so both threads share one parsed directory)
            with ThreadPoolExecutor(max_workers=2) as pool:
                check = progress.carried(_check_member)
                checks = pool.map(
                    lambda name: check(archive, name, expected[name]),
                    sorted(names & set(expected) - skip),
                )
                for found in checks:
                    problems.extend(found)
    except READ_ERRORS as error:
        return [f"cannot read the archive: {error}"]
    return problems


def member_bytes(metadata: dict[str, Any], skip: frozenset[str] = frozenset()) -> int:
    """Return the size the metadata gives its members (but `skip`), 0 when it is odd."""
    members = metadata.get("members")
    if not isinstance(members, list):
        return 0
    sizes = [m.get("size") for m in members if isinstance(m, dict) and m.get("path") not in skip]
    return sum(s for s in sizes if isinstance(s, int) and s > 0)


def _open_member(archive: zipfile.ZipFile, name: str) -> IO[bytes]:
    """Open a member for reading, inflating with ISA-L when it is there (about 3x zlib)."""
    handle = archive.open(name)
    if isal_zlib is not None and archive.getinfo(name).compress_type == zipfile.ZIP_DEFLATED:
        handle._decompressor = isal_zlib.decompressobj(-15)  # type: ignore[attr-defined]
    return handle


def _check_member(archive: zipfile.ZipFile, name: str, expected: dict[str, Any]) -> list[str]:
    """Check one member's CRC (zipfile does it at the end) and SHA-256."""
    sha = hashlib.sha256()
    size = 0
    try:
        with _open_member(archive, name) as handle:
            while chunk := handle.read(READ_CHUNK):
                sha.update(chunk)
                size += len(chunk)
                progress.advance(len(chunk))
    except READ_ERRORS as error:
        return [f"{name}: {error}"]
    return _compare(name, size, sha.hexdigest(), expected)


def _compare(name: str, size: int, sha256: str, expected: dict[str, Any]) -> list[str]:
    """Compare a member's size and SHA-256 with its metadata entry."""
    problems = []
    if size != expected.get("size"):
        problems.append(f"{name}: {size} bytes, metadata says {expected.get('size')}")
    if sha256 != expected.get("sha256"):
        problems.append(f"{name}: SHA-256 differs from metadata.json")
    return problems


def extract_member(
    path: Path, name: str, target: Path, expected: dict[str, Any] | None = None
) -> list[str]:
    """Extract one member to `target` (a path we choose, never one from the archive).

    With `expected` (its metadata entry), its size and SHA-256 are checked on the way
    (zipfile checks the CRC at the end); the problems are returned.
    """
    sha = hashlib.sha256()
    size = 0
    with (
        open_zip(path) as archive,
        _open_member(archive, name) as src,
        target.open("xb") as dst,
    ):
        while chunk := src.read(READ_CHUNK):
            sha.update(chunk)
            size += len(chunk)
            dst.write(chunk)
            progress.advance(len(chunk))
    return [] if expected is None else _compare(name, size, sha.hexdigest(), expected)
