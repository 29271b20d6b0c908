#!/usr/bin/env python3
"""Benchmark `backup_manager.py restore ARCHIVE --confirm` against `unzip` + `sqlite3 .restore`.

Usage:
    python benchmarks/bench_restore.py [--size-mb 500] [--out benchmarks/out] [--repeat N]

What it does (see benchmarks/README.md):
1. takes the cached synthetic database of bench_backup.py (built when missing), copies it
   to a work database and makes one archive of it with the real CLI (`backup`);
2. baseline: `unzip -p ARCHIVE database/<name>.db > X` then `sqlite3 LIVE ".restore X"`,
   timed together, LIVE being a fresh copy of the database;
3. ours: `python backup_manager.py restore ARCHIVE --confirm` on a fresh LIVE copy: wall
   time and peak RSS, the safety copy (pre-restore archive) included; its share is taken
   from the tool's log. Target: the whole restore at most 1.5x the baseline. After every
   run LIVE must pass integrity_check and hold the archive's row counts;
4. times the restore's steps in this process (the real restore() with timing wrappers);
5. prints one summary table and writes every figure to OUT/restore-<size>mb.json.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import re
import shutil
import sqlite3
import sys
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python benchmarks/bench_restore.py`
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_backup import (  # noqa: E402
    CLI,
    MB,
    WRITER_USER_ID,
    Measured,
    check_ok,
    cli_startup,
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
TARGET_RATIO = 1.5  # the whole restore (validation and safety copy included) / baseline
DB_NAME = "pmo_recovery.db"  # the name the work database (and the archive's member) has
MARKER_NAME = "bench-restore-marker"  # a row put into each LIVE copy; a restore removes it
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) \w+ [\w.]+ \[pid \d+\]: (.*)$")
# extra settings of our CLI: keep one safety copy, so repeated runs do not fill the disk
EXTRA_ENV = {"RETENTION_PRE_RESTORE": "1"}

# --------------------------------------------------------------------------------------
# databases: the work database, LIVE copies, checks
# --------------------------------------------------------------------------------------


def copy_database(source: Path, target: Path) -> None:
    """Copy a database file (its WAL checkpointed first) to `target`, replacing it."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(source, timeout=30)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(source, target)


def make_live(source: Path, live: Path) -> None:
    """A fresh LIVE copy with one marker row more than the archive (the restore drops it)."""
    copy_database(source, live)
    with contextlib.closing(sqlite3.connect(live, timeout=30)) as conn:
        with conn:
            conn.execute(
                "INSERT INTO users (user_id, first_name, joined_at) VALUES (?, ?, ?)",
                (WRITER_USER_ID, MARKER_NAME, "2024-01-01T00:00:00+07:00"),
            )
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def check_restored(live: Path, expected: dict[str, int]) -> dict[str, Any]:
    """integrity_check of LIVE, its row counts against the archive's, the marker gone."""
    started = time.monotonic()
    uri = live.resolve().as_uri() + "?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as conn:
        integrity = "; ".join(str(r[0]) for r in conn.execute("PRAGMA integrity_check"))
        counts = {
            name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
            for name in sorted(expected)
        }
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        marker = conn.execute(
            "SELECT count(*) FROM users WHERE user_id = ?", (WRITER_USER_ID,)
        ).fetchone()[0]
    wrong = sorted(n for n in expected if counts[n] != expected[n])
    return {
        "integrity_check": integrity,
        "counts_match": not wrong,
        "tables_differing": wrong[:10],
        "tables_not_in_metadata": sorted(tables - set(expected)),
        "marker_gone": marker == 0,
        "ok": integrity == "ok" and not wrong and marker == 0,
        "check_s_not_counted": round(time.monotonic() - started, 2),
    }


def archive_facts(archive: Path) -> tuple[str, dict[str, int], dict[str, Any]]:
    """The database member's name, the row counts in metadata.json, the members' sizes."""
    with zipfile.ZipFile(archive) as zf:
        metadata = json.loads(zf.read("metadata.json"))
        members = {
            i.filename: {"size": i.file_size, "compressed": i.compress_size} for i in zf.infolist()
        }
    member = next(m["path"] for m in metadata["members"] if m.get("role") == "database")
    return member, metadata["database"]["tables"], members


def make_archive(source: Path, work: Path, foreign: bool = False) -> Path:
    """One archive of the work database, made by our CLI, moved out of the backup folder."""
    run = run_measured(
        [sys.executable, str(CLI), "backup", "--type", "manual"],
        env=tool_env(work, source, EXTRA_ENV),
        cwd=work,
    )
    check_ok(run, "our backup (making the archive)")
    made = sorted((work / "backups" / "manual").glob("*.zip"))
    if len(made) != 1:
        raise RuntimeError(f"expected one archive in {work / 'backups' / 'manual'}, got {made}")
    if foreign:  # as an archive from elsewhere: every member is read back
        archive = work / "archive" / made[0].name
        archive.parent.mkdir(parents=True, exist_ok=True)
        made[0].replace(archive)
        return archive
    # where the tool made and verified it: a restore reads back its database copy only
    return made[0]


# --------------------------------------------------------------------------------------
# 2. baseline and 3. ours
# --------------------------------------------------------------------------------------


def run_baseline(
    source: Path, archive: Path, member: str, expected: dict[str, int], work: Path
) -> dict[str, Any]:
    """`unzip -p ARCHIVE MEMBER > X`, then `sqlite3 LIVE ".restore X"`; timed together."""
    folder = work / "baseline"
    shutil.rmtree(folder, ignore_errors=True)
    live, extracted = folder / DB_NAME, folder / "extracted.db"
    make_live(source, live)
    warm_cache(archive)
    settle()
    unzip = run_measured(
        ["sh", "-c", 'exec unzip -p "$1" "$2" > "$3"', "sh", str(archive), member, str(extracted)]
    )
    check_ok(unzip, "unzip -p")
    restore = run_measured(["sqlite3", str(live), f".restore '{extracted}'"])
    check_ok(restore, "sqlite3 .restore")
    if restore.stderr.strip():  # the CLI reports some errors without a non-zero exit
        raise RuntimeError(f"sqlite3 .restore: {restore.stderr.strip()}")
    unsynced = settle()
    return {
        "unzip_s": round(unzip.wall_s, 3),
        "sqlite3_restore_s": round(restore.wall_s, 3),
        "total_s": round(unzip.wall_s + restore.wall_s, 3),
        "cpu_s": round(unzip.user_s + unzip.sys_s + restore.user_s + restore.sys_s, 3),
        "peak_rss_mb": round(max(unzip.max_rss_mb, restore.max_rss_mb), 1),
        "sync_after_s_not_counted": unsynced,
        "check": check_restored(live, expected),
    }


def log_events(log: Path) -> list[tuple[float, str]]:
    """(epoch seconds, message) of every line of the tool's log (asctime is local time)."""
    events = []
    if not log.exists():
        return events
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        match = LOG_LINE.match(line)
        if match:
            stamp = time.mktime(time.strptime(match[1], "%Y-%m-%d %H:%M:%S"))
            events.append((stamp + int(match[2]) / 1000, match[3]))
    return events


def first_event(events: list[tuple[float, str]], pattern: str) -> tuple[float, str] | None:
    return next(((t, m) for t, m in events if re.search(pattern, m)), None)


def split_from_log(log: Path, start_epoch: float, end_epoch: float) -> dict[str, Any]:
    """The restore's timeline, from its own log lines: where the safety copy began/ended."""
    events = log_events(log)
    began = first_event(events, r"^restore: safety copy of .* started")
    ended = first_event(events, r"^restore: safety copy .* done")
    done = first_event(events, r"^restore from .* done")
    if not (began and ended and done):
        return {"error": f"log lines missing in {log}", "lines": [m[:120] for _, m in events]}
    internal = re.search(r", ([\d.]+) s$", ended[1])
    return {
        # the log has millisecond stamps; the child's start is taken just before it spawned
        "start_to_safety_s": round(began[0] - start_epoch, 3),  # startup + validation (plan)
        "safety_backup_s": round(ended[0] - began[0], 3),
        "safety_backup_internal_s": float(internal[1]) if internal else None,
        "safety_to_done_s": round(done[0] - ended[0], 3),  # write + integrity + counts
        "done_to_exit_s": round(end_epoch - done[0], 3),  # report, output, exit
    }


def run_ours(source: Path, archive: Path, expected: dict[str, int], work: Path) -> dict[str, Any]:
    """`restore ARCHIVE --confirm` on a fresh LIVE copy; wall, RSS, the safety copy's share."""
    live = work / "ours" / DB_NAME
    make_live(source, live)
    for name in ("logs", "recovery"):
        shutil.rmtree(work / name, ignore_errors=True)
    shutil.rmtree(work / "backups" / "pre-restore", ignore_errors=True)
    warm_cache(archive)
    settle()
    argv = [sys.executable, str(CLI), "restore", str(archive), "--confirm"]
    start_epoch = time.time()
    run: Measured = run_measured(argv, env=tool_env(work, live, EXTRA_ENV), cwd=work)
    end_epoch = start_epoch + run.wall_s
    check_ok(run, "our restore")
    split = split_from_log(work / "logs" / "pmo_bot.log", start_epoch, end_epoch)
    if "error" in split:
        raise RuntimeError(f"cannot split the restore's time: {split}")
    reports = sorted((work / "recovery").glob("restore_*.json"))
    report = json.loads(reports[-1].read_text(encoding="utf-8")) if reports else {}
    safety = split.get("safety_backup_s")
    result = {
        "wall_s": round(run.wall_s, 3),
        "cpu_s": round(run.user_s + run.sys_s, 3),
        "peak_rss_mb": round(run.max_rss_mb, 1),
        "safety_backup_s": safety,
        "restore_without_safety_s": round(run.wall_s - safety, 3) if safety else None,
        "timeline_from_log": split,
        "tool_report": {
            k: report.get(k) for k in ("source_used", "integrity_check", "counts_match", "notes")
        },
        "check": check_restored(live, expected),
    }
    settle()
    return result


# --------------------------------------------------------------------------------------
# 4. phases: the real restore() in this process, with timing wrappers
# --------------------------------------------------------------------------------------

# (module, function, label): wrapped for one in-process restore; nested calls are indented
WRAPPED = (
    ("restore_service", "plan_restore", "plan (validate the archive, compare with live)"),
    ("restore_service", "validate_archive", "validate_archive"),
    ("validation", "check_members", "SHA-256 read-back of every member (inflate, 2 threads)"),
    ("validation", "extract_member", "extract the database member"),
    ("validation", "_check_candidate", "check the candidate"),
    ("validation", "run_check", "integrity_check"),
    ("validation", "count_rows", "count rows"),
    ("restore_service", "_live_counts", "count the live database's rows"),
    ("restore_service", "_refuse_foreign", "other-application check (live tables)"),
    ("restore_service", "_safety_copy", "SAFETY copy (pre-restore archive)"),
    ("safety_copy", "take_snapshot", "snapshot (backup API)"),
    ("safety_copy", "check_snapshot", "integrity_check + counts (beside the compression)"),
    ("safety_copy", "check_members", "read the copy back"),
    ("restore_service", "exclusive_lock", "take the lock"),
    ("restore_service", "write_live", "write into live (backup API)"),
    ("restore_service", "opens", "probe that live opens"),
    ("restore_service", "_after", "after: check live"),
    ("restore_service", "run_check", "integrity_check"),
    ("restore_service", "count_rows", "count rows"),
    ("restore_service", "_write_report", "JSON report"),
)


class Spans:
    """Wall time of wrapped calls, in call order, with their nesting depth."""

    def __init__(self) -> None:
        self.rows: list[list[Any]] = []  # [depth, label, seconds]
        self.depth = 0

    def wrap(self, fn: Any, label: str) -> Any:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            row = [self.depth, label, None]
            self.rows.append(row)
            self.depth += 1
            started = time.monotonic()
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth -= 1
                row[2] = round(time.monotonic() - started, 3)

        return timed


def time_phases(source: Path, archive: Path, work: Path) -> dict[str, Any]:
    """Run restore_service.restore() here, every step of it timed by a wrapper."""
    from src.config.settings import load_settings
    from src.services import live_database, restore_service, safety_copy, validation

    modules = {
        "restore_service": restore_service,
        "safety_copy": safety_copy,
        "validation": validation,
        "live_database": live_database,
    }
    live = work / "phases" / DB_NAME
    make_live(source, live)
    shutil.rmtree(work / "backups" / "pre-restore", ignore_errors=True)
    settings = load_settings(
        tool_env(work, live, EXTRA_ENV), root=ROOT, env_file=work / "no-such.env"
    )
    spans = Spans()
    saved = []
    warm_cache(archive)
    settle()
    try:
        for module_name, name, label in WRAPPED:
            module = modules[module_name]
            original = getattr(module, name)
            saved.append((module, name, original))
            if name == "exclusive_lock":  # a context manager: time entering it
                setattr(module, name, _timed_lock(original, spans, label))
            else:
                setattr(module, name, spans.wrap(original, label))
        started = time.monotonic()
        result = restore_service.restore(settings, str(archive))
        total = round(time.monotonic() - started, 3)
    finally:
        for module, name, original in reversed(saved):
            setattr(module, name, original)
    safety = sum(r[2] for r in spans.rows if r[1].startswith("SAFETY"))
    return {
        "rows": spans.rows,
        "restore_total_s": total,
        "restore_without_safety_s": round(total - safety, 3),
        "source_used": result.source,
        "integrity_check": result.integrity,
        "counts_match": result.counts == result.expected,
    }


def _timed_lock(original: Any, spans: Spans, label: str) -> Any:
    @contextlib.contextmanager
    def timed(*args: Any, **kwargs: Any) -> Any:
        row = [spans.depth, label, None]
        spans.rows.append(row)
        started = time.monotonic()
        with original(*args, **kwargs) as value:
            row[2] = round(time.monotonic() - started, 3)
            yield value

    return timed


# --------------------------------------------------------------------------------------
# reporting
# --------------------------------------------------------------------------------------


def _every(run: dict[str, Any], key: str) -> str:
    return "/".join(f"{value:.1f}" for value in run.get(f"all_runs_{key}", [run[key]]))


def _ok(check: dict[str, Any]) -> str:
    if check["ok"]:
        return "ok"
    return f"FAIL ({check['integrity_check'][:20]}, counts {check['counts_match']})"


def summary(result: dict[str, Any]) -> str:
    base, ours = result["baseline"], result["ours"]
    line = result["ours"]["timeline_from_log"]
    ratio, ratio_total = result["ratio_without_safety"], result["ratio_total"]
    archive_mb = result["archive"]["bytes"] / MB
    lines = [
        f"== restore benchmark: {result['db']['size_bytes'] / MB:.1f} MB database "
        f"({sum(result['db']['rows'].values()):,} rows), archive {archive_mb:.1f} MB, "
        f"{result['machine']['cpus']} CPUs ==",
        f"{'':40}{'baseline':>14}{'ours':>14}",
        f"{'wall time, total (s)':40}{base['total_s']:>14.2f}{ours['wall_s']:>14.2f}",
        f"{'  every run (s)':40}{'':>14}{_every(ours, 'wall_s'):>14}",
        f"{'  unzip -p / sqlite3 .restore (s)':40}"
        f"{base['unzip_s']:>6.2f} /{base['sqlite3_restore_s']:>6.2f}",
        f"{'  safety copy (from log) (s)':40}{'-':>14}{ours['safety_backup_s']:>14.2f}",
        f"{'  restore without safety backup (s)':40}{base['total_s']:>14.2f}"
        f"{ours['restore_without_safety_s']:>14.2f}",
        f"{'    every run (s)':40}{_every(base, 'total_s'):>14}"
        f"{_every(ours, 'restore_without_safety_s'):>14}",
        f"{'    start -> safety (startup+validate)':40}{'':>14}{line['start_to_safety_s']:>14.2f}",
        f"{'    safety done -> restored + checked':40}{'':>14}{line['safety_to_done_s']:>14.2f}",
        f"{'    report + exit':40}{'':>14}{line['done_to_exit_s']:>14.2f}",
        f"{'CPU time user+sys (s)':40}{base['cpu_s']:>14.2f}{ours['cpu_s']:>14.2f}",
        f"{'peak RSS (MB)':40}{base['peak_rss_mb']:>14.1f}{ours['peak_rss_mb']:>14.1f}",
        f"{'LIVE after: integrity, counts, marker':40}{_ok(base['check']):>14}"
        f"{_ok(ours['check']):>14}",
        f"{'CLI startup (--help) (s)':40}{result['cli_startup_s']:>28.3f}",
        f"{'ratio ours/baseline, without safety':40}{ratio:>28.2f}",
        f"{'ratio ours/baseline, total':40}{ratio_total:>28.2f}",
        "",
        "target:",
        f"  restore --confirm (validation and safety copy included) <= {TARGET_RATIO}x "
        f"baseline ... {ratio_total:.2f}  {verdict(ratio_total <= TARGET_RATIO)}",
    ]
    phases = result.get("phases")
    if isinstance(phases, dict) and "rows" in phases:
        lines += ["", "phases of restore() run in this process (nested calls indented):"]
        for depth, label, seconds in phases["rows"]:
            lines.append(f"  {'  ' * depth + label:58}{seconds:>8.2f} s")
        lines.append(f"  {'restore() total':58}{phases['restore_total_s']:>8.2f} s")
        lines.append(
            f"  {'restore() without the safety backup':58}"
            f"{phases['restore_without_safety_s']:>8.2f} s"
        )
    elif isinstance(phases, dict):
        lines += ["", f"phases: {phases.get('error')}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=500, help="database size (default 500)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument("--repeat", type=int, default=1, help="baseline/ours runs (median)")
    parser.add_argument("--keep", action="store_true", help="keep the archive and work files")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached database")
    parser.add_argument("--no-phases", action="store_true", help="skip the in-process phases")
    parser.add_argument(
        "--foreign",
        action="store_true",
        help="restore the archive from outside the backup folder (every member read back)",
    )
    args = parser.parse_args(argv)

    for tool in ("sqlite3", "unzip"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not installed")
    out = args.out.resolve()
    cached, db_facts = ensure_database(out, args.size_mb, args.rebuild)
    work = out / f"restore-{args.size_mb:g}mb"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_facts(),
        "db": db_facts,
    }
    try:
        source = work / "source" / DB_NAME
        copy_database(cached, source)
        print("making the archive with `backup_manager.py backup` ...")
        archive = make_archive(source, work, args.foreign)
        member, expected, members = archive_facts(archive)
        result["archive"] = {
            "bytes": archive.stat().st_size,
            "database_member": member,
            "members": members,
            "read_back": "every member (--foreign)" if args.foreign else "the database copy only",
        }
        result["cli_startup_s"] = cli_startup(work, source)
        baselines, ours_runs = [], []
        for number in range(1, args.repeat + 1):
            print(f"baseline: unzip -p + sqlite3 .restore (run {number}/{args.repeat}) ...")
            baselines.append(run_baseline(source, archive, member, expected, work))
            print(f"ours: restore --confirm ({number}) ...")
            ours_runs.append(run_ours(source, archive, expected, work))
        result["baseline"] = base = median_run(baselines, "total_s")
        result["ours"] = ours = median_run(ours_runs, "restore_without_safety_s")
        ours["all_runs_wall_s"] = [run["wall_s"] for run in ours_runs]
        result["ratio_without_safety"] = round(
            ours["restore_without_safety_s"] / base["total_s"], 3
        )
        result["ratio_total"] = round(ours["wall_s"] / base["total_s"], 3)
        result["target_ratio"] = TARGET_RATIO
        result["all_checks_ok"] = all(r["check"]["ok"] for r in (*baselines, *ours_runs))
        if not args.no_phases:
            print("timing restore() step by step in this process ...")
            try:
                result["phases"] = time_phases(source, archive, work)
            except Exception as error:  # the service may be mid-edit; report, do not die
                result["phases"] = {"error": f"{type(error).__name__}: {error}"}
    finally:
        if not args.keep:
            for name in ("archive", "source", "baseline", "ours", "phases", "backups", "recovery"):
                shutil.rmtree(work / name, ignore_errors=True)
    text = summary(result)
    print()
    print(text)
    result["summary"] = text
    path = out / f"restore-{args.size_mb:g}mb.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\nresults: {path}")
    return 0 if result["all_checks_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
