"""Page-level salvage: every row a damaged SQLite file still holds, read from its pages.

One owner per job: `fileformat` (header, varints, records, pages, WAL and journal
frames; bytes only), `btree` (walking the trees: pages visited, damaged, lost) with
`cells` (the cells of a leaf whose header or pointers are damaged), `layouts` (how a
table's records map onto its columns), `schema` (sqlite_master, completed from a backup),
`page_size` (when the header is gone), `orphans` (the pages no tree reaches), `writer`
(the recovered database), `second_source` (the rows of lost pages from a backup),
`backup_hint` (what a backup tells), `check` (the result read back), and `run`, the one
entry point: `salvage(source, hint, into)`.
"""

from src.services.salvage.backup_hint import Backup, SchemaHint, read_backup
from src.services.salvage.result import SalvageResult, TableCount
from src.services.salvage.run import salvage

__all__ = ["Backup", "SalvageResult", "SchemaHint", "TableCount", "read_backup", "salvage"]
