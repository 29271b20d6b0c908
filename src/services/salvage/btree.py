"""B-tree walking: every row a damaged database file's trees still reach.

Each table's b-tree is walked from its root page. Where a page is unreadable, the rowid
range it covered (known from its parent) is noted as missing; the pages no tree reached
are left for the orphan scan (`orphans`). What cannot be read is handed back as lost,
never dropped. One `TreeReader` owns what the walks found: the pages visited, the pages
damaged, the rows lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from src.services.salvage.cells import CellSearch, IndexCellSearch
from src.services.salvage.fileformat import (
    INDEX_INTERIOR,
    INDEX_LEAF,
    PAGE_KINDS,
    TABLE_INTERIOR,
    TABLE_LEAF,
    BtreePage,
    Damaged,
    PageFile,
    decode_record,
    local_size,
    plain_table_leaf,
    record_size,
    serial_size,
    signed64,
    varint,
)
from src.services.salvage.layouts import Bound, Layout, Lost, Row, TableRow, fits
from src.services.salvage.page_size import accounted
from src.services.salvage.sqlite_copy import SourceUnreadable
from src.services.salvage.unexpected import Unexpected

KeyRange = tuple[list[Any] | None, list[Any] | None]  # a WITHOUT ROWID key range (exclusive)


class TreeReader:
    """Walks b-trees of one file, remembering which pages it used and what it lost."""

    def __init__(self, pages: PageFile, encoding: str) -> None:
        self.pages = pages
        self.encoding = encoding
        self.visited: set[int] = set()
        self.damaged: set[int] = set()
        self.lost: list[Lost] = []
        self.unexpected = Unexpected()
        self.found_by_cells = 0  # rows read from leaves whose header or pointers are damaged
        self.cells = CellSearch(pages.usable, self._table_cell)
        self.index_cells = IndexCellSearch(pages.usable, self._index_cell)
        # copies a plain leaf's rows with SQLite's own reader (first rowid, last rowid, how
        # many, the range its parent gives): True when it did; set for one table's walk
        self.copy: Callable[[int, int, int, Bound, Bound], bool] | None = None
        self.leaves_copied = 0
        self.on_damage: Callable[[], None] | None = None  # told when a page is unreadable

    def _claim(self, number: int, kinds: tuple[int, ...]) -> BtreePage | None:
        """Take a page into a tree once; None when it is unreadable or already taken."""
        if number in self.visited:
            return None
        page = self.pages.btree(number)
        if page is None or page.kind not in kinds:
            return None
        self.visited.add(number)
        return page

    def _take(self, number: int, kinds: tuple[int, ...]) -> BtreePage:
        """Claim a page for a tree walk; Damaged when it is unreadable or already taken."""
        page = self._claim(number, kinds)
        if page is None:
            raise Damaged(f"page {number} is not a readable page of this tree")
        return page

    def _unread(self, number: int, layout: Layout, gap: tuple[Bound, Bound]) -> None:
        """Note a page of a table's tree that could not be read, and the rows it held."""
        self.damaged.add(number)
        layout.missing.append(gap)
        if self.on_damage is not None:
            self.on_damage()

    def _unreadable(
        self, number: int, layout: Layout, gap: tuple[Bound, Bound], error: Exception
    ) -> None:
        """Note a page of a tree that could not be read; an error no reader foresaw (not
        `Damaged`) is counted as unexpected too."""
        if not isinstance(error, Damaged):
            self.unexpected.add(f"page {number} of table {layout.name}", error)
        self._unread(number, layout, gap)

    def table_rows(self, layout: Layout) -> Iterator[Row]:
        """Yield the rows of a rowid table's tree; note the ranges it could not read."""
        stack: list[tuple[int, Bound, Bound]] = [(layout.root, None, None)]
        while stack:
            number, low, high = stack.pop()
            try:
                page = self._claim(number, (TABLE_INTERIOR, TABLE_LEAF))
                if page is None:  # a header that cannot be right: look for its cells
                    rows = self._leaf_by_cells(number, layout, low, high)
                elif page.interior:
                    stack.extend(reversed(self._children(page, low, high)))
                    continue
                elif self.copy is not None and self._copied(page, layout, low, high):
                    continue
                else:
                    rows = self._leaf(page, layout, low, high)
            except SourceUnreadable:  # the new database's transaction is lost
                raise
            except Exception as error:  # noqa: BLE001 - a page's bytes never end the repair
                self._unreadable(number, layout, (low, high), error)
                continue
            for rowid, values in rows:
                if (low is None or rowid > low) and (high is None or rowid <= high):
                    yield rowid, values
                else:
                    reason = "rowid outside the range its parent page gives"
                    self.lost.append(Lost(number, layout.name, rowid, reason, values))

    def _copied(self, page: BtreePage, layout: Layout, low: Bound, high: Bound) -> bool:
        """Have SQLite copy a leaf's rows when the page is whole: plain cells in rowid
        order, inside the range its parent gives, filling its content area exactly (else
        cells may hide past its cell count). Any other leaf is read here, cell by cell."""
        plain = plain_table_leaf(page, self.pages.usable, len(layout.stored))
        if plain is None or self.copy is None:
            return False
        first, last, cell_bytes = plain
        if (low is not None and first <= low) or (high is not None and last > high):
            return False
        if not accounted(page, self.pages.usable, cell_bytes):
            return False
        if not self.copy(first, last, len(page.cells), low, high):
            return False
        self.leaves_copied += 1
        return True

    def rows(self, layout: Layout) -> Iterator[Row]:
        """Yield the rows of a table's tree (a WITHOUT ROWID table's too); note what it lost."""
        return self.index_rows(layout) if layout.without_rowid else self.table_rows(layout)

    def set_aside(self, layout: Layout) -> None:
        """Walk a table's tree only to take its pages out of the orphan scan (a virtual
        table's shadow table: rebuilt, not copied); what it lost is noted as for any tree."""
        for _ in self.rows(layout):
            pass

    def _children(self, page: BtreePage, low: Bound, high: Bound) -> list[tuple[int, Bound, Bound]]:
        """Return an interior table page's children with the rowid range of each."""
        children: list[tuple[int, Bound, Bound]] = []
        previous = low
        for offset in page.cells:
            child = int.from_bytes(page.data[offset : offset + 4], "big")
            key = signed64(varint(page.data, offset + 4)[0])
            if (previous is not None and key < previous) or (high is not None and key > high):
                raise Damaged("interior keys out of order")
            children.append((child, previous, key))
            previous = key
        children.append((page.right, previous, high))
        return children

    def leaf_rows(self, page: BtreePage, table: str | None) -> Iterator[tuple[int, list[Any]]]:
        """Yield a table leaf page's rows; cells that do not decode are noted as lost."""
        for offset in page.cells:
            try:
                rowid, values, _ = self._table_cell(page.data, offset)
                yield rowid, values
            except Damaged as error:
                self.lost.append(self._lost_cell(page.data, page.number, offset, table, error))

    def _table_cell(self, data: bytes, offset: int) -> tuple[int, list[Any], int]:
        """Decode the table leaf cell at `offset`: its rowid, values and where it ends.

        A payload size that disagrees with the record's own header (one byte off, say)
        is overruled by the header when the record then decodes whole on the page.
        """
        usable = self.pages.usable
        size, pos = varint(data, offset)
        key, pos = varint(data, pos)
        rowid = signed64(key)
        try:
            if size <= usable - 35 and pos + size <= usable:  # all on the page: the usual case
                values = decode_record(data[pos : pos + size], self.encoding)
                return rowid, values, pos + size
            values = decode_record(self._payload(data, pos, size, index=False), self.encoding)
        except Damaged:
            own = record_size(data[:usable], pos)
            if own == size or local_size(own, usable, False) != own or pos + own > usable:
                raise
            return rowid, decode_record(data[pos : pos + own], self.encoding), pos + own
        local = local_size(size, usable, False)
        return rowid, values, pos + local + (4 if local < size else 0)

    def _read_cells(
        self,
        page: BtreePage,
        layout: Layout,
        rows: list[TableRow],
        spans: list[tuple[int, int]],
        failed: list[tuple[int, Damaged]],
    ) -> int:
        """Read the cells a leaf's pointers lead to into `rows` and `spans`; note in
        `failed` those that do not decode. Returns the bytes the decoded cells take."""
        cell_bytes = 0
        reached: set[int] = set()
        data, usable, encoding = page.data, self.pages.usable, self.encoding
        for offset in page.cells:
            if offset in reached:  # a pointer to a cell reached already
                failed.append((offset, Damaged("two cell pointers lead to one cell")))
                continue
            reached.add(offset)
            short = _short_cell(data, offset, usable)
            if short is not None:  # the usual cell, read here
                rowid, begin, end = short
                try:
                    rows.append((rowid, decode_record(data[begin:end], encoding)))
                except Damaged:
                    pass
                else:
                    spans.append((offset, end))
                    cell_bytes += end - offset if end - offset > 4 else 4
                    continue
            try:
                rowid, values, end = self._table_cell(data, offset)
            except BrokenChain as error:  # the cell is where its pointer says: its chain is not
                lost = self._lost_cell(data, page.number, offset, layout.name, error)
                self.lost.append(lost)
                spans.append((offset, self._cell_end(data, offset)))
                cell_bytes += max(4, spans[-1][1] - offset)
                if lost.rowid is not None:  # its row, whole, may be in the backup
                    layout.missing.append((lost.rowid - 1, lost.rowid))
                continue
            except Damaged as error:
                failed.append((offset, error))
                continue
            rows.append((rowid, values))
            spans.append((offset, end))
            cell_bytes += end - offset if end - offset > 4 else 4
        return cell_bytes

    def _cell_end(self, data: bytes, offset: int) -> int:
        """Where a table leaf cell whose header decodes ends on its page."""
        size, pos = varint(data, offset)
        pos = varint(data, pos)[1]
        local = local_size(size, self.pages.usable, False)
        return pos + local + (4 if local < size else 0)

    def _lost_cell(
        self, data: bytes, number: int, offset: int, table: str | None, error: Damaged
    ) -> Lost:
        """What can be read of a table leaf cell that does not decode."""
        try:
            size, pos = varint(data, offset)
            rowid = signed64(varint(data, pos)[0])
            pos = varint(data, pos)[1]
        except Damaged:
            return Lost(number, table, None, str(error), [])
        local = data[pos : pos + min(size, self.pages.usable)]
        return Lost(number, table, rowid, str(error), partial_record(local, self.encoding))

    def _leaf(self, page: BtreePage, layout: Layout, low: Bound, high: Bound) -> list[TableRow]:
        """The rows of a table leaf. When a cell pointer leads nowhere, the page's content
        area is searched for the cells no pointer reaches."""
        rows: list[TableRow] = []
        spans: list[tuple[int, int]] = []
        failed: list[tuple[int, Damaged]] = []
        cell_bytes = self._read_cells(page, layout, rows, spans, failed)
        start = 100 if page.number == 1 else 0
        floor = start + 8 + 2 * len(page.cells)
        if not failed and not accounted(page, self.pages.usable, cell_bytes):
            # bytes no cell or free block accounts for: a cell count too low leaves
            # pointers past its end that still lead to cells
            found = self.cells.past_the_count(page.data, floor, layout, low, high, rows, spans)
            self.found_by_cells += len(found)
            rows += found
        if failed:
            found = self.cells.scan(page.data, page.number, layout, low, high, rows, spans, floor)
            self.found_by_cells += len(found)
            rows += found
        for offset, problem in failed:  # a pointer into a cell that was found is no lost row
            if not any(a <= offset < b for a, b in spans):
                self.lost.append(
                    self._lost_cell(page.data, page.number, offset, layout.name, problem)
                )
        return rows

    def _leaf_by_cells(
        self, number: int, layout: Layout, low: Bound, high: Bound
    ) -> list[TableRow]:
        """Read a page of a table's tree whose header cannot be right (its kind, cell count
        or content start damaged) as a leaf: the cell pointers that lead to cells that
        decode and fit the table and the rowid range, then a search of the content area.

        Raises:
            Damaged: no row was found (it was taken already, unreadable, or not a leaf).
        """
        data = None if number in self.visited else self.pages.page(number)
        if data is None:
            raise Damaged(f"page {number} is not a readable page of this tree")
        self.visited.add(number)
        try:
            rows = self.cells.by_pointers(data, number, layout, low, high)
        except Damaged:
            self.visited.discard(number)  # perhaps no leaf: free for the orphan scan
            raise
        self.found_by_cells += len(rows)
        return rows

    def root_fits(self, root: int, layout: Layout | None, *, index: bool) -> bool:
        """Tell whether page `root` can be the root of a tree another source names (a
        backup's schema): a b-tree page of the tree's kind (table or index) whose first
        leaf holds records of the table's layout, as many values as its columns (the
        widest) and fitting their kinds (`fits`, 0.9 on average, none impossible).

        Args:
            root: the page number.
            layout: the table's layout; None (an index) checks the kind of page only.
            index: an index's or a WITHOUT ROWID table's tree (else a rowid table's).
        """
        kinds = (INDEX_INTERIOR, INDEX_LEAF) if index else (TABLE_INTERIOR, TABLE_LEAF)
        page = self.pages.btree(root)
        seen: set[int] = set()
        while page is not None and page.kind in kinds and page.interior:
            if page.number in seen or len(seen) > 64:
                return False
            seen.add(page.number)
            first = page.cells[0] if page.cells else None
            child = (
                page.right if first is None else int.from_bytes(page.data[first : first + 4], "big")
            )
            page = self.pages.btree(child)
        if page is None or page.kind not in kinds:
            return False
        if layout is None:
            return True
        records = self._sample(page, index)
        if not records:
            return not page.cells  # the root of an empty table is an empty leaf
        scores = [fits(values, layout) for values in records]
        widest = max(len(values) for values in records)
        return widest == len(layout.stored) and min(scores) > 0 and sum(scores) >= 0.9 * len(scores)

    def _sample(self, page: BtreePage, index: bool, most: int = 20) -> list[list[Any]]:
        """The values of the first records of a leaf that decode (nothing noted as lost)."""
        records = []
        for offset in page.cells[:most]:
            try:
                if index:
                    size, pos = varint(page.data, offset)
                    payload = self._payload(page.data, pos, size, index=True)
                    records.append(decode_record(payload, self.encoding))
                else:
                    records.append(self._table_cell(page.data, offset)[1])
            except Damaged:
                continue
        return records

    def index_rows(self, layout: Layout) -> Iterator[Row]:
        """Yield the records of a WITHOUT ROWID table's tree (interior cells hold rows too).

        A page whose header cannot be right is read cell by cell as a leaf (the pages it
        led to, if it was an interior page, are then placed as unlinked); a leaf whose
        pointers lead to cells that do not decode, or whose cells leave bytes unaccounted
        for, has its content area searched for the rows no pointer reaches.
        """
        stack: list[tuple[int, KeyRange | None]] = [(layout.root, (None, None))]
        while stack:
            number, keys = stack.pop()
            try:
                page = self._claim(number, (INDEX_INTERIOR, INDEX_LEAF))
                if page is None:
                    by_cells = self._index_leaf_by_cells(number, layout)
                    layout.missing.append((None, None))  # what it led to is placed unlinked
                    yield from ((None, values) for values in by_cells)
                    continue
                records = self._index_page(page, layout)
            except Exception as error:  # noqa: BLE001 - a page's bytes never end the repair
                self._unreadable(number, layout, (None, None), error)
                if keys is not None and keys != (None, None):  # a range the backup can fill
                    layout.missing_keys.append(keys)
                continue
            if page.interior:
                stack += self._index_children(page, layout, keys, records)
            yield from records

    def _index_children(
        self, page: BtreePage, layout: Layout, keys: KeyRange | None, records: list[Row]
    ) -> list[tuple[int, KeyRange | None]]:
        """An interior page's children (right-most first), each with the key range it
        holds: between the keys of the cells beside its pointer (both exclusive). None
        where a cell beside it did not decode (no range is known there)."""
        children = [int.from_bytes(page.data[o : o + 4], "big") for o in page.cells]
        if keys is None or len(records) != len(children) or not layout.keys:
            return [(page.right, None), *[(child, None) for child in reversed(children)]]
        bounds: list[list[Any] | None] = [
            keys[0],
            *[values[: layout.keys] for _, values in records],
            keys[1],
        ]
        ranges = [(child, (bounds[i], bounds[i + 1])) for i, child in enumerate(children)]
        return [(page.right, (bounds[-2], bounds[-1])), *reversed(ranges)]

    def _index_page(self, page: BtreePage, layout: Layout) -> list[Row]:
        """The records of a page of a WITHOUT ROWID table's tree; on a leaf whose cells do
        not all decode (or two pointers lead to one), or do not fill its content area,
        those the search of its content area finds too."""
        if page.interior:
            return list(self.index_leaf(page, layout.name))
        records: list[list[Any]] = []
        spans: list[tuple[int, int]] = []
        failed: list[Lost] = []
        for offset in page.cells:
            if any(a == offset for a, _ in spans):
                reason = "two cell pointers lead to one cell"
                failed.append(Lost(page.number, layout.name, None, reason, []))
                continue
            try:
                values, end = self._index_cell(page.data, offset)
            except Damaged as error:
                failed.append(Lost(page.number, layout.name, None, str(error), []))
                continue
            records.append(values)
            spans.append((offset, end))
        if not failed and accounted(page, self.pages.usable):
            return [(None, values) for values in records]
        start = 100 if page.number == 1 else 0
        floor = start + 8 + 2 * len(page.cells)
        found = self.index_cells.scan(page.data, page.number, layout, records, spans, floor)
        self.found_by_cells += len(found)
        self.lost += failed[len(found) :]  # a pointer that led nowhere is no lost row
        return [(None, values) for values in records + found]

    def _index_leaf_by_cells(self, number: int, layout: Layout) -> list[list[Any]]:
        """Read a page of a WITHOUT ROWID table's tree whose header cannot be right as a
        leaf: the records its pointers and content area still hold.

        Raises:
            Damaged: no record was found (it was taken already, unreadable, or no leaf).
        """
        data = None if number in self.visited else self.pages.page(number)
        if data is None:
            raise Damaged(f"page {number} is not a readable page of this tree")
        self.visited.add(number)
        try:
            records = self.index_cells.by_pointers(data, number, layout)
        except Damaged:
            self.visited.discard(number)  # perhaps no leaf: free for the orphan scan
            raise
        self.found_by_cells += len(records)
        return records

    def _index_cell(self, data: bytes, offset: int) -> tuple[list[Any], int]:
        """Decode the index leaf cell at `offset`: its record and where the cell ends."""
        size, pos = varint(data, offset)
        values = decode_record(self._payload(data, pos, size, index=True), self.encoding)
        local = local_size(size, self.pages.usable, True)
        return values, pos + local + (4 if local < size else 0)

    def index_leaf(self, page: BtreePage, table: str | None = None) -> Iterator[Row]:
        """Yield the records of an index page's cells (interior cells hold records too)."""
        for offset in page.cells:
            start = offset + 4 if page.interior else offset
            try:
                size, pos = varint(page.data, start)
                payload = self._payload(page.data, pos, size, index=True)
                yield None, decode_record(payload, self.encoding)
            except Damaged as error:
                self.lost.append(Lost(page.number, table, None, str(error), []))

    def mark_tree(self, root: int) -> None:
        """Take a tree's pages out of the orphan scan (an index or statistics: made again)."""
        stack = [root]
        while stack:
            page = self._claim(stack.pop(), PAGE_KINDS)
            if page is not None and page.interior:
                stack.append(page.right)
                stack.extend(int.from_bytes(page.data[o : o + 4], "big") for o in page.cells)

    def mark_freelist(self, trunk: int) -> None:
        """Take the free pages out of the orphan scan: they hold deleted rows."""
        seen = 0
        while 1 < trunk <= self.pages.page_count and trunk not in self.visited and seen < 1 << 24:
            data = self.pages.page(trunk)
            if data is None:
                return
            self.visited.add(trunk)
            count = int.from_bytes(data[4:8], "big")
            if count > (self.pages.usable - 8) // 4:
                return
            for i in range(count):
                self.visited.add(int.from_bytes(data[8 + 4 * i : 12 + 4 * i], "big"))
            seen += count + 1
            trunk = int.from_bytes(data[:4], "big")

    def orphans(self) -> Iterator[BtreePage]:
        """Yield the table leaf and index pages that no tree reached (an index's interior
        cells hold records too: a WITHOUT ROWID table's rows)."""
        kinds = (TABLE_LEAF, INDEX_LEAF, INDEX_INTERIOR)
        for number in range(2, self.pages.page_count + 1):
            if number in self.visited:
                continue
            page = self.pages.btree(number)
            if page is not None and page.kind in kinds and page.cells:
                yield page

    def _payload(self, data: bytes, pos: int, size: int, *, index: bool) -> bytes:
        """Return a cell's whole payload, following its overflow chain."""
        usable = self.pages.usable
        local = local_size(size, usable, index)
        if pos + local > usable:
            raise Damaged("cell runs past the end of its page")
        if local == size:
            return data[pos : pos + size]
        parts = [data[pos : pos + local]]
        need = size - local
        number = int.from_bytes(data[pos + local : pos + local + 4], "big")
        seen: set[int] = set()
        previous = "the cell"
        while need > 0:
            overflow = self.pages.page(number) if number not in seen else None
            if overflow is None or number < 2:
                raise BrokenChain(
                    f"overflow chain broken: {previous} points to {number}, not a readable page"
                )
            previous = f"overflow page {number}"
            seen.add(number)
            chunk = overflow[4 : 4 + min(need, usable - 4)]
            parts.append(chunk)
            need -= len(chunk)
            number = int.from_bytes(overflow[:4], "big")
        if number != 0:
            raise BrokenChain(f"overflow chain does not end where the payload does ({previous})")
        return b"".join(parts)


def _short_cell(data: bytes, offset: int, usable: int) -> tuple[int, int, int] | None:
    """The usual table leaf cell, read fast: a payload under 128 bytes (all on the page)
    and a rowid of at most three varint bytes (under 2,097,152). Returns the rowid and
    where the payload begins and ends; None for any other cell (read the long way)."""
    if offset + 4 > usable or data[offset] >= 0x80:
        return None
    size, first = data[offset], data[offset + 1]
    if first < 0x80:
        rowid, begin = first, offset + 2
    elif data[offset + 2] < 0x80:
        rowid, begin = ((first & 0x7F) << 7) | data[offset + 2], offset + 3
    elif data[offset + 3] < 0x80:
        rowid = ((first & 0x7F) << 14) | ((data[offset + 2] & 0x7F) << 7) | data[offset + 3]
        begin = offset + 4
    else:
        return None
    return (rowid, begin, begin + size) if begin + size <= usable else None


class BrokenChain(Damaged):
    """A cell whose own bytes are sound, but whose overflow chain is broken: the cell
    pointer led to a real cell (no reason to search the page for lost ones)."""


def partial_record(local: bytes, encoding: str) -> list[Any]:
    """Decode what can be decoded of a record whose payload is incomplete (for lost rows)."""
    values: list[Any] = []
    try:
        header_size, pos = varint(local, 0)
        body = header_size
        while pos < min(header_size, len(local)):
            serial, pos = varint(local, pos)
            whole = decode_record(_single(serial, local, body), encoding) if serial < 12 else None
            size = serial_size(serial)
            if whole is not None:
                values.append(whole[0])
            elif body + size <= len(local):
                chunk = local[body : body + size]
                values.append(chunk if serial % 2 == 0 else chunk.decode(encoding, "replace"))
            else:
                values.append(None)
            body += size
    except Damaged:
        pass
    return values


def _single(serial: int, local: bytes, body: int) -> bytes:
    size = serial_size(serial)
    chunk = local[body : body + size]
    if len(chunk) < size:
        raise Damaged("value cut short")
    return bytes([2, serial]) + chunk
