"""Out-of-range input to ``main.py audit`` and ``read_audit``: a clear refusal, never a crash."""

from datetime import UTC, datetime

import pytest

from domain import bounds
from domain.errors import Invalid
from domain.operations.audit_log import AuditQuery, parse_moment, read_audit
from tests.serving import cli_env, run_main

HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    ("flag", "value", "maximum"),
    [
        ("--key", HUGE, bounds.MAX_ROW_ID),
        ("--key", str(bounds.MAX_ROW_ID + 1), bounds.MAX_ROW_ID),
        ("--key", "0", bounds.MAX_ROW_ID),
        ("--key", "-5", bounds.MAX_ROW_ID),
        ("--key", "9" * 5000, bounds.MAX_ROW_ID),  # more digits than int() converts
        ("--user", HUGE, bounds.MAX_TG_ID),
        ("--user", "x", bounds.MAX_TG_ID),
    ],
)
async def test_audit_refuses_an_id_out_of_range_in_one_line(
    database_url: str, flag: str, value: str, maximum: int
) -> None:
    code, out, err = await run_main(cli_env(database_url), "audit", flag, value)
    assert code == 2 and out == "" and "Traceback" not in err
    assert f"argument {flag}: must be a whole number from 1 to {maximum}" in err


async def test_audit_refuses_an_age_before_the_year_1(database_url: str) -> None:
    await run_main(cli_env(database_url), "migrate")
    code, _, err = await run_main(cli_env(database_url), "audit", "--since", "999999d")
    assert code == 1 and "Traceback" not in err
    assert err.strip() == "error: too far back (before the year 1): '999999d'"


async def test_audit_accepts_the_largest_ids(database_url: str) -> None:
    await run_main(cli_env(database_url), "migrate")
    env = cli_env(database_url)
    code, out, err = await run_main(
        env, "audit", "--key", str(bounds.MAX_ROW_ID), "--user", str(bounds.MAX_TG_ID)
    )
    assert (code, out) == (0, ""), err


@pytest.mark.parametrize(
    "query",
    [
        AuditQuery(key_id=10**20),
        AuditQuery(key_id=0),
        AuditQuery(user_id=bounds.MAX_TG_ID + 1),
        AuditQuery(before=2**63),
    ],
)
async def test_read_audit_refuses_ids_no_column_holds(db: str, query: AuditQuery) -> None:
    with pytest.raises(Invalid, match="must be between 1 and"):
        await read_audit(query)


def test_an_age_reaching_before_the_year_1_is_invalid() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_moment("7d", now) == datetime(2025, 12, 25, tzinfo=UTC)
    with pytest.raises(Invalid, match="too far back"):
        parse_moment("999999d", now)
