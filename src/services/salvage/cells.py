"""Cell-level salvage: the rows of a table leaf whose header or cell pointers are damaged.

The pointer entries that still lead to cells, those past a cell count that is too low,
then a scan of the content area (outside the cells found and the free blocks) for
records that decode, lie clear of each other, and fit the table and its rowid range.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from src.services.salvage.fileformat import Damaged
from src.services.salvage.layouts import Bound, Layout, TableRow, fits

TableCell = Callable[[bytes, int], tuple[int, list[Any], int]]  # (rowid, values, end)
IndexCell = Callable[[bytes, int], tuple[list[Any], int]]  # (values, end)
T = TypeVar("T")


class CellSearch:
    """Finds the cells of one table leaf that no sound header or pointer leads to."""

    def __init__(self, usable: int, table_cell: TableCell) -> None:
        self.usable = usable
        self._table_cell = table_cell

    def past_the_count(
        self,
        data: bytes,
        at: int,
        layout: Layout,
        low: Bound,
        high: Bound,
        rows: list[TableRow],
        spans: list[tuple[int, int]],
    ) -> list[TableRow]:
        """Cells reached by the pointer entries past a leaf's cell count; an entry that
        leads to a cell already found (a stale copy) is passed over, one that leads to no
        cell ends the search."""
        found: list[TableRow] = []
        while at + 2 <= min([self.usable, *(a for a, _ in spans)]):
            offset = int.from_bytes(data[at : at + 2], "big")
            at += 2
            if any(a == offset for a, _ in spans):
                continue
            cell = self._fitting_cell(data, offset, layout, low, high, rows + found, spans, at)
            if cell is None:
                break
            found.append(cell[0])
            spans.append(cell[1])
        return found

    def by_pointers(
        self, data: bytes, number: int, layout: Layout, low: Bound, high: Bound
    ) -> list[TableRow]:
        """Read page `number` (`data`), whose header cannot be right (its kind, cell count
        or content start damaged), as a leaf: the cell pointers that lead to cells that
        decode and fit the table and the rowid range, then a search of the content area.

        Raises:
            Damaged: no row was found (perhaps no leaf at all).
        """
        start = 100 if number == 1 else 0
        rows: list[TableRow] = []
        spans: list[tuple[int, int]] = []
        at = start + 8
        # the pointer array, as far as its entries lead to cells (the count may be wrong)
        while at + 2 <= min([self.usable, *(a for a, _ in spans)]):
            offset = int.from_bytes(data[at : at + 2], "big")
            cell = self._fitting_cell(data, offset, layout, low, high, rows, spans, at + 2)
            if cell is None:
                break
            rows.append(cell[0])
            spans.append(cell[1])
            at += 2
        # a leaf's pointers lead to cells in rowid order; bytes that are no leaf (another
        # page, or garbage) hardly ever do: without that, nothing here is taken for rows
        rowids = [rowid for rowid, _ in rows]
        if not rows or rowids != sorted(rowids):
            raise Damaged(f"page {number}: its header is damaged and no cell could be found")
        rows += self.scan(data, number, layout, low, high, rows, spans, at)
        return rows

    def scan(
        self,
        data: bytes,
        number: int,
        layout: Layout,
        low: Bound,
        high: Bound,
        rows: list[TableRow],
        spans: list[tuple[int, int]],
        floor: int,
    ) -> list[TableRow]:
        """Search a leaf's content area, outside the cells already found (`spans`, which
        grows) and its free blocks, for cells that decode and fit."""
        return search(
            data,
            number,
            floor,
            self.usable,
            spans,
            lambda at, found: self._fitting_cell(
                data, at, layout, low, high, rows + found, spans, floor
            ),
        )

    def _fitting_cell(
        self,
        data: bytes,
        offset: int,
        layout: Layout,
        low: Bound,
        high: Bound,
        rows: list[TableRow],
        spans: list[tuple[int, int]],
        floor: int,
    ) -> tuple[TableRow, tuple[int, int]] | None:
        """The cell at `offset` if it decodes, lies on the page past `floor` and clear of
        the cells found, has a rowid in range not seen yet, and its values fit the table."""
        if not floor <= offset < self.usable - 3:
            return None
        try:
            rowid, values, end = self._table_cell(data, offset)
        except Damaged:
            return None
        if end > self.usable or any(a < end and offset < b for a, b in spans):
            return None
        if (low is not None and rowid <= low) or (high is not None and rowid > high):
            return None
        if not values or fits(values, layout) < 0.75 or any(r == rowid for r, _ in rows):
            return None
        return (rowid, values), (offset, end)


class IndexCellSearch:
    """Finds the records of one index leaf (a WITHOUT ROWID table's rows) that no sound
    header or pointer leads to: whole rows only (as many values as the table has columns,
    fitting their kinds), each once."""

    def __init__(self, usable: int, index_cell: IndexCell) -> None:
        self.usable = usable
        self._index_cell = index_cell

    def by_pointers(self, data: bytes, number: int, layout: Layout) -> list[list[Any]]:
        """Read page `number`, whose header cannot be right, as an index leaf: the cell
        pointers that lead to records that fit the table, then a search of the content
        area.

        Raises:
            Damaged: no record was found (perhaps no leaf at all).
        """
        start = 100 if number == 1 else 0
        records: list[list[Any]] = []
        spans: list[tuple[int, int]] = []
        at = start + 8
        while at + 2 <= min([self.usable, *(a for a, _ in spans)]):
            offset = int.from_bytes(data[at : at + 2], "big")
            cell = self._fitting(data, offset, layout, records, spans, at + 2)
            if cell is None:
                break
            records.append(cell[0])
            spans.append(cell[1])
            at += 2
        if not records:  # bytes that are no leaf hardly ever lead to whole rows
            raise Damaged(f"page {number}: its header is damaged and no cell could be found")
        return records + self.scan(data, number, layout, records, spans, at)

    def scan(
        self,
        data: bytes,
        number: int,
        layout: Layout,
        records: list[list[Any]],
        spans: list[tuple[int, int]],
        floor: int,
    ) -> list[list[Any]]:
        """Search the content area, outside the cells found (`spans`, which grows) and the
        free blocks, for records that fit the table and were not found yet."""
        return search(
            data,
            number,
            floor,
            self.usable,
            spans,
            lambda at, found: self._fitting(data, at, layout, records + found, spans, floor),
        )

    def _fitting(
        self,
        data: bytes,
        offset: int,
        layout: Layout,
        records: list[list[Any]],
        spans: list[tuple[int, int]],
        floor: int,
    ) -> tuple[list[Any], tuple[int, int]] | None:
        """The record at `offset` if it decodes, lies past `floor` and clear of the cells
        found, has one value per column of the table, fits their kinds and is new."""
        if not floor <= offset < self.usable - 3:
            return None
        try:
            values, end = self._index_cell(data, offset)
        except Damaged:
            return None
        if end > self.usable or any(a < end and offset < b for a, b in spans):
            return None
        if len(values) != len(layout.stored) or fits(values, layout) < 0.75:
            return None
        if values in records:
            return None
        return values, (offset, end)


def search(
    data: bytes,
    number: int,
    floor: int,
    usable: int,
    spans: list[tuple[int, int]],
    fitting: Callable[[int, list[T]], tuple[T, tuple[int, int]] | None],
) -> list[T]:
    """Search a leaf's content area from `floor`, outside the cells already found (`spans`,
    which grows) and its free blocks, for the cells `fitting` accepts (given an offset and
    what this search found so far: the cell and where it lies, or None)."""
    skip = sorted([*spans, *free_blocks(data, number, floor, usable)])
    found: list[T] = []
    offset = floor
    while offset < usable - 3:
        inside = next((b for a, b in skip if a <= offset < b), None)
        if inside is not None:
            offset = inside
            continue
        cell = fitting(offset, found)
        if cell is None:
            offset += 1
            continue
        found.append(cell[0])
        spans.append(cell[1])
        skip.append(cell[1])
        offset = cell[1][1]
    return found


def free_blocks(data: bytes, number: int, floor: int, usable: int) -> list[tuple[int, int]]:
    """A page's free blocks (deleted cells live there), as far as the chain is sane."""
    start = 100 if number == 1 else 0
    blocks: list[tuple[int, int]] = []
    block = int.from_bytes(data[start + 1 : start + 3], "big")
    while block and floor <= block < usable - 3 and len(blocks) < 1000:
        size = int.from_bytes(data[block + 2 : block + 4], "big")
        if size < 4 or block + size > usable:
            break
        blocks.append((block, block + size))
        following = int.from_bytes(data[block : block + 2], "big")
        if following and following < block + size:
            break
        block = following
    return blocks
