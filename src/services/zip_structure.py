"""Check a ZIP's structure before trusting it: member count, local headers, overlaps.

Python's zipfile reads the central directory and trusts it; Info-ZIP's `unzip` reads the
local header in front of each member as well. An archive whose two disagree (another
name, method, CRC or size in the local header; members overlapping, as in a ZIP bomb)
passes one and fails the other. We refuse it, so our `verify` agrees with `unzip -t`.
The member count is read from the end record first, so an archive of absurd size is
refused before its central directory is parsed at all.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

MAX_MEMBERS = 10_000  # ours hold a few dozen; the cap keeps an absurd archive cheap

_LOCAL = struct.Struct("<4sHHHHHIIIHH")  # the local file header, 30 bytes
_LOCAL_MAGIC = b"PK\x03\x04"
_END_MAGIC = b"PK\x05\x06"
_END64_LOCATOR_MAGIC = b"PK\x06\x07"
_END64_MAGIC = b"PK\x06\x06"
_DATA_DESCRIPTOR = 0x08  # general purpose flag: CRC and sizes follow the data
_ENCRYPTED = 0x01
_FULL = 0xFFFFFFFF


class TooManyMembers(zipfile.BadZipFile):
    """An archive with more members than any backup of ours could have."""


def member_count(path: Path) -> int | None:
    """Read how many members an archive says it has, from its end record (cheap).

    Returns:
        The count, or None when no end record is found (zipfile will say why).
    """
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
        locator = at - 20
        if locator >= 0 and tail[locator : locator + 4] == _END64_LOCATOR_MAGIC:
            offset = int(struct.unpack_from("<Q", tail, locator + 8)[0])
            if offset < size:
                handle.seek(offset)
                record = handle.read(56)
                if len(record) == 56 and record[:4] == _END64_MAGIC:
                    count = max(count, int(struct.unpack_from("<Q", record, 32)[0]))
        return count


def open_zip(path: Path) -> zipfile.ZipFile:
    """Open an archive for reading, refusing one with an absurd member count first.

    Raises:
        TooManyMembers: more than MAX_MEMBERS members (a BadZipFile).
        zipfile.BadZipFile, OSError: not a readable ZIP.
    """
    count = member_count(path)
    if count is not None and count > MAX_MEMBERS:
        raise TooManyMembers(
            f"it says it has {count} members, more than any backup has (at most {MAX_MEMBERS})"
        )
    archive = zipfile.ZipFile(path)
    if len(archive.infolist()) > MAX_MEMBERS:
        archive.close()
        raise TooManyMembers(f"it has more than {MAX_MEMBERS} members")
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
        ranges.append(
            (start, start + _LOCAL.size + name_len + extra_len + info.compress_size, info.filename)
        )
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
    if (flags ^ info.flag_bits) & _ENCRYPTED:
        problems.append(f"{label}: the local header and the directory disagree on encryption")
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
