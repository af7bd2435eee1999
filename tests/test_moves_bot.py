"""The admin bot moves a key (server choice, then the moved key's card); "auto" in the bot
picks the least loaded server."""

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


async def load_alpha(bot_ctx: Context, n: int = 2) -> None:
    """Live keys on alpha, the first server by name: "auto" must not pick it."""
    for i in range(n):
        await issuing.create_key(bot_ctx, server="alpha", name=f"load {i}", actor="t")


async def test_the_trial_on_any_server_goes_to_the_least_loaded_not_the_first_by_name(
    tg: BotHarness, bot_ctx: Context, bot_beta: OutlineEmulator
) -> None:
    await load_alpha(bot_ctx)
    ann = tg.as_user(ANN)
    await ann.send("/start")
    await ann.press("t:-1", message_id=3)
    key = await VPNKey.get(owner_id=ANN.id).select_related("server")
    assert key.is_demo and key.server.name == "beta" and list(bot_beta.keys) == [key.remote_id]


async def test_the_admin_issues_a_key_on_the_least_loaded_server(
    tg: BotHarness, bot_ctx: Context, bot_beta: OutlineEmulator
) -> None:
    await load_alpha(bot_ctx)
    await tg.as_user(ANN).send("/start")
    admin = tg.as_user(ADMIN)
    choose, _ = await admin.press(f"ai:{ANN.id}:0", message_id=9)
    assert [("⚖️ Least loaded server", f"ai:{ANN.id}:-1")] in buttons(choose.reply_markup)
    issued, _ = await admin.press(f"ai:{ANN.id}:-1", message_id=9)
    key = await VPNKey.get(owner_id=ANN.id).select_related("server")
    assert issued.text.startswith(f"✅ Key issued.\n\n#{key.id} <b>Key 1</b>")
    assert key.server.name == "beta" and list(bot_beta.keys) == [key.remote_id]
