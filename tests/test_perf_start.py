"""/start in one database round trip: the middleware's look-up is the handler's, and the user
row with its audit event is one write; concurrent changes of one user are never lost."""

import asyncio

from db.models import AuditEvent, User
from domain.accounts import users
from domain.accounts.users import UserProfile
from tests.bot_fixtures import ANN, BotHarness


async def test_start_of_a_new_user_reads_once_and_writes_once(
    tg: BotHarness, trips: list[str]
) -> None:
    await tg.as_user(ANN).send("/start")
    assert trips == ["fetch", "with_row"]
    assert await AuditEvent.filter(actor="tg:100", action="user.created").count() == 1


async def test_start_again_without_changes_writes_nothing(
    tg: BotHarness, trips: list[str]
) -> None:
    await tg.as_user(ANN).send("/start")
    trips.clear()
    await tg.as_user(ANN).send("/start")
    assert trips == ["fetch"]


async def test_start_with_a_new_name_updates_in_one_write(
    tg: BotHarness, trips: list[str]
) -> None:
    await tg.as_user(ANN).send("/start")
    trips.clear()
    await tg.as_user(ANN.model_copy(update={"first_name": "Anna"})).send("/start")
    assert trips == ["fetch", "with_row"]
    [event] = await AuditEvent.filter(action="user.updated")
    assert event.details == {"first_name": "Anna"}
    assert (await users.get_user(100)).first_name == "Anna"


async def test_a_user_created_meanwhile_is_updated_not_created_twice(db: str) -> None:
    await users.upsert_user(UserProfile(id=5, first_name="A"), actor="tg:5")
    user = await users.upsert_user(UserProfile(id=5, first_name="B"), actor="tg:5", seen=None)
    assert user.first_name == "B" and (await users.get_user(5)).first_name == "B"
    actions = await AuditEvent.filter(user_id=5).order_by("id").values_list("action", flat=True)
    assert actions == ["user.created", "user.updated"]


async def test_a_change_made_meanwhile_is_not_overwritten_unseen(db: str) -> None:
    await users.upsert_user(UserProfile(id=5, first_name="A", username="a"), actor="tg:5")
    stale = await users.get_user(5)
    await users.upsert_user(UserProfile(id=5, first_name="B", username="a"), actor="tg:5")
    profile = UserProfile(id=5, first_name="A", username="c")
    user = await users.upsert_user(profile, actor="tg:5", seen=stale)
    stored = await users.get_user(5)
    assert (user.first_name, user.username) == (stored.first_name, stored.username) == ("A", "c")
    last = await AuditEvent.filter(user_id=5).order_by("-id").first()
    assert last is not None and last.details == {"first_name": "A", "username": "c"}


async def test_concurrent_first_starts_create_one_user_and_one_event(db: str) -> None:
    for tg_id in range(1, 21):  # contradicting profiles: each writer keeps losing to another
        profiles = [UserProfile(id=tg_id, first_name=f"N{n % 2}") for n in range(10)]
        done = await asyncio.gather(
            *(users.upsert_user(p, actor="tg", seen=None) for p in profiles)
        )
        assert {user.id for user in done} == {tg_id}
        assert await User.filter(id=tg_id).count() == 1
        assert await AuditEvent.filter(user_id=tg_id, action="user.created").count() == 1
        assert (await users.get_user(tg_id)).first_name in {"N0", "N1"}


async def test_a_user_written_in_one_trip_reads_back_as_the_orm_wrote_it(db: str) -> None:
    created = await users.upsert_user(UserProfile(id=5, first_name="Ä", username="u"), actor="x")
    stored = await User.get(id=5)
    for field in ("id", "first_name", "username", "created_at", "updated_at", "demo_issued_at"):
        assert getattr(created, field) == getattr(stored, field), field
    await stored.save()  # a later save through the ORM updates the same row
    assert await User.filter(id=5).count() == 1
