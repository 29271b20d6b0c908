"""The bot's texts: every one in Indonesian and English, with the same values to fill in."""

from __future__ import annotations

from string import Formatter

import pytest
from telegram import User

from src.bot import texts, views
from src.bot.notifier import alarm_text
from src.services.notifiers import TITLES


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(text) if name is not None}


@pytest.mark.parametrize("key", sorted(texts.TEXTS))
def test_every_text_has_both_languages_with_the_same_placeholders(key):
    variants = texts.TEXTS[key]
    assert set(variants) == set(texts.LANGUAGES)
    assert all(variants.values()), f"{key}: an empty variant"
    assert _placeholders(variants["id"]) == _placeholders(variants["en"]), key


def test_the_language_is_indonesian_for_id_in_any_region_and_english_otherwise():
    def user(code: str | None) -> User:
        return User(1, "Ann", False, language_code=code)

    assert [texts.language(user(code)) for code in ("id", "ID", "id-ID", "in", "en-US")] == [
        "id",
        "id",
        "id",
        "en",
        "en",
    ]
    assert texts.language(user(None)) == texts.language(None) == "en"
    assert texts.say("no_backups", "id-ID") == "📭 Belum ada cadangan."
    assert texts.say("no_backups", user("de")) == "📭 No backups yet."


def test_every_alarm_title_has_its_words_and_english_says_what_the_other_notifiers_say():
    for event, title in TITLES.items():
        assert texts.say(f"alarm_{event}", "en") == title
    assert alarm_text("backup_failed", "disk full", "id").startswith("<b>⚠️ Pencadangan gagal")
    assert alarm_text("new_event", "x", "id") == "<b>new_event</b>\nx"


def test_a_busy_sentence_names_the_job_its_start_and_who_in_each_language():
    from src.services.jobs import Job

    job = Job(1, "a manual backup", "the scheduler", None, "2026-01-02T03:04:05", "running")
    assert views.job_sentence(job, "en") == job.sentence()  # the service's own words
    assert views.job_busy(job, "id") == (
        "⏳ Cadangan manual sedang berjalan sejak 2026-01-02 03:04, dimulai oleh penjadwal. "
        "Tunggu sampai selesai, lalu minta lagi."
    )
    restore = Job(2, "a restore from x.zip", "admin 1 (Ann)", 1, "2026-01-02T03:04:05", "running")
    assert views.job_sentence(restore, "en") == restore.sentence()
    assert views.job_sentence(restore, "id").startswith("Pemulihan dari x.zip sedang berjalan")
