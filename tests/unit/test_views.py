"""The bot's texts: cut on what Telegram shows, never losing a failure's reason."""

from __future__ import annotations

from src.bot import views
from tests.fake_telegram import parse_html


def test_fit_measures_the_visible_text_not_the_escaped_html():
    text = "<b>x</b>\n" + "&amp;" * 4000  # 20,000 characters of HTML, 4,002 shown
    assert views.fit(text) == text


def test_fit_cuts_on_the_visible_text_and_keeps_the_html_valid():
    text = "<b>title</b>\n<code>" + "a&lt;b " * 1100 + "</code>"  # 4,406 shown
    cut = views.fit(text)
    shown = parse_html(cut)  # Telegram would take it
    assert len(shown) <= views.MESSAGE_LIMIT and shown.endswith("(cut to fit one message)")
    assert shown.startswith("title\na<b a<b")
    assert len(shown) > views.MESSAGE_LIMIT - 60  # not a whole line dropped


def test_middle_cut_keeps_the_beginning_and_the_end():
    reason = "START " + "x" * 9000 + " FINISH"
    short = views.middle_cut(reason, 1000)
    assert len(short) <= 1000
    assert short.startswith("START xx") and short.endswith("xx FINISH")
    assert "characters cut" in short
    assert views.middle_cut("short", 1000) == "short"


def test_a_failure_screen_keeps_a_long_reason_whole_when_it_fits_and_its_ends_when_not():
    menu = views.Menu("g")
    fits = "<&>" * 1100  # 3,300 shown, 13,200 escaped
    assert views.failure(menu, "The restore", fits)[0].endswith("&lt;&amp;&gt;" * 3)
    huge = "BEGIN " + "<&>" * 3000 + " END"
    text = views.failure(menu, "The restore", huge)[0]
    shown = parse_html(text)
    assert len(shown) <= views.MESSAGE_LIMIT
    assert "BEGIN <&>" in shown and shown.endswith("<&> END")


def _backups(count: int) -> list:
    from pathlib import Path

    from src.services.catalog import BackupInfo

    return [
        BackupInfo(
            Path(f"/b/pmo_recovery_backup_manual_2026010{n}_120000.zip"), "manual",
            f"2026010{n}_120000", 0, 2048, True,
            {"created_at": f"2026-01-0{n}T12:00:30+00:00"}, kept=n == 1,
        )
        for n in range(1, count + 1)
    ]  # fmt: skip


def test_a_list_page_says_where_it_is_and_its_items_lead_back_to_it():
    menu = views.Menu("g1")
    text, keyboard = views.backup_page(menu, _backups(9), "manual", 1)
    assert parse_html(text) == "📦 Backups \u203a Manual \u203a 2/2"
    (item,) = keyboard.inline_keyboard[0]
    assert item.text.endswith("12:00 · 2.00 KB") and item.callback_data.endswith(":1")
    details, buttons = views.backup_details(menu, _backups(1)[0], 50, page=1)
    assert parse_html(details).startswith("Backups \u203a Manual \u203a page 2")
    assert buttons.inline_keyboard[-1][0].callback_data == "bkg1|list|manual:1"


def test_list_labels_show_the_kind_kept_copies_and_the_time_to_the_minute():
    _, keyboard = views.backup_page(views.Menu("g1"), _backups(1), "manual", 0)
    assert keyboard.inline_keyboard[0][0].text == "✅ Manual 2026-01-01 12:00 · 2.00 KB · 📌 kept"


def test_a_restore_list_page_says_where_it_is_like_the_backup_list_in_both_languages():
    for lang, root, kept in (("en", "Restore", "📌 kept"), ("id", "Pemulihan", "📌 disimpan")):
        menu = views.Menu("g1", lang)
        text, keyboard = views.backup_page(menu, _backups(9), "manual", 0, "rlist")
        assert parse_html(text) == f"📦 {root} \u203a Manual \u203a 1/2"
        first = keyboard.inline_keyboard[0][0]
        assert first.text == f"✅ Manual 2026-01-01 12:00 · 2.00 KB · {kept}"
        assert first.callback_data == f"bkg1|plan|{views.backup_id(_backups(9)[0])}:0"
        assert keyboard.inline_keyboard[-1][0].callback_data == "bkg1|restore|"
