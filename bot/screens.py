"""Showing a screen: edit the pressed message in place, or answer a command with a new one."""

from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message

from bot import keyboards, shop_texts, texts
from bot.qr import qr_png
from bot.texts import qr_caption
from db.models import VPNKey
from domain.billing.subscriptions import KeyCard
from domain.context import Context
from domain.links.signing import dynamic_url

Event = Message | CallbackQuery


async def show(event: Event, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Replace the pressed message's text (callbacks) or send a new message (commands)."""
    if isinstance(event, Message):
        await event.answer(text, reply_markup=markup)
        return
    if isinstance(event.message, Message):
        await event.message.edit_text(text, reply_markup=markup)
    elif event.bot is not None:  # too old to edit: send a fresh copy instead
        await event.bot.send_message(event.from_user.id, text, reply_markup=markup)
    await event.answer()


def key_screen(
    key: VPNKey, ctx: Context, card: KeyCard | None = None
) -> tuple[str, InlineKeyboardMarkup]:
    """A key's card and buttons: its dynamic link when it has one, and its auto-renewal when
    a subscription renews it (``card``)."""
    link = dynamic_url(ctx.links, key)
    text = texts.key_card(key, ctx.now(), link)
    if card is not None and (renewal := shop_texts.renewal(card)):
        text += "\n\n" + renewal
    renews = card.renews if card is not None else None
    return text, keyboards.key_card(key.id, dynamic=bool(link), renews=renews)


async def send_qr(event: Event, key: VPNKey, link: str | None = None) -> None:
    """Send the key's dynamic link (else its access URL) as a QR code to the chat of ``event``."""
    data = link or key.access_url or ""
    photo = BufferedInputFile(qr_png(data), filename=f"key-{key.id}.png")
    chat_id = event.chat.id if isinstance(event, Message) else event.from_user.id
    if event.bot is not None:
        await event.bot.send_photo(chat_id, photo, caption=qr_caption(key), parse_mode=None)
