"""`--json`: one JSON document on stdout, nothing else there, for every reporting command."""

from __future__ import annotations

import json

from src.errors import ExitStatus
from tests.offsite_servers import make_age_keys


def doc(done):
    """Parse stdout as exactly one JSON document (a second one or any text fails)."""
    return json.loads(done.stdout)


def test_every_reporting_command_writes_one_json_document(run_cli, sample_db, tmp_path):
    keys = make_age_keys(tmp_path)
    usb = tmp_path / "usb"
    usb.mkdir()
    offsite = {
        "OFFSITE_TARGETS": f"usb={usb}",
        "OFFSITE_ENCRYPT_TO": keys.public,
        "AGE_IDENTITY_FILE": str(keys.identity_file),
    }
    made = run_cli("backup", "--json", db=sample_db, **offsite)
    assert made.returncode == 0, made.stderr
    backup = doc(made)
    assert backup["ok"] is True and backup["offsite_ok"] is True
    assert backup["path"].endswith(".zip") and backup["facts"]["user_count"] == 600
    assert backup["offsite"]["outcomes"][0]["detail"].startswith("verified")

    verified = doc(run_cli("verify", "--all", "--json", db=sample_db))
    assert [r["ok"] for r in verified] == [True]

    preview = run_cli("restore", "latest", "--json", db=sample_db)
    assert preview.returncode == ExitStatus.NOT_CONFIRMED
    plan = doc(preview)
    assert plan["confirmed"] is False and plan["validation"]["counts"]["users"] == 600
    restored = doc(run_cli("restore", "latest", "--confirm", "--json", db=sample_db))
    assert restored["ok"] is True and restored["counts"] == restored["expected"]

    diagnosis = doc(run_cli("diagnose", "--json", db=sample_db))
    assert diagnosis["verdict"] == "HEALTHY" and diagnosis["checks"]
    exported = doc(run_cli("export", "--json", db=sample_db))
    assert exported["complete"] is True
    repaired = doc(run_cli("repair", "--json", db=sample_db))
    assert repaired["integrity"] == "ok"

    for args in (
        ("offsite", "sync", "--json"),
        ("offsite", "verify", "--json"),
        ("offsite", "list", "--json"),
        ("list", "--json"),
        ("status", "--json"),
    ):
        done = run_cli(*args, db=sample_db, **offsite)
        assert done.returncode == 0, (args, done.stderr)
        doc(done)
    ran = doc(run_cli("scheduler", "run-now", "weekly", "--json", db=sample_db))
    assert ran["ok"] is True and ran["drill"]["ok"] is True
