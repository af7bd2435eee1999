"""Settling what a VPN call did when its answer was lost (a timeout, a dropped connection).

The server may have acted, so the call is sent again (tenacity, ``ATTEMPTS`` in all): only
calls that are idempotent by design, i.e. a create under our own id, a delete, a rename, a
limit. What the repeated call answers settles it: ``409`` to a repeated create means our
first one made the key, ``404`` to a repeated delete means it is gone. When repeating does
not settle it, the key is read back (``GET /access-keys/{id}``). A call whose answer was
*not* lost is never repeated: an error answer means nothing changed.

* ``create``: the created key, or an error after which the server holds no such key (one
  that appears later anyway is an orphan for the reconciler; the caller drops its row).
* ``apply`` (rename, limit): done, or an error when the server holds the old value, or when
  even the read-back fails (``ChangeUnconfirmed``: nobody knows which value the server holds
  until the reconciler's next round; the database keeps the old one, and the reconciler sets
  that on the server again).
* ``delete``: ``True`` when the key is gone, an error when the server still holds it, and
  ``False`` when not even the read-back answers (logged). A caller that goes on as if
  deleted leaves the server's key, if it is still there, to the reconciler, which deletes it
  as an orphan: a delete that may have happened is never undone, so no key a caller asked
  to delete comes back.
"""

import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from db.models import VPNKey, VPNServer
from domain.errors import ServerTimeout, ServerUnavailable
from domain.keys import remote
from vpn.backends import Backend, RemoteKey
from vpn.errors import VpnConflict, VpnError, VpnNoAnswer, VpnNotFound

logger = logging.getLogger(__name__)
T = TypeVar("T")
ATTEMPTS = 3


class KeyIdTaken(ServerUnavailable):
    """The server already holds a key under the id we drew (not ours to touch)."""


class ChangeUnconfirmed(ServerTimeout):
    """The answer was lost and the server could not be asked what it did."""


@dataclass
class _Tries:
    """Repeats an idempotent call after lost answers, remembering whether one was lost."""

    lost: bool = False

    async def run(self, attempt: Callable[[], Awaitable[T]]) -> T:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(VpnNoAnswer),
            stop=stop_after_attempt(ATTEMPTS),
            wait=wait_exponential(multiplier=0.1, max=1.0),
            reraise=True,
        )
        async for retry in retrying:
            with retry:
                try:
                    return await attempt()
                except VpnNoAnswer:
                    self.lost = True
                    raise
        raise AssertionError("tenacity re-raises the last error")


def _unconfirmed(server: VPNServer, what: str, after: str) -> ChangeUnconfirmed:
    """``what`` may or may not have happened; ``after``: what the caller leaves behind."""
    return ChangeUnconfirmed(
        f"VPN server '{server.name}' did not confirm {what} and could not be asked about it; "
        + after,
        server=server.name,
    )


async def create(server: VPNServer, client: Backend, key: VPNKey) -> RemoteKey:
    """Create the staged ``key`` on the server under its own id."""
    tries = _Tries()

    async def attempt() -> RemoteKey:
        try:
            return await client.create_key(
                key.remote_id, name=key.name, limit=remote.server_limit(key), fresh=True
            )
        except VpnConflict:
            if not tries.lost:
                raise KeyIdTaken(
                    f"VPN server '{server.name}' already has a key with the id drawn; try again",
                    server=server.name,
                ) from None
            return await _made(client, key.remote_id)  # our lost attempt made it

    try:
        return await tries.run(attempt)
    except VpnError as exc:
        if not tries.lost:
            raise remote.domain_error(server, exc) from None
        try:
            return await _made(client, key.remote_id)
        except VpnNotFound:
            raise remote.domain_error(server, exc) from None
        except VpnError:
            after = "nothing was created (a key it may have made is deleted again)"
            raise _unconfirmed(server, "the new key", after) from None


async def _made(client: Backend, remote_id: str) -> RemoteKey:
    """The key a lost create made, with its limit put in force (Outline does not check a
    new key's limit before its hourly round: see ``OutlineClient.create_key``)."""
    found = await client.get_key(remote_id)
    if found.limit is not None:
        await client.set_limit(remote_id, found.limit)
    return found


async def apply(
    server: VPNServer,
    client: Backend,
    remote_id: str,
    send: Callable[[], Awaitable[None]],
    done: Callable[[RemoteKey], bool],
) -> None:
    """Send one idempotent change (``send()`` makes the call; ``done`` recognises it)."""
    tries = _Tries()
    try:
        await tries.run(send)
    except VpnError as exc:
        if not tries.lost:
            raise remote.domain_error(server, exc) from None
        try:
            found = await client.get_key(remote_id)
        except VpnError:
            after = "the key keeps its old value here and the reconciler sets it there again"
            raise _unconfirmed(server, "the change", after) from None
        if not done(found):
            raise remote.domain_error(server, exc) from None


async def delete(server: VPNServer, client: Backend, remote_id: str) -> bool:
    """Delete a key on the server; ``False``: perhaps deleted (see the module docstring)."""
    tries = _Tries()

    async def attempt() -> None:
        with suppress(VpnNotFound):  # gone: at once, or through an attempt whose answer was lost
            await client.delete_key(remote_id)

    try:
        await tries.run(attempt)
    except VpnError as exc:
        if not tries.lost:
            raise remote.domain_error(server, exc) from None
        try:
            await client.get_key(remote_id)
        except VpnNotFound:
            return True
        except VpnError:
            logger.warning(
                "server %s did not confirm deleting key %s, nor answer whether it holds it; "
                "a key left there is deleted by the reconciler",
                server.name,
                remote_id,
            )
            return False
        raise remote.domain_error(server, exc) from None
    return True
