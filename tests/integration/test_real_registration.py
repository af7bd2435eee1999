"""Registering the real Outline server: the pinned certificate is required and checked."""

from urllib.parse import urlsplit

import pytest

from db.models import VPNServer
from domain import audit
from domain.context import Context
from domain.errors import ServerUnavailable
from domain.servers import registry
from tests.integration.conftest import RealOutline


async def test_the_real_server_answers_through_its_pinned_certificate(
    real_server: VPNServer,
) -> None:
    assert real_server.cert_sha256 is not None
    assert await VPNServer.filter(name="real").exists()


async def test_a_wrong_certificate_pin_is_refused(
    db: str, ctx: Context, real_outline: RealOutline
) -> None:
    wrong = "00" * 32
    with pytest.raises(ServerUnavailable, match="fingerprint"):
        await registry.add_server(
            ctx, name="wrong", api_url=real_outline.api_url, cert_sha256=wrong, actor=audit.CLI
        )
    assert not await VPNServer.filter(name="wrong").exists()


async def test_real_traffic_passes_through_a_new_key(
    real_server: VPNServer, ctx: Context, real_outline: RealOutline
) -> None:
    from domain.keys import issuing

    key = await issuing.create_key(ctx, server="real", name="probe", actor=audit.CLI)
    report = await real_outline.move_bytes(key.access_url or "", 100_000)
    assert report["ok"], report
    assert report["bytes_moved"] == 100_000


async def test_registering_without_a_pin_is_refused_by_the_self_signed_certificate(
    db: str, ctx: Context, real_outline: RealOutline
) -> None:
    with pytest.raises(ServerUnavailable, match="certificate verification failed"):
        await registry.add_server(
            ctx, name="unpinned", api_url=real_outline.api_url, actor=audit.CLI
        )
    assert not await VPNServer.filter(name="unpinned").exists()


async def test_a_wrong_secret_path_is_refused_without_echoing_it(
    db: str, ctx: Context, real_outline: RealOutline
) -> None:
    wrong_url = real_outline.api_url + "x"
    with pytest.raises(ServerUnavailable, match="wrong api_url") as raised:
        await registry.add_server(
            ctx,
            name="typo",
            api_url=wrong_url,
            cert_sha256=real_outline.cert_sha256,
            actor=audit.CLI,
        )
    assert urlsplit(wrong_url).path not in str(raised.value)
    assert not await VPNServer.filter(name="typo").exists()
