"""The port the worker delivers user notices through (the bot implements it)."""

from typing import Any, Protocol

from domain.errors import DomainError


class RecipientBlocked(DomainError):
    """The user blocked the bot (or deleted their account): stop messaging them."""

    code = "recipient_blocked"


class RetryLater(DomainError):
    """Telegram asked us to wait (flood control): try again after ``seconds``."""

    code = "retry_later"

    def __init__(self, seconds: float) -> None:
        super().__init__(f"flood control: retry in {seconds:g}s", seconds=seconds)
        self.seconds = max(0.0, float(seconds))


class Messenger(Protocol):
    """Renders and sends one notice to one Telegram user.

    Raise ``RecipientBlocked`` when the user blocked the bot and ``RetryLater`` on a flood
    wait; any other exception counts as a failed attempt and is retried with backoff.
    """

    async def send_notice(
        self, *, user_id: int, language: str | None, kind: str, payload: dict[str, Any]
    ) -> None: ...
