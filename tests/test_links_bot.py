"""The bot's key card with dynamic links on: the ssconf:// link to copy and scan, the static
ss:// key one tap away, both on the admin card."""

import io

import pytest
import zxingcpp
from aiogram.methods import EditMessageText, SendPhoto
from PIL import Image

from db.models import VPNKey
from domain.context import Context
from domain.keys import issuing
from domain.links.signing import LinkSigner
from tests.bot_fixtures import ADMIN, ANN, BotHarness, buttons
from tests.conftest import SECRET_MARKERS
from tests.link_fixtures import LINK_SECRET, PUBLIC_URL


@pytest.fixture
async def ann_key(tg: BotHarness, server, bot_ctx: Context) -> VPNKey:
    """Ann's key "home", with links signed for the test's PUBLIC_URL."""
    bot_ctx.links = LinkSigner(PUBLIC_URL, LINK_SECRET.encode())
    await tg.as_user(ANN).send("/start")
    key = await issuing.create_key(bot_ctx, server="alpha", tg_id=100, name="home", actor="t")
    SECRET_MARKERS.append(bot_ctx.links.secret(key) or "?")
    return key


async def test_the_card_offers_the_dynamic_link_to_copy_and_the_static_key_one_tap_away(
    tg: BotHarness, ann_key: VPNKey, bot_ctx: Context
) -> None:
    link = bot_ctx.links.url(ann_key) if bot_ctx.links else ""
    card, _ = await tg.as_user(ANN).press(f"k:show:{ann_key.id}", message_id=5)
    assert isinstance(card, EditMessageText)
    assert card.text.endswith(
        f"Your access key (tap to copy):\n<code>{link}</code>\n"
        "It keeps working when we move your key to another server."
    )
    assert ann_key.access_url not in card.text
    assert buttons(card.reply_markup)[0] == [
        ("📷 QR code", f"k:qr:{ann_key.id}"),
        ("🔑 Static key (ss://)", f"k:static:{ann_key.id}"),
    ]
    static, _ = await tg.as_user(ANN).press(f"k:static:{ann_key.id}", message_id=5)
    assert f"<code>{ann_key.access_url}</code>" in static.text
    assert buttons(static.reply_markup) == [[("« Back", f"k:show:{ann_key.id}")]]


async def test_the_qr_code_decodes_to_the_dynamic_link(
    tg: BotHarness, ann_key: VPNKey, bot_ctx: Context
) -> None:
    photo, _ = await tg.as_user(ANN).press(f"k:qr:{ann_key.id}")
    assert isinstance(photo, SendPhoto)
    image = Image.open(io.BytesIO(photo.photo.data))
    link = bot_ctx.links.url(ann_key) if bot_ctx.links else ""
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [link]


async def test_the_admin_card_shows_both_keys(
    tg: BotHarness, ann_key: VPNKey, bot_ctx: Context
) -> None:
    card, _ = await tg.as_user(ADMIN).press(f"ak:show:{ann_key.id}", message_id=9)
    link = bot_ctx.links.url(ann_key) if bot_ctx.links else ""
    assert f"Dynamic key: <code>{link}</code>" in card.text
    assert f"<code>{ann_key.access_url}</code>" in card.text
