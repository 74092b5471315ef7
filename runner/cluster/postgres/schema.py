"""The database's schema: numbered SQL files applied in order, once each, on start.

`migrations/NNN_name.sql` are the versions; `schema_version` records the ones applied. Every
node of a cluster runs `migrate` when it starts, maybe several at once: each does it in one
transaction under a transaction-scoped advisory lock, so the first applies what is missing and
the others then find nothing left to do. A file's statements are applied with the row recording
it, or not at all. A database ahead of this botrunner (a newer node migrated it) is refused:
this node's code would write rows the newer schema may no longer mean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from runner.cluster.postgres.errors import SchemaTooNew, StorageError

MIGRATIONS = Path(__file__).with_name("migrations")        # the SQL files, beside this module
_LOCK_ID = 0x626F7472756E6E72       # "botrunnr": the advisory lock every node's migration takes
_FILE_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(folder: Path = MIGRATIONS) -> list[Migration]:
    """The migrations in `folder`, by version. Raises StorageError on a misnamed file or a gap
    (a missing number would be skipped on every database, silently)."""
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise StorageError(f"{path}: a migration is named NNN_name.sql (three digits, lower case)")
        found.append(Migration(int(match[1]), path.name, path.read_text()))
    numbers = [m.version for m in found]
    if numbers != list(range(1, len(found) + 1)):
        raise StorageError(f"{folder}: migrations must be numbered 1, 2, 3... without gaps; found {numbers}")
    return found


async def migrate(connection: asyncpg.Connection, migrations: list[Migration] | None = None) -> list[int]:
    """Bring the database to the newest migration; return the versions applied now (empty when
    it was up to date). Raises SchemaTooNew when the database is ahead of `migrations`."""
    migrations = load_migrations() if migrations is None else migrations
    newest = migrations[-1].version if migrations else 0
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_ID)
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        current = await connection.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        if current > newest:
            raise SchemaTooNew(
                f"the database is at schema version {current} and this botrunner knows versions up to {newest}: "
                f"a newer botrunner migrated it. Upgrade botrunner on this node; it does not write to a schema "
                f"it does not know.")
        applied = []
        for migration in migrations:
            if migration.version > current:
                await connection.execute(migration.sql)
                await connection.execute("INSERT INTO schema_version (version, name) VALUES ($1, $2)",
                                         migration.version, migration.name)
                applied.append(migration.version)
        return applied


async def schema_version(connection: asyncpg.Connection) -> int:
    """The newest migration applied to the database; 0 before the first."""
    exists = await connection.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    return await connection.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version") if exists else 0


async def check_readable(connection: asyncpg.Connection, migrations: list[Migration] | None = None) -> int:
    """For a tool that only reads (`botrunner journal`), so it migrates nothing under running
    nodes: the database's schema version. Raises StorageError when the database holds no
    botrunner schema, SchemaTooNew when it is ahead of this code."""
    migrations = load_migrations() if migrations is None else migrations
    newest = migrations[-1].version if migrations else 0
    version = await schema_version(connection)
    if version == 0:
        raise StorageError("the database holds no botrunner journal (no schema_version table); "
                           "is it the one the cluster's nodes use?")
    if version > newest:
        raise SchemaTooNew(f"the database is at schema version {version} and this botrunner reads versions up to "
                           f"{newest}: upgrade botrunner here to read it")
    return version
