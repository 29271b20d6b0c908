#!/usr/bin/env python3
"""Benchmark `backup_manager.py repair` on a damaged database against `sqlite3 VACUUM INTO`.

Usage:
    python benchmarks/bench_repair.py [--size-mb 500] [--damage-percent 1.0] [--repeat N]

What it does (see benchmarks/README.md):
1. takes the cached synthetic database of bench_backup.py (built when missing), copies it
   to a work database (WAL checkpointed, no -wal left), makes one verified backup of it
   with the real CLI (`backup --type manual`, so the repair can compare with the newest
   backup) and counts its rows per table (the ground truth);
2. damages the work database deterministically: --damage-percent of its pages (drawn with
   random.Random(--seed) from pages 2..N) are overwritten with random bytes; SQLite's
   dbstat table, read on an undamaged copy, tells how many rows sat on destroyed leaf
   pages or own a destroyed overflow page (unrecoverable by construction);
3. baseline: `sqlite3 UNDAMAGED "VACUUM INTO 'x.db'"`, SQLite copying the same database,
   undamaged, once;
4. ours: `python backup_manager.py repair` as a child: wall time, peak RSS, the JSON
   report; the recovered file must pass integrity_check and hold no more rows per table
   than the original;
5. prints one summary table and writes every figure to OUT/repair-<size>mb.json
   (--profile: one more repair() in this process under cProfile, top functions).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import re
import shutil
import sqlite3
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python benchmarks/bench_repair.py`
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_backup import (  # noqa: E402
    CLI,
    MB,
    check_ok,
    ensure_database,
    machine_facts,
    median_run,
    run_measured,
    settle,
    tool_env,
    verdict,
    warm_cache,
)

UTC = timezone.utc
DB_NAME = "pmo_recovery.db"  # the work database's name (the bot's own)
DEFAULT_SEED = 20240607
REPORT_LINE = re.compile(r"^Report: (.+)$", re.M)
# not counted in the recovered share: the FTS index is rebuilt from journal_entries, and
# statistics are made again by ANALYZE (checked neither for <= original)
IGNORED_PREFIXES = ("journal_fts_", "sqlite_stat")


def ignored(table: str) -> bool:
    return table.startswith(IGNORED_PREFIXES)


# --------------------------------------------------------------------------------------
# 1. the work database, its backup, the ground truth
# --------------------------------------------------------------------------------------


def without_wal(path: Path) -> None:
    """Checkpoint `path` (TRUNCATE) and make sure no -wal with frames is left beside it."""
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
        busy, _frames, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        raise RuntimeError(f"{path}: the WAL checkpoint could not finish (busy)")
    for suffix in ("-wal", "-shm"):
        extra = Path(f"{path}{suffix}")
        if extra.exists():
            if suffix == "-wal" and extra.stat().st_size:
                raise RuntimeError(f"{extra} still holds {extra.stat().st_size} bytes")
            extra.unlink()


def copy_database(source: Path, target: Path) -> None:
    """A file copy of `source` after a TRUNCATE checkpoint, replacing `target`."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    without_wal(source)
    shutil.copyfile(source, target)


def open_ro(path: Path) -> sqlite3.Connection:
    """Read-only and immutable: nothing (-shm, -wal) is created beside the file."""
    return sqlite3.connect(path.resolve().as_uri() + "?mode=ro&immutable=1", uri=True)


def ground_truth(path: Path) -> dict[str, Any]:
    """Rows per table, page size and count, WITHOUT ROWID tables of an undamaged file."""
    with contextlib.closing(open_ro(path)) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name"
            )
        ]
        rows = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        without_rowid = sorted(
            name for name, wr in conn.execute("SELECT name, wr FROM pragma_table_list") if wr
        )
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        page_count = conn.execute("PRAGMA page_count").fetchone()[0]
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    return {
        "rows": rows,
        "without_rowid": without_rowid,
        "page_size": page_size,
        "page_count": page_count,
        "integrity_check": integrity,
    }


def make_backup(db: Path, work: Path) -> dict[str, Any]:
    """One verified backup of the (still undamaged) work database, by our CLI."""
    run = run_measured(
        [sys.executable, str(CLI), "backup", "--type", "manual"],
        env=tool_env(work, db),
        cwd=work,
    )
    check_ok(run, "our backup (the newest backup the repair compares with)")
    made = sorted((work / "backups" / "manual").glob("*.zip"))
    if len(made) != 1:
        raise RuntimeError(f"expected one archive in {work / 'backups' / 'manual'}, got {made}")
    return {
        "archive": made[0].name,
        "bytes": made[0].stat().st_size,
        "wall_s": round(run.wall_s, 2),
    }


SHAPES = ("bot", "row-heavy", "blob-heavy")


def shaped_database(out: Path, shape: str, size_mb: float, rebuild: bool) -> tuple[Path, dict]:
    """The cached database of a shape: `bot` is bench_backup's (the bot's schema); `row-heavy`
    holds small check-in rows (one index), `blob-heavy` notes of 2-20 KB (overflow pages)."""
    if shape == "bot":
        return ensure_database(out, size_mb, rebuild)
    path = out / "db" / f"repair_{shape}_{size_mb:g}mb_v2.db"
    if path.exists() and not rebuild:
        return path, {"shape": shape, "size_bytes": path.stat().st_size}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    rng = random.Random(7)
    target = size_mb * MB
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
        if shape == "row-heavy":
            conn.execute(
                "CREATE TABLE checkins (id INTEGER PRIMARY KEY, user_id INTEGER, day TEXT,"
                " mood INTEGER, note TEXT)"
            )
            conn.execute("CREATE INDEX checkins_user ON checkins (user_id)")
            insert = "INSERT INTO checkins VALUES (?, ?, ?, ?, ?)"

            def row(i: int) -> tuple[Any, ...]:
                return (
                    i,
                    rng.randint(1, 5000),
                    f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}",
                    rng.randint(1, 5),
                    "ok" if i % 3 else "semangat hari ini",
                )
        else:
            conn.execute(
                "CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id INTEGER, title TEXT,"
                " body BLOB)"
            )
            insert = "INSERT INTO notes VALUES (?, ?, ?, ?)"

            def row(i: int) -> tuple[Any, ...]:
                return (
                    i,
                    rng.randint(1, 5000),
                    f"note {i}",
                    rng.randbytes(rng.randint(2000, 20000)),
                )

        i, batch = 0, 20_000 if shape == "row-heavy" else 1_000  # about 11 MB of notes
        while path.stat().st_size < target:
            with conn:
                conn.executemany(insert, [row(n) for n in range(i + 1, i + batch + 1)])
            i += batch
    return path, {"shape": shape, "size_bytes": path.stat().st_size, "rows": i}


# --------------------------------------------------------------------------------------
# 2. damage, and what it destroys by construction
# --------------------------------------------------------------------------------------


def choose_pages(page_count: int, percent: float, seed: int) -> list[int]:
    """`percent` % of pages 2..page_count (at least one), drawn with random.Random(seed)."""
    candidates = range(2, page_count + 1)
    count = min(len(candidates), max(1, round(page_count * percent / 100)))
    return sorted(random.Random(seed).sample(candidates, count))


def damage(path: Path, pages: list[int], page_size: int, seed: int) -> None:
    """Overwrite each of `pages` with random bytes (deterministic for a seed)."""
    rng = random.Random(seed + 1)
    with path.open("r+b") as handle:
        for number in pages:
            handle.seek((number - 1) * page_size)
            handle.write(rng.randbytes(page_size))


def destroyed_rows(undamaged: Path, pages: list[int], without_rowid: list[str]) -> dict[str, Any]:
    """Rows lost by construction, per table, from dbstat of the undamaged file.

    A row is lost when its cell was on a destroyed page (leaf pages; for WITHOUT ROWID
    tables interior pages too, their cells are rows) or when one of its overflow pages
    was destroyed. An overflow page's dbstat path is `<page path><cell, 3+ hex>+<n>`,
    so the part before '+' names the row that owns it.
    """
    hit = set(pages)
    kinds: dict[str, int] = {}
    on_pages: dict[str, int] = {}
    overflow_owners: dict[str, set[str]] = {}
    destroyed_paths: set[tuple[str, str]] = set()  # (btree, path) of destroyed b-tree pages
    with contextlib.closing(open_ro(undamaged)) as conn:
        tables = {
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        for name, pageno, pagetype, ncell, path in conn.execute(
            "SELECT name, pageno, pagetype, ncell, path FROM dbstat"
        ):
            if pageno not in hit:
                continue
            owner = "table" if name in tables else "index"
            kinds[f"{owner} {pagetype}"] = kinds.get(f"{owner} {pagetype}", 0) + 1
            if owner != "table":
                continue
            if pagetype == "overflow":
                overflow_owners.setdefault(name, set()).add(path.split("+", 1)[0])
                continue
            destroyed_paths.add((name, path))
            if pagetype == "leaf" or (pagetype == "internal" and name in without_rowid):
                on_pages[name] = on_pages.get(name, 0) + ncell
    kinds["free or other (not in dbstat)"] = len(hit) - sum(kinds.values())
    owning: dict[str, int] = {}
    for name, prefixes in overflow_owners.items():
        # not counted twice: rows whose own cell was already on a destroyed page
        alive = [p for p in prefixes if (name, p[: p.rfind("/") + 1]) not in destroyed_paths]
        owning[name] = len(alive)
    per_table = {
        name: on_pages.get(name, 0) + owning.get(name, 0)
        for name in sorted(set(on_pages) | set(owning))
    }
    return {
        "pages": len(hit),
        "page_kinds": dict(sorted(kinds.items())),
        "rows_on_destroyed_pages": dict(sorted(on_pages.items())),
        "rows_owning_a_destroyed_overflow_page": dict(sorted(owning.items())),
        "unrecoverable": per_table,
    }


# --------------------------------------------------------------------------------------
# 3. baseline and 4. ours
# --------------------------------------------------------------------------------------


def run_baseline(undamaged: Path, work: Path) -> dict[str, Any]:
    """`sqlite3 UNDAMAGED "VACUUM INTO 'x.db'"`: SQLite reading and writing it once."""
    folder = work / "baseline"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    target = folder / "vacuum_into.db"
    warm_cache(undamaged)
    settle()
    run = run_measured(["sqlite3", str(undamaged), f"VACUUM INTO '{target}'"])
    check_ok(run, "sqlite3 VACUUM INTO")
    if run.stderr.strip():  # the CLI reports some errors without a non-zero exit
        raise RuntimeError(f"sqlite3 VACUUM INTO: {run.stderr.strip()}")
    result = {
        "wall_s": round(run.wall_s, 3),
        "cpu_s": round(run.user_s + run.sys_s, 3),
        "peak_rss_mb": round(run.max_rss_mb, 1),
        "output_bytes": target.stat().st_size,
        "sync_after_s_not_counted": settle(),
    }
    target.unlink()
    return result


def run_recover(recover: Path, damaged: Path, work: Path, original: dict[str, int]) -> dict:
    """SQLite's own `.recover` of the damaged file, piped into a new database (what a user
    of the shell would do): wall time, and the rows it got back per counted table."""
    folder = work / "recover"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    target = folder / "recovered.db"
    warm_cache(damaged)
    settle()
    script = '"$1" "$2" .recover | "$1" "$3"'
    run = run_measured(["sh", "-c", script, "sh", str(recover), str(damaged), str(target)])
    check_ok(run, "sqlite3 .recover")
    rows = {}
    with contextlib.closing(open_ro(target)) as conn:
        names = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        for name in original:
            if name in names and not ignored(name):
                rows[name] = conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
        lost = (
            conn.execute("SELECT count(*) FROM lost_and_found").fetchone()[0]
            if "lost_and_found" in names
            else 0
        )
    size_mb = damaged.stat().st_size / MB
    got = sum(min(rows.get(n, 0), c) for n, c in original.items() if not ignored(n))
    result = {
        "wall_s": round(run.wall_s, 3),
        "cpu_s": round(run.user_s + run.sys_s, 3),
        "peak_rss_mb": round(run.max_rss_mb, 1),
        "mb_per_s": round(size_mb / run.wall_s, 2),
        "rows_per_s": round(got / run.wall_s),
        "recovered_rows": got,
        "lost_and_found_rows": lost,
        "sync_after_s_not_counted": settle(),
    }
    shutil.rmtree(folder, ignore_errors=True)
    return result


def check_recovered(path: Path, original: dict[str, int], undamaged: Path) -> dict[str, Any]:
    """integrity_check of the recovered file, its rows per table, rows the original lacks.

    Rows per table must not exceed the original's; and every recovered row of a counted
    table must be in the undamaged file as it is (rowid and every value): a salvaged row
    is the original row or nothing.
    """
    with contextlib.closing(open_ro(path)) as conn:
        integrity = "; ".join(str(r[0]) for r in conn.execute("PRAGMA integrity_check"))
        names = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND sql NOT LIKE 'CREATE VIRTUAL%'"
            )
        ]
        rows = {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
        conn.execute("ATTACH ? AS o", (undamaged.resolve().as_uri() + "?mode=ro&immutable=1",))
        kinds = conn.execute("SELECT name, wr FROM pragma_table_list WHERE schema = 'main'")
        foreign = {}
        for name, without_rowid in kinds.fetchall():
            if name not in original or ignored(name) or name.startswith("sqlite_"):
                continue
            columns = "*" if without_rowid else "rowid, *"
            foreign[name] = conn.execute(
                f'SELECT count(*) FROM (SELECT {columns} FROM main."{name}"'
                f' EXCEPT SELECT {columns} FROM o."{name}")'
            ).fetchone()[0]
    more = sorted(
        n for n, count in rows.items() if not ignored(n) and count > original.get(n, count)
    )
    return {
        "integrity_check": integrity,
        "rows": rows,
        "tables_with_more_rows": more,
        "rows_not_in_original": foreign,
    }


def shares(
    recovered: dict[str, int], original: dict[str, int], unrecoverable: dict[str, int]
) -> dict[str, Any]:
    """Recovered / original and recovered / (original - unrecoverable), over counted tables."""
    counted = [n for n in original if not ignored(n)]
    total = sum(original[n] for n in counted)
    got = sum(min(recovered.get(n, 0), original[n]) for n in counted)
    lost = sum(unrecoverable.get(n, 0) for n in counted)
    recoverable = total - lost
    return {
        "tables": sorted(counted),
        "original_rows": total,
        "unrecoverable_rows": lost,
        "recoverable_rows": recoverable,
        "recovered_rows": got,
        "recovered_pct": round(100 * got / total, 3) if total else None,
        "recovered_pct_of_recoverable": round(100 * got / recoverable, 3) if recoverable else None,
    }


def run_ours(
    db: Path, undamaged: Path, work: Path, truth: dict[str, Any], unrecoverable: dict[str, int]
) -> dict[str, Any]:
    """`python backup_manager.py repair` on the damaged file: wall, RSS, report, checks."""
    for name in ("recovery", "logs"):
        shutil.rmtree(work / name, ignore_errors=True)
    warm_cache(db)
    settle()
    run = run_measured([sys.executable, str(CLI), "repair"], env=tool_env(work, db), cwd=work)
    check_ok(run, "our repair")
    unsynced = settle()  # not counted: what the repair left unwritten (no fsync of its file)
    match = REPORT_LINE.search(run.stdout)
    if not match:
        raise RuntimeError(f"no 'Report: <path>' line in the repair's output:\n{run.stdout}")
    report_path = Path(match[1].strip())
    report = json.loads(report_path.read_text(encoding="utf-8"))
    recovered = Path(report["recovered"])
    size_mb = db.stat().st_size / MB
    check = check_recovered(recovered, truth["rows"], undamaged)
    reported = {name: t["recovered"] for name, t in report["tables"].items()}
    in_backup = {name: t["in_newest_backup"] for name, t in report["tables"].items()}
    share = shares(check["rows"], truth["rows"], unrecoverable)
    # the report also counts the virtual table itself; compare the tables both have
    matches = all(reported.get(n) == c for n, c in check["rows"].items() if n != "lost_and_found")
    backup_known = all(in_backup.get(n) == c for n, c in truth["rows"].items() if n in in_backup)
    result = {
        "wall_s": round(run.wall_s, 3),
        "cpu_s": round(run.user_s + run.sys_s, 3),
        "peak_rss_mb": round(run.max_rss_mb, 1),
        "mb_per_s": round(size_mb / run.wall_s, 2),
        "rows_per_s": round(share["recovered_rows"] / run.wall_s),
        "report_seconds": report.get("seconds"),
        "report_path": str(report_path),
        "recovered_bytes": recovered.stat().st_size,
        "report": {
            k: report.get(k)
            for k in (
                "integrity_check",
                "unreadable_tree_pages",
                "lost_and_found_rows",
                "tables",
                "notes",
                "not_recreated",
                "page_size",
            )
        },
        "share": share,
        "check": {
            **{k: v for k, v in check.items() if k != "rows"},
            "reported_rows_match_file": matches,
            "report_knows_the_backup": backup_known and bool(in_backup),
            "ok": check["integrity_check"] == "ok"
            and report.get("integrity_check") == "ok"
            and not check["tables_with_more_rows"]
            and not any(check["rows_not_in_original"].values())
            and matches
            and backup_known
            and bool(in_backup),
        },
        "stdout": run.stdout,
    }
    result["sync_after_s_not_counted"] = unsynced
    return result


def profile_repair(db: Path, work: Path, top: int = 30) -> dict[str, Any]:
    """repair() once in this process under cProfile: top functions by cumulative time."""
    import cProfile
    import pstats

    from src.config.settings import load_settings
    from src.services.repair_service import repair

    shutil.rmtree(work / "recovery", ignore_errors=True)
    settings = load_settings(tool_env(work, db), root=ROOT, env_file=work / "no-such.env")
    warm_cache(db)
    settle()
    profiler = cProfile.Profile()
    started = time.monotonic()
    profiler.enable()
    result = repair(settings)
    profiler.disable()
    total = round(time.monotonic() - started, 2)
    texts = {}
    for key in ("cumulative", "tottime"):
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.strip_dirs().sort_stats(key).print_stats(top if key == "cumulative" else 15)
        texts[key] = text.getvalue()
    return {
        "repair_s_under_cprofile": total,
        "integrity_check": result.integrity,
        "top_cumulative": texts["cumulative"],
        "top_tottime": texts["tottime"],
    }


# --------------------------------------------------------------------------------------
# reporting
# --------------------------------------------------------------------------------------


def _every(run: dict[str, Any], key: str) -> str:
    return "/".join(f"{value:.1f}" for value in run.get(f"all_runs_{key}", [run[key]]))


def summary(result: dict[str, Any]) -> str:
    base, ours, truth = result["baseline"], result["ours"], result["truth"]
    share, report = ours["share"], ours["report"]
    size_mb = result["input_bytes"] / MB
    damage_facts = result["damage"]
    ratio = result["ratio_wall_ours_over_baseline"]
    lines = [
        f"== repair benchmark: {size_mb:.1f} MB damaged database "
        f"({share['original_rows']:,} rows in counted tables), "
        f"{result['machine']['cpus']} CPUs ==",
        f"{'':44}{'baseline':>14}{'ours':>14}",
        f"{'input (MB)':44}{size_mb:>14.1f}{size_mb:>14.1f}",
        f"{'pages (page size ' + str(truth['page_size']) + ')':44}"
        f"{truth['page_count']:>14,}{truth['page_count']:>14,}",
        f"{'pages destroyed (ours: unreadable tree pages)':44}"
        f"{damage_facts['pages']:>14,}{report['unreadable_tree_pages']:>14,}",
        f"{'wall time (s)':44}{base['wall_s']:>14.2f}{ours['wall_s']:>14.2f}",
        f"{'  every run (s)':44}{_every(base, 'wall_s'):>14} {_every(ours, 'wall_s'):>13}",
        f"{'  os.sync() after the run (not counted) (s)':44}"
        f"{base['sync_after_s_not_counted']:>14.2f}{ours['sync_after_s_not_counted']:>14.2f}",
        f"{'  repair seconds in its report':44}{'':>14}{ours['report_seconds'] or 0:>14.2f}",
        f"{'throughput (MB/s of input)':44}{size_mb / base['wall_s']:>14.1f}"
        f"{ours['mb_per_s']:>14.1f}",
        f"{'rows/s (recovered, counted tables)':44}"
        f"{share['original_rows'] / base['wall_s']:>14,.0f}{ours['rows_per_s']:>14,}",
        f"{'CPU time user+sys (s)':44}{base['cpu_s']:>14.2f}{ours['cpu_s']:>14.2f}",
        f"{'peak RSS (MB)':44}{base['peak_rss_mb']:>14.1f}{ours['peak_rss_mb']:>14.1f}",
        f"{'output file (MB)':44}{base['output_bytes'] / MB:>14.1f}"
        f"{ours['recovered_bytes'] / MB:>14.1f}",
        f"{'rows recovered / original':44}{'':>14}{share['recovered_pct']:>13.3f}%",
        f"{'rows recovered / recoverable':44}{'':>14}"
        f"{share['recovered_pct_of_recoverable']:>13.3f}%",
        f"{'  original / unrecoverable (by construction)':44}"
        f"{share['original_rows']:>14,}{share['unrecoverable_rows']:>14,}",
        f"{'  recoverable / recovered':44}"
        f"{share['recoverable_rows']:>14,}{share['recovered_rows']:>14,}",
        f"{'lost_and_found rows':44}{'':>14}{report['lost_and_found_rows']:>14,}",
        f"{'integrity_check of the result':44}{'':>14}{ours['check']['integrity_check']:>14}",
        f"{'ratio wall ours / VACUUM INTO':44}{ratio:>28.2f}",
        *_recover_lines(result),
        "",
        f"{'table':22}{'original':>11}{'destroyed':>11}{'recovered':>11}"
        f"{'unlinked':>10}{'in backup':>11}",
    ]
    for name, original in sorted(truth["rows"].items()):
        row = report["tables"].get(name, {})
        lost = damage_facts["unrecoverable"].get(name, 0)
        mark = "  (not counted)" if ignored(name) else ""
        lines.append(
            f"{name:22}{original:>11,}{lost:>11,}{row.get('recovered', 0):>11,}"
            f"{row.get('from_unlinked_pages') or 0:>10,}"
            f"{row.get('in_newest_backup') or 0:>11,}{mark}"
        )
    lines += [
        f"destroyed pages by kind: {damage_facts['page_kinds']}",
        "",
        "checks:",
        f"  recovered rows not in the original (rowid + values): "
        f"{sum(ours['check']['rows_not_in_original'].values())}",
        f"  integrity_check ok, rows <= original and unchanged, report knows the backup ... "
        f"{verdict(result['all_checks_ok'])}",
    ]
    if ours["check"]["tables_with_more_rows"]:
        lines.append(
            f"  tables with more rows than the original: {ours['check']['tables_with_more_rows']}"
        )
    notes = report.get("notes") or []
    lines += [f"  note from the repair: {n}" for n in notes[:10]]
    lines += [f"  not recreated: {n}" for n in (report.get("not_recreated") or [])[:10]]
    return "\n".join(lines)


def _recover_lines(result: dict[str, Any]) -> list[str]:
    """The .recover baseline's figures, when it ran."""
    rec = result.get("recover")
    if not rec:
        return ["(.recover baseline not run: benchmarks/build_sqlite_recover.sh builds it)"]
    ours = result["ours"]
    return [
        f"{'sqlite3 .recover of the damaged file (s)':44}{rec['wall_s']:>14.2f}"
        f"{ours['wall_s']:>14.2f}",
        f"{'  MB/s (.recover / ours)':44}{rec['mb_per_s']:>14.1f}{ours['mb_per_s']:>14.1f}",
        f"{'  rows/s (.recover / ours)':44}{rec['rows_per_s']:>14,}{ours['rows_per_s']:>14,}",
        f"{'  rows recovered (.recover / ours)':44}{rec['recovered_rows']:>14,}"
        f"{ours['share']['recovered_rows']:>14,}",
        f"{'ratio wall ours / .recover':44}{result['ratio_wall_ours_over_recover']:>28.2f}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=500, help="database size (default 500)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument("--repeat", type=int, default=1, help="baseline/ours runs (median)")
    parser.add_argument("--keep", action="store_true", help="keep the work files")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached database")
    parser.add_argument(
        "--damage-percent", type=float, default=1.0, help="share of pages destroyed (default 1)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="picks the pages")
    parser.add_argument("--profile", action="store_true", help="also repair() under cProfile")
    parser.add_argument("--shape", choices=SHAPES, default="bot", help="the database (default bot)")
    parser.add_argument(
        "--recover",
        type=Path,
        default=ROOT / "benchmarks" / "out" / "sqlite3-recover",
        help="an SQLite shell whose .recover works (benchmarks/build_sqlite_recover.sh)",
    )
    args = parser.parse_args(argv)

    if shutil.which("sqlite3") is None:
        parser.error("sqlite3 is not installed")
    out = args.out.resolve()
    cached, db_facts = shaped_database(out, args.shape, args.size_mb, args.rebuild)
    label = f"{args.size_mb:g}mb" + ("" if args.shape == "bot" else f"-{args.shape}")
    work = out / f"repair-{label}"
    recover = args.recover if args.recover.is_file() else None
    if recover is None:
        print(
            f"no {args.recover}: run benchmarks/build_sqlite_recover.sh for the .recover baseline"
        )
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_facts(),
        "db": db_facts,
        "damage_percent": args.damage_percent,
        "seed": args.seed,
    }
    db, undamaged = work / "db" / DB_NAME, work / "undamaged" / DB_NAME
    try:
        copy_database(cached, db)
        print("making the newest backup with `backup_manager.py backup` ...")
        result["backup"] = make_backup(db, work)
        without_wal(db)
        copy_database(db, undamaged)
        print("counting rows (ground truth) ...")
        result["truth"] = truth = ground_truth(undamaged)
        if truth["integrity_check"] != "ok":
            raise RuntimeError(f"the undamaged copy fails integrity_check: {truth}")
        pages = choose_pages(truth["page_count"], args.damage_percent, args.seed)
        print(f"damaging {len(pages)} of {truth['page_count']} pages; reading dbstat ...")
        result["damage"] = destroyed_rows(undamaged, pages, truth["without_rowid"])
        result["damage"]["page_numbers_first_20"] = pages[:20]
        damage(db, pages, truth["page_size"], args.seed)
        result["input_bytes"] = db.stat().st_size
        baselines, ours_runs, recovers = [], [], []
        for number in range(1, args.repeat + 1):
            print(f"baseline: sqlite3 VACUUM INTO (run {number}/{args.repeat}) ...")
            baselines.append(run_baseline(undamaged, work))
            if recover is not None:
                print(f"baseline: sqlite3 .recover of the damaged file (run {number}) ...")
                recovers.append(run_recover(recover, db, work, truth["rows"]))
            print(f"ours: backup_manager.py repair (run {number}/{args.repeat}) ...")
            ours_runs.append(
                run_ours(db, undamaged, work, truth, result["damage"]["unrecoverable"])
            )
        result["baseline"] = base = median_run(baselines, "wall_s")
        result["ours"] = ours = median_run(ours_runs, "wall_s")
        result["ratio_wall_ours_over_baseline"] = round(ours["wall_s"] / base["wall_s"], 3)
        if recovers:
            result["recover"] = rec = median_run(recovers, "wall_s")
            result["ratio_wall_ours_over_recover"] = round(ours["wall_s"] / rec["wall_s"], 3)
        result["all_checks_ok"] = all(run["check"]["ok"] for run in ours_runs)
        if args.profile:
            print("repair() under cProfile in this process ...")
            try:
                result["cprofile"] = profile_repair(db, work)
            except Exception as error:  # the service may be mid-edit; report, do not die
                result["cprofile"] = {"error": f"{type(error).__name__}: {error}"}
    finally:
        if not args.keep:
            for name in ("db", "undamaged", "baseline", "recover", "backups", "recovery"):
                shutil.rmtree(work / name, ignore_errors=True)
    text = summary(result)
    print()
    print(text)
    if "cprofile" in result:
        print()
        print(result["cprofile"].get("top_cumulative") or result["cprofile"])
    result["summary"] = text
    path = out / f"repair-{label}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\nresults: {path}")
    return 0 if result["all_checks_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
