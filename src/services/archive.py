"""Write backup ZIPs member by member (hashing as we go) and read them back to verify."""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from src.errors import ArchiveInvalid

logger = logging.getLogger(__name__)

try:  # ISA-L: the same raw deflate, about four times faster than zlib at level 1 here
    from isal import isal_zlib
except ImportError:  # pragma: no cover - the wheel exists for the usual platforms
    isal_zlib = None  # type: ignore[assignment]

METADATA_NAME = "metadata.json"
READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class Member:
    """One file inside an archive."""

    path: str
    size: int
    sha256: str
    role: str
    source: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the member as metadata records it."""
        data = {"path": self.path, "size": self.size, "sha256": self.sha256, "role": self.role}
        if self.source is not None:
            data["source"] = self.source
        return data


def deflate_engine(level: int) -> str:
    """Name the compressor a compression level uses."""
    if level == 0:
        return "stored"
    if level <= 3 and isal_zlib is not None:
        return f"isal level {level}"
    return f"zlib level {level}"


class _HashingWriter:
    """Pass writes through to a ZIP member, hashing and counting them."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes, /) -> int:
        self.sha.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)


class ArchiveWriter:
    """Write a ZIP archive whose members are recorded with size and SHA-256."""

    def __init__(self, path: Path, level: int, large: bool = False) -> None:
        self.path = path
        self.level = level
        self.large = large
        self.members: list[Member] = []
        method = zipfile.ZIP_STORED if level == 0 else zipfile.ZIP_DEFLATED
        self._zip = zipfile.ZipFile(path, "x", compression=method, allowZip64=True)

    @contextmanager
    def stream(self, name: str, role: str, source: str | None = None) -> Iterator[_HashingWriter]:
        """Open member `name` for writing; yield a writer that hashes what it passes on."""
        info = zipfile.ZipInfo(name, date_time=_zip_time())
        info.compress_type = self._zip.compression
        info.external_attr = 0o100600 << 16  # a regular file, owner read/write
        with self._zip.open(info, "w", force_zip64=self.large) as handle:
            self._use_fast_deflate(handle)
            writer = _HashingWriter(handle)
            yield writer
        self.members.append(Member(name, writer.size, writer.sha.hexdigest(), role, source))

    def _use_fast_deflate(self, handle: IO[bytes]) -> None:
        """Swap zlib for ISA-L's compatible raw deflate before anything is written."""
        if self.level == 0 or (self.level > 3 or isal_zlib is None):
            if self.level > 0:
                handle._compressor = zlib.compressobj(  # type: ignore[attr-defined]
                    self.level, zlib.DEFLATED, -15
                )
            return
        handle._compressor = isal_zlib.compressobj(  # type: ignore[attr-defined]
            self.level, isal_zlib.DEFLATED, -15
        )

    def add_file(self, name: str, path: Path, role: str, source: str | None = None) -> None:
        """Copy a file into the archive."""
        with path.open("rb") as handle, self.stream(name, role, source) as writer:
            while chunk := handle.read(READ_CHUNK):
                writer.write(chunk)

    def add_metadata(self, metadata: dict[str, Any]) -> None:
        """Write metadata.json (it lists every other member with its SHA-256)."""
        data = orjson.dumps(metadata, option=orjson.OPT_INDENT_2) + b"\n"
        with self.stream(METADATA_NAME, "metadata") as writer:
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
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(METADATA_NAME)
            if info.file_size > 64 << 20:
                raise ArchiveInvalid(f"{path.name}: metadata.json is implausibly large")
            data = orjson.loads(archive.read(info))
    except KeyError:
        raise ArchiveInvalid(f"{path.name} has no metadata.json: not one of our backups") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as error:
        raise ArchiveInvalid(f"{path.name} is not a readable ZIP archive: {error}") from None
    except orjson.JSONDecodeError as error:
        raise ArchiveInvalid(f"{path.name}: metadata.json is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ArchiveInvalid(f"{path.name}: metadata.json is not a JSON object")
    return data


def check_members(path: Path, metadata: dict[str, Any]) -> list[str]:
    """Re-read every member: CRC and SHA-256 against the metadata; return the problems."""
    problems: list[str] = []
    expected = {m["path"]: m for m in metadata.get("members", [])}
    try:
        with zipfile.ZipFile(path) as archive:
            names = {info.filename for info in archive.infolist()} - {METADATA_NAME}
            for missing in sorted(set(expected) - names):
                problems.append(f"{missing}: listed in metadata.json but not in the archive")
            for extra in sorted(names - set(expected)):
                problems.append(f"{extra}: in the archive but not listed in metadata.json")
            for name in sorted(names & set(expected)):
                problems.extend(_check_member(archive, name, expected[name]))
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        problems.append(f"cannot read the archive: {error}")
    return problems


def _check_member(archive: zipfile.ZipFile, name: str, expected: dict[str, Any]) -> list[str]:
    """Check one member's CRC (zipfile does it at the end) and SHA-256."""
    sha = hashlib.sha256()
    size = 0
    try:
        with archive.open(name) as handle:
            while chunk := handle.read(READ_CHUNK):
                sha.update(chunk)
                size += len(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as error:
        return [f"{name}: {error}"]
    problems = []
    if size != expected.get("size"):
        problems.append(f"{name}: {size} bytes, metadata says {expected.get('size')}")
    if sha.hexdigest() != expected.get("sha256"):
        problems.append(f"{name}: SHA-256 differs from metadata.json")
    return problems


def extract_member(path: Path, name: str, target: Path) -> None:
    """Extract one member to `target` (a path we choose, never one from the archive)."""
    with zipfile.ZipFile(path) as archive, archive.open(name) as src, target.open("xb") as dst:
        while chunk := src.read(READ_CHUNK):
            dst.write(chunk)
