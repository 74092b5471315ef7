"""The journal and snapshots of a cluster of daemons, in PostgreSQL (asyncpg).

`PostgresJournal` and `PostgresSnapshotStore` implement the ports of `runner.state.journal` and
`runner.state.snapshots` with the same guarantees, plus fencing: `PostgresJournal.claim(bot_id,
token)` raises a bot's fence to the node's lease generation, and every write for the bot with
an older token is refused in its own transaction (`StaleFencingToken`). `schema.migrate` brings
the database's schema up to date when a node starts. Needs the `cluster` extra.
"""

from runner.cluster.postgres.errors import MissingDatabaseUrl, SchemaTooNew, StaleFencingToken, StorageError
from runner.cluster.postgres.journal import PostgresBotJournal, PostgresJournal
from runner.cluster.postgres.snapshots import PostgresSnapshotStore
from runner.cluster.postgres.url import mask, url_from_environment

__all__ = ["MissingDatabaseUrl", "PostgresBotJournal", "PostgresJournal", "PostgresSnapshotStore", "SchemaTooNew",
           "StaleFencingToken", "StorageError", "mask", "url_from_environment"]
