"""Read SQLite's file format directly: header, pages, b-tree cells, records, WAL, journal.

The page-level salvage needs this where SQLite itself refuses a damaged file. Every
parser here checks what it reads and raises `Damaged` instead of guessing; a page that
is not whole (the end of a truncated file) is never read as zeros. Nothing here uses
SQLite: only bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every database file
TABLE_INTERIOR, TABLE_LEAF, INDEX_INTERIOR, INDEX_LEAF = 5, 13, 2, 10
PAGE_KINDS = (TABLE_INTERIOR, TABLE_LEAF, INDEX_INTERIOR, INDEX_LEAF)
_FIXED_SIZES = (0, 1, 2, 3, 4, 6, 8, 8, 0, 0)  # serial types 0-9
_ENCODINGS = {1: "utf-8", 2: "utf-16-le", 3: "utf-16-be"}
_WAL_MAGIC = (0x377F0682, 0x377F0683)
_JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")


class Damaged(Exception):
    """What was read is not what SQLite would have written."""


@dataclass(frozen=True)
class Header:
    """The facts of a database header that the salvage uses."""

    page_size: int
    reserved: int
    page_count: int  # the header's own database size (0 when not to be trusted)
    freelist_trunk: int
    encoding: str
    user_version: int
    application_id: int
    wal: bool  # file format versions 2: the database is in WAL mode


def parse_header(data: bytes) -> Header | None:
    """Parse the 100-byte header; None when it is not a valid SQLite header."""
    if len(data) < 100 or data[:16] != SQLITE_HEADER:
        return None
    page_size = int.from_bytes(data[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if not 512 <= page_size <= 65536 or page_size & (page_size - 1):
        return None
    encoding = _ENCODINGS.get(int.from_bytes(data[56:60], "big"), "utf-8")
    # the in-header size is valid only when written by SQLite 3.7.0+ (change counters agree)
    trusted = data[24:28] == data[92:96]
    return Header(
        page_size=page_size,
        reserved=data[20],
        page_count=int.from_bytes(data[28:32], "big") if trusted else 0,
        freelist_trunk=int.from_bytes(data[32:36], "big"),
        encoding=encoding,
        user_version=int.from_bytes(data[60:64], "big", signed=True),
        application_id=int.from_bytes(data[68:72], "big", signed=True),
        wal=data[18] == 2 and data[19] == 2,
    )


def varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Read SQLite's variable-length integer at `pos`; return it and the next position."""
    result = 0
    try:
        for i in range(8):
            byte = buf[pos + i]
            result = (result << 7) | (byte & 0x7F)
            if byte < 0x80:
                return result, pos + i + 1
        return (result << 8) | buf[pos + 8], pos + 9
    except IndexError:
        raise Damaged("varint past the end of the page") from None


def signed64(value: int) -> int:
    """Read a 64-bit varint as the signed integer it stores (a rowid)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def decode_record(payload: bytes, encoding: str = "utf-8") -> list[Any]:
    """Decode a record's values, checking that header and body account for every byte."""
    if payload and payload[0] < 0x80:  # a short header: many records share it
        header = payload[: payload[0]]
        plan = _PLANS.get(header, _UNPLANNED)
        if plan is _UNPLANNED:
            plan = _plan(header, len(payload))
        if plan is not None:
            return plan.decode(payload, encoding)
    serial_types, body = _serial_types(payload)
    end = len(payload)
    values: list[Any] = []
    append = values.append
    for serial in serial_types:
        if serial >= 12:  # text or a blob, the most common: inlined
            size = (serial - 12) >> 1
            if body + size > end:
                raise Damaged("record body shorter than its header says")
            chunk = payload[body : body + size]
            append(bytes(chunk) if serial & 1 == 0 else chunk.decode(encoding, "replace"))
            body += size
            continue
        size = serial_size(serial)
        if body + size > end:  # checked before reading: a short float is no float
            raise Damaged("record body shorter than its header says")
        if 1 <= serial <= 6:
            append(int.from_bytes(payload[body : body + size], "big", signed=True))
        else:
            append(_value(serial, payload[body : body + size], encoding))
        body += size
    if body != end:
        raise Damaged("record body longer than its header says")
    return values


class _Plan:
    """How to read every record of one header: a struct for the body, the texts to decode
    and the values the header alone gives (NULL, 0, 1)."""

    __slots__ = ("constants", "size", "struct", "texts")

    def __init__(self, layout: struct.Struct, size: int, texts: list[int], constants: list) -> None:
        self.struct, self.size, self.texts, self.constants = layout, size, texts, constants

    def decode(self, payload: bytes, encoding: str) -> list[Any]:
        if len(payload) != self.size:
            raise Damaged(
                "record body shorter than its header says"
                if len(payload) < self.size
                else "record body longer than its header says"
            )
        values = list(self.struct.unpack_from(payload, payload[0]))
        for at in self.texts:
            values[at] = values[at].decode(encoding, "replace")
        for at, constant in self.constants:  # in ascending order of their place
            values.insert(at, constant)
        return values


_PLANS: dict[bytes, _Plan | None] = {}
_UNPLANNED = _Plan(struct.Struct(">"), -1, [], [])  # a marker: no plan made yet
_CODES = {1: "b", 2: "h", 4: "i", 6: "q", 7: "d"}  # 3- and 6-byte integers have none


def _plan(header: bytes, payload_size: int) -> _Plan | None:
    """Work out (and remember) how to read records of this header; None when the generic
    reader must (a serial type of more than one byte, a 3- or 6-byte integer, a header
    size out of range)."""
    if len(_PLANS) > 4096:  # bounded: damaged files make up headers without end
        _PLANS.clear()
    plan = None
    if 1 <= len(header) <= payload_size and header[0] == len(header):
        codes, texts, constants, values = [">"], [], [], 0
        for place, serial in enumerate(header[1:]):
            if serial >= 0x80 or serial in (3, 5, 10, 11):
                break
            if serial in (0, 8, 9):
                constants.append((place, None if serial == 0 else serial - 8))
                continue
            if serial >= 12:
                codes.append(f"{(serial - 12) >> 1}s")
                if serial & 1:
                    texts.append(values)
            else:
                codes.append(_CODES[serial])
            values += 1
        else:
            layout = struct.Struct("".join(codes))
            plan = _Plan(layout, len(header) + layout.size, texts, constants)
    _PLANS[header] = plan
    return plan


def _serial_types(payload: bytes) -> tuple[Any, int]:
    """A record's serial types and its header size (where the body begins)."""
    end = len(payload)
    if end and payload[0] < 0x80:
        header_size = payload[0]
        if not 1 <= header_size <= end:
            raise Damaged("record header size out of range")
        header = payload[1:header_size]
        if max(header, default=0) < 0x80:  # every type a one-byte varint: the usual case
            return header, header_size
    header_size, pos = varint(payload, 0)
    if not 1 <= header_size <= end:
        raise Damaged("record header size out of range")
    serial_types = []
    while pos < header_size:
        serial, pos = varint(payload, pos)
        serial_types.append(serial)
    if pos != header_size:
        raise Damaged("record header overruns itself")
    return serial_types, header_size


def record_size(buf: bytes, pos: int) -> int:
    """The size a record starting at `pos` gives itself: its header plus the values its
    serial types describe (a cell's own payload size may be damaged; this is not).

    Raises:
        Damaged: the record header does not decode within `buf`.
    """
    header_size, at = varint(buf, pos)
    if not 1 <= header_size <= len(buf) - pos:
        raise Damaged("record header size out of range")
    end = pos + header_size
    body = 0
    while at < end:
        serial, at = varint(buf, at)
        body += serial_size(serial)
    if at != end:
        raise Damaged("record header overruns itself")
    return header_size + body


def serial_size(serial: int) -> int:
    """How many body bytes a value of this serial type takes.

    Raises:
        Damaged: serial types 10 and 11, which SQLite reserves.
    """
    if serial < 12:
        if serial in (10, 11):
            raise Damaged("reserved serial type")
        return _FIXED_SIZES[serial]
    return (serial - 12) // 2


def _value(serial: int, chunk: bytes, encoding: str) -> Any:
    """Read one value of a serial type from its bytes (exactly `serial_size(serial)` of them)."""
    if serial == 0:
        return None
    if serial <= 6:
        return int.from_bytes(chunk, "big", signed=True)
    if serial == 7:
        return struct.unpack(">d", chunk)[0]
    if serial in (8, 9):
        return serial - 8
    return bytes(chunk) if serial % 2 == 0 else _text(chunk, encoding)


def _text(data: bytes, encoding: str) -> str:
    """Decode stored text; bytes that are not valid become U+FFFD (SQLite stores any)."""
    return data.decode(encoding, errors="replace")


def local_size(payload: int, usable: int, index: bool) -> int:
    """How many payload bytes a cell keeps on its own page (the rest overflows)."""
    most = ((usable - 12) * 64 // 255) - 23 if index else usable - 35
    if payload <= most:
        return payload
    least = ((usable - 12) * 32 // 255) - 23
    spill = least + (payload - least) % (usable - 4)
    return spill if spill <= most else least


@dataclass(frozen=True)
class BtreePage:
    """A b-tree page whose header and cell pointers are in range."""

    number: int
    kind: int
    data: bytes
    cells: tuple[int, ...]  # cell offsets, in key order
    right: int  # right-most child (interior pages), 0 on leaves

    @property
    def interior(self) -> bool:
        """Tell an interior page from a leaf."""
        return self.kind in (TABLE_INTERIOR, INDEX_INTERIOR)


def parse_page(data: bytes, number: int, usable: int) -> BtreePage | None:
    """Parse a b-tree page header and its cell pointers; None when they cannot be right."""
    start = 100 if number == 1 else 0
    kind = data[start]
    if kind not in PAGE_KINDS:
        return None
    interior = kind in (TABLE_INTERIOR, INDEX_INTERIOR)
    header = start + (12 if interior else 8)
    count = int.from_bytes(data[start + 3 : start + 5], "big")
    content = int.from_bytes(data[start + 5 : start + 7], "big") or 65536
    pointers_end = header + 2 * count
    if pointers_end > usable or (count and not pointers_end <= content <= usable):
        return None
    cells = struct.unpack_from(f">{count}H", data, header)
    if count and not (content <= min(cells) and max(cells) < usable):
        return None
    right = int.from_bytes(data[start + 8 : start + 12], "big") if interior else 0
    return BtreePage(number, kind, data, cells, right)


def plain_table_leaf(  # noqa: PLR0911, PLR0912 - one loop over every cell of the file, inlined
    page: BtreePage, usable: int, columns: int
) -> tuple[int, int, int] | None:
    """Summarise a table leaf whose cells are all plain: every payload on the page (no
    overflow), rowids positive and strictly increasing, each record's header holding at
    most `columns` serial types and none of the reserved ones (10, 11). Returns the first
    and last rowid and the bytes the cells take (for `page_size.accounted`); None for any
    other leaf, or one without cells.

    This is how a repair decides that SQLite's own reader may copy a leaf's rows
    (`salvage.sqlite_copy`). SQLite checks that a record's header and body agree, but it
    reads a reserved serial type as NULL and the values past a table's columns not at all,
    where `decode_record` refuses the record: those leaves are read here, row by row. The
    usual varints (a payload under 16 KiB, a rowid under 2**28) are read inline: this runs
    once per cell of the file.
    """
    data, most = page.data, usable - 35
    find = data.translate(_ELEVEN_AS_TEN).find  # one search for serial types 10 and 11
    previous = 0
    cell_bytes = 0
    try:
        for offset in page.cells:
            size = data[offset]
            if size < 0x80:
                pos = offset + 1
            else:
                byte = data[offset + 1]
                if byte >= 0x80:  # 16 KiB or more: it overflows a page of 64 KiB at most
                    return None
                size = ((size & 0x7F) << 7) | byte
                pos = offset + 2
            rowid = data[pos]
            if rowid < 0x80:
                pos += 1
            elif data[pos + 1] < 0x80:
                rowid = ((rowid & 0x7F) << 7) | data[pos + 1]
                pos += 2
            elif data[pos + 2] < 0x80:
                rowid = ((rowid & 0x7F) << 14) | ((data[pos + 1] & 0x7F) << 7) | data[pos + 2]
                pos += 3
            elif data[pos + 3] < 0x80:
                rowid = (
                    ((rowid & 0x7F) << 21)
                    | ((data[pos + 1] & 0x7F) << 14)
                    | ((data[pos + 2] & 0x7F) << 7)
                    | data[pos + 3]
                )
                pos += 4
            else:
                rowid, pos = varint(data, pos)
                if rowid >= 1 << 63:  # negative
                    return None
            end = pos + size
            if rowid <= previous or size > most or end > usable:
                return None
            header = data[pos]  # its size, the serial types follow (one byte each, mostly)
            if not 0 < header < 0x80 or header > size or data[pos + header - 1] >= 0x80:
                return None  # (a header's last byte ends a varint; header 1: the byte is 1)
            if header > columns + 1 and _values(data[pos + 1 : pos + header]) > columns:
                return None  # more values than the table has columns
            if find(b"\n", pos + 1, pos + header) >= 0 and _reserved(data[pos : pos + header]):
                return None
            previous = rowid
            cell_bytes += end - offset if end - offset > 4 else 4
    except (IndexError, Damaged):
        return None
    if not previous:
        return None
    first = varint(data, varint(data, page.cells[0])[1])[0]
    return first, previous, cell_bytes


_CONTINUED = bytes(range(0x80, 0x100))  # a varint's bytes but its last
_ELEVEN_AS_TEN = bytes.maketrans(b"\x0b", b"\n")


def _values(serial_types: bytes) -> int:
    """How many serial types a record header's bytes (after its size) hold: one per byte
    under 0x80 (a varint's last)."""
    return len(serial_types.translate(None, _CONTINUED))


def _reserved(header: bytes) -> bool:
    """Tell whether a record header (its size first) holds serial type 10 or 11: a byte
    of that value that is a whole varint (the byte before it ends one)."""
    return any(header[at] in (10, 11) and header[at - 1] < 0x80 for at in range(1, len(header)))


class PageFile:
    """The pages of a database file, with committed WAL frames or a hot journal applied.

    Pages are read one at a time (bounded memory); a page past the end of the file,
    or cut short by it, reads as None.
    """

    def __init__(self, path: Path, page_size: int, reserved: int = 0) -> None:
        self.path = path
        self.page_size = page_size
        self.usable = page_size - reserved
        self._file: IO[bytes] = path.open("rb")
        self._file.seek(0, 2)
        self.file_pages = self._file.tell() // page_size
        self.partial_tail = self._file.tell() % page_size
        self._overlay: dict[int, tuple[IO[bytes], int]] = {}
        self._extra: list[IO[bytes]] = []
        self.page_count = self.file_pages
        self.notes: list[str] = []

    def close(self) -> None:
        """Close the database file and any WAL or journal."""
        for handle in (self._file, *self._extra):
            handle.close()

    def __enter__(self) -> PageFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def as_on_disk(self) -> bool:
        """Tell whether every page reads as the file holds it (no -wal or journal applied)."""
        return not self._overlay

    def page(self, number: int) -> bytes | None:
        """Return page `number` (1-based), or None when the file does not hold it whole."""
        if number < 1 or number > self.page_count:
            return None
        handle, offset = self._overlay.get(number, (self._file, (number - 1) * self.page_size))
        handle.seek(offset)
        data = handle.read(self.page_size)
        return data if len(data) == self.page_size else None

    def btree(self, number: int) -> BtreePage | None:
        """Return page `number` as a b-tree page, or None."""
        data = self.page(number)
        return None if data is None else parse_page(data, number, self.usable)

    def apply_wal(self, wal: Path) -> int:
        """Read the committed frames of a -wal file over the pages; return how many."""
        if not wal.exists() or wal.stat().st_size < 32:
            return 0
        handle = wal.open("rb")
        frames = _committed_wal_frames(handle, self.page_size)
        if frames is None:
            handle.close()
            self.notes.append(f"{wal.name}: not a valid WAL for this page size, ignored")
            return 0
        pages, size = frames
        self._extra.append(handle)
        self._overlay.update({n: (handle, off) for n, off in pages.items()})
        if size:
            self.page_count = size
        return len(pages)

    def apply_journal(self, journal: Path) -> int:
        """Roll a hot rollback journal's original pages back over the file; return how many."""
        if not journal.exists() or journal.stat().st_size < 28:
            return 0
        handle = journal.open("rb")
        pages, original_size = _journal_pages(handle, self.page_size)
        if not pages:
            handle.close()
            return 0
        self._extra.append(handle)
        for number, offset in pages.items():
            self._overlay.setdefault(number, (handle, offset))
        if original_size:
            self.page_count = original_size
        return len(pages)


def _committed_wal_frames(handle: IO[bytes], page_size: int) -> tuple[dict[int, int], int] | None:
    """Map page numbers to the offsets of their newest committed WAL frame."""
    header = handle.read(32)
    magic, _version, size, _ckpt = struct.unpack(">IIII", header[:16])
    if magic not in _WAL_MAGIC or size != page_size:
        return None
    big = magic & 1
    salt = header[16:24]
    s1, s2 = _wal_checksum(header[:24], 0, 0, big)
    if (s1, s2) != struct.unpack(">II", header[24:32]):
        return None
    committed: dict[int, int] = {}
    pending: dict[int, int] = {}
    db_size = 0
    offset = 32
    while True:
        frame = handle.read(24)
        data = handle.read(page_size)
        if len(frame) < 24 or len(data) < page_size or frame[8:16] != salt:
            break
        s1, s2 = _wal_checksum(frame[:8], s1, s2, big)
        s1, s2 = _wal_checksum(data, s1, s2, big)
        if (s1, s2) != struct.unpack(">II", frame[16:24]):
            break
        number, commit = struct.unpack(">II", frame[:8])
        pending[number] = offset + 24
        if commit:
            committed.update(pending)
            pending.clear()
            db_size = commit
        offset += 24 + page_size
    return committed, db_size


def _wal_checksum(data: bytes, s1: int, s2: int, big: int) -> tuple[int, int]:
    """SQLite's WAL checksum over `data` (a multiple of 8 bytes)."""
    words = struct.unpack(f"{'>' if big else '<'}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s1 = (s1 + words[i] + s2) & 0xFFFFFFFF
        s2 = (s2 + words[i + 1] + s1) & 0xFFFFFFFF
    return s1, s2


def _journal_pages(handle: IO[bytes], page_size: int) -> tuple[dict[int, int], int]:
    """Map page numbers to their original content's offset in a hot rollback journal.

    A journal is a chain of segments, each a sector-sized header and its page records
    (a new segment starts each time the writer synced the journal to spill its cache).
    """
    handle.seek(0, 2)
    end = handle.tell()
    pages: dict[int, int] = {}
    original = 0
    start = 0
    while start + 28 <= end:
        handle.seek(start)
        header = handle.read(28)
        if header[:8] != _JOURNAL_MAGIC:
            break
        records, nonce, size_before, sector, size = struct.unpack(">IIIII", header[8:28])
        if size != page_size or not sector or sector & (sector - 1):
            break
        original = original or size_before
        if records == 0xFFFFFFFF:  # synchronous=OFF journals give no count: read to the end
            records = (end - start - sector) // (page_size + 8)
        offset = start + sector
        for _ in range(records):
            handle.seek(offset)
            record = handle.read(page_size + 8)
            if len(record) < page_size + 8 or not _journal_record_ok(record, nonce, page_size):
                return pages, original
            pages.setdefault(int.from_bytes(record[:4], "big"), offset + 4)
            offset += page_size + 8
        if records == 0:
            break
        start = -(-offset // sector) * sector  # the next segment starts on a sector boundary
    return pages, original


def _journal_record_ok(record: bytes, nonce: int, page_size: int) -> bool:
    """Check a journal record's checksum (the nonce plus every 200th byte of the page)."""
    total = nonce + sum(record[4 + i] for i in range(page_size - 200, 0, -200))
    return total & 0xFFFFFFFF == int.from_bytes(record[-4:], "big")
