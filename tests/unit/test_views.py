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
