"""The pure parts of replication: positions, the lag, the point in time, the configuration."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from src.config.settings import load_settings
from src.services.replication import litestream
from src.services.replication.positions import (
    LagTracker,
    oldest_unreplicated,
    parse_ltx,
    positions,
    read_ltx_header,
)
from src.services.replication.restore import litestream_time, parse_at, preset_moment

T0 = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)


def settings(tmp_path: Path, **extra: str):
    env = {"DATABASE_PATH": str(tmp_path / "bot.db"), "BACKUP_DIR": str(tmp_path / "b")}
    return load_settings({**env, **extra}, root=tmp_path, env_file=tmp_path / ".env")


def test_positions_take_the_newest_transaction_and_the_oldest_snapshot():
    files = parse_ltx(
        [
            {
                "level": 0,
                "min_txid": "0a",
                "max_txid": "0b",
                "size": 9,
                "timestamp": "2026-12-06T05:00:09Z",
            },
            {
                "level": 1,
                "min_txid": "01",
                "max_txid": "0a",
                "size": 9,
                "timestamp": "2026-12-06T05:00:08Z",
            },
            {
                "level": 9,
                "min_txid": "01",
                "max_txid": "05",
                "size": 9,
                "timestamp": "2026-12-06T04:00:00Z",
            },
            {
                "level": 9,
                "min_txid": "01",
                "max_txid": "09",
                "size": 9,
                "timestamp": "2026-12-06T05:00:00Z",
            },
        ]
    )
    held = positions(files)
    assert held.newest_txid == 11
    assert held.newest_at == T0 + timedelta(seconds=9)
    assert held.oldest_restorable == T0 - timedelta(hours=1)
    assert positions(parse_ltx(None)).newest_txid == 0


def test_lag_is_the_age_of_the_oldest_transaction_not_on_the_replica():
    tracker = LagTracker()
    assert tracker.observe(5, 5, T0) == timedelta(0)
    assert tracker.observe(6, 5, T0 + timedelta(seconds=1)) == timedelta(0)
    assert tracker.observe(9, 5, T0 + timedelta(seconds=4)) == timedelta(seconds=3)
    # the replica took 6: 9 was first seen at +4
    assert tracker.observe(9, 6, T0 + timedelta(seconds=5)) == timedelta(seconds=1)
    assert tracker.observe(9, 9, T0 + timedelta(seconds=6)) == timedelta(0)
    assert tracker.oldest_waiting_since() is None


def test_a_replica_that_goes_backwards_in_a_listing_does_not_shrink_the_known_position():
    tracker = LagTracker()
    tracker.observe(8, 8, T0)
    assert tracker.observe(8, 0, T0 + timedelta(seconds=30)) == timedelta(0)


def test_point_in_time_reads_local_time_and_iso_with_an_offset(tmp_path):
    jakarta = settings(tmp_path, BACKUP_TIMEZONE="Asia/Jakarta")
    local = parse_at("2026-12-06 14:05", jakarta)
    assert local == datetime(2026, 12, 6, 14, 5, tzinfo=ZoneInfo("Asia/Jakarta"))
    assert parse_at("2026-12-06 14:05:30", jakarta).second == 30
    assert parse_at("2026-12-06T07:05:00Z", jakarta) == datetime(2026, 12, 6, 7, 5, tzinfo=UTC)
    assert litestream_time(local) == "2026-12-06T07:05:00.000000Z"
    assert parse_at("2026-12-06T14:05", jakarta) == local  # no offset: BACKUP_TIMEZONE
    for wrong in ("yesterday", "2026-12-06 7h", "2026-13-01 10:00", "2026-12-06T07:05+25:00"):
        with pytest.raises(ValueError, match="YYYY-MM-DD HH:MM"):
            parse_at(wrong, jakarta)


def test_config_names_the_database_the_replica_and_the_retention(tmp_path):
    replica = settings(
        tmp_path,
        REPLICA_URL="s3://bucket/bot",
        REPLICA_ENDPOINT="http://127.0.0.1:9000",
        REPLICA_RETENTION="2h",
        REPLICA_SYNC_INTERVAL="500ms",
    )
    text = litestream.config_text(replica)
    assert f'path: "{tmp_path / "bot.db"}"' in text
    assert 'url: "s3://bucket/bot"' in text and "sync-interval: 500ms" in text
    assert 'endpoint: "http://127.0.0.1:9000"' in text and "force-path-style: true" in text
    assert "interval: 7200s" in text and "retention: 7200s" in text
    path = litestream.write_config(replica)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_a_ca_bundle_reaches_litestream_only_when_replica_ca_bundle_names_one(tmp_path):
    base = {"AWS_CA_BUNDLE": "/etc/ssl/machine.pem", "PATH": "/bin"}
    plain = settings(tmp_path, REPLICA_URL="s3://bucket/bot", AWS_ACCESS_KEY_ID="key")
    env = litestream.child_env(plain, base)
    assert "AWS_CA_BUNDLE" not in env and env["AWS_ACCESS_KEY_ID"] == "key"
    pem = tmp_path / "ca.pem"
    pem.write_text("x", encoding="utf-8")
    own = settings(tmp_path, REPLICA_URL="s3://bucket/bot", REPLICA_CA_BUNDLE=str(pem))
    assert litestream.child_env(own, base)["AWS_CA_BUNDLE"] == str(pem)


def test_the_bots_presets_are_moments_in_backup_timezone():
    jakarta = ZoneInfo("Asia/Jakarta")  # UTC+7: T0 is 12:00 there
    assert preset_moment("m5", T0, jakarta) == T0 - timedelta(minutes=5)
    assert preset_moment("h1", T0, jakarta) == T0 - timedelta(hours=1)
    morning = preset_moment("am", T0, jakarta)
    assert morning == datetime(2026, 12, 6, 6, 0, tzinfo=jakarta)
    at_dawn = datetime(2026, 12, 6, 4, 30, tzinfo=jakarta)  # not 06:00 yet: yesterday's
    assert preset_moment("am", at_dawn, jakarta) == datetime(2026, 12, 5, 6, 0, tzinfo=jakarta)
    with pytest.raises(ValueError, match="no such"):
        preset_moment("noon", T0, jakarta)


def test_the_lag_is_read_from_litestreams_own_ltx_headers():
    stamp = int(T0.timestamp() * 1000) + 250
    head = b"LTX1" + bytes(12) + struct.pack(">QQq", 3, 4, stamp)
    ltx = read_ltx_header("0000000000000003-0000000000000004.ltx", head)
    assert ltx is not None and (ltx.min_txid, ltx.max_txid) == (3, 4)
    assert ltx.created == T0 + timedelta(milliseconds=250)
    assert read_ltx_header("0000000000000003-0000000000000005.ltx", head) is None  # not its name
    assert read_ltx_header("0000000000000003-0000000000000004.ltx", b"LTX2" + head[4:]) is None
    older = read_ltx_header(
        "0000000000000002-0000000000000002.ltx",
        b"LTX1" + bytes(12) + struct.pack(">QQq", 2, 2, stamp - 5000),
    )
    assert older is not None
    assert oldest_unreplicated([older, ltx], 1) == older.created
    assert oldest_unreplicated([older, ltx], 2) == ltx.created
    assert oldest_unreplicated([older, ltx], 4) is None
