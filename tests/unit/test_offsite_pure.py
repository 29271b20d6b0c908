"""Unit tests of the pure parts of off-machine copies: settings parsing, names, targets."""

from __future__ import annotations

from datetime import timedelta

import pytest

from src.config.age_keys import check_recipient
from src.config.settings import split_targets
from src.services.offsite.ledger import retry_delay
from src.services.offsite.names import parse, remote_name
from src.services.offsite.targets import is_rclone_destination
from src.services.offsite.targets.rclone import _remote_root, _shown


@pytest.mark.parametrize(
    ("raw", "pairs"),
    [
        (
            "cloud=r2:pmo-backups/bot1,usb=/mnt/usb/pmo",
            [("cloud", "r2:pmo-backups/bot1"), ("usb", "/mnt/usb/pmo")],
        ),
        (
            "s=:s3,provider=AWS,region=eu-west-1:bucket/x, u = /mnt/u",
            [("s", ":s3,provider=AWS,region=eu-west-1:bucket/x"), ("u", "/mnt/u")],
        ),
        (
            'a=remote,opt="x,y:z":path, b=C:\\pmo',
            [("a", 'remote,opt="x,y:z":path'), ("b", "C:\\pmo")],
        ),
        ("usb", [("usb", "")]),
        ("a=,b=c", [("a", ""), ("b", "c")]),
        ("", []),
    ],
)
def test_split_targets_keeps_commas_inside_rclone_options(raw, pairs):
    assert split_targets(raw) == pairs


@pytest.mark.parametrize(
    ("destination", "rclone"),
    [
        ("r2:bucket/bot1", True),
        (":s3,provider=AWS:bucket", True),
        ("my remote:path", True),
        ("/mnt/usb/pmo", False),
        ("C:\\backups", False),
        ("D:/backups", False),
        ("./offsite", False),
        ("relative/folder", False),
    ],
)
def test_a_destination_is_an_rclone_remote_or_a_folder(destination, rclone):
    assert is_rclone_destination(destination) is rclone


def test_remote_root_and_shown_hide_nothing_but_options():
    assert _remote_root("r2:bucket/x") == "r2:"
    assert _remote_root(':s3,opt="a:b":bucket') == ':s3,opt="a:b":'
    assert _shown(":s3,access_key_id=AK,secret_access_key=SK:bucket") == ":s3,…:bucket"
    assert _shown("r2:bucket") == "r2:bucket"


def test_only_names_of_our_archives_are_copies():
    name = "pmo_recovery_backup_daily_20261205_030000.zip"
    assert remote_name(name, encrypted=True) == name + ".age"
    copy = parse(name + ".age")
    assert copy is not None and (copy.archive, copy.backup_type, copy.encrypted) == (
        name,
        "daily",
        True,
    )
    plain = parse("pmo_recovery_backup_manual_20261205_030000_2.zip")
    assert plain is not None and plain.sequence == 2 and not plain.encrypted
    for other in ("notes.txt", name + ".age.partial", "x" + name, name.replace("daily", "hourly")):
        assert parse(other) is None
    older, newer = parse(name), parse("pmo_recovery_backup_daily_20261206_030000.zip")
    assert older and newer and older.sort_key < newer.sort_key


def test_a_database_only_variant_is_a_copy_of_its_archive_under_a_name_of_its_own():
    name = "pmo_recovery_backup_daily_20261205_030000_3.zip"
    sent = remote_name(name, encrypted=True, database_only=True)
    assert sent == "pmo_recovery_backup_daily_20261205_030000_3.dbonly.zip.age"
    copy = parse(sent)
    assert copy is not None and copy.database_only and copy.encrypted
    assert (copy.archive, copy.file, copy.sequence) == (name, sent[:-4], 3)
    whole = parse(name)
    assert whole is not None and not whole.database_only and whole.file == name
    assert whole.sort_key == copy.sort_key
    for other in ("pmo_recovery_backup_daily_x.dbonly.zip", "notes.dbonly.zip", sent + ".partial"):
        assert parse(other) is None


def test_retries_back_off_from_five_minutes_to_six_hours():
    assert [retry_delay(n) for n in (1, 2, 3)] == [
        timedelta(minutes=5),
        timedelta(minutes=10),
        timedelta(minutes=20),
    ]
    assert retry_delay(30) == timedelta(hours=6)


def test_recipients_are_age_or_ssh_public_keys_never_private_ones():
    assert check_recipient("age1notakey") is not None
    assert "PRIVATE" in (check_recipient("AGE-SECRET-KEY-1ABC") or "")
    assert "ssh-ed25519" in (check_recipient("ecdsa-sha2-nistp256 AAAA") or "")


def test_the_database_only_variant_keeps_the_database_copies_and_says_what_it_left_out():
    from src.services.offsite.variant import variant_metadata

    members = [
        {"path": "database/bot.db", "size": 1, "sha256": "a", "role": "database"},
        {"path": "database/bot.db-wal", "size": 1, "sha256": "b", "role": "database-sidecar"},
        {"path": "database/bot.salvaged.db", "size": 1, "sha256": "c", "role": "salvaged"},
        {"path": "database/bot.sql", "size": 1, "sha256": "d", "role": "sql"},
        {"path": "database/bot.json", "size": 1, "sha256": "e", "role": "json"},
        {"path": "files/.env.example", "size": 1, "sha256": "f", "role": "config"},
    ]
    metadata = {"format_version": 1, "database": {"tables": {"users": 3}}, "members": members}
    variant = variant_metadata(metadata, "x.zip")
    assert variant["members"] == members[:3] and variant["database"] == metadata["database"]
    assert variant["variant"] == {
        "kind": "database only",
        "of": "x.zip",
        "left_out": ["database/bot.sql", "database/bot.json", "files/.env.example"],
    }
    assert metadata["members"] == members  # the archive's own metadata is left as it was
