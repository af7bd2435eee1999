"""The admin bot moves a key: server choice, then the card of the moved key."""

from db.models import VPNKey
from domain.context import Context
from domain.keys import issuing
from domain.servers import registry
from tests.bot_fixtures import ADMIN, ANN, BotHarness, buttons
from vpn.emulator import OutlineEmulator


async def test_an_admin_moves_a_key_to_the_server_they_choose(
    tg: BotHarness, bot_ctx: Context, bot_beta: OutlineEmulator
) -> None:
    await tg.as_user(ANN).send("/start")
    key = await issuing.create_key(bot_ctx, server="alpha", tg_id=100, name="home", actor="t")
    admin = tg.as_user(ADMIN)
    ask, _ = await admin.press(f"ak:move:{key.id}", message_id=9)
    beta_id = (await registry.get_server("beta")).id
    assert ask.text == f"Move key #{key.id} “home” from alpha to:"
    assert buttons(ask.reply_markup) == [
        [("🌍 beta", f"am:{key.id}:{beta_id}")],
        [("⚖️ Least loaded server", f"am:{key.id}:0")],
        [("Cancel", f"ak:show:{key.id}")],
    ]
    card, _ = await admin.press(f"am:{key.id}:{beta_id}", message_id=9)
    assert card.text.startswith(f"✅ Moved to beta.\n\n#{key.id} <b>home</b>")
    moved = await VPNKey.get(id=key.id).select_related("server")
    assert moved.server.name == "beta" and list(bot_beta.keys) == [moved.remote_id]


async def test_least_loaded_moves_the_key_off_its_server(
    tg: BotHarness, bot_ctx: Context, bot_beta: OutlineEmulator
) -> None:
    key = await issuing.create_key(bot_ctx, server="alpha", name="k", actor="t")
    card, _ = await tg.as_user(ADMIN).press(f"am:{key.id}:0", message_id=9)
    assert card.text.startswith("✅ Moved to beta.")
