"""Pure reading of Litestream's positions: what the replica holds, how far behind it is."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

SNAPSHOT_LEVEL = 9  # Litestream 0.5 keeps full snapshots at level 9


@dataclass(frozen=True)
class LtxFile:
    """One LTX file on the replica: a range of transactions, written at `created`."""

    level: int
    min_txid: int
    max_txid: int
    size: int
    created: datetime


@dataclass(frozen=True)
class ReplicaPositions:
    """What the replica can restore: the newest transaction and the oldest snapshot."""

    newest_txid: int = 0
    newest_at: datetime | None = None
    oldest_restorable: datetime | None = None  # the oldest snapshot: --at must be after it
    files: int = 0


def parse_ltx(listing: Any) -> list[LtxFile]:
    """Read `litestream ltx -level all -json` (a list of objects; null when empty)."""
    files = []
    for item in listing or []:
        files.append(
            LtxFile(
                level=int(item["level"]),
                min_txid=int(item["min_txid"], 16),
                max_txid=int(item["max_txid"], 16),
                size=int(item.get("size", 0)),
                created=datetime.fromisoformat(str(item["timestamp"]).replace("Z", "+00:00")),
            )
        )
    return files


def positions(files: list[LtxFile]) -> ReplicaPositions:
    """The newest replicated transaction (and when it was written), the oldest snapshot."""
    if not files:
        return ReplicaPositions()
    newest = max(files, key=lambda f: (f.max_txid, -f.level, f.created))
    snapshots = [f.created for f in files if f.level == SNAPSHOT_LEVEL]
    return ReplicaPositions(
        newest_txid=newest.max_txid,
        newest_at=newest.created,
        oldest_restorable=min(snapshots) if snapshots else None,
        files=len(files),
    )


def read_ltx_header(name: str, head: bytes, level: int = 0) -> LtxFile | None:
    """One LTX file from its name (`<min>-<max>.ltx`, hex) and its first 40 bytes: the magic,
    the transaction range and the time (ms since the epoch) Litestream took it at; None when
    it is not one."""
    if len(head) < 40 or head[:4] != b"LTX1":
        return None
    min_txid, max_txid, stamp = struct.unpack(">QQq", head[16:40])
    if name != f"{min_txid:016x}-{max_txid:016x}.ltx":
        return None
    return LtxFile(level, min_txid, max_txid, 0, datetime.fromtimestamp(stamp / 1000, UTC))


def oldest_unreplicated(local: list[LtxFile], replica_txid: int) -> datetime | None:
    """When Litestream took the oldest transaction the replica does not hold (None: none)."""
    waiting = [f.created for f in local if f.max_txid > replica_txid]
    return min(waiting) if waiting else None


@dataclass
class LagTracker:
    """How long the oldest local transaction not on the replica has waited.

    Each observation notes when a local transaction id was first seen; the lag is the age
    of the first one the replica does not hold yet (0 when it holds them all), to within
    one observation interval.
    """

    pending: list[tuple[int, datetime]] = field(default_factory=list)  # (txid, first seen)
    replica_txid: int = 0  # the newest one the replica was seen to hold

    def observe(self, local_txid: int, replica_txid: int, now: datetime) -> timedelta:
        """Note the local and replicated positions at `now`; return the lag."""
        self.replica_txid = max(self.replica_txid, replica_txid)
        replica_txid = self.replica_txid
        if local_txid > replica_txid and (not self.pending or self.pending[-1][0] < local_txid):
            self.pending.append((local_txid, now))
        self.pending = [(txid, seen) for txid, seen in self.pending if txid > replica_txid]
        return now - self.pending[0][1] if self.pending else timedelta(0)

    def oldest_waiting_since(self) -> datetime | None:
        """When the oldest transaction not yet replicated was first seen (None: none)."""
        return self.pending[0][1] if self.pending else None
