"""The menus in each admin's language: Indonesian for an Indonesian app, else English."""

from __future__ import annotations

from src.services import admin_reach
from tests.fake_telegram import FakeTelegram

ADMIN, SECOND_ADMIN = 1001, 1002
CRUMB = " \u203a "


def _menu(telegram: FakeTelegram, user: int, title: str) -> dict:
    telegram.send_text(user, "/backup")
    return telegram.last_message(user, title)


def _press(telegram: FakeTelegram, message: dict, label: str, user: int) -> dict:
    return telegram.answer_of(telegram.press(user, message, telegram.button(message, label)))


def _labels(message: dict) -> list[str]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [button["text"] for row in rows for button in row]


def test_an_indonesian_admin_reads_the_menu_in_indonesian_and_an_english_one_in_english(
    telegram, bot, bot_settings
):
    telegram.languages[ADMIN] = "id"
    telegram.languages[SECOND_ADMIN] = "en-US"
    indonesian = _menu(telegram, ADMIN, "Manajemen Cadangan")
    assert indonesian["text"] == "🛡️ Manajemen Cadangan\nPilih tindakan:"
    assert _labels(indonesian) == [
        "📦 Buat Cadangan Manual",
        "🔄 Buat Cadangan Darurat",
        "📋 Daftar Cadangan",
        "📊 Status Cadangan",
        "⚙️ Pengaturan Penjadwal",
        "🔧 Menu Pemulihan",
        "✖️ Tutup",
    ]
    english = _menu(telegram, SECOND_ADMIN, "Backup Management")
    assert english["text"] == "🛡️ Backup Management\nChoose an action:"
    assert "🔧 Restore Menu" in _labels(english) and "✖️ Close" in _labels(english)

    _press(telegram, indonesian, "Buat Cadangan Manual", ADMIN)
    done = telegram.now_shows(indonesian, "Cadangan Manual dibuat", timeout=120)
    assert "Integritas: sebelum ok" in done["text"] and "⬅️ Kembali" in _labels(done)

    # the restore list says where it is, and Cancel on the plan leads back to that page
    _press(telegram, done, "Kembali", ADMIN)
    main = telegram.now_shows(indonesian, "Pilih tindakan")
    _press(telegram, main, "Menu Pemulihan", ADMIN)
    types = telegram.now_shows(indonesian, "Pilih jenis cadangan")
    _press(telegram, types, "Manual (1)", ADMIN)
    page = telegram.now_shows(indonesian, f"Pemulihan{CRUMB}Manual{CRUMB}1/1")
    (label,) = [text for text in _labels(page) if text.startswith("✅")]
    assert label.startswith("✅ Manual 20") and label.count(":") == 1  # to the minute
    _press(telegram, page, "✅ Manual", ADMIN)
    plan = telegram.now_shows(indonesian, "periksa sebelum mengonfirmasi")
    assert plan["text"].startswith(f"Pemulihan{CRUMB}Manual{CRUMB}halaman 1\n")
    assert "✅ Konfirmasi pemulihan" in _labels(plan)
    _press(telegram, plan, "Batal", ADMIN)
    telegram.now_shows(indonesian, f"Pemulihan{CRUMB}Manual{CRUMB}1/1")

    # the other admin, meanwhile, reads the same screens in English
    _press(telegram, english, "Restore Menu", SECOND_ADMIN)
    types = telegram.now_shows(english, "Choose the type of the backup to restore")
    _press(telegram, types, "Manual (1)", SECOND_ADMIN)
    page = telegram.now_shows(english, f"Restore{CRUMB}Manual{CRUMB}1/1")
    assert [text for text in _labels(page) if text.startswith("✅ Manual 20")]

    # each admin's language is kept for the alarms the scheduler sends unasked
    assert admin_reach.languages(bot_settings()) == {ADMIN: "id", SECOND_ADMIN: "en"}


def test_the_command_list_is_published_in_indonesian_too(telegram, bot):
    telegram.wait_for(lambda: "default@id" in telegram.commands)
    assert telegram.commands["default@id"] == telegram.commands["default"]
    assert telegram.command_descriptions["default@id"]["help"] == "apa yang bisa dilakukan bot"
    assert telegram.command_descriptions["default"]["help"] == "what the bot can do"


def test_an_alarm_is_titled_in_the_language_the_admin_was_last_seen_with(telegram, bot_settings):
    import threading

    from tests.bot_harness import BotRunner

    settings = bot_settings(BOT_RUN_SCHEDULER="true")
    admin_reach.remember_language(settings, ADMIN, "id")  # an update before a restart
    runner = BotRunner(settings).start()
    try:
        sender = threading.Thread(
            target=runner.bot_data["scheduler"].notifier.notify,
            args=("drill_failed", "the <check> & more"),
        )
        sender.start()
        sender.join()
        alarm = telegram.last_message(ADMIN, "Uji pemulihan gagal")
        assert alarm["text"] == "❌ Uji pemulihan gagal\nthe <check> & more"  # its words: English
        english = telegram.last_message(SECOND_ADMIN, "Restore drill failed")  # never seen
        assert english["text"] == "❌ Restore drill failed\nthe <check> & more"
        # a message the scheduler words in a frame: the frame in Indonesian, its reason not
        message = "Continuous replication could not start: no <litestream>"
        notify = runner.bot_data["scheduler"].notifier.notify
        sender = threading.Thread(target=notify, args=("replication_down", message))
        sender.start()
        sender.join()
        alarm = telegram.last_message(ADMIN, "Replikasi berkelanjutan")
        assert alarm["text"] == (
            "⚠️ Replikasi (Litestream) berhenti\n"
            "Replikasi berkelanjutan tidak dapat dimulai: no <litestream>"
        )
        english = telegram.last_message(SECOND_ADMIN, "Continuous replication")
        assert english["text"].endswith(f"\n{message}")
    finally:
        runner.stop()


def test_status_is_in_each_admins_language_the_same_layout_as_the_cli(telegram, bot):
    telegram.languages[ADMIN] = "id"
    telegram.send_text(ADMIN, "/status")
    indonesian = telegram.last_message(ADMIN, "Status Sistem Cadangan")
    for title in ("💾 CADANGAN:", "🕒 CADANGAN TERBARU:", "⚙️ PENJADWAL:", "📜 RIWAYAT"):
        assert title in indonesian["text"]
    assert "Integritas: ✅ OK" in indonesian["text"] and "Backup" not in indonesian["text"]
    assert (
        "🔴 Tidak berjalan (bot menjalankannya jika BOT_RUN_SCHEDULER aktif" in (indonesian["text"])
    )  # the bot's own hint, in Indonesian too
    assert _labels(indonesian)[0] == "🔄 Segarkan"
    # the menu's 📊 says the same; its Refresh too
    main = _menu(telegram, ADMIN, "Manajemen Cadangan")
    _press(telegram, main, "Status Cadangan", ADMIN)
    shown = telegram.now_shows(main, "Status Sistem Cadangan")
    assert "⚙️ PENJADWAL:" in shown["text"]

    telegram.send_text(SECOND_ADMIN, "/status")
    english = telegram.last_message(SECOND_ADMIN, "Backup System Status")
    for title in ("💾 BACKUPS:", "🕒 LATEST BACKUP:", "⚙️ SCHEDULER:", "📜 HISTORY"):
        assert title in english["text"]
    assert "Status Sistem" not in english["text"]
