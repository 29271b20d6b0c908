#!/usr/bin/env python3
"""Count the repairs that crash on random bit flips (issue 13: "never a crash").

Usage:
    python benchmarks/fuzz_repair.py [--database chinook|sample] [--seeds 64] [--bits 100 1000]

For each seed in 0..SEEDS-1 and each bit count, a copy of the database gets that many bits
flipped (drawn with random.Random(seed) uniformly over the file), then `repair()` runs in
this process, with no backup to fall back on. A run counts as
- a crash: repair() raised (exit 1 from the CLI, no database written), or refused the
  file as no database (exit 4) though its header is whole;
- unsound: the recovered database fails integrity_check;
- caught: repair went on past an unexpected error (RepairResult.unexpected_errors).
Prints each crash with where it was raised, then the totals. Exits 1 when any run crashed
or was unsound.
"""

from __future__ import annotations

import argparse
import collections
import sqlite3
import sys
import tempfile
import time
import traceback
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python benchmarks/fuzz_repair.py`
    sys.path.insert(0, str(ROOT))

from src.config.settings import load_settings  # noqa: E402
from src.errors import NotADatabase  # noqa: E402
from src.services import repair_service  # noqa: E402
from src.services.salvage.fileformat import parse_header  # noqa: E402
from tests.test_repair_fuzz import flip_bits  # noqa: E402 - the damage the fuzz tests do

CHINOOK = ROOT / "tests" / "fixtures" / "chinook.sqlite"


def original(name: str, folder: Path) -> bytes:
    """The bytes of the database to damage: Chinook, or the bot's sample database."""
    if name == "chinook":
        return CHINOOK.read_bytes()
    from src.database.sample import create_sample_database

    built, copy = folder / "built.db", folder / "sample.db"
    create_sample_database(built, users=600)
    with closing(sqlite3.connect(built)) as src, closing(sqlite3.connect(copy)) as dst:
        src.backup(dst)  # one file, as the fixtures of tests/conftest.py make it
    return copy.read_bytes()


def run_one(data: bytes) -> tuple[str, str]:
    """Repair `data` in a scratch folder; return (outcome, detail)."""
    with tempfile.TemporaryDirectory(prefix="fuzz-repair-") as tmp:
        folder = Path(tmp)
        db = folder / "pmo_recovery.db"
        db.write_bytes(data)
        env = {
            "DATABASE_PATH": str(db),
            "BACKUP_DIR": str(folder / "backups"),
            "RECOVERY_DIR": str(folder / "recovery"),
            "LOG_DIR": str(folder / "logs"),
            "DATA_FILES": "",
            "MIN_FREE_MB": "0",
        }
        settings = load_settings(env, root=ROOT, env_file=folder / ".env")
        try:
            result = repair_service.repair(settings)
        except NotADatabase as error:
            if parse_header(data[:100]) is None:
                return "refused", "no header and no page"
            return "crash", f"NotADatabase: {error}"
        except Exception as error:  # what is counted here
            frame = traceback.extract_tb(error.__traceback__)[-1]
            where = f"{Path(frame.filename).name}:{frame.lineno}"
            return "crash", f"{type(error).__name__} at {where}: {str(error)[:120]}"
        with closing(sqlite3.connect(result.recovered)) as conn:
            check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            return "unsound", check
        caught = getattr(result, "unexpected_errors", [])
        return ("caught", "; ".join(caught)) if caught else ("ok", "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=("chinook", "sample"), default="chinook")
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--bits", type=int, nargs="+", default=[100, 1000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fuzz-repair-db-") as tmp:
        data = original(args.database, Path(tmp))
    outcomes: collections.Counter[str] = collections.Counter()
    sites: collections.Counter[str] = collections.Counter()
    started = time.monotonic()
    for bits in args.bits:
        for seed in range(args.seeds):
            outcome, detail = run_one(flip_bits(data, bits, seed))
            outcomes[outcome] += 1
            if outcome != "ok":
                print(f"bits={bits} seed={seed}: {outcome}: {detail}", flush=True)
            if outcome == "crash":
                sites[detail.split(":")[0] + ":" + detail.split(":")[1]] += 1
    total = sum(outcomes.values())
    print(
        f"{args.database}: crashes {outcomes['crash']}/{total}, unsound "
        f"{outcomes['unsound']}/{total}, unexpected errors caught {outcomes['caught']}/{total}, "
        f"refused (no header, no page) {outcomes['refused']}/{total} "
        f"in {time.monotonic() - started:.0f} s"
    )
    for site, count in sites.most_common():
        print(f"  {count:4} {site}")
    return 1 if outcomes["crash"] or outcomes["unsound"] else 0


if __name__ == "__main__":
    sys.exit(main())
