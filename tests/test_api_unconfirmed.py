"""A change the server never confirms (every answer lost, and reading the key back fails):
the answer says what is known, the database keeps the old value, the reconciler puts it back."""

import asyncio

import pytest

from api.app_keys import CONTEXT
from db.models import VPNKey
from domain.keys import outcomes, remote
from domain.keys.reconcile import reconcile
from tests.api_fixtures import Api
from tests.test_api_outcomes import HANG, LOST, key_path, lose, on_server, settled, unreadable

UNCONFIRMED = (
    "VPN server 'alpha' did not confirm the change and could not be asked about it; "
    "the key keeps its old value here and the reconciler sets it there again"
)
CHANGES = [
    ({"command": "token_name", "name": "renamed"}, "/name"),
    ({"command": "token_traffic_limit", "traffic_limit": 5}, "/data-limit"),
]


async def acted(api: Api) -> None:
    """Wait until every hung call has acted; the server may now differ from the database."""
    await asyncio.sleep(HANG)
    api.emulator.faults.clear()


@pytest.mark.parametrize("fault", LOST)
@pytest.mark.parametrize(("body", "remote_path"), CHANGES)
async def test_an_unconfirmable_change_says_so_and_the_reconciler_puts_the_old_value_back(
    api: Api, fault: str, body, remote_path: str
) -> None:
    key = await api.new_key(name="old", traffic_limit=1000)
    lose(api, fault, method="PUT", path=remote_path, n=outcomes.ATTEMPTS)
    unreadable(api)
    answer = await api.call("PATCH", key_path(key), body, expect=504)
    assert answer["details"] == UNCONFIRMED
    await acted(api)
    row = await VPNKey.get(id=key["id"])
    assert (row.name, row.traffic_limit) == ("old", 1000)  # the database kept the old value
    record = await on_server(api, key)
    assert record is not None and (record.name, record.limit) != ("old", 1000)  # it acted
    (report,) = await reconcile(api.client.app[CONTEXT])
    assert report.reapplied == [key["id"]]
    record = await on_server(api, key)
    assert record is not None
    assert (record.name, record.limit) == ("old", remote.server_limit(row))
    await settled(api)
