"""Unit tests of the file-format reader (src/services/salvage/fileformat.py): a record that is not
what SQLite would have written is `Damaged`, never another exception, whatever its bytes."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from src.services.salvage.fileformat import (
    BtreePage,
    Damaged,
    decode_record,
    parse_page,
    plain_table_leaf,
    varint,
)
from src.services.salvage.page_size import accounted


def record(serials: list[int], body: bytes) -> bytes:
    """A record with one-byte serial types: header size, serial types, body."""
    return bytes([len(serials) + 1, *serials]) + body


def test_decode_record_reads_every_kind_of_value():
    body = b"\x05" + struct.pack(">d", 2.5) + b"hi" + b"\x00\x01"
    values = decode_record(record([0, 1, 7, 8, 9, 17, 16], body))
    assert values == [None, 5, 2.5, 0, 1, "hi", b"\x00\x01"]


@pytest.mark.parametrize("left", [0, 1, 7])
def test_a_float_with_fewer_than_8_bytes_left_is_damaged(left):
    with pytest.raises(Damaged, match="shorter"):
        decode_record(record([7], b"\x40" * left))


@pytest.mark.parametrize(("serial", "left"), [(1, 0), (2, 1), (4, 3), (5, 5), (6, 7)])
def test_an_integer_with_fewer_bytes_left_than_its_size_is_damaged(serial, left):
    with pytest.raises(Damaged, match="shorter"):
        decode_record(record([serial], b"\x7f" * left))


def test_text_and_blob_longer_than_the_body_are_damaged():
    with pytest.raises(Damaged, match="shorter"):
        decode_record(record([13 + 2 * 10], b"abc"))
    with pytest.raises(Damaged, match="shorter"):
        decode_record(record([12 + 2 * 10], b"abc"))


def test_a_float_cut_short_before_the_next_value_is_damaged_not_misread():
    # the float takes the next value's bytes: the body is then one byte short for the int
    with pytest.raises(Damaged):
        decode_record(record([7, 1], struct.pack(">d", 1.0)))


def test_invalid_utf8_text_is_replaced_not_refused():
    assert decode_record(record([13 + 2 * 2], b"\xb0a")) == ["\ufffda"]


# --- the fast decoder against a plain one, on any bytes ---------------------------------


def reference_decode(payload: bytes) -> list[object]:
    """The record format read the slow, obvious way (SQLite's file format, section 2.1)."""

    def read_varint(at: int) -> tuple[int, int]:
        value = 0
        for i in range(9):
            if at + i >= len(payload):
                raise Damaged("past the end")
            byte = payload[at + i]
            if i == 8:
                return (value << 8) | byte, at + 9
            value = (value << 7) | (byte & 0x7F)
            if byte < 0x80:
                return value, at + i + 1
        raise AssertionError("unreachable")

    header_size, at = read_varint(0)
    if not 1 <= header_size <= len(payload):
        raise Damaged("header size")
    types = []
    while at < header_size:
        serial, at = read_varint(at)
        types.append(serial)
    if at != header_size:
        raise Damaged("header overrun")
    sizes = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8, 7: 8, 8: 0, 9: 0}
    values: list[object] = []
    body = header_size
    for serial in types:
        if serial in (10, 11):
            raise Damaged("reserved")
        size = sizes[serial] if serial < 12 else (serial - 12) // 2
        chunk = payload[body : body + size]
        if len(chunk) < size:
            raise Damaged("short")
        if serial == 0:
            values.append(None)
        elif serial <= 6:
            values.append(int.from_bytes(chunk, "big", signed=True))
        elif serial == 7:
            values.append(struct.unpack(">d", chunk)[0])
        elif serial < 12:
            values.append(serial - 8)
        elif serial % 2 == 0:
            values.append(bytes(chunk))
        else:
            values.append(chunk.decode("utf-8", "replace"))
        body += size
    if body != len(payload):
        raise Damaged("long")
    return values


def _same(a: list[object], b: list[object]) -> bool:
    return repr(a) == repr(b)  # NaN floats compare unequal to themselves


@given(st.binary(max_size=300))
@settings(max_examples=3000, deadline=None)
def test_the_fast_decoder_agrees_with_the_plain_one_on_any_bytes(payload):
    try:
        expected = reference_decode(payload)
    except Damaged:
        with pytest.raises(Damaged):
            decode_record(payload)
        return
    assert _same(decode_record(payload), expected)


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.integers(-(2**63), 2**63 - 1),
            st.floats(allow_nan=False),
            st.text(max_size=200),
            st.binary(max_size=200),
        ),
        max_size=40,
    )
)
@settings(max_examples=500, deadline=None)
def test_records_sqlite_writes_decode_to_what_was_stored(values):
    import sqlite3

    conn = sqlite3.connect(":memory:")
    columns = ", ".join(f"c{i}" for i in range(len(values))) or "c0"
    conn.execute(f"CREATE TABLE t ({columns})")
    if values:
        conn.execute(f"INSERT INTO t VALUES ({', '.join('?' * len(values))})", values)
        (stored,) = conn.execute(f"SELECT {columns} FROM t").fetchall()
        conn.close()
        # the record SQLite builds, rebuilt here with the reference rules, must round-trip
        payload = _encode(list(stored))
        assert _same(decode_record(payload), reference_decode(payload))
        assert _same(decode_record(payload), list(stored))


def _encode(values: list[object]) -> bytes:
    """A record as SQLite would store these values (integers in the smallest width)."""

    def varint(value: int) -> bytes:
        if value < 0x80:
            return bytes([value])
        out = [value & 0x7F]
        value >>= 7
        while value:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        return bytes(reversed(out))

    serials, body = [], b""
    for value in values:
        if value is None:
            serials.append(0)
        elif isinstance(value, int):
            for serial, size in ((1, 1), (2, 2), (3, 3), (4, 4), (5, 6), (6, 8)):
                if -(1 << (8 * size - 1)) <= value < 1 << (8 * size - 1):
                    serials.append(serial)
                    body += value.to_bytes(size, "big", signed=True)
                    break
        elif isinstance(value, float):
            serials.append(7)
            body += struct.pack(">d", value)
        elif isinstance(value, str):
            data = value.encode("utf-8", "surrogatepass")
            serials.append(13 + 2 * len(data))
            body += data
        else:
            serials.append(12 + 2 * len(value))
            body += bytes(value)
    header = b"".join(varint(s) for s in serials)
    size = len(header) + 1
    if size >= 0x80:
        size += 1
    return varint(size) + header + body


# --- plain_table_leaf: may SQLite's own reader copy this leaf? -----------------------------


def _varint(value: int) -> bytes:
    """SQLite's varint (1-9 bytes) of a 64-bit value."""
    value &= (1 << 64) - 1
    if value >= 1 << 56:
        out = [value & 0xFF]
        value >>= 8
        for _ in range(8):
            out.insert(0, (value & 0x7F) | 0x80)
            value >>= 7
        return bytes(out)
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.insert(0, (value & 0x7F) | 0x80)
        value >>= 7
    return bytes(out)


def _leaf(cells: list[tuple[int, bytes]], usable: int = 4096) -> tuple[BtreePage, int]:
    """A table leaf page holding (rowid, payload) cells in this order; and their bytes."""
    page = bytearray(usable)
    end = usable
    pointers = []
    for rowid, payload in cells:
        cell = _varint(len(payload)) + _varint(rowid) + payload
        end -= len(cell)
        page[end : end + len(cell)] = cell
        pointers.append(end)
    page[0] = 0x0D
    page[3:5] = len(cells).to_bytes(2, "big")
    page[5:7] = end.to_bytes(2, "big")
    for i, pointer in enumerate(pointers):
        page[8 + 2 * i : 10 + 2 * i] = pointer.to_bytes(2, "big")
    parsed = parse_page(bytes(page), 2, usable)
    assert parsed is not None
    return parsed, usable - end


def _payload(size: int) -> bytes:
    """A record of `size` bytes: a text value, or NULLs when it is shorter than 3 bytes."""
    if size < 3:
        return bytes([size, *[0] * (size - 1)])
    text = size - 2 if size - 2 < 58 else size - 3  # a serial type of 1 or 2 bytes
    serial = 13 + 2 * text
    encoded = bytes([serial]) if serial < 0x80 else bytes([0x80 | serial >> 7, serial & 0x7F])
    return bytes([1 + len(encoded)]) + encoded + b"x" * text


@pytest.mark.parametrize(
    "rowids", [[1, 2, 3], [127, 128, 16383, 16384], [2**21 - 1, 2**21, 2**28 - 1, 2**28, 2**40]]
)
@pytest.mark.parametrize("size", [3, 127, 128, 1000, 4061])
def test_a_plain_leaf_gives_its_first_and_last_rowid_and_the_bytes_its_cells_take(rowids, size):
    page, cell_bytes = _leaf([(r, _payload(size)) for r in rowids][: max(1, 4000 // (size + 12))])
    taken = page.cells
    first, last, summed = plain_table_leaf(page, 4096, 5) or (None, None, None)
    assert first == rowids[0] and last == rowids[len(taken) - 1]
    assert summed == cell_bytes
    assert accounted(page, 4096, summed)


@pytest.mark.parametrize(
    ("why", "cells"),
    [
        ("rowids out of order", [(5, b"\x01"), (4, b"\x01")]),
        ("the same rowid twice", [(5, b"\x01"), (5, b"\x01")]),
        ("rowid 0", [(0, b"\x01"), (1, b"\x01")]),
        ("a negative rowid (nine varint bytes)", [(-3, b"\x01"), (1, b"\x01")]),
    ],
)
def test_a_leaf_that_is_not_plain_is_read_row_by_row(why, cells):
    page, _ = _leaf(cells)
    assert plain_table_leaf(page, 4096, 5) is None, why


@pytest.mark.parametrize(
    ("why", "payload"),
    [
        ("a reserved serial type 10", record([1, 10, 1], b"\x05\x06")),
        ("a reserved serial type 11", record([11], b"")),
        ("more values than the table's 5 columns", record([1] * 6, bytes(6))),
        ("a header cut inside a varint", bytes([2, 0x81]) + b"x"),
        ("a header larger than the record", bytes([9, 1]) + b"\x05"),
    ],
)
def test_a_record_sqlite_would_read_otherwise_than_decode_record_is_read_row_by_row(why, payload):
    # SQLite reads a reserved serial type as NULL and ignores values past the columns
    page, _ = _leaf([(1, record([1], b"\x07")), (2, payload), (3, record([1], b"\x08"))])
    assert plain_table_leaf(page, 4096, 5) is None, why
    ok, _ = _leaf([(1, record([1], b"\x07")), (2, record([1, 1, 1, 1, 1], bytes(5)))])
    assert plain_table_leaf(ok, 4096, 5) is not None
    # a text of 63 bytes: serial type 139, two varint bytes 0x81 0x0b (no reserved type)
    long_text = bytes([3, 0x81, 0x0B]) + b"y" * 63
    assert plain_table_leaf(_leaf([(1, long_text)])[0], 4096, 5) is not None


def test_a_leaf_whose_payload_overflows_is_read_row_by_row():
    page, _ = _leaf([(1, _payload(10))])
    data = bytearray(page.data)
    cell = page.cells[0]
    data[cell : cell + 3] = _varint(4096 - 34) + _varint(1)  # more than a page keeps
    assert plain_table_leaf(parse_page(bytes(data), 2, 4096), 4096, 5) is None


def test_a_cell_running_past_the_page_or_a_leaf_without_cells_is_not_plain():
    page, _ = _leaf([(1, b"\x01"), (2, b"\x01")])
    data = bytearray(page.data)
    last = max(page.cells)
    data[last] = 0x7F  # its payload size now runs past the end of the page
    assert plain_table_leaf(parse_page(bytes(data), 2, 4096), 4096, 5) is None
    empty, _ = _leaf([])
    assert plain_table_leaf(empty, 4096, 5) is None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 2**62), min_size=1, max_size=40, unique=True),
    st.integers(2, 90),  # a cell takes 4 bytes at least, as SQLite writes them
)
def test_plain_table_leaf_agrees_with_the_plain_varint_reader(rowids, size):
    rowids.sort()
    page, cell_bytes = _leaf([(r, _payload(size)) for r in rowids])
    assert plain_table_leaf(page, 4096, 5) == (rowids[0], rowids[-1], cell_bytes)
    reread = [varint(page.data, varint(page.data, c)[1])[0] for c in page.cells]
    assert reread == rowids
