"""Admins in the bot: alerts rendered in both languages with right plurals, and a drain
started from the server health screen (after confirmation) that the worker carries out."""

from datetime import UTC, datetime

import pytest

from bot.notices import notice_markup, notice_text
from bot.setup import build_i18n
from db.models import KeyState, Notice, VPNKey
from domain.context import Context
from domain.keys import issuing
from domain.servers import alerts, registry
from domain.servers.drain import run_requested_drains
from tests.bot_fixtures import ADMIN, ADMIN_ID, BotHarness, buttons
from vpn.emulator import OutlineEmulator

RU_KEYS = {1: "действующий ключ", 2: "действующих ключа", 5: "действующих ключей",
           11: "действующих ключей", 21: "действующий ключ", 22: "действующих ключа"}  # fmt: skip


I18N = build_i18n()


def render(kind: str, payload: dict, language: str) -> str:
    with I18N.context(), I18N.use_locale(language):
        return notice_text(kind, payload, datetime(2030, 1, 1, 13, tzinfo=UTC))


@pytest.mark.parametrize("n", sorted(RU_KEYS))
def test_a_server_down_alert_counts_its_keys_in_both_languages(n: int) -> None:
    payload = {"server": "alpha", "since": "2030-01-01T12:00:00Z", "live_keys": n}
    en = render(alerts.SERVER_DOWN, payload, "en")
    key = "live key is" if n == 1 else "live keys are"
    assert (
        en
        == f"🔴 Server <b>alpha</b> is not answering since 1 January 2030, 12:00; {n} {key} on it."
    )
    ru = render(alerts.SERVER_DOWN, payload, "ru")
    assert (
        ru
        == f"🔴 Сервер <b>alpha</b> не отвечает с 1 января 2030, 12:00; на нём {n} {RU_KEYS[n]}."
    )


@pytest.mark.parametrize(
    ("seconds", "en", "ru"),
    [(30, "1 minute", "1 минута"), (185, "3 minutes", "3 минуты"),
     (21 * 60, "21 minutes", "21 минута"),
     (5 * 3600 + 120, "5 hours 2 minutes", "5 часов 2 минуты")],
)  # fmt: skip
def test_a_server_back_alert_says_how_long_it_was_down(seconds: int, en: str, ru: str) -> None:
    payload = {"server": "alpha", "down_for": seconds}
    assert render(alerts.SERVER_UP, payload, "en").endswith(f"answers again (down for {en}).")
    assert render(alerts.SERVER_UP, payload, "ru").endswith(f"снова отвечает (простой: {ru}).")
    with I18N.context(), I18N.use_locale("en"):
        markup = notice_markup(alerts.SERVER_UP, payload)
    assert buttons(markup) == [[("🩺 Server health", "a:health")]]


def test_failover_and_drain_alerts_say_where_the_keys_went() -> None:
    payload = {"server": "alpha", "moved": {"beta": 2, "gamma": 3}, "failed": 1, "left": 1}
    assert render(alerts.FAILOVER, payload, "en") == (
        "🚚 Failover: 5 keys of <b>alpha</b> moved to healthy servers (beta 2, gamma 3). "
        "Failed: 1; still on it: 1."
    )
    done = {"server": "alpha", "moved": {"beta": 1}, "failed": 0, "left": 0}
    assert render(alerts.DRAIN_DONE, done, "ru") == (
        "🚚 Сервер <b>alpha</b> освобождён: перенесён 1 ключ (beta 1)."
    )


async def test_an_admin_drains_a_server_from_the_health_screen(
    tg: BotHarness, bot_ctx: Context, bot_beta: OutlineEmulator
) -> None:
    admin = tg.as_user(ADMIN)
    await admin.send("/start")
    for i in range(2):
        await issuing.create_key(bot_ctx, server="alpha", name=f"k{i}", actor="t")
    alpha = await registry.get_server("alpha")
    health, _ = await admin.press("a:health", message_id=3)
    assert buttons(health.reply_markup)[0] == [("🚚 Drain alpha", f"as:drain:{alpha.id}")]
    ask, _ = await admin.press(f"as:drain:{alpha.id}", message_id=3)
    assert ask.text.startswith("Drain <b>alpha</b>? It is disabled at once and its 2 live keys")
    assert buttons(ask.reply_markup) == [
        [("✅ Yes, drain", f"as:drain_ok:{alpha.id}"), ("Cancel", "a:health")]
    ]
    started, _ = await admin.press(f"as:drain_ok:{alpha.id}", message_id=3)
    assert started.text.startswith("⏳ Draining <b>alpha</b>")
    alpha = await registry.get_server("alpha")
    assert alpha.draining and not alpha.is_active
    health, _ = await admin.press("a:health", message_id=3)
    assert "alpha</b> (disabled) — being drained" in health.text
    [report] = await run_requested_drains(bot_ctx, frozenset({ADMIN_ID}))
    assert report.moved == {"beta": 2}
    assert not await VPNKey.filter(server=alpha, state=KeyState.LIVE).exists()
    assert not (await registry.get_server("alpha")).draining
    done = await Notice.get(kind=alerts.DRAIN_DONE)
    assert done.user_id == ADMIN_ID and done.payload["moved"] == {"beta": 2}
