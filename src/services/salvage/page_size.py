"""The page size of a file whose header is gone, found from how its pages parse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from src.errors import NotADatabase
from src.services.salvage.backup_hint import Backup
from src.services.salvage.fileformat import (
    TABLE_INTERIOR,
    TABLE_LEAF,
    BtreePage,
    Damaged,
    PageFile,
    local_size,
    parse_page,
    varint,
)


def guess_page_size(pages_of: Any, file_size: int) -> int | None:
    """Find the page size of a file whose header is gone, from how its pages parse.

    A b-tree page read with the right size accounts for every byte of its cell content
    area (cells, free blocks, fragments); read with a wrong size it does not.

    Args:
        pages_of: a callable (page_size) -> PageFile.
        file_size: the file's size in bytes.
    """
    best, best_score = None, 0
    for size in (4096, 1024, 2048, 8192, 16384, 32768, 65536, 512):
        count = file_size // size
        if count < 2:
            continue
        step = max(1, count // 500)
        with pages_of(size) as pages:
            score = 0
            for number in range(2, count + 1, step):
                data = pages.page(number)
                page = None if data is None else parse_page(data, number, size)
                score += page is not None and accounted(page, size)
        if score > best_score:
            best, best_score = size, score
    return best


def accounted(page: BtreePage, usable: int, cell_bytes: int | None = None) -> bool:
    """Tell whether a page's cells, free blocks and fragments fill its content area exactly.

    `cell_bytes`: the bytes its cells take, when the caller has decoded them already.
    """
    data = page.data
    start = 100 if page.number == 1 else 0
    content = int.from_bytes(data[start + 5 : start + 7], "big") or 65536
    used = data[start + 7]
    try:
        if cell_bytes is not None:
            used += cell_bytes
        else:
            for offset in page.cells:
                used += _cell_size(page, offset, usable)
        block = int.from_bytes(data[start + 1 : start + 3], "big")
        hops = 0
        while block:
            if not content <= block < usable - 3 or hops > 1000:
                return False
            used += int.from_bytes(data[block + 2 : block + 4], "big")
            block = int.from_bytes(data[block : block + 2], "big")
            hops += 1
    except Damaged:
        return False
    return used == usable - content


def _cell_size(page: BtreePage, offset: int, usable: int) -> int:
    """The bytes one cell takes on its page."""
    pos = offset + 4 if page.interior else offset
    if page.kind == TABLE_INTERIOR:
        return max(4, varint(page.data, pos)[1] - offset)
    size, pos = varint(page.data, pos)
    if page.kind == TABLE_LEAF:
        pos = varint(page.data, pos)[1]
    local = local_size(size, usable, page.kind != TABLE_LEAF)
    return max(4, pos - offset + local + (4 if local < size else 0))


def page_size_without_header(source: Path, backup: Backup | None, notes: list[str]) -> int:
    """Guess the page size of a file whose header is gone (else take the backup's).

    Raises:
        NotADatabase: no page of the file parses as one SQLite wrote, at any size.
    """
    size = source.stat().st_size
    guessed = guess_page_size(lambda s: PageFile(source, s), size)
    if guessed is None and backup is not None and _has_pages(source, backup.page_size):
        notes.append(f"header unreadable: page size {backup.page_size} taken from {backup.name}")
        return backup.page_size
    if guessed is None:
        raise NotADatabase(
            f"{source} is not a SQLite database: no header and no page that SQLite wrote. "
            "Check DATABASE_PATH, or restore a backup: python backup_manager.py restore latest "
            "--confirm"
        )
    notes.append(f"header unreadable: page size {guessed} found from the pages themselves")
    return guessed


def _has_pages(source: Path, page_size: int) -> bool:
    """Tell whether any page of the file reads as a b-tree page of this size."""
    with PageFile(source, page_size) as pages:
        return any(pages.btree(n) is not None for n in range(2, pages.page_count + 1))
