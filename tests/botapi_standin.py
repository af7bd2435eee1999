"""A local Bot API stand-in with Telegram Stars, reached over HTTP through
``TELEGRAM_API_BASE``: the recording server of ``bot_fixtures.FakeBotApi`` plus invoices,
invoice links, the pre-checkout round trip and charges, and helpers that act as users."""

import asyncio
import itertools
import json
from datetime import UTC, datetime
from typing import Any

from aiogram.types import CallbackQuery, Chat, Message, Update, User

from tests.billing_fixtures import payment_update, pre_checkout_update
from tests.bot_fixtures import BOT_USER, FakeBotApi

LINK = "https://t.me/$standin-"


class BotApiStandIn(FakeBotApi):
    """Answers ``sendInvoice`` and ``createInvoiceLink`` like Telegram and plays the users."""

    def __init__(self) -> None:
        super().__init__()
        self._update_ids = itertools.count(1)
        self._charges = itertools.count(1)

    def _result(self, method: str, params: dict[str, Any], chat_id: int) -> Any:
        if method == "sendInvoice":
            chat = {"id": chat_id, "type": "private", "first_name": "x"}
            return {"message_id": next(self._ids), "date": 0, "chat": chat, "text": "…"}
        if method == "createInvoiceLink":
            return LINK + str(params["payload"])
        return super()._result(method, params, chat_id)

    def mark(self) -> int:
        """Where the calls made so far end (for ``next_call``)."""
        return len(self.calls)

    async def next_call(self, method: str, since: int, **match: str) -> dict[str, Any]:
        """The first call of ``method`` after ``since`` whose parameters contain ``match``."""

        def found() -> dict[str, Any] | None:
            for name, params in self.calls[since:]:
                if name == method and all(match[k] in str(params.get(k)) for k in match):
                    return params
            return None

        async with asyncio.timeout(10), self._changed:
            await self._changed.wait_for(lambda: found() is not None)
        result = found()
        assert result is not None
        return result

    def send(self, user: User, text: str) -> None:
        """``user`` sends ``text`` to the bot."""
        update_id = next(self._update_ids)
        chat = Chat(id=user.id, type="private")
        message = Message(
            message_id=update_id, date=datetime.now(UTC), chat=chat, from_user=user, text=text
        )
        self.queue(Update(update_id=update_id, message=message))

    def press(self, user: User, data: str) -> None:
        """``user`` presses the button carrying ``data``."""
        update_id = next(self._update_ids)
        chat = Chat(id=user.id, type="private")
        shown = Message(
            message_id=1, date=datetime.now(UTC), chat=chat, from_user=BOT_USER, text="…"
        )
        query = CallbackQuery(
            id=f"cb{update_id}", from_user=user, chat_instance="c", message=shown, data=data
        )
        self.queue(Update(update_id=update_id, callback_query=query))

    async def checkout(self, user: User, payload: str, amount: int) -> dict[str, Any]:
        """``user`` presses Pay: Telegram asks the bot first; its answer."""
        update_id, since = next(self._update_ids), self.mark()
        self.queue(pre_checkout_update(update_id, user, payload, amount))
        return await self.next_call(
            "answerPreCheckoutQuery", since, pre_checkout_query_id=f"pcq{update_id}"
        )

    async def pay(
        self, user: User, payload: str, amount: int, *, renewal: bool = False, **charge: Any
    ) -> str | None:
        """Telegram charges ``user`` if the bot confirms (renewals are not asked about);
        the charge id, or ``None`` when the bot refused."""
        if not renewal and (await self.checkout(user, payload, amount))["ok"] != "true":
            return None
        charge_id = charge.pop("charge_id", None) or f"stx-{next(self._charges)}"
        self.deliver_charge(user, payload, amount, charge_id, **charge)
        return charge_id

    def deliver_charge(
        self, user: User, payload: str, amount: int, charge_id: str, **kw: Any
    ) -> None:
        """The ``successful_payment`` message (again, when Telegram re-delivers it)."""
        self.queue(payment_update(next(self._update_ids), user, payload, amount, charge_id, **kw))


def keyboard(params: dict[str, Any]) -> list[list[dict[str, str]]]:
    """The inline keyboard of a recorded call."""
    return json.loads(params["reply_markup"])["inline_keyboard"]
