"""The fake Bot API misbehaves the way Telegram does when a test asks it to."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.bot_harness import TOKEN
from tests.fake_telegram import BLOCKED, NOT_STARTED, TOO_OLD, FakeTelegram


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    server = FakeTelegram(TOKEN).start()
    yield server
    server.stop()


def call(fake: FakeTelegram, method: str, **params: object) -> httpx.Response:
    return httpx.post(f"{fake.url}/bot{TOKEN}/{method}", json=params, timeout=5)


def test_flood_wait_is_answered_with_retry_after_the_given_number_of_times(fake):
    fake.fail("sendMessage", retry_after=3, times=2)
    for _ in range(2):
        refused = call(fake, "sendMessage", chat_id=1, text="hi")
        assert refused.status_code == 429
        assert refused.json()["parameters"] == {"retry_after": 3}
    assert call(fake, "sendMessage", chat_id=1, text="hi").json()["ok"]
    assert len(fake.sent_to(1)) == 1 and fake.pending_faults() == 0


def test_a_fault_for_one_method_and_chat_leaves_the_others_alone(fake):
    fake.fail("sendMessage", code=400, description="Bad Request: x", chat_id=2)
    assert call(fake, "sendMessage", chat_id=1, text="a").json()["ok"]
    assert call(fake, "sendMessage", chat_id=2, text="b").status_code == 400


def test_a_dropped_connection_gives_no_answer_before_or_after_the_work(fake):
    fake.drop("sendMessage")
    with pytest.raises(httpx.RemoteProtocolError):
        call(fake, "sendMessage", chat_id=1, text="lost")
    assert fake.sent_to(1) == []
    fake.drop("sendMessage", after=True)
    with pytest.raises(httpx.RemoteProtocolError):
        call(fake, "sendMessage", chat_id=1, text="sent, answer lost")
    assert [m["text"] for m in fake.sent_to(1)] == ["sent, answer lost"]


def test_blocked_and_never_started_users_are_refused_with_403(fake):
    fake.block(7)
    fake.never_started(8)
    assert call(fake, "sendMessage", chat_id=7, text="x").json()["description"] == BLOCKED
    assert call(fake, "sendMessage", chat_id=8, text="x").json()["description"] == NOT_STARTED
    assert call(fake, "sendMessage", chat_id=9, text="x").json()["ok"]


def test_callback_queries_expire_after_the_deadline(fake):
    fake.callback_deadline = 10
    message = {"message_id": 1, "chat": {"id": 5, "type": "private"}}
    fresh, old = fake.press(5, message, "x"), fake.press(5, message, "x", age=60)
    assert call(fake, "answerCallbackQuery", callback_query_id=fresh).json()["ok"]
    refused = call(fake, "answerCallbackQuery", callback_query_id=old).json()
    assert refused["description"] == TOO_OLD
    assert fake.answer_of(fresh, timeout=1) == {"callback_query_id": fresh}
