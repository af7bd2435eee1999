"""A trial the VPN server failed to create is offered again at once, in the bot too."""

import pytest
from aiogram.methods import AnswerCallbackQuery, EditMessageText

from db.models import KeyState, VPNKey
from domain.keys import outcomes
from tests.bot_fixtures import ANN, BotHarness

HANG = 1.5  # longer than the pool's 1 s timeout


@pytest.mark.parametrize("fault", ["server down", "timeout resolved as not created"])
async def test_a_failed_trial_can_be_asked_again_at_once(
    tg: BotHarness, server, outline_server, fault: str
) -> None:
    faults = outline_server.emulator.faults
    if fault == "server down":  # the failed key cannot even be cleaned up on the server
        faults.fail_next(50, 503)
    else:
        put = {"method": "PUT", "path_contains": "/access-keys/"}
        faults.hang_before_next(outcomes.ATTEMPTS, HANG, **put)
    ann = tg.as_user(ANN)
    await ann.send("/start")
    (failed,) = await ann.press("m:trial", message_id=2)
    assert isinstance(failed, AnswerCallbackQuery) and failed.show_alert
    assert failed.text.startswith("The VPN server is not answering right now.")
    assert not await VPNKey.filter(state=KeyState.LIVE).exists()
    faults.clear()
    edit, _, _ = await ann.press("m:trial", message_id=2)
    assert isinstance(edit, EditMessageText)
    assert edit.text.startswith("🎁 Your free trial key is ready!")
    assert (await VPNKey.get(owner_id=100, state=KeyState.LIVE)).is_demo
