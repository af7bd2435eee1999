"""A SQLite URL with pragmas in its query string (``?synchronous=NORMAL``): every command finds
the file, and the pragma is in force."""

from pathlib import Path

from tortoise import connections

from db.connect import claim_sqlite_for_serving, close_database, open_database
from tests.serving import cli_env, run_main


async def test_pragmas_in_the_url_set_the_connection_and_name_no_other_file(
    tmp_path: Path,
) -> None:
    url = f"sqlite://{tmp_path}/data/keys.sqlite3?synchronous=NORMAL"
    code, _, err = await run_main(cli_env(url), "migrate")
    assert code == 0, err
    code, _, err = await run_main(cli_env(url), "backup", str(tmp_path / "keys.backup"))
    assert code == 0, err
    claim = claim_sqlite_for_serving(url)
    assert claim is not None
    claim.close()
    await open_database(url)
    try:
        rows = await connections.get("default").execute_query_dict("PRAGMA synchronous")
    finally:
        await close_database()
    assert rows == [{"synchronous": 1}]  # NORMAL (FULL is 2)
    made = sorted(p.name for p in (tmp_path / "data").iterdir())
    assert [name for name in made if "?" in name] == []
    assert "keys.sqlite3" in made and "keys.sqlite3.serving" in made
    assert (tmp_path / "keys.backup").stat().st_size > 0
