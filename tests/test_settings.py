"""Settings: defaults against the project root, .env, overrides, errors naming the variable."""

from __future__ import annotations

import logging
from datetime import time, timedelta
from pathlib import Path

import pytest

from src.config.settings import load_settings
from src.errors import ConfigError
from src.logging_setup import configure_logging

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def test_defaults_resolve_against_the_project_root(tmp_path):
    settings = load_settings({}, root=tmp_path, env_file=tmp_path / ".env")
    assert settings.database_path == tmp_path / "data" / "pmo_recovery.db"
    assert settings.backup_dir == tmp_path / "backups"
    assert settings.recovery_dir == tmp_path / "recovery"
    assert settings.log_dir == tmp_path / "logs"
    assert dict(settings.retention) == {
        "daily": 7,
        "weekly": 4,
        "manual": 10,
        "emergency": 3,
        "pre-restore": 5,
    }
    assert settings.daily_backup_time == time(3, 0)
    assert settings.weekly_backup_day == "sunday"
    assert settings.weekly_backup_time == time(2, 0)
    assert settings.admin_user_ids == frozenset()
    assert settings.bot_token is None
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert settings.now().utcoffset() is not None


def test_env_file_is_read_and_the_environment_wins(tmp_path):
    (tmp_path / ".env").write_text(
        "# comment\n"
        "DATABASE_PATH=db/bot.db\n"
        'BACKUP_TIMEZONE="Asia/Jakarta"\n'
        "RETENTION_DAILY=14  # two weeks\n"
        "ADMIN_USER_IDS=123, 456\n"
        f"BOT_TOKEN={TOKEN}\n",
        encoding="utf-8",
    )
    settings = load_settings({"RETENTION_DAILY": "5"}, root=tmp_path)
    assert settings.database_path == tmp_path / "db" / "bot.db"
    assert settings.timezone_name == "Asia/Jakarta"
    assert settings.now().utcoffset().total_seconds() == 7 * 3600
    assert settings.retention["daily"] == 5
    assert settings.admin_user_ids == frozenset({123, 456})
    assert settings.bot_token == TOKEN
    assert TOKEN not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RETENTION_DAILY", "seven"),
        ("RETENTION_WEEKLY", "0"),
        ("DAILY_BACKUP_TIME", "25:00"),
        ("WEEKLY_BACKUP_TIME", "3am"),
        ("WEEKLY_BACKUP_DAY", "funday"),
        ("BACKUP_TIMEZONE", "Mars/Olympus"),
        ("ADMIN_USER_IDS", "123,abc"),
        ("BOT_TOKEN", "not-a-token"),
        ("TELEGRAM_API_URL", "ftp://example"),
        ("COMPRESSION_LEVEL", "12"),
    ],
)
def test_invalid_values_name_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value}, root=tmp_path, env_file=tmp_path / ".env")


def test_malformed_env_line_is_reported_with_its_line_number(tmp_path):
    (tmp_path / ".env").write_text("DATABASE_PATH=x.db\nthis is not a setting\n")
    with pytest.raises(ConfigError, match=r"\.env:2"):
        load_settings({}, root=tmp_path)


def test_bot_token_never_reaches_a_log(tmp_path):
    configure_logging(tmp_path / "logs", TOKEN)
    try:
        logging.getLogger("test").error("request to https://api/bot%s/getMe failed", TOKEN)
        logging.getLogger("test").warning("token is %s", TOKEN)
    finally:
        for handler in logging.getLogger().handlers:
            handler.flush()
    text = (tmp_path / "logs" / "pmo_bot.log").read_text()
    errors = (tmp_path / "logs" / "errors.log").read_text()
    assert "getMe failed" in text and "getMe failed" in errors
    assert TOKEN not in text and TOKEN not in errors
    assert TOKEN.split(":")[1] not in text
    logging.getLogger().handlers.clear()


def test_cli_works_from_another_folder(run_cli, chinook, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    done = run_cli("status", db=chinook)
    assert done.returncode == 0
    assert str(Path(chinook)) in done.stdout


def test_default_zone_follows_daylight_saving(tmp_path):
    import subprocess
    import sys

    code = (
        "from datetime import datetime, timezone\n"
        "from src.config.settings import load_settings\n"
        "zone = load_settings({}).timezone\n"
        "summer = datetime(2026, 7, 1, 10, tzinfo=timezone.utc).astimezone(zone)\n"
        "winter = datetime(2026, 1, 1, 10, tzinfo=timezone.utc).astimezone(zone)\n"
        "print(summer.isoformat(), winter.isoformat())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"TZ": "Europe/Berlin", "PATH": "/usr/bin:/bin"},
        cwd=Path(__file__).parents[1],
    )
    assert done.stdout.split() == ["2026-07-01T12:00:00+02:00", "2026-01-01T11:00:00+01:00"]


def test_replication_is_off_by_default_and_its_defaults_are_litestreams(tmp_path):
    replica = load_settings({}, root=tmp_path, env_file=tmp_path / ".env").replica
    assert not replica.enabled
    assert (replica.retention, replica.sync_interval, replica.max_lag) == (
        timedelta(hours=72),
        timedelta(seconds=1),
        timedelta(minutes=5),
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REPLICA_URL", "ftp://host/db"),
        ("REPLICA_URL", "file://relative/path"),
        ("REPLICA_URL", "/just/a/path"),
        ("REPLICA_ENDPOINT", "minio:9000"),
        ("REPLICA_RETENTION", "3 days"),
        ("REPLICA_SYNC_INTERVAL", "1"),
        ("REPLICA_SYNC_INTERVAL", "10ms"),
        ("REPLICA_MAX_LAG", "-5m"),
        ("REPLICA_CA_BUNDLE", "missing.pem"),
        ("OFFSITE_TARGETS", "replica=/mnt/usb"),
        ("OFFSITE_TARGETS", "chan=telegram:my channel"),
        ("OFFSITE_TARGETS", "chan=telegram:-100123"),  # no BOT_TOKEN
    ],
)
def test_invalid_replica_settings_name_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value}, root=tmp_path, env_file=tmp_path / ".env")


def test_replica_durations_read_as_go_writes_them(tmp_path):
    replica = load_settings(
        {
            "REPLICA_URL": "s3://bucket/bot",
            "REPLICA_RETENTION": "1h30m",
            "REPLICA_SYNC_INTERVAL": "500ms",
        },
        root=tmp_path,
        env_file=tmp_path / ".env",
    ).replica
    assert replica.retention == timedelta(minutes=90)
    assert replica.sync_interval == timedelta(milliseconds=500)


def test_windows_refuses_replication_saying_why(tmp_path):
    with pytest.raises(ConfigError, match="no Windows build"):
        load_settings(
            {"REPLICA_URL": "s3://bucket/bot"},
            root=tmp_path,
            env_file=tmp_path / ".env",
            platform="win32",
        )
    assert not load_settings({}, root=tmp_path, platform="win32").replica.enabled
