"""Users, servers and API tokens in the domain layer."""

import pytest

from db.models import AuditEvent, User
from domain import audit
from domain.accounts import tokens, users
from domain.accounts.users import UserProfile
from domain.context import Context
from domain.errors import Conflict, Invalid, NotFound, ServerUnavailable, Unauthorized
from domain.servers import registry


async def test_upsert_creates_then_updates_only_what_changed(db: str) -> None:
    await users.upsert_user(UserProfile(id=42, first_name="Ann", username="ann"), actor="cli")
    user = await users.upsert_user(
        UserProfile(id=42, first_name="Anna", username="ann"), actor="cli"
    )
    assert (user.first_name, user.username) == ("Anna", "ann")
    actions = await AuditEvent.filter(user_id=42).values_list("action", flat=True)
    assert sorted(actions) == ["user.created", "user.updated"]


async def test_upsert_without_changes_writes_no_event(db: str) -> None:
    profile = UserProfile(id=7, first_name="Bo")
    await users.upsert_user(profile, actor="cli")
    await users.upsert_user(profile, actor="cli")
    assert await AuditEvent.filter(user_id=7).count() == 1


async def test_upsert_refuses_a_non_positive_id(db: str) -> None:
    with pytest.raises(Invalid):
        await users.upsert_user(UserProfile(id=0), actor="cli")
    assert await User.all().count() == 0


async def test_unknown_user_is_not_found(db: str) -> None:
    with pytest.raises(NotFound):
        await users.get_user(999)


async def test_find_user_by_id_or_username(db: str) -> None:
    await users.upsert_user(UserProfile(id=5, username="Zed"), actor="cli")
    assert (await users.find_user("5")).id == 5
    assert (await users.find_user("@zed")).id == 5
    with pytest.raises(NotFound):
        await users.find_user("@nobody")


async def test_language_is_checked_and_stored(db: str) -> None:
    await users.upsert_user(UserProfile(id=5), actor="cli")
    assert (await users.set_language(5, "ru", actor="tg:5")).language_code == "ru"
    with pytest.raises(Invalid):
        await users.set_language(5, "xx", actor="tg:5")


async def test_server_names_and_fingerprints_are_validated(ctx: Context, db: str) -> None:
    with pytest.raises(Invalid):
        await registry.add_server(ctx, name="Bad Name", api_url="http://x", actor=audit.CLI)
    with pytest.raises(Invalid):
        await registry.add_server(
            ctx, name="ok", api_url="http://127.0.0.1:1/x", cert_sha256="zz", actor=audit.CLI
        )


async def test_unreachable_server_is_refused(ctx: Context, db: str) -> None:
    with pytest.raises(ServerUnavailable) as caught:
        await registry.add_server(
            ctx, name="gone", api_url="http://127.0.0.1:9/secretpath", actor=audit.CLI
        )
    assert "secretpath" not in caught.value.message
    assert not await registry.list_servers()


async def test_duplicate_server_conflicts(ctx: Context, server, outline_server) -> None:
    with pytest.raises(Conflict):
        await registry.add_server(ctx, name="alpha", api_url=outline_server.api_url, actor="cli")


async def test_disabled_server_is_not_usable(server) -> None:
    await registry.set_server_active("alpha", False, actor="cli")
    with pytest.raises(Conflict):
        await registry.usable_server("alpha")
    await registry.set_server_active("alpha", True, actor="cli")
    assert (await registry.usable_server("alpha")).is_active


async def test_installer_line_is_parsed(db: str) -> None:
    line = '{"apiUrl":"https://1.2.3.4:5/abc","certSha256":"' + "A" * 64 + '"}'
    assert registry.parse_installer_line(line) == ("https://1.2.3.4:5/abc", "A" * 64)
    with pytest.raises(Invalid):
        registry.parse_installer_line("{}")


async def test_token_authenticates_until_revoked(db: str) -> None:
    token, plaintext = await tokens.create_token("billing", actor="cli")
    assert (await tokens.authenticate(plaintext)).id == token.id
    assert token.token_hash != plaintext
    await tokens.revoke_token("billing", actor="cli")
    with pytest.raises(Unauthorized):
        await tokens.authenticate(plaintext)


async def test_unknown_token_is_unauthorized(db: str) -> None:
    with pytest.raises(Unauthorized):
        await tokens.authenticate("vks_nope")
    with pytest.raises(Conflict):
        await tokens.create_token("a", actor="cli")
        await tokens.create_token("a", actor="cli")
