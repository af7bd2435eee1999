"""The API token cache: a hit costs no query, and a revocation is refused within its time by
every serving process (real processes, revoked from a third one: the CLI)."""

import asyncio
from pathlib import Path

import aiohttp
import pytest

from domain import audit
from domain.accounts import tokens
from domain.errors import Unauthorized
from tests.conftest import ON_POSTGRES
from tests.serve_fixtures import start_serving, until_serving
from tests.test_cli import run_cli


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The database checks the cache makes (token digests), counted."""
    made: list[str] = []
    real = tokens._check

    async def counted(digest: str) -> tokens.LiveToken:
        made.append(digest)
        return await real(digest)

    monkeypatch.setattr(tokens, "_check", counted)
    return made


async def test_a_cached_token_is_not_checked_again_until_its_time_is_up(
    db: str, checks: list[str]
) -> None:
    _, plaintext = await tokens.create_token("billing", actor=audit.CLI)
    clock = Clock()
    cache = tokens.TokenCache(1.0, clock)
    assert (await cache.authenticate(plaintext)).name == "billing"
    clock.now = 0.99
    await cache.authenticate(plaintext)
    assert len(checks) == 1
    await tokens.revoke_token("billing", actor=audit.CLI)
    clock.now = 1.0
    with pytest.raises(Unauthorized):
        await cache.authenticate(plaintext)
    with pytest.raises(Unauthorized):
        await cache.authenticate(plaintext)
    assert len(checks) == 3  # a refused token is never kept


async def test_concurrent_requests_with_one_token_share_one_check(
    db: str, checks: list[str]
) -> None:
    _, plaintext = await tokens.create_token("billing", actor=audit.CLI)
    cache = tokens.TokenCache(1.0)
    found = await asyncio.gather(*(cache.authenticate(plaintext) for _ in range(20)))
    assert {token.name for token in found} == {"billing"} and len(checks) == 1


async def test_a_cancelled_request_does_not_fail_the_others_waiting_on_its_check(
    db: str, checks: list[str]
) -> None:
    _, plaintext = await tokens.create_token("billing", actor=audit.CLI)
    cache = tokens.TokenCache(1.0)
    first = asyncio.create_task(cache.authenticate(plaintext))
    second = asyncio.create_task(cache.authenticate(plaintext))
    await asyncio.sleep(0)
    first.cancel()
    assert (await second).name == "billing" and len(checks) == 1


async def test_with_no_cache_time_every_request_is_checked(db: str, checks: list[str]) -> None:
    _, plaintext = await tokens.create_token("billing", actor=audit.CLI)
    cache = tokens.TokenCache(0)
    for _ in range(3):
        await cache.authenticate(plaintext)
    assert len(checks) == 3


async def test_a_revoked_token_is_refused_by_every_process_within_a_second(
    database_url: str, tmp_path: Path
) -> None:
    code, out, err = await run_cli(database_url, "token", "create", "billing")
    assert code == 0, err
    headers = {"Authorization": f"Bearer {out.splitlines()[-1]}"}
    # SQLite serves one process: there the CLI is the second one.
    count = 2 if ON_POSTGRES else 1
    processes = [start_serving(database_url, tmp_path / f"serve{n}.log") for n in range(count)]
    try:
        for served in processes:
            await until_serving(served)
        async with aiohttp.ClientSession() as session:

            async def statuses() -> list[int]:
                answers = []
                for served in processes:
                    url = f"{served.base}/api/user/1/"
                    async with session.get(url, headers=headers) as resp:
                        answers.append(resp.status)
                return answers

            assert await statuses() == [404] * count  # accepted (no such user): now cached
            code, _, err = await run_cli(database_url, "token", "revoke", "billing")
            assert code == 0, err
            await asyncio.sleep(1.0)  # API_TOKEN_CACHE_SECONDS' default
            assert await statuses() == [401] * count
    finally:
        for served in processes:
            served.stop()
