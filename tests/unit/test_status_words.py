"""The status text in English (the CLI, byte for byte as before) and Indonesian (the bot)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from string import Formatter

import pytest

from src.bot.views import bot_hints
from src.cli.output import CLI_HINTS
from src.presentation import offsite, replication, units, words
from src.presentation.status import stale_warning, status_text
from src.services.offsite.copying import CopyOutcome, OffsiteRun
from tests.unit.status_samples import samples

GOLDEN = Path(__file__).parents[1] / "fixtures" / "status_en.txt"
SECTIONS_ID = [
    "📊 Status Sistem Cadangan",
    "💾 CADANGAN:",
    "🕒 CADANGAN TERBARU:",
    "⚙️ PENJADWAL:",
    "🌍 SALINAN DI LUAR MESIN:",
    "🔁 REPLIKASI:",
    "📜 RIWAYAT (setiap cadangan, apa pun pemicunya):",
    "📨 ADMIN YANG TIDAK DAPAT DIHUBUNGI BOT:",
]


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(text) if name is not None}


@pytest.mark.parametrize("key", sorted(words.WORDS))
def test_every_word_has_both_languages_with_the_same_placeholders(key):
    variants = words.WORDS[key]
    assert set(variants) == set(words.LANGUAGES)
    assert all(variants.values()), f"{key}: an empty variant"
    assert _placeholders(variants["id"]) == _placeholders(variants["en"]), key


def test_the_default_status_is_the_english_text_the_cli_printed_before():
    shown = [status_text(status, CLI_HINTS) for status in samples()]
    assert "\n=====\n".join(shown) + "\n=====\n" == GOLDEN.read_text(encoding="utf-8")
    assert shown == [status_text(status, CLI_HINTS, "en") for status in samples()]
    assert shown == [status_text(status, CLI_HINTS, "de") for status in samples()]  # fallback


def test_the_indonesian_status_has_the_same_layout_in_indonesian():
    rich = samples()[0]
    english = status_text(rich, bot_hints("en")).splitlines()
    indonesian = status_text(rich, bot_hints("id"), "id").splitlines()
    assert len(indonesian) == len(english)  # one layout: line for line
    for title in SECTIONS_ID:
        assert title in indonesian
    assert "  Ada: ✅ Ya" in indonesian and "  Jenis: Pra-pemulihan" in indonesian
    assert "  ⚠️ 1: memblokir bot (sejak 2026-12-01 00:00:00)" in indonesian
    assert "  Keterlambatan: ⚠️ 5 mnt (alarm di atas 2 mnt)" in indonesian
    assert "  harian: 7, mingguan: 4, manual: 1, darurat: 0, pra-pemulihan: 2" in indonesian
    for status in samples():  # every branch has its words (nothing of the English left)
        text = status_text(status, bot_hints("id"), "id")
        for english_word in ("Backup System", "BACKUPS:", "Running (", "Not running", "Lag:"):
            assert english_word not in text
    assert "  ⚠️ Belum ada cadangan mingguan yang berhasil" in indonesian
    paused = status_text(samples()[1], bot_hints("id"), "id")
    assert "dilewati sampai tombol ▶️ Lanjutkan" in paused


def test_units_and_a_round_of_copies_in_both_languages():
    assert units.age(timedelta(hours=3)) == "3.0 h ago"
    assert units.age(timedelta(days=3), "id") == "3.0 hari lalu"
    assert units.when(None, "id") == "belum pernah" and units.when(None) == "never"
    assert replication.seconds(timedelta(hours=3)) == "3.0 h"
    assert replication.seconds(timedelta(minutes=3), "id") == "3 mnt"
    run = OffsiteRun(
        outcomes=[
            CopyOutcome("nas", "a.zip", True, "verified"),
            CopyOutcome("b2", "a.zip", False, "refused", retry_at=datetime(2026, 12, 6, 9, 30)),
        ],
        deleted=["old.zip"],
    )
    assert offsite.run_lines(run) == [
        "  ✅ Off-machine nas: a.zip verified",
        "  ⚠️ Off-machine b2: a.zip stays PENDING (retry at 2026-12-06 09:30): refused",
        "  Off-machine retention removed old.zip",
    ]
    assert offsite.run_lines(run, "id") == [
        "  ✅ Di luar mesin nas: a.zip verified",
        "  ⚠️ Di luar mesin b2: a.zip tetap TERTUNDA (dicoba lagi pukul 2026-12-06 09:30): refused",
        "  Retensi di luar mesin menghapus old.zip",
    ]


def test_the_schedulers_warnings_as_the_core_writes_them_are_read_back_in_indonesian(
    settings_for, tmp_path
):
    from src.services.scheduler_state import stale_warnings

    settings = settings_for(tmp_path / "bot.db")
    written = stale_warnings(settings, datetime(2026, 12, 6, 8, 0, tzinfo=settings.timezone))
    assert written == ["No daily backup has succeeded yet", "No weekly backup has succeeded yet"]
    assert [stale_warning(w, "id") for w in written] == [
        "Belum ada cadangan harian yang berhasil",
        "Belum ada cadangan mingguan yang berhasil",
    ]
    late = "No daily backup has succeeded for 40 h (the alarm is at 26 h)"
    assert stale_warning(late, "id") == (
        "Tidak ada cadangan harian yang berhasil selama 40 jam (alarm pada 26 jam)"
    )
    assert stale_warning(late) == late
    unreadable = "the scheduler's state cannot be read: bad JSON"
    assert stale_warning(unreadable, "id") == unreadable
