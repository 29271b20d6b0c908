"""Page-level salvage: find every row a damaged database file still holds.

Each table's b-tree is walked from its root page. Where a page is unreadable, the rowid
range it covered (known from its parent) is noted as missing; leaf pages that no tree
reached are then matched to a table with such a gap by their column count and value
types. What cannot be placed is handed back as lost, never dropped.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from typing import Any

from src.errors import BackupError, disk_error
from src.services import table_kinds
from src.services.integrity import quote_identifier, sqlite_message
from src.services.sandbox import check_schema_sql, guard
from src.services.sqlite_file import (
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
    parse_page,
    record_size,
    serial_size,
    signed64,
    varint,
)

logger = logging.getLogger(__name__)

Bound = int | None  # a rowid bound; None is unbounded
Row = tuple[int | None, list[Any]]  # (rowid or None, the record's values)
TableRow = tuple[int, list[Any]]  # a row of a rowid table: (rowid, the record's values)


@dataclass(frozen=True)
class SchemaRow:
    """One row of sqlite_master."""

    type: str
    name: str
    tbl_name: str
    rootpage: int
    sql: str | None


@dataclass
class Layout:
    """How one table's records map onto its columns."""

    name: str
    root: int
    sql: str
    without_rowid: bool
    stored: list[str]  # the columns in record order
    affinities: list[str]  # per stored column
    insertable: list[bool]  # per stored column (generated columns are not)
    alias: int | None  # record position of the INTEGER PRIMARY KEY (stored as NULL)
    shadow: bool = False
    missing: list[tuple[Bound, Bound]] = field(default_factory=list)  # unread rowid ranges


@dataclass
class Lost:
    """A row that could not be placed in a table, with why."""

    page: int
    table: str | None
    rowid: int | None
    reason: str
    values: list[Any]


def read_schema(reader: TreeReader) -> tuple[list[SchemaRow], bool]:
    """Read sqlite_master from page 1's tree; return its rows and whether all of it was read."""
    rows = []
    lost_before = len(reader.lost)
    master = Layout(
        "sqlite_master",
        1,
        "",
        False,
        ["type", "name", "tbl_name", "rootpage", "sql"],
        ["TEXT", "TEXT", "TEXT", "INTEGER", "TEXT"],
        [True] * 5,
        None,
    )
    for _rowid, values in reader.table_rows(master):
        if len(values) == 5 and isinstance(values[1], str):
            kind, name, table, root, sql = values
            # damaged bytes can hold any kind of value: a root that is no page number is no
            # root, SQL that is no text is no SQL
            root = root if isinstance(root, int) else 0
            rows.append(SchemaRow(str(kind), name, str(table), root, sql_text(sql)))
    return rows, not master.missing and len(reader.lost) == lost_before


def sql_text(value: Any) -> str | None:
    """Return a schema row's SQL when it is text (a damaged row can hold a number or BLOB)."""
    return value if isinstance(value, str) else None


def build_layouts(schema: list[SchemaRow], notes: list[str] | None = None) -> list[Layout]:
    """Work out each table's record layout by creating its schema in memory.

    Args:
        schema: the rows of sqlite_master, as read (perhaps damaged).
        notes: where to say which entries got no layout, or another name.

    Returns:
        A layout per table SQLite could create, named as SQLite names the created table
        (the recovered database creates it from the same SQL). An entry whose SQL does not
        create a new table has none: its pages are read as pages no table reaches.
    """
    notes = [] if notes is None else notes
    layouts = []
    created: list[tuple[SchemaRow, str]] = []
    with closing(guard(sqlite3.connect(":memory:"))) as conn:  # the schema may be crafted
        for row in schema:
            if row.type != "table" or not row.sql or table_kinds.is_virtual(row.sql):
                continue
            if row.rootpage < 2:
                continue
            if row.name == "sqlite_sequence":
                layouts.append(
                    Layout(
                        row.name,
                        row.rootpage,
                        row.sql,
                        False,
                        ["name", "seq"],
                        ["BLOB", "BLOB"],
                        [True, True],
                        None,
                    )
                )
                continue
            if row.name.startswith("sqlite_"):
                continue  # sqlite_stat*: statistics, made again by ANALYZE
            name = _create(conn, row, notes)
            if name is not None:
                created.append((row, name))
        # shadow tables by the names the recovered database will give them
        entries = [table_kinds.Entry(r.type, r.name, r.sql) for r in schema if r.type == "table"]
        entries += [table_kinds.Entry("table", name, row.sql) for row, name in created]
        shadow_of = table_kinds.shadow_tables(entries)
        layouts += [_layout(conn, row, name, name in shadow_of) for row, name in created]
    return layouts


def _create(conn: sqlite3.Connection, row: SchemaRow, notes: list[str]) -> str | None:
    """Create a schema entry's table in memory; return the name SQLite gave it, or None."""
    before = _table_names(conn)
    try:
        check_schema_sql("table", str(row.sql))
        conn.execute(str(row.sql))
    except (sqlite3.DatabaseError, UnicodeDecodeError) as error:  # UntrustedSQL too
        notes.append(
            f"schema entry {row.name!r}: SQLite cannot create its table "
            f"({sqlite_message(error)}); its rows are looked for as unlinked pages"
        )
        return None
    created = _table_names(conn) - before
    if len(created) != 1:  # e.g. IF NOT EXISTS of a table another entry created
        notes.append(
            f"schema entry {row.name!r}: its SQL creates no table of its own; its rows are "
            "looked for as unlinked pages"
        )
        return None
    name = created.pop()
    if name != row.name:  # the name or the SQL is damaged: the SQL decides, as it will
        notes.append(
            f"schema entry {row.name!r} creates the table {name!r}: its rows go into {name!r}"
        )
    return name


def _table_names(conn: sqlite3.Connection) -> set[str]:
    """The tables of a connection's main schema, but SQLite's own (AUTOINCREMENT's first
    table also makes sqlite_sequence)."""
    tables = conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
    return {name for (name,) in tables if not table_kinds.is_internal(name)}


def _layout(conn: sqlite3.Connection, row: SchemaRow, table: str, shadow: bool) -> Layout:
    """Read the layout of `table` (created from `row`) from PRAGMA table_xinfo / index_xinfo."""
    name = quote_identifier(table)
    info = conn.execute(f"PRAGMA main.table_xinfo({name})").fetchall()
    # hidden: 2 = VIRTUAL generated (not stored), 3 = STORED generated (stored, not insertable)
    columns = {cid: (col, str(decl or ""), hidden) for cid, col, decl, _nn, _d, _pk, hidden in info}
    without_rowid = bool(
        conn.execute(
            "SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?", (table,)
        ).fetchone()[0]
    )
    if without_rowid:
        pk_index = next(
            r[1] for r in conn.execute(f"PRAGMA main.index_list({name})") if r[3] == "pk"
        )
        order = [
            r[1] for r in conn.execute(f"PRAGMA main.index_xinfo({quote_identifier(pk_index)})")
        ]
    else:
        order = [cid for cid, (_c, _d, hidden) in columns.items() if hidden != 2]
    stored = [columns[cid] for cid in order]
    alias = None
    if not without_rowid:
        pk = [r for r in info if r[5] > 0]
        origins = [r[3] for r in conn.execute(f"PRAGMA main.index_list({name})")]
        if len(pk) == 1 and str(pk[0][2]).upper() == "INTEGER" and "pk" not in origins:
            alias = order.index(pk[0][0])
    return Layout(
        name=table,
        root=row.rootpage,
        sql=str(row.sql),
        without_rowid=without_rowid,
        stored=[c for c, _d, _h in stored],
        affinities=[affinity(d) for _c, d, _h in stored],
        insertable=[h == 0 for _c, _d, h in stored],
        alias=alias,
        shadow=shadow,
    )


def affinity(declared: str) -> str:
    """SQLite's column affinity for a declared type."""
    upper = declared.upper()
    if "INT" in upper:
        return "INTEGER"
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if not upper or "BLOB" in upper:
        return "BLOB"
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def fits(values: list[Any], layout: Layout) -> float:
    """How well a record's values fit a table's column affinities.

    0.0 when a value cannot be in such a column at all (a number in a TEXT column,
    a value in a rowid alias column); otherwise the mean of 1 per value of the
    column's own kind and 0.5 per value that is possible but unusual there.
    """
    if len(values) > len(layout.stored):
        return 0.0
    if layout.alias is not None and layout.alias < len(values) and values[layout.alias] is not None:
        return 0.0
    total = 0.0
    for value, kind in zip(values, layout.affinities, strict=False):
        score = _fit(value, kind)
        if score == 0.0:
            return 0.0
        total += score
    return total / max(len(values), 1)


def _fit(value: Any, kind: str) -> float:
    """1 for a value of the column's own kind, 0.5 for a possible one, 0 for an impossible one."""
    if value is None or kind == "BLOB":
        return 1.0
    if kind == "TEXT":
        return 1.0 if isinstance(value, str) else 0.5 if isinstance(value, bytes) else 0.0
    if isinstance(value, int):
        return 1.0
    if isinstance(value, float):
        return 0.5 if kind == "INTEGER" else 1.0
    if isinstance(value, str) and _numeric(value):
        return 0.0  # a numeric column would have stored it as a number
    return 0.5


_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _numeric(text: str) -> bool:
    return bool(_NUMBER.fullmatch(text))


class Unexpected:
    """Errors no reader foresaw, kept from ending a repair: each is logged with its traceback
    and counted, and the repair goes on without the page or the step it happened in."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def add(self, where: str, error: Exception) -> None:
        """Count an unexpected error in one page or step; re-raise a full disk or our own."""
        if isinstance(error, BackupError) or disk_error(error) is not None:
            raise error
        logger.error("repair: unexpected error in %s; going on without it", where, exc_info=error)
        self.errors.append(f"{where}: {type(error).__name__}: {error}")

    @contextmanager
    def step(self, where: str) -> Iterator[None]:
        """Run one step of a repair; an unexpected error in it is counted, not raised."""
        try:
            yield
        except Exception as error:  # noqa: BLE001 - one step's failure never ends the repair
            self.add(where, error)


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
                else:
                    rows = self._leaf(page, layout, low, high)
            except Damaged:
                self._unread(number, layout, (low, high))
                continue
            except Exception as error:  # noqa: BLE001 - a page's bytes never end the repair
                self.unexpected.add(f"page {number} of table {layout.name}", error)
                self._unread(number, layout, (low, high))
                continue
            for rowid, values in rows:
                if (low is None or rowid > low) and (high is None or rowid <= high):
                    yield rowid, values
                else:
                    reason = "rowid outside the range its parent page gives"
                    self.lost.append(Lost(number, layout.name, rowid, reason, values))

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
        rowid = signed64(varint(data, pos)[0])
        pos = varint(data, pos)[1]
        try:
            values = decode_record(self._payload(data, pos, size, index=False), self.encoding)
        except Damaged:
            own = record_size(data[:usable], pos)
            if own == size or local_size(own, usable, False) != own or pos + own > usable:
                raise
            return rowid, decode_record(data[pos : pos + own], self.encoding), pos + own
        local = local_size(size, usable, False)
        return rowid, values, pos + local + (4 if local < size else 0)

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
        for offset in page.cells:
            if any(a == offset for a, _ in spans):  # a pointer to a cell reached already
                failed.append((offset, Damaged("two cell pointers lead to one cell")))
                continue
            try:
                rowid, values, end = self._table_cell(page.data, offset)
            except Damaged as error:
                failed.append((offset, error))
                continue
            rows.append((rowid, values))
            spans.append((offset, end))
        start = 100 if page.number == 1 else 0
        floor = start + 8 + 2 * len(page.cells)
        if not failed and not accounted(page, self.pages.usable):
            # bytes no cell or free block accounts for: a cell count too low leaves
            # pointers past its end that still lead to cells
            found = self._past_the_count(page.data, floor, layout, low, high, rows, spans)
            self.found_by_cells += len(found)
            rows += found
        if failed:
            found = self._scan_cells(page.data, page.number, layout, low, high, rows, spans, floor)
            self.found_by_cells += len(found)
            rows += found
        for offset, problem in failed:  # a pointer into a cell that was found is no lost row
            if not any(a <= offset < b for a, b in spans):
                self.lost.append(
                    self._lost_cell(page.data, page.number, offset, layout.name, problem)
                )
        return rows

    def _past_the_count(
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
        while at + 2 <= min([self.pages.usable, *(a for a, _ in spans)]):
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
        start = 100 if number == 1 else 0
        rows: list[TableRow] = []
        spans: list[tuple[int, int]] = []
        at = start + 8
        # the pointer array, as far as its entries lead to cells (the count may be wrong)
        while at + 2 <= min([self.pages.usable, *(a for a, _ in spans)]):
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
            self.visited.discard(number)  # perhaps no leaf: free for the orphan scan
            raise Damaged(f"page {number}: its header is damaged and no cell could be found")
        rows += self._scan_cells(data, number, layout, low, high, rows, spans, at)
        self.found_by_cells += len(rows)
        return rows

    def _scan_cells(
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
        usable = self.pages.usable
        skip = sorted([*spans, *self._free_blocks(data, number, floor)])
        found: list[TableRow] = []
        offset = floor
        while offset < usable - 3:
            inside = next((b for a, b in skip if a <= offset < b), None)
            if inside is not None:
                offset = inside
                continue
            cell = self._fitting_cell(data, offset, layout, low, high, rows + found, spans, floor)
            if cell is None:
                offset += 1
                continue
            found.append(cell[0])
            spans.append(cell[1])
            skip.append(cell[1])
            offset = cell[1][1]
        return found

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
        if not floor <= offset < self.pages.usable - 3:
            return None
        try:
            rowid, values, end = self._table_cell(data, offset)
        except Damaged:
            return None
        if end > self.pages.usable or any(a < end and offset < b for a, b in spans):
            return None
        if (low is not None and rowid <= low) or (high is not None and rowid > high):
            return None
        if not values or fits(values, layout) < 0.75 or any(r == rowid for r, _ in rows):
            return None
        return (rowid, values), (offset, end)

    def _free_blocks(self, data: bytes, number: int, floor: int) -> list[tuple[int, int]]:
        """The page's free blocks (deleted cells live there), as far as the chain is sane."""
        start = 100 if number == 1 else 0
        blocks: list[tuple[int, int]] = []
        block = int.from_bytes(data[start + 1 : start + 3], "big")
        while block and floor <= block < self.pages.usable - 3 and len(blocks) < 1000:
            size = int.from_bytes(data[block + 2 : block + 4], "big")
            if size < 4 or block + size > self.pages.usable:
                break
            blocks.append((block, block + size))
            following = int.from_bytes(data[block : block + 2], "big")
            if following and following < block + size:
                break
            block = following
        return blocks

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
        """Yield the records of a WITHOUT ROWID table's tree (interior cells hold rows too)."""
        stack = [layout.root]
        while stack:
            number = stack.pop()
            try:
                page = self._take(number, (INDEX_INTERIOR, INDEX_LEAF))
                records = list(self.index_leaf(page, layout.name))
            except Damaged:
                self._unread(number, layout, (None, None))
                continue
            except Exception as error:  # noqa: BLE001 - a page's bytes never end the repair
                self.unexpected.add(f"page {number} of table {layout.name}", error)
                self._unread(number, layout, (None, None))
                continue
            if page.interior:
                stack.append(page.right)
                stack.extend(int.from_bytes(page.data[o : o + 4], "big") for o in page.cells)
            yield from records

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
                raise Damaged(
                    f"overflow chain broken: {previous} points to {number}, not a readable page"
                )
            previous = f"overflow page {number}"
            seen.add(number)
            chunk = overflow[4 : 4 + min(need, usable - 4)]
            parts.append(chunk)
            need -= len(chunk)
            number = int.from_bytes(overflow[:4], "big")
        if number != 0:
            raise Damaged(f"overflow chain does not end where the payload does ({previous})")
        return b"".join(parts)


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


def accounted(page: BtreePage, usable: int) -> bool:
    """Tell whether a page's cells, free blocks and fragments fill its content area exactly."""
    data = page.data
    start = 100 if page.number == 1 else 0
    content = int.from_bytes(data[start + 5 : start + 7], "big") or 65536
    used = data[start + 7]
    try:
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
