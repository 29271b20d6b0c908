#!/usr/bin/env python3
"""Benchmark continuous replication (Litestream) on a file:// replica.

Usage:
    python benchmarks/bench_replication.py [--seconds 20] [--rate 50] [--rows 200000]
        [--out benchmarks/out]

What it does (see benchmarks/README.md):
1. a writer commits one small row every 1/RATE s into a WAL database, for SECONDS, with
   replication off: p50, p99 and max commit latency;
2. the same with the tool's supervisor running `litestream replicate` (REPLICA_SYNC_INTERVAL
   1s): the same figures, and the lag as `status` reads it, every second (max, p99);
3. grows the database to ROWS rows of ~200 bytes, waits until it is replicated, then times
   `litestream restore` alone against the tool's `restore latest --from replica --to FILE`
   (the CLI, start-up, listing, restore and checks in);
4. prints one summary and writes every figure to OUT/replication.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python benchmarks/bench_replication.py`
    sys.path.insert(0, str(ROOT))

from src.config.settings import Settings, load_settings  # noqa: E402
from src.driver.replication import ReplicationRunner  # noqa: E402
from src.services.notifiers import LogNotifier  # noqa: E402
from src.services.replication import litestream  # noqa: E402
from src.services.replication.report import (  # noqa: E402
    local_txid,
    read_status,
    replica_positions,
)
from src.services.replication.supervisor import Supervisor  # noqa: E402


def env_for(folder: Path) -> dict[str, str]:
    """The tool's settings for a database and a file:// replica in `folder`."""
    return {
        "DATABASE_PATH": str(folder / "bot.db"),
        "BACKUP_DIR": str(folder / "backups"),
        "RECOVERY_DIR": str(folder / "recovery"),
        "LOG_DIR": str(folder / "logs"),
        "MIN_FREE_MB": "0",
        "REPLICA_URL": f"file://{folder / 'replica'}",
        "REPLICA_SYNC_INTERVAL": "1s",
    }


def write_load(db: Path, seconds: float, rate: float) -> list[float]:
    """Commit a row every 1/rate s for `seconds`; return each commit's latency (ms)."""
    latencies = []
    with closing(sqlite3.connect(db, timeout=30, isolation_level=None)) as conn:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            began = time.perf_counter()
            conn.execute("INSERT INTO entries (body) VALUES (?)", ("x" * 200,))
            latencies.append((time.perf_counter() - began) * 1000)
            time.sleep(max(0.0, 1 / rate - latencies[-1] / 1000))
    return latencies


def summary(values: list[float]) -> dict[str, float]:
    """p50, p99 and max."""
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 3),
        "p99": round(ordered[int(len(ordered) * 0.99) - 1], 3),
        "max": round(ordered[-1], 3),
        "n": len(ordered),
    }


def watch_lag(settings: Settings, stop: threading.Event, lags: list[float]) -> None:
    """Note the lag every second, as `status` reads it (from Litestream's own files, to
    about a second: the time the oldest transaction the replica lacks was written)."""
    while not stop.wait(1.0):
        seen = read_status(settings, settings.now())
        if seen is not None and seen.lag is not None:
            lags.append(seen.lag.total_seconds())


def grow(db: Path, rows: int) -> None:
    """Add `rows` rows of ~200 bytes in batches."""
    with closing(sqlite3.connect(db, timeout=30)) as conn:
        for start in range(0, rows, 10_000):
            conn.executemany(
                "INSERT INTO entries (body) VALUES (?)",
                [("y" * 200,)] * min(10_000, rows - start),
            )
            conn.commit()


def wait_caught_up(settings: Settings, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        local = local_txid(settings)
        if local is not None and replica_positions(settings).newest_txid >= local:
            return
        time.sleep(0.5)
    raise RuntimeError("the replica did not catch up")


def timed(command: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = parser.parse_args()
    figures: dict[str, Any] = {"seconds": args.seconds, "rate": args.rate}
    with tempfile.TemporaryDirectory(prefix="bench-replication-") as tmp:
        folder = Path(tmp)
        env = env_for(folder)
        settings = load_settings(env, root=ROOT, env_file=folder / ".env")
        db = settings.database_path
        with closing(sqlite3.connect(db)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE entries (id INTEGER PRIMARY KEY, body TEXT)")
        figures["off_ms"] = summary(write_load(db, args.seconds, args.rate))
        supervisor = Supervisor(settings, LogNotifier())
        runner = ReplicationRunner(supervisor)
        runner.start()
        lags: list[float] = []
        stop = threading.Event()
        watcher = threading.Thread(target=watch_lag, args=(settings, stop, lags))
        watcher.start()
        try:
            figures["on_ms"] = summary(write_load(db, args.seconds, args.rate))
            stop.set()
            watcher.join()
            figures["lag_s"] = summary(lags) if lags else None
            grow(db, args.rows)
            wait_caught_up(settings)
        finally:
            runner.stop()
        figures["db_mb"] = round(db.stat().st_size / 2**20, 1)
        child = {**os.environ, **env}
        child.pop("AWS_CA_BUNDLE", None)
        config = litestream.write_config(settings)
        alone = folder / "alone.db"
        figures["litestream_restore_s"] = round(
            timed(
                [
                    litestream.binary(),
                    "restore",
                    "-config",
                    str(config),
                    "-o",
                    str(alone),
                    str(db),
                ],
                child,
            ),
            3,
        )
        ours = folder / "ours.db"
        figures["tool_restore_s"] = round(
            timed(
                [
                    sys.executable,
                    str(ROOT / "backup_manager.py"),
                    "restore",
                    "latest",
                    "--from",
                    "replica",
                    "--to",
                    str(ours),
                ],
                child,
            ),
            3,
        )
    figures["restore_ratio"] = round(figures["tool_restore_s"] / figures["litestream_restore_s"], 2)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "replication.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
