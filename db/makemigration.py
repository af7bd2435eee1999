"""Write the next aerich migration for both SQLite and PostgreSQL (a maintainer's tool).

aerich writes SQL for the dialect it is connected to; this runs it against a scratch
SQLite file and a scratch PostgreSQL database (``--postgres URL``) and merges the two
into one migration file whose ``upgrade``/``downgrade`` pick the SQL by dialect.

    python -m db.makemigration NAME --postgres postgres://postgres@127.0.0.1:54329/postgres
"""

import argparse
import asyncio
import importlib.util
import shutil
import tempfile
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import asyncpg
from aerich import Command
from tortoise import Tortoise

from db.config import tortoise_config

MIGRATIONS = Path(__file__).parent / "migrations"
TEMPLATE = """from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True

SQL = {sql!r}


async def upgrade(db: BaseDBAsyncClient) -> str:
    return SQL[db.capabilities.dialect][0]


async def downgrade(db: BaseDBAsyncClient) -> str:
    return SQL[db.capabilities.dialect][1]


MODELS_STATE = {state!r}
"""


async def _generate(url: str, name: str) -> tuple[str, str, str, str] | None:
    """(file name, upgrade SQL, downgrade SQL, models state) generated against ``url``."""
    with tempfile.TemporaryDirectory() as tmp:
        location = Path(tmp) / "migrations"
        shutil.copytree(MIGRATIONS, location)
        app_dir = location / "models"
        dialect = "postgres" if url.startswith("postgres") else "sqlite"
        for done in app_dir.glob("*.py"):  # aerich reads their SQL with no connection
            text = done.read_text(encoding="utf-8")
            done.write_text(text.replace("SQL[db.capabilities.dialect]", f"SQL[{dialect!r}]"))
        before = {p.name for p in app_dir.glob("*.py")}
        command = Command(tortoise_config(url), app="models", location=str(location))
        if before:
            await command.init()
            await command.upgrade()
            await command.init()  # re-read the last version's state, now that it is applied
            if not await command.migrate(name, no_input=True):
                return None
        else:
            await command.init_db(safe=True)
        await Tortoise.close_connections()
        (new,) = {p.name for p in app_dir.glob("*.py")} - before
        spec = importlib.util.spec_from_file_location("migration", app_dir / new)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        up, down = await module.upgrade(None), await module.downgrade(None)
        return new, up.strip(), down.strip(), module.MODELS_STATE


def _generate_sync(url: str, name: str) -> tuple[str, str, str, str] | None:
    return asyncio.run(_generate(url, name))


def _generate_apart(url: str, name: str) -> tuple[str, str, str, str] | None:
    """Run ``_generate`` in a fresh process: Tortoise keeps per-dialect state per process."""
    with ProcessPoolExecutor(max_workers=1) as pool:
        return pool.submit(_generate_sync, url, name).result()


async def main(name: str, postgres: str) -> None:
    """Generate on both dialects and write the merged file into ``db/migrations/models``."""
    scratch = f"mig_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres)
    await admin.execute(f"CREATE DATABASE {scratch}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            lite = _generate_apart(f"sqlite://{tmp}/scratch.sqlite3", name)
        pg = _generate_apart(postgres.rsplit("/", 1)[0] + f"/{scratch}", name)
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {scratch} WITH (FORCE)")
        await admin.close()
    if lite is None or pg is None:
        print("No changes detected")
        return
    sql = {"sqlite": (lite[1], lite[2]), "postgres": (pg[1], pg[2])}
    target = MIGRATIONS / "models" / lite[0]
    target.write_text(TEMPLATE.format(sql=sql, state=lite[3]), encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--postgres", required=True, help="URL of a PostgreSQL server to use")
    args = parser.parse_args()
    asyncio.run(main(args.name, args.postgres))
