"""Check a ZIP's structure before trusting it: member count, local headers, overlaps.

Python's zipfile reads the central directory and trusts it; Info-ZIP's `unzip` reads the
local header in front of each member as well. An archive whose two disagree (another
name, method, CRC or size in the local header; members overlapping, as in a ZIP bomb)
passes one and fails the other. We refuse it, so our `verify` agrees with `unzip -t`:
a flag that differs (bar deflate's level hint), and a data descriptor counted after its
member's data, as `unzip` counts it when it looks for overlaps.
The member count is read from the end record first, so an archive of absurd size is
refused before its central directory is parsed at all.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path
from typing import IO

MAX_MEMBERS = 10_000  # ours hold a few dozen; the cap keeps an absurd archive cheap

_LOCAL = struct.Struct("<4sHHHHHIIIHH")  # the local file header, 30 bytes
_LOCAL_MAGIC = b"PK\x03\x04"
_END_MAGIC = b"PK\x05\x06"
_END64_LOCATOR_MAGIC = b"PK\x06\x07"
_END64_MAGIC = b"PK\x06\x06"
_DESCRIPTOR_MAGIC = b"PK\x07\x08"
_DATA_DESCRIPTOR = 0x08  # general purpose flag: CRC and sizes follow the data
_ENCRYPTED = 0x01
_UTF8 = 0x800
_COMPRESSION_OPTIONS = 0x06  # deflate's level hint: `unzip` lets the two differ, so do we
_FLAG_NAMES = {
    _ENCRYPTED: "encryption",
    _DATA_DESCRIPTOR: "a data descriptor",
    _UTF8: "UTF-8 names",
}
_FULL = 0xFFFFFFFF


class TooManyMembers(zipfile.BadZipFile):
    """An archive with more members than any backup of ours could have."""


def member_count(path: Path) -> int | None:
    """Read how many members an archive says it has, from its end record (cheap).

    Returns:
        The count, or None when no end record is found (zipfile will say why). The end
        record holds at most 65,535; a bigger count is read from the ZIP64 end record.
    """
    counted = _said_count(path)
    return None if counted is None else counted[0]


def _said_count(path: Path) -> tuple[int, bool] | None:
    """The member count the end records give, and whether it is exact (False: the 16-bit
    field is full and no ZIP64 record says more, so there may be more)."""
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        tail_start = max(0, size - (22 + 0xFFFF))  # the record and its longest comment
        handle.seek(tail_start)
        tail = handle.read()
        at = tail.rfind(_END_MAGIC)
        if at < 0 or len(tail) - at < 22:
            return None
        count = int(struct.unpack_from("<H", tail, at + 10)[0])
        exact = count < 0xFFFF
        locator = at - 20
        if locator >= 0 and tail[locator : locator + 4] == _END64_LOCATOR_MAGIC:
            offset = int(struct.unpack_from("<Q", tail, locator + 8)[0])
            if offset < size:
                handle.seek(offset)
                record = handle.read(56)
                if len(record) == 56 and record[:4] == _END64_MAGIC:
                    count = max(count, int(struct.unpack_from("<Q", record, 32)[0]))
                    exact = True
        return count, exact


def open_zip(path: Path) -> zipfile.ZipFile:
    """Open an archive for reading, refusing one with an absurd member count first.

    Raises:
        TooManyMembers: more than MAX_MEMBERS members (a BadZipFile).
        zipfile.BadZipFile, OSError: not a readable ZIP.
    """
    counted = _said_count(path)
    if counted is not None and counted[0] > MAX_MEMBERS:
        count, exact = counted
        said = f"{count:,}" if exact else f"{count:,} or more"
        raise TooManyMembers(
            f"it says it has {said} members, more than any backup has (at most {MAX_MEMBERS:,})"
        )
    archive = zipfile.ZipFile(path)
    if len(archive.infolist()) > MAX_MEMBERS:
        count = len(archive.infolist())
        archive.close()
        raise TooManyMembers(
            f"it has {count:,} members, more than any backup has (at most {MAX_MEMBERS:,})"
        )
    return archive


def check_structure(archive: zipfile.ZipFile) -> list[str]:
    """Compare every local header with the central directory; find overlapping members.

    Args:
        archive: an archive opened with open_zip.

    Returns:
        The problems, one line each (empty when `unzip -t` would find the layout sound).
    """
    fp = archive.fp
    if fp is None:
        return ["the archive is closed"]
    problems: list[str] = []
    ranges: list[tuple[int, int, str]] = []
    for info in archive.infolist():
        fp.seek(info.header_offset)
        raw = fp.read(_LOCAL.size)
        if len(raw) < _LOCAL.size:
            problems.append(f"{info.filename}: its local header lies past the end of the file")
            continue
        magic, _version, flags, method, _time, _date, crc, packed, size, name_len, extra_len = (
            _LOCAL.unpack(raw)
        )
        if magic != _LOCAL_MAGIC:
            problems.append(f"{info.filename}: no local header where the directory says")
            continue
        name = fp.read(name_len)
        extra = fp.read(extra_len)
        problems += _compare(info, flags, method, name, (crc, packed, size), extra)
        start = info.header_offset
        end = start + _LOCAL.size + name_len + extra_len + info.compress_size
        if flags & _DATA_DESCRIPTOR:
            end += _descriptor_length(fp, end, info, extra)
        ranges.append((start, end, info.filename))
    problems += _overlaps(ranges, archive.start_dir)
    return problems


def _compare(
    info: zipfile.ZipInfo,
    flags: int,
    method: int,
    name: bytes,
    sums: tuple[int, int, int],
    extra: bytes,
) -> list[str]:
    """What one local header says differently from its central directory entry."""
    label = info.filename
    problems = []
    if name != info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437"):
        problems.append(f"{label}: the local header names another file")
    if method != info.compress_type:
        problems.append(f"{label}: the local header names another compression method")
    differ = (flags ^ info.flag_bits) & ~_COMPRESSION_OPTIONS
    if differ:
        said = [what for bit, what in _FLAG_NAMES.items() if differ & bit] or ["their flags"]
        problems.append(
            f"{label}: the local header and the directory disagree on {', '.join(said)}"
        )
    if flags & _DATA_DESCRIPTOR:
        return problems  # CRC and sizes follow the data; zipfile checks the CRC on reading
    crc, packed, size = sums
    if _FULL in (packed, size):
        packed, size = _zip64_sizes(extra, packed, size)
    if crc != info.CRC:
        problems.append(f"{label}: the local header has another CRC than the directory")
    if packed != info.compress_size or size != info.file_size:
        problems.append(f"{label}: the local header has other sizes than the directory")
    return problems


def _descriptor_length(fp: IO[bytes], at: int, info: zipfile.ZipInfo, extra: bytes) -> int:
    """How many bytes the data descriptor after a member's data takes (as `unzip` counts).

    CRC and two sizes: 4 bytes each, 8 for ZIP64 sizes; 4 more for the optional signature.
    The longer reading is taken wherever one could be meant, so a member never looks
    shorter to us than to `unzip`.
    """
    fp.seek(at)
    signature = 4 if fp.read(4) == _DESCRIPTOR_MAGIC else 0
    zip64 = _has_zip64_field(extra) or max(info.compress_size, info.file_size) >= _FULL
    return signature + 4 + (16 if zip64 else 8)


def _has_zip64_field(extra: bytes) -> bool:
    """Whether a local header's extra field holds a ZIP64 record."""
    at = 0
    while at + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, at)
        if kind == 0x0001:
            return True
        at += 4 + length
    return False


def _zip64_sizes(extra: bytes, packed: int, size: int) -> tuple[int, int]:
    """Read the ZIP64 sizes of a local header's extra field (the ones marked 0xFFFFFFFF)."""
    at = 0
    while at + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, at)
        body = extra[at + 4 : at + 4 + length]
        if kind == 0x0001:
            values = [int(v) for v in struct.unpack_from(f"<{len(body) // 8}Q", body)]
            if size == _FULL and values:
                size = values.pop(0)
            if packed == _FULL and values:
                packed = values.pop(0)
            break
        at += 4 + length
    return packed, size


def _overlaps(ranges: list[tuple[int, int, str]], directory: int) -> list[str]:
    """Members must not share bytes, nor reach into the central directory."""
    problems = []
    previous_end, previous = 0, ""
    for start, end, name in sorted(ranges):
        if start < previous_end:
            problems.append(f"{name}: overlaps {previous} (a crafted archive)")
        if end > directory:
            problems.append(f"{name}: its data runs into the central directory")
        previous_end, previous = max(previous_end, end), name
    return problems
