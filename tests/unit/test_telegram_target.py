"""The Telegram target's pure parts: its destination, its checks, its limit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from src.config.settings import OffsiteTarget
from src.errors import ConfigError
from src.services.offsite.targets import is_rclone_destination, open_target
from src.services.offsite.targets.telegram import TelegramTarget, is_telegram_destination

TOKEN = "123456789:" + "A" * 35


def test_telegram_destinations_are_told_apart_before_rclone_remotes(settings_for, tmp_path):
    assert is_telegram_destination("telegram:-1001234") and is_rclone_destination("telegram:x")
    settings = settings_for(tmp_path / "db.sqlite3", BOT_TOKEN=TOKEN)
    target = open_target(OffsiteTarget("chan", "telegram:@pmo_backups"), settings)
    assert isinstance(target, TelegramTarget) and target.describe() == "Telegram chat @pmo_backups"
    assert TOKEN not in target.describe()


@pytest.mark.parametrize(
    ("api", "limit_mb", "expected_mb"),
    [
        ("https://api.telegram.org", "50", 20),  # the cloud API downloads 20 MB at most
        ("https://api.telegram.org", "5", 5),
        ("http://127.0.0.1:8081", "1000", 1000),  # a self-hosted Bot API server
    ],
)
def test_the_limit_is_what_can_be_sent_and_downloaded_again(
    settings_for, tmp_path, api, limit_mb, expected_mb
):
    settings = settings_for(
        tmp_path / "db.sqlite3", BOT_TOKEN=TOKEN, TELEGRAM_API_URL=api,
        BOT_UPLOAD_LIMIT_MB=limit_mb,
    )  # fmt: skip
    target = open_target(OffsiteTarget("chan", "telegram:-100123"), settings)
    assert isinstance(target, TelegramTarget) and target.limit == expected_mb * 1024 * 1024


@pytest.mark.parametrize("destination", ["telegram:", "telegram:12ab", "telegram:@x"])
def test_a_wrong_chat_is_a_config_error_that_says_the_form(destination):
    with pytest.raises(ConfigError, match="telegram:CHAT_ID"):
        TelegramTarget("chan", destination, TOKEN, "http://x", 50, Path("index.json"))


def test_a_telegram_target_needs_the_bot_token(settings_for, tmp_path):
    settings = replace(settings_for(tmp_path / "db.sqlite3"), bot_token=None)
    with pytest.raises(ConfigError, match="set BOT_TOKEN"):
        open_target(OffsiteTarget("chan", "telegram:-100123"), settings)
