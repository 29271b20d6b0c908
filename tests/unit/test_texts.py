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


def test_every_step_the_core_names_has_its_indonesian_words():
    """Each phrase the service core reports (src/services: progress.phase, progress.lane,
    check_members' phase) is known to the texts, so an Indonesian admin never reads English."""
    import ast
    from pathlib import Path

    root = Path(__file__).parents[2] / "src" / "services"
    found = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in ("phase", "lane"):
                found.update(_phrase(arg) for arg in node.args[:1])
            for keyword in getattr(node, "keywords", []):  # check_members(..., phase="...")
                if keyword.arg == "phase":
                    found.add(_phrase(keyword.value))
            if isinstance(node, ast.arguments):  # a default phase
                named = node.args[len(node.args) - len(node.defaults) :]
                found.update(
                    _phrase(d)
                    for a, d in zip(named, node.defaults, strict=True)
                    if a.arg == "phase"
                )
    found.discard(None)
    found = {phrase for phrase in found if isinstance(phrase, str)}
    assert "checking every member" in found and "taking the snapshot" in found
    for phrase in sorted(found):
        if "{" in phrase or phrase.startswith("checking the archive's"):
            continue  # a name in it: the examples below
        assert texts.step(phrase, "id") != phrase, phrase
    for name in ("database", "salvaged copy", "SQL dump", "JSON export"):
        assert texts.step(f"checking the archive's {name}", "id") != f"... {name}"
        assert "memeriksa" in texts.step(f"checking the archive's {name}", "id")
    named = {
        "compressing bot.db": "memampatkan bot.db",
        "writing into bot.db": "menulis ke bot.db",
        "fetching a.zip.age from nas": "mengambil a.zip.age dari nas",
        "listing the replica s3://b/x": "membaca isi replika s3://b/x",
        "restoring from the replica s3://b/x": "memulihkan dari replika s3://b/x",
        "making the database-only variant of a.zip": "membuat varian khusus database dari a.zip",
        "creating a sample database of 50 users": "membuat database contoh berisi 50 pengguna",
    }
    for phrase, indonesian in named.items():
        assert texts.step(phrase, "id") == indonesian
        assert texts.step(phrase, "en") == phrase


def _phrase(node: object) -> str | None:
    """A phrase's text, `{}` where an f-string puts a value (None: not a literal)."""
    import ast

    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def test_the_frame_of_the_schedulers_messages_is_indonesian_its_reasons_stay_english(
    settings_for, tmp_path
):
    from datetime import datetime, timedelta

    from src.services.backup_scheduler import failure_notice
    from src.services.scheduled_run import ScheduledOutcome
    from src.services.scheduler_alarms import stale_message

    at = datetime(2026, 12, 6, 3, 0)

    def notice(attempt: int, retry: bool, retries: int | None, next_run: datetime | None):
        outcome = ScheduledOutcome("daily", at, at, reason="disk full.", attempt=attempt)
        outcome.retry_at = at + timedelta(minutes=30) if retry else None
        return failure_notice(outcome, retries=retries, next_scheduled=next_run)[1]

    settings = settings_for(tmp_path / "bot.db")
    expected = {
        notice(1, False, None, None): "Cadangan harian gagal: disk full.",
        notice(1, True, 3, None): "Cadangan harian gagal: disk full. Percobaan ulang 1 dari 3 "
        "pukul 2026-12-06 03:30.",
        notice(1, False, 3, at): "Cadangan harian gagal sekali, terakhir: disk full. Tidak "
        "dicoba lagi sampai jadwal berikutnya pukul 2026-12-06 03:00.",
        notice(4, False, 3, None): "Cadangan harian gagal 4 kali, terakhir: disk full. Tidak "
        "dicoba lagi sampai jadwal berikutnya.",
        notice(1, False, 3, None): "Cadangan harian gagal sekali, terakhir: disk full. Tidak "
        "dicoba lagi sampai jadwal berikutnya.",
        notice(2, False, 3, at): "Cadangan harian gagal 2 kali, terakhir: disk full. Tidak "
        "dicoba lagi sampai jadwal berikutnya pukul 2026-12-06 03:00.",
        stale_message(settings, "weekly", None): "Belum ada cadangan mingguan yang berhasil",
        stale_message(settings, "daily", timedelta(hours=40)): "Tidak ada cadangan harian yang "
        "berhasil selama 40 jam",
    }
    for message, start in expected.items():
        assert texts.alarm_body(message, "id").startswith(start), message
        assert texts.alarm_body(message, "en") == message
    unknown = "Something the texts do not know: x"
    assert texts.alarm_body(unknown, "id") == unknown
    assert alarm_text("drill_failed", "The restore drill of w.zip failed: bad rows. The "
                      "backup may not restore; check them all: python backup_manager.py verify "
                      "--all", "id") == (
        "<b>❌ Uji pemulihan gagal</b>\nUji pemulihan w.zip gagal: bad rows. Cadangan itu "
        "mungkin tidak bisa dipulihkan; periksa semuanya: python backup_manager.py verify --all"
    )  # fmt: skip


def test_every_alarm_message_of_the_core_fits_its_indonesian_frame():
    """The messages as the core writes them (the f-strings of scheduled_run, scheduler_alarms,
    the replication supervisor and the heartbeat), with sample values."""
    messages = [
        "No daily backup made in the last 26 h is verified on off-machine target nas (the "
        "newest there: none yet). If the server is lost now, these backups are lost with it. "
        "`python backup_manager.py status` shows the last error; `offsite sync` retries.",
        "No daily backup made in the last 26 h is verified on off-machine target nas (the "
        "newest there: daily_1.zip). If the server is lost now, these backups are lost with "
        "it. `python backup_manager.py status` shows the last error; `offsite sync` retries.",
        "The copy to off-machine target nas failed: refused. The local backup is fine; the "
        "copy stays pending and is retried.",
        "The drill of the newest copy on off-machine target nas failed: bad. `python "
        "backup_manager.py offsite verify --target nas` checks its copies.",
        "The restore drill of the replica s3://b/x failed: rows differ. `python "
        "backup_manager.py status` shows the replication.",
        "Litestream (continuous replication to s3://b/x) ended (exit code 1); it is restarted "
        "in 5 s, and again with a growing wait while it keeps ending. Writes meanwhile reach "
        "the replica once it runs. logs/litestream.log has its own words.",
        "Continuous replication could not start: no litestream",
        "The replica s3://b/x is 5 min behind the live database (the alarm is at 2 min): "
        "writes of that time would be lost with this server. The last error: timeout "
        "`python backup_manager.py status` shows the replication.",
        "The replica s3://b/x is 5 min behind the live database (the alarm is at 2 min): "
        "writes of that time would be lost with this server. `python backup_manager.py "
        "status` shows the replication.",
    ]
    shown = [texts.alarm_body(message, "id") for message in messages]
    for message, indonesian in zip(messages, shown, strict=True):
        assert indonesian != message, message
    assert (
        "di sana belum ada satu pun" in shown[0]
        and "yang terbaru di sana: daily_1.zip" in (shown[1])
    )
    assert shown[7].endswith("Kesalahan terakhir: timeout `python backup_manager.py status` "
                             "menampilkan replikasinya.")  # fmt: skip
