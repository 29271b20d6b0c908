"""Orphan placement: the leaf pages no tree reached, given to the table whose gap they fill.

A table leaf goes to the damaged table whose missing rowid range, columns and value kinds
fit its rows best (none, or a tie: its rows are lost, with the guess); an index page to
the one damaged WITHOUT ROWID table its records fit exactly. With the schema unknown in
part, the records of index pages no tree reaches are kept as lost (they may be a WITHOUT
ROWID table's rows).
"""

from __future__ import annotations

from typing import Any

from src.services.salvage.btree import TreeReader
from src.services.salvage.fileformat import INDEX_INTERIOR, INDEX_LEAF, TABLE_LEAF, BtreePage
from src.services.salvage.layouts import Layout, Lost, fits
from src.services.salvage.result import TableCount
from src.services.salvage.writer import RecoveredDatabase


def place_orphans(
    reader: TreeReader,
    layouts: list[Layout],
    target: RecoveredDatabase,
    counts: dict[str, TableCount],
    unknown: bool = False,
) -> None:
    """Give the leaf pages no tree reached to the table whose gap they fill, or lose them
    (an index leaf's records only when the schema is `unknown` in part)."""
    for page in reader.orphans():
        with reader.unexpected.step(f"page {page.number}, which no table reaches"):
            _place_orphan(reader, page, layouts, target, counts, unknown)


def _place_orphan(
    reader: TreeReader,
    page: BtreePage,
    layouts: list[Layout],
    target: RecoveredDatabase,
    counts: dict[str, TableCount],
    unknown: bool = False,
) -> None:
    """Give one leaf page no tree reached to the table whose gap it fills, or lose its rows."""
    if page.kind in (INDEX_LEAF, INDEX_INTERIOR):
        placed = False
        if any(t.without_rowid and t.missing for t in layouts):
            placed = _place_records(reader, page, layouts, target, counts)
        if unknown and not placed:
            reason = "on an index page no tree reaches (a WITHOUT ROWID row or an index entry)"
            for _, values in reader.index_leaf(page):
                target.lose(Lost(page.number, None, None, reason, values))
        return
    if page.kind != TABLE_LEAF:
        return
    lost_before = len(reader.lost)
    rows = list(reader.leaf_rows(page, None))
    if not rows:
        return
    layout, guess = _owner(rows, [t for t in layouts if not t.without_rowid and t.missing])
    for lost in reader.lost[lost_before:]:  # cells of this page that did not decode
        lost.table = guess
    if layout is not None and layout.shadow:
        return  # a virtual table's own index data: rebuilt, not copied
    if layout is None:
        for rowid, values in rows:
            target.lose(Lost(page.number, guess, rowid, "on a page no table reaches", values))
        return
    reader.visited.add(page.number)
    counts[layout.name].from_unlinked_pages += target.insert(layout, rows, page.number)


def _place_records(
    reader: TreeReader,
    page: Any,
    layouts: list[Layout],
    target: RecoveredDatabase,
    counts: dict[str, TableCount],
) -> bool:
    """Give an unlinked index page to a damaged WITHOUT ROWID table it fits exactly; tell
    whether it did."""
    records = list(reader.index_leaf(page))
    if not records:
        return False
    widths = {len(values) for _, values in records}
    fitting = [
        t
        for t in layouts
        if t.without_rowid
        and t.missing
        and widths == {len(t.stored)}
        and all(fits(values, t) > 0 for _, values in records)
    ]
    if len(fitting) == 1 and not fitting[0].shadow:
        reader.visited.add(page.number)
        counts[fitting[0].name].from_unlinked_pages += target.insert(
            fitting[0], records, page.number
        )
        return True
    return False


def _owner(
    rows: list[tuple[int, list[Any]]], damaged: list[Layout]
) -> tuple[Layout | None, str | None]:
    """The damaged table whose missing rowid range, columns and value kinds fit these rows best."""
    low, high = min(r for r, _ in rows), max(r for r, _ in rows)
    widest = max(len(values) for _, values in rows)
    scored = []
    for layout in damaged:
        if widest > len(layout.stored) or not any(_within(low, high, g) for g in layout.missing):
            continue
        score = min(fits(values, layout) for _, values in rows)
        if score > 0:
            scored.append((len(layout.stored) == widest, score, layout))
    if not scored:
        return None, None
    best = max(scored, key=lambda s: (s[0], s[1]))
    ties = [s[2] for s in scored if (s[0], s[1]) == (best[0], best[1])]
    if len(ties) == 1:
        return best[2], best[2].name
    return None, " | ".join(t.name for t in ties)


def _within(low: int, high: int, gap: tuple[int | None, int | None]) -> bool:
    start, end = gap
    return (start is None or low > start) and (end is None or high <= end)
