"""The error handler: translated domain errors, blocked users, harmless Telegram refusals,
and unexpected failures logged without secrets."""

import logging
from datetime import UTC, datetime

import pytest
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage
from aiogram.types import (
    Chat,
    ChatMemberBanned,
    ChatMemberMember,
    ChatMemberUpdated,
    Update,
    User,
)

from bot.errors import redact
from db.models import VPNKey
from domain.accounts import users
from domain.context import Context
from domain.keys import issuing
from tests.bot_fixtures import ANN, BORIS, BOT_USER, TOKEN, BotHarness, buttons


@pytest.fixture
async def boris_key(tg: BotHarness, server, bot_ctx: Context) -> VPNKey:
    await tg.as_user(BORIS).send("/start")
    return await issuing.create_key(bot_ctx, server="alpha", tg_id=200, name="дом", actor="t")


async def test_a_user_who_blocked_the_bot_is_marked_and_unmarked_on_return(
    tg: BotHarness,
) -> None:
    await tg.as_user(ANN).send("/start")
    tg.session.errors[ANN.id] = (403, "Forbidden: bot was blocked by the user")
    (refused,) = await tg.as_user(ANN).send("/help")
    assert isinstance(refused, SendMessage)
    assert (await users.get_user(ANN.id)).bot_blocked_at is not None
    del tg.session.errors[ANN.id]
    (hello,) = await tg.as_user(ANN).send("/start")  # writing again means unblocked
    assert hello.text.startswith("Hello, Ann!")
    assert (await users.get_user(ANN.id)).bot_blocked_at is None


async def test_an_unavailable_vpn_server_is_explained_in_the_users_language(
    tg: BotHarness, boris_key: VPNKey, outline_server
) -> None:
    outline_server.emulator.faults.fail_next(10, status=500)
    card, alert = await tg.as_user(BORIS).press(f"k:refresh_ok:{boris_key.id}", message_id=5)
    assert isinstance(card, EditMessageText) and card.message_id == 5  # not the question
    assert card.text.startswith("<b>дом</b> — 🟢 активен\nСервер: alpha\n")
    assert buttons(card.reply_markup)[0] == [("📷 QR-код", f"k:qr:{boris_key.id}")]
    assert isinstance(alert, AnswerCallbackQuery) and alert.show_alert
    assert alert.text == "VPN-сервер сейчас не отвечает. Ничего не изменилось — попробуйте позже."
    key = await VPNKey.get(id=boris_key.id)
    assert (key.access_url, key.deleted_at) == (boris_key.access_url, None)


async def test_an_unchanged_edit_is_ignored_quietly(tg: BotHarness, boris_key: VPNKey) -> None:
    tg.session.errors["EditMessageText"] = (400, "Bad Request: message is not modified")
    edit, answer = await tg.as_user(BORIS).press(f"k:show:{boris_key.id}")
    assert isinstance(edit, EditMessageText)
    assert isinstance(answer, AnswerCallbackQuery) and not answer.text


async def test_an_unexpected_failure_is_logged_without_secrets(
    tg: BotHarness, boris_key: VPNKey, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    async def broken(tg_id: int, server: str | None = None) -> list[VPNKey]:
        raise RuntimeError(f"boom {boris_key.access_url} via https://x/{TOKEN}/getMe")

    monkeypatch.setattr(issuing, "user_keys", broken)
    (reply,) = await tg.as_user(BORIS).send("/keys")
    assert reply.text == "Что-то пошло не так. Попробуйте позже."
    (record,) = [r for r in caplog.records if r.name == "bot.errors"]
    assert record.levelno == logging.ERROR
    assert "RuntimeError: boom [redacted] via [redacted]" in record.getMessage()
    assert "ss://" not in record.getMessage() and TOKEN not in record.getMessage()


def test_redact_hides_access_urls_tokens_and_server_urls() -> None:
    text = f"ss://abc@1.2.3.4:5/?outline=1 bot{TOKEN}/x https://h:1/SeCrEt/access-keys"
    assert redact(text) == "[redacted] bot[redacted]/x [redacted]"


def member_update(user: User, status: ChatMemberBanned | ChatMemberMember, update_id: int):
    old = ChatMemberMember(user=BOT_USER) if isinstance(status, ChatMemberBanned) else None
    event = ChatMemberUpdated(
        chat=Chat(id=user.id, type="private"),
        from_user=user,
        date=datetime.now(UTC),
        old_chat_member=old or ChatMemberBanned(user=BOT_USER, until_date=0),
        new_chat_member=status,
    )
    return Update(update_id=update_id, my_chat_member=event)


async def test_telegram_telling_us_about_a_block_marks_the_user_at_once(tg: BotHarness) -> None:
    await tg.as_user(ANN).send("/start")
    kicked = member_update(ANN, ChatMemberBanned(user=BOT_USER, until_date=0), 501)
    assert await tg.feed(kicked) == []
    assert (await users.get_user(ANN.id)).bot_blocked_at is not None
    assert await tg.feed(member_update(ANN, ChatMemberMember(user=BOT_USER), 502)) == []
    assert (await users.get_user(ANN.id)).bot_blocked_at is None
