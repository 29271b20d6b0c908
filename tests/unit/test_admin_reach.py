"""How long an alarm is retried, and the admins it does not reach."""

from __future__ import annotations

from src.services import admin_reach


def test_retry_delay_follows_telegram_first_then_backs_off():
    assert admin_reach.retry_delay(1, retry_after=7) == 7.1
    delays = [admin_reach.retry_delay(n) for n in range(1, 12)]
    assert delays == sorted(delays) and delays[0] == 1.0 and delays[-1] == 300.0


def test_an_alarm_expires_after_its_time():
    assert not admin_reach.expired(100.0, 100.0 + admin_reach.ALARM_EXPIRES_SECONDS - 1)
    assert admin_reach.expired(100.0, 100.0 + admin_reach.ALARM_EXPIRES_SECONDS)


def test_unreachable_admins_are_listed_until_a_message_gets_through(settings_for, tmp_path):
    settings = settings_for(tmp_path / "bot.db")
    assert admin_reach.unreachable(settings) == []
    admin_reach.record(settings, 1, "blocked", "Forbidden: bot was blocked by the user")
    admin_reach.record(settings, 2, "not_started", "Forbidden: bot can't initiate")
    admin_reach.record(settings, 3, "delivered")
    found = {r.admin: r.reason for r in admin_reach.unreachable(settings)}
    assert found == {1: "blocked the bot", 2: admin_reach.REASONS["not_started"]}
    admin_reach.record(settings, 1, "delivered")  # unblocked
    assert [r.admin for r in admin_reach.unreachable(settings)] == [2]


def test_each_admins_language_is_the_one_last_seen(settings_for, tmp_path):
    settings = settings_for(tmp_path / "bot.db")
    assert admin_reach.languages(settings) == {}  # no history yet: nobody seen
    admin_reach.remember_language(settings, 1, "id")
    admin_reach.remember_language(settings, 2, "en")
    admin_reach.remember_language(settings, 1, "en")  # their app was switched to English
    assert admin_reach.languages(settings) == {1: "en", 2: "en"}
    assert admin_reach.unreachable(settings) == []  # a language is no reach
