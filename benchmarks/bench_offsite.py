#!/usr/bin/env python3
"""Benchmark an off-machine copy (encrypt + upload + verify) against `rclone copyto`.

Usage:
    python benchmarks/bench_offsite.py [--size-mb 200] [--repeat 3] [--out benchmarks/out]

What it does (see benchmarks/README.md):
1. takes the cached synthetic database of bench_backup.py (built when missing) and makes
   one archive of it with the real service (backup_service.create_backup, no off-machine
   settings);
2. starts a real S3 server, `rclone serve s3` on 127.0.0.1 (tests/offsite_servers.py),
   and makes an age key pair;
3. baseline: `rclone copyto ARCHIVE benchs3:bucket/base/runN/NAME` of the plain archive,
   with the very flags our rclone target gives rclone (rclone_flags(): --timeout 60s
   --contimeout 15s --retries 1 --low-level-retries 2); wall time;
4. ours: `offsite sync` (src.services.offsite.copying.sync) in a child process, on a fresh
   BACKUP_DIR per run holding the archive with its verification recorded: it queues the
   archive, encrypts it to the age key while `rclone rcat` uploads it, and compares the
   size and the hash the server reports. The sync() call's wall time (target: at most
   1.3x the baseline), the child's own peak RSS, and where the time goes inside it;
   the copy must come out `verified`; and the whole CLI, `python backup_manager.py offsite
   sync` (process start-up, imports, settings, the target's listing included), whose wall
   time against the baseline's (also a whole process) is the operator's ratio;
5. for information: the encryption alone into /dev/null (crypto.send), `offsite verify`
   (checking.verify_copies: download, decrypt, verify the archive), and a breakdown
   (`rclone rcat` of the plain archive, the `lsjson --stat` that reads the hash back,
   hashing alone, pyrage alone);
6. prints a summary and writes every figure to OUT/bench_offsite.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python benchmarks/bench_offsite.py`
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_backup import (  # noqa: E402
    MB,
    check_ok,
    ensure_database,
    machine_facts,
    run_measured,
    settle,
    tool_env,
    verdict,
    warm_cache,
)
from benchmarks.bench_restore import Spans  # noqa: E402

UTC = timezone.utc
TARGET_RATIO = 1.3  # ours (encrypt + upload + verify) / `rclone copyto` of the plain archive
REMOTE = "benchs3"  # the rclone remote of the local S3 server (RCLONE_CONFIG_BENCHS3_*)
TARGET_NAME = "cloud"  # our OFFSITE_TARGETS name
CHUNK = 1 << 20

# --------------------------------------------------------------------------------------
# 1. the archive
# --------------------------------------------------------------------------------------


def make_archive(db: Path, work: Path) -> tuple[Path, float]:
    """One manual backup of `db` by create_backup (no OFFSITE_*), moved to work/archive."""
    from src.config.settings import load_settings
    from src.services.backup_service import create_backup

    folder = work / "make"
    settings = load_settings(tool_env(folder, db), root=ROOT, env_file=work / "no-such.env")
    started = time.monotonic()
    result = create_backup(settings, "manual", trigger="cli", send_offsite=False)
    seconds = time.monotonic() - started
    archive = work / "archive" / result.path.name
    archive.parent.mkdir(parents=True, exist_ok=True)
    result.path.replace(archive)
    shutil.rmtree(folder, ignore_errors=True)
    return archive, round(seconds, 3)


# --------------------------------------------------------------------------------------
# 3. baseline
# --------------------------------------------------------------------------------------


def rclone_argv(*args: str) -> list[str]:
    """An rclone command with the very flags our rclone target gives every command
    (`--timeout 60s --contimeout 15s --retries 1 --low-level-retries 2`)."""
    from src.services.offsite.targets.rclone import rclone_binary, rclone_flags

    return [rclone_binary(), *rclone_flags({}), *args]


def run_baseline(archive: Path, s3_root: Path, env: dict[str, str], number: int) -> dict[str, Any]:
    """`rclone copyto` of the plain archive to the S3 server; its wall time."""
    key = f"base/run{number}/{archive.name}"
    warm_cache(archive)
    settle()
    run = run_measured(rclone_argv("copyto", str(archive), f"{REMOTE}:bucket/{key}"), env=env)
    check_ok(run, "rclone copyto")
    stored = s3_root / "bucket" / key
    size = stored.stat().st_size if stored.is_file() else -1
    if size != archive.stat().st_size:
        raise RuntimeError(f"rclone copyto left {size} bytes at {stored}")
    stored.unlink()  # not counted; keeps the disk from filling over the runs
    return {
        "wall_s": round(run.wall_s, 3),
        "cpu_s": round(run.user_s + run.sys_s, 3),
        "peak_rss_mb": round(run.max_rss_mb, 1),
    }


# --------------------------------------------------------------------------------------
# 4. ours: offsite sync in a child process
# --------------------------------------------------------------------------------------


def ours_env(run_dir: Path, db: Path, server_env: dict[str, str], keys: Any, number: int) -> dict:
    """The tool's settings of one run: a fresh BACKUP_DIR, the target at its own path."""
    return tool_env(
        run_dir,
        db,
        {
            **server_env,
            "OFFSITE_TARGETS": f"{TARGET_NAME}={REMOTE}:bucket/ours/run{number}",
            "OFFSITE_ENCRYPT_TO": keys.public,
            "AGE_IDENTITY_FILE": str(keys.identity_file),
        },
    )


def prepare_run(archive: Path, env: dict[str, str], run_dir: Path) -> Path:
    """Put the archive (a hard link) in the run's BACKUP_DIR, recorded as verified there."""
    from src.config.settings import load_settings
    from src.services import catalog
    from src.services.history import History

    shutil.rmtree(run_dir, ignore_errors=True)
    settings = load_settings(env, root=ROOT, env_file=run_dir / "no-such.env")
    folder = settings.type_dir("manual")
    folder.mkdir(parents=True)
    local = folder / archive.name
    try:
        os.link(archive, local)
    except OSError:
        shutil.copyfile(archive, local)
    History(settings.history_path).record_verification(local, settings.now(), [])
    seen = [b for b in catalog.list_backups(settings, "manual") if b.path == local]
    if not (seen and seen[0].verified):
        raise RuntimeError(f"catalog.list_backups does not see {local} as verified: {seen}")
    return local


def run_ours(
    archive: Path, env: dict[str, str], run_dir: Path, s3_root: Path, number: int
) -> dict[str, Any]:
    """`copying.sync(settings)` in a child (through /usr/bin/time); the copy must verify."""
    prepare_run(archive, env, run_dir)
    warm_cache(archive)
    settle()
    run = run_measured([sys.executable, str(Path(__file__).resolve()), "--child-sync"], env=env)
    check_ok(run, "offsite sync (child)")
    child = json.loads(run.stdout.strip().splitlines()[-1])
    if not child["ok"]:
        raise RuntimeError(f"offsite sync did not verify the copy: {child}")
    remote = s3_root / "bucket" / "ours" / f"run{number}" / f"{archive.name}.age"
    if not remote.is_file():
        raise RuntimeError(f"the server holds no {remote}")
    child.update(
        {
            "child_wall_s": round(run.wall_s, 3),
            "child_cpu_s": round(run.user_s + run.sys_s, 3),
            "child_peak_rss_mb_time": round(run.max_rss_mb, 1),
            "stored_bytes": remote.stat().st_size,
        }
    )
    return child


def run_cli(
    archive: Path,
    db: Path,
    server_env: dict[str, str],
    keys: Any,
    run_dir: Path,
    s3_root: Path,
    number: int,
) -> dict[str, Any]:
    """`python backup_manager.py offsite sync`: what an operator runs, process start-up,
    imports, settings and the target's listing included; its wall time."""
    env = tool_env(
        run_dir,
        db,
        {
            **server_env,
            "OFFSITE_TARGETS": f"{TARGET_NAME}={REMOTE}:bucket/cli/run{number}",
            "OFFSITE_ENCRYPT_TO": keys.public,
        },
    )
    prepare_run(archive, env, run_dir)
    warm_cache(archive)
    settle()
    run = run_measured([sys.executable, str(ROOT / "backup_manager.py"), "offsite", "sync"], env)
    check_ok(run, "backup_manager.py offsite sync")
    remote = s3_root / "bucket" / "cli" / f"run{number}" / f"{archive.name}.age"
    if not remote.is_file() or "verified" not in run.stdout:
        raise RuntimeError(f"offsite sync did not verify {remote}: {run.stdout[-400:]}")
    remote.unlink()  # not counted; keeps the disk from filling over the runs
    shutil.rmtree(run_dir, ignore_errors=True)
    return {"wall_s": round(run.wall_s, 3), "cpu_s": round(run.user_s + run.sys_s, 3)}


def child_sync() -> int:
    """In the child: load the settings from the environment, run sync(), print JSON."""
    from src.config.settings import load_settings
    from src.services import catalog
    from src.services.offsite import copying, crypto
    from src.services.offsite.ledger import VERIFIED, Ledger
    from src.services.offsite.targets.rclone import RcloneTarget

    settings = load_settings(dict(os.environ), root=ROOT, env_file=Path(os.devnull))
    spans = Spans()
    wrapped = (
        (copying.catalog, "list_backups", "catalog.list_backups (once per type, to queue)"),
        (RcloneTarget, "hash_types", "rclone backend features (hash types)"),
        (RcloneTarget, "upload", "upload: rclone rcat, the whole stream, then the proof"),
        (crypto, "send", "crypto.send (age encrypt + sha256/md5 of what is sent)"),
        (RcloneTarget, "stat", "rclone lsjson --stat (size + hash there)"),
        (copying, "_prune", "retention on the target"),
    )
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in wrapped]
    for owner, name, label in wrapped:
        setattr(owner, name, spans.wrap(getattr(owner, name), label))
    try:
        started = time.monotonic()
        run = copying.sync(settings)
        seconds = time.monotonic() - started
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
    outcomes = [{"archive": o.archive, "ok": o.ok, "detail": o.detail} for o in run.outcomes]
    records = Ledger(settings.history_path).records(TARGET_NAME, (VERIFIED,))
    verified = [b for b in catalog.list_backups(settings, "manual") if b.verified]
    ok = (
        run.ok
        and len(outcomes) == 1
        and outcomes[0]["detail"].startswith("verified")
        and len(records) == 1
        and bool(verified)
    )
    own = resource.getrusage(resource.RUSAGE_SELF)
    rclone = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        json.dumps(
            {
                "ok": ok,
                "sync_s": round(seconds, 3),
                "outcomes": outcomes,
                "ledger": [(r.state, r.remote_name, r.hash_type, r.size_bytes) for r in records],
                "phases": spans.rows,
                "python_peak_rss_mb": round(own.ru_maxrss / 1024, 1),
                "python_cpu_s": round(own.ru_utime + own.ru_stime, 3),
                "rclone_children_peak_rss_mb": round(rclone.ru_maxrss / 1024, 1),
                "rclone_children_cpu_s": round(rclone.ru_utime + rclone.ru_stime, 3),
            }
        )
    )
    return 0


# --------------------------------------------------------------------------------------
# 5. for information: encryption alone, offsite verify, a breakdown
# --------------------------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.monotonic()
    value = fn()
    return round(time.monotonic() - started, 3), value


def encrypt_only(archive: Path, recipients: list[Any], kinds: tuple[str, ...]) -> dict[str, Any]:
    """crypto.send into /dev/null: what sync does to the bytes, without the upload."""
    from src.services.offsite import crypto

    warm_cache(archive)
    with open(os.devnull, "wb") as sink:
        seconds, digest = timed(lambda: crypto.send(archive, sink, recipients, kinds))
    return {"seconds": seconds, "encrypted_bytes": digest.size, "hashes": sorted(digest.hashes)}


class CountingSink:
    """A /dev/null that counts the writes it gets (how pyrage hands out its bytes)."""

    def __init__(self) -> None:
        self.writes = 0
        self.size = 0

    def write(self, data: Any) -> int:
        self.writes += 1
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def pyrage_only(archive: Path, recipients: list[Any]) -> dict[str, Any]:
    """pyrage.encrypt_io into a counting sink: age alone, no hashing, no pipe."""
    import pyrage

    warm_cache(archive)
    sink = CountingSink()
    with archive.open("rb") as source:
        seconds, _ = timed(lambda: pyrage.encrypt_io(source, sink, recipients))
    return {"seconds": seconds, "writes": sink.writes, "bytes": sink.size}


def hash_only(archive: Path, kinds: tuple[str, ...]) -> dict[str, float]:
    """hashlib over the archive's bytes, 1 MiB reads: each hash alone and all together."""
    warm_cache(archive)
    result: dict[str, float] = {}
    for group in (*((k,) for k in ("sha256", *kinds)), ("sha256", *kinds)):

        def run(group: tuple[str, ...] = group) -> None:
            hashers = [hashlib.new(k) for k in group]
            with archive.open("rb") as source:
                while chunk := source.read(CHUNK):
                    for hasher in hashers:
                        hasher.update(chunk)

        result["+".join(group)] = timed(run)[0]
    return result


def rcat_plain(archive: Path, env: dict[str, str], number: int) -> float:
    """`rclone rcat < ARCHIVE`: our upload path (streamed, multipart) without encryption."""
    warm_cache(archive)
    settle()
    argv = rclone_argv("rcat", f"{REMOTE}:bucket/rcat/run{number}/{archive.name}")
    run = run_measured(
        ["sh", "-c", 'f=$1; shift; exec "$@" < "$f"', "sh", str(archive), *argv], env
    )
    check_ok(run, "rclone rcat")
    return round(run.wall_s, 3)


def lsjson_stat(path: str, env: dict[str, str], kinds: tuple[str, ...]) -> tuple[float, str]:
    """The call _copy makes to read the size and hash back; its wall time and its answer."""
    flags = [part for kind in kinds for part in ("--hash-type", kind)]
    run = run_measured(rclone_argv("lsjson", "--stat", "--no-mimetype", *flags, path), env)
    check_ok(run, "rclone lsjson --stat")
    return round(run.wall_s, 3), run.stdout.strip()


def verify_and_fetch(env: dict[str, str]) -> dict[str, Any]:
    """`offsite verify` in this process; then its download + decrypt step alone."""
    import tempfile

    from src.config.settings import load_settings
    from src.services.offsite import checking, crypto, fetching

    settings = load_settings(env, root=ROOT, env_file=Path(os.devnull))
    settle()
    verify_s, checks = timed(lambda: checking.verify_copies(settings))
    problems = [p for c in checks for p in c.problems]
    target = fetching.target_named(settings, TARGET_NAME)
    copy = fetching.copies_on(target)[0]
    identities = crypto.identities_of(settings.offsite.identity_file)
    with tempfile.TemporaryDirectory(dir=settings.recovery_dir) as folder:
        settle()
        fetch_s, (path, _) = timed(lambda: fetching.fetch(target, copy, Path(folder), identities))
        size = path.stat().st_size
    return {
        "verify_copies_s": verify_s,
        "verify_ok": bool(checks) and not problems,
        "problems": problems,
        "copies_checked": len(checks),
        "fetch_decrypt_s": fetch_s,
        "fetched_bytes": size,
    }


# --------------------------------------------------------------------------------------
# reporting
# --------------------------------------------------------------------------------------


def med(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def every(values: list[float]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def phase_medians(runs: list[dict[str, Any]]) -> list[list[Any]]:
    """The child's phases, each the median over the runs (same calls in the same order)."""
    rows = [list(r) for r in runs[0]["phases"]]
    for index, row in enumerate(rows):
        row[2] = med([run["phases"][index][2] for run in runs if len(run["phases"]) > index])
    return rows


def summary(result: dict[str, Any]) -> str:
    size_mb = result["archive"]["bytes"] / MB
    base, ours, info = result["baseline"], result["ours"], result["information"]
    ratio, cli = result["ratio_ours_over_baseline"], result["cli"]
    cli_ratio = result["ratio_cli_over_baseline"]

    def rate(seconds: float) -> str:
        return f"{size_mb / seconds:7.1f} MB/s" if seconds else ""

    lines = [
        f"== off-machine copy benchmark: {result['db']['size_bytes'] / MB:.1f} MB database, "
        f"archive {size_mb:.1f} MB, local S3 (rclone serve s3), "
        f"{result['machine']['cpus']} CPUs, {result['repeat']} run(s), medians ==",
        f"{'baseline: rclone copyto (plain) (s)':46}{base['median_s']:>8.2f}"
        f"  {rate(base['median_s'])}   runs {every(base['all_s'])}",
        f"{'ours: sync() encrypt+upload+verify (s)':46}{ours['median_s']:>8.2f}"
        f"  {rate(ours['median_s'])}   runs {every(ours['all_s'])}",
        f"{'  child process incl. startup (s)':46}{ours['child_wall_median_s']:>8.2f}",
        f"{'ours via the CLI: offsite sync, whole (s)':46}{cli['median_s']:>8.2f}"
        f"  {rate(cli['median_s'])}   runs {every(cli['all_s'])}",
        f"{'  outcome':46}{ours['detail']}",
        f"{'  peak RSS, our Python process (MB)':46}{ours['python_peak_rss_mb']:>8.1f}",
        f"{'  peak RSS, largest rclone child (MB)':46}{ours['rclone_children_peak_rss_mb']:>8.1f}",
        f"{'  CPU: python / rclone children (s)':46}{ours['python_cpu_s']:>8.2f}"
        f" / {ours['rclone_children_cpu_s']:.2f}",
        f"{'  baseline rclone: CPU (s) / peak RSS (MB)':46}{base['cpu_s']:>8.2f}"
        f" / {base['peak_rss_mb']:.1f}",
        f"{'ratio ours/baseline (in-process sync())':46}{ratio:>8.3f}",
        f"{'ratio CLI offsite sync/baseline (start-up in)':46}{cli_ratio:>8.3f}",
        "",
        "where ours goes (the child's sync(), median per call; nested calls indented):",
    ]
    for depth, label, seconds in ours["phases"]:
        lines.append(f"  {'  ' * depth + label:60}{seconds:>8.2f} s")
    lines += ["", "for information (medians):"]
    rows = (
        ("encryption only: crypto.send -> /dev/null", info["encrypt_only_s"], True),
        ("  pyrage.encrypt_io alone (no hashing)", info["pyrage_only_s"], True),
        *((f"  hashlib {k} of the archive", v, True) for k, v in info["hash_only_s"].items()),
        ("rclone rcat < plain archive (our upload path)", info["rcat_plain_s"], True),
        ("rclone lsjson --stat --hash-type (read back)", info["lsjson_stat_s"], False),
        ("offsite verify: checking.verify_copies", info["verify"]["verify_copies_s"], True),
        ("  download + decrypt alone (fetching.fetch)", info["verify"]["fetch_decrypt_s"], True),
    )
    lines += [
        f"  {label:56}{seconds:>8.2f} s  {rate(seconds) if per_mb else ''}"
        for label, seconds, per_mb in rows
    ]
    lines += [
        f"  pyrage writes per archive: {info['pyrage_writes']}"
        f" (~{info['pyrage_bytes_per_write'] / 1024:.0f} KiB each);"
        f" verify {'ok' if info['verify']['verify_ok'] else 'FAILED'}",
        "",
        "target:",
        f"  encrypt + upload + verify <= {TARGET_RATIO}x rclone copyto ... {ratio:.3f}  "
        f"{verdict(ratio <= TARGET_RATIO)}",
        f"  the same through the CLI (process start-up in) ......... {cli_ratio:.3f}  "
        f"{verdict(cli_ratio <= TARGET_RATIO)}",
    ]
    return "\n".join(line.rstrip() for line in lines)


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------


def measure(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    from src.services.offsite import crypto
    from src.services.offsite.targets.rclone import RcloneTarget
    from tests.offsite_servers import RcloneServer, make_age_keys

    db, db_facts = ensure_database(out, args.size_mb, args.rebuild)
    work = out / f"offsite-{args.size_mb:g}mb"
    shutil.rmtree(work, ignore_errors=True)
    (work / "keys").mkdir(parents=True)
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_facts(),
        "db": db_facts,
        "repeat": args.repeat,
    }
    print("making the archive with backup_service.create_backup ...")
    warm_cache(db)
    archive, backup_s = make_archive(db, work)
    size = archive.stat().st_size
    result["archive"] = {"name": archive.name, "bytes": size, "create_backup_s": backup_s}
    keys = make_age_keys(work / "keys")
    s3_root = work / "s3"
    server = RcloneServer("s3", s3_root, REMOTE)
    (s3_root / "bucket").mkdir(parents=True)
    saved_environ = dict(os.environ)
    try:
        server.start()
        server_env = {**server.env(), "RCLONE_CONFIG": os.devnull}
        os.environ.update(server_env)  # for the in-process rclone calls (verify, hash types)
        client_env = dict(os.environ)
        kinds = RcloneTarget("probe", f"{REMOTE}:bucket").hash_types()
        result["server"] = {"kind": "rclone serve s3", "hash_types": list(kinds)}
        recipients = crypto.recipients_of([keys.public])
        base_runs, ours_runs, cli_runs, info_runs = [], [], [], []
        for number in range(1, args.repeat + 1):
            print(f"run {number}/{args.repeat}: baseline rclone copyto ...")
            base_runs.append(run_baseline(archive, s3_root, client_env, number))
            print(f"run {number}/{args.repeat}: ours offsite sync ...")
            env = ours_env(work / f"ours{number}", db, server_env, keys, number)
            ours_runs.append(run_ours(archive, env, work / f"ours{number}", s3_root, number))
            print(f"run {number}/{args.repeat}: ours through the CLI (offsite sync) ...")
            cli_runs.append(
                run_cli(archive, db, server_env, keys, work / f"cli{number}", s3_root, number)
            )
            print(f"run {number}/{args.repeat}: information (encrypt, hash, rcat, lsjson) ...")
            stored = f"{REMOTE}:bucket/ours/run{number}/{archive.name}.age"
            stat_s, stat_said = lsjson_stat(stored, client_env, kinds)
            pyrage = pyrage_only(archive, recipients)
            info_runs.append(
                {
                    "encrypt_only": encrypt_only(archive, recipients, kinds),
                    "pyrage_only": pyrage,
                    "hash_only_s": hash_only(archive, kinds),
                    "rcat_plain_s": rcat_plain(archive, client_env, number),
                    "lsjson_stat_s": stat_s,
                    "lsjson_stat_answer": stat_said[:400],
                }
            )
        print("offsite verify (download, decrypt, verify_archive) ...")
        first_env = ours_env(work / "ours1", db, server_env, keys, 1)
        verify_runs = [verify_and_fetch(first_env) for _ in range(args.repeat)]
    finally:
        server.stop()
        os.environ.clear()
        os.environ.update(saved_environ)
        if not args.keep:
            runs = range(1, args.repeat + 1)
            for name in ("s3", "archive", *(f"ours{n}" for n in runs), *(f"cli{n}" for n in runs)):
                shutil.rmtree(work / name, ignore_errors=True)

    base_s = [r["wall_s"] for r in base_runs]
    ours_s = [r["sync_s"] for r in ours_runs]
    chosen = sorted(ours_runs, key=lambda r: r["sync_s"])[(len(ours_runs) - 1) // 2]
    result["baseline"] = {
        "median_s": med(base_s),
        "all_s": base_s,
        "mb_per_s": round(size / MB / med(base_s), 1),
        "cpu_s": med([r["cpu_s"] for r in base_runs]),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in base_runs),
    }
    result["ours"] = {
        "median_s": med(ours_s),
        "all_s": ours_s,
        "mb_per_s": round(size / MB / med(ours_s), 1),
        "child_wall_median_s": med([r["child_wall_s"] for r in ours_runs]),
        "detail": chosen["outcomes"][0]["detail"],
        "stored_bytes": chosen["stored_bytes"],
        "python_peak_rss_mb": max(r["python_peak_rss_mb"] for r in ours_runs),
        "rclone_children_peak_rss_mb": max(r["rclone_children_peak_rss_mb"] for r in ours_runs),
        "python_cpu_s": med([r["python_cpu_s"] for r in ours_runs]),
        "rclone_children_cpu_s": med([r["rclone_children_cpu_s"] for r in ours_runs]),
        "phases": phase_medians(ours_runs),
        "runs": ours_runs,
    }
    cli_s = [r["wall_s"] for r in cli_runs]
    result["cli"] = {
        "command": "python backup_manager.py offsite sync",
        "median_s": med(cli_s),
        "all_s": cli_s,
        "cpu_s": med([r["cpu_s"] for r in cli_runs]),
    }
    result["ratio_ours_over_baseline"] = round(med(ours_s) / med(base_s), 3)
    result["ratio_cli_over_baseline"] = round(med(cli_s) / med(base_s), 3)
    result["target_ratio"] = TARGET_RATIO
    first = info_runs[0]
    result["information"] = {
        "encrypt_only_s": med([r["encrypt_only"]["seconds"] for r in info_runs]),
        "encrypted_bytes": first["encrypt_only"]["encrypted_bytes"],
        "pyrage_only_s": med([r["pyrage_only"]["seconds"] for r in info_runs]),
        "pyrage_writes": first["pyrage_only"]["writes"],
        "pyrage_bytes_per_write": first["pyrage_only"]["bytes"]
        // max(1, first["pyrage_only"]["writes"]),
        "hash_only_s": {
            k: med([r["hash_only_s"][k] for r in info_runs]) for k in first["hash_only_s"]
        },
        "rcat_plain_s": med([r["rcat_plain_s"] for r in info_runs]),
        "lsjson_stat_s": med([r["lsjson_stat_s"] for r in info_runs]),
        "lsjson_stat_answer": first["lsjson_stat_answer"],
        "verify": {
            **verify_runs[0],
            "verify_copies_s": med([r["verify_copies_s"] for r in verify_runs]),
            "fetch_decrypt_s": med([r["fetch_decrypt_s"] for r in verify_runs]),
            "verify_ok": all(r["verify_ok"] for r in verify_runs),
        },
        "runs": info_runs,
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=200, help="database size (default 200)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (median)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument("--keep", action="store_true", help="keep the archive and server files")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached database")
    parser.add_argument("--child-sync", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_sync:
        return child_sync()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    out = args.out.resolve()
    result = measure(args, out)
    text = summary(result)
    print()
    print(text)
    result["summary"] = text
    path = out / "bench_offsite.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\nresults: {path}")
    return 0 if result["information"]["verify"]["verify_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
