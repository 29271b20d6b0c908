"""Unit tests of the file-format reader (src/services/salvage/fileformat.py): a record that is not
what SQLite would have written is `Damaged`, never another exception, whatever its bytes."""

from __future__ import annotations

import struct

import pytest

from src.services.salvage.fileformat import Damaged, decode_record


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
