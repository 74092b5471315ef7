"""Bots' snapshots in PostgreSQL: the `SnapshotStore` port, fenced like the journal.

A snapshot is the same document as the embedded daemon's JSON file (`runner.state.snapshots.
encode`: version, bot id, SHA-256 and state), one row per bot, checked the same way when read.
Each write carries the fencing token of the bot's journal handle (`PostgresJournal.
writer_token`) and is refused in its transaction when the bot's fence holds another, so a
snapshot never lands from a node that lost the bot, nor from a run the journal refused (a
conflict): a snapshot is never ahead of the journal it is checked against.

The `SnapshotWriter` calls `write_encoded_many` from its thread with every pending snapshot:
one round trip for the lot (its `pool` of file-writing threads has nothing to do here).
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

import asyncpg

from runner.cluster.postgres.errors import StaleFencingToken
from runner.cluster.postgres.journal import PostgresJournal
from runner.state.snapshots import CorruptSnapshot, decode, encode


class PostgresSnapshotStore:
    """Snapshots of every bot in the journal's database (table `snapshots`)."""

    def __init__(self, journal: PostgresJournal) -> None:
        self._journal = journal
        self._db = journal.db

    def write(self, bot_id: str, state: dict[str, Any]) -> None:
        self.write_encoded(bot_id, encode(bot_id, state))

    def write_encoded(self, bot_id: str, document: bytes) -> None:
        """Write one bot's document; raises StaleFencingToken (or the bot's journal failure)
        when it is refused."""
        failed = self.write_encoded_many({bot_id: document})
        if failed:
            raise failed[bot_id]

    def write_encoded_many(self, documents: dict[str, bytes], *, pool: Executor | None = None) -> dict[str, Exception]:
        """Write several bots' documents in one statement; return the bots not written, with why
        (a stale token, the bot's journal failure, or the database's error); the others are."""
        refused: dict[str, Exception] = {}
        writes = []
        for bot_id, document in sorted(documents.items()):
            token, failure = self._journal.writer_token(bot_id)
            if failure is not None:
                refused[bot_id] = failure
            else:
                writes.append((bot_id, token, document))
        if writes:
            try:
                refused.update(self._db.call(lambda conn: _write_fenced(conn, writes)))
            except Exception as exc:
                # Whatever failed (the server gone, a timeout), these are not written: returned,
                # not raised, as the file store returns its OSErrors, so the SnapshotWriter's
                # thread logs them and goes on (each bot's next checkpoint tries again).
                refused.update(dict.fromkeys((bot_id for bot_id, _, _ in writes), exc))
        return refused

    def read(self, bot_id: str) -> dict[str, Any] | None:
        """The bot's last state, None if it never had one; CorruptSnapshot if it is damaged."""
        raw = self._db.call(lambda conn: conn.fetchval("SELECT document FROM snapshots WHERE bot_id = $1", bot_id))
        if raw is None:
            return None
        return decode(bot_id, bytes(raw), where=f"snapshot of {bot_id} in PostgreSQL {self._journal.url}")

    async def figures(self, bot_ids: list[str]) -> dict[str, dict[str, float]]:
        """The equity and PnL in each bot's last snapshot (`{"equity": ..., "pnl": ...}`), read in
        one query without blocking the loop, for the cluster's loss rule (runner.cluster.loss_rule).
        Left out: a bot with no snapshot, a damaged one, and a basket's leg, whose share of the
        basket's money its snapshot alone does not give."""
        rows = await self._db.acall(lambda conn: conn.fetch(
            "SELECT bot_id, document FROM snapshots WHERE bot_id = ANY($1)", bot_ids))
        figures = {}
        for row in rows:
            try:
                ledger = decode(row["bot_id"], bytes(row["document"]), where="")["portfolio"]
            except (CorruptSnapshot, KeyError, TypeError):
                continue
            if "flow" in ledger:                     # a basket's leg (portfolio.basket.LegPortfolio)
                continue
            equity = ledger["cash"] + ledger["quantity"] * (ledger["last_price"] or 0.0)
            figures[row["bot_id"]] = {"equity": equity, "pnl": equity - ledger["initial_capital"]}
        return figures

    def set_aside(self, bot_id: str) -> str:
        """Move the bot's snapshot to `snapshots_set_aside` (for a person to look at)."""
        self._db.call(lambda conn: conn.execute(
            "WITH gone AS (DELETE FROM snapshots WHERE bot_id = $1 RETURNING bot_id, document)"
            " INSERT INTO snapshots_set_aside (bot_id, document) SELECT bot_id, document FROM gone", bot_id))
        return f"the table snapshots_set_aside of {self._journal.url}"

    def remove(self, bot_id: str) -> None:
        self._db.call(lambda conn: conn.execute("DELETE FROM snapshots WHERE bot_id = $1", bot_id))


async def _write_fenced(conn: asyncpg.Connection, writes: list[tuple[str, int, bytes]]) -> dict[str, Exception]:
    """One statement, as the journal's commits: a node paused in the middle of it holds no lock
    that a claim of its bots would wait for. Refused bots are then named with their fence."""
    written = {r["bot_id"] for r in await conn.fetch(
        _WRITE, [w[0] for w in writes], [w[1] for w in writes], [w[2] for w in writes])}
    refused = [(bot_id, token) for bot_id, token, _ in writes if bot_id not in written]
    if not refused:
        return {}
    fences = dict(await conn.fetch("SELECT bot_id, token FROM fences WHERE bot_id = ANY($1)", [b for b, _ in refused]))
    return {bot_id: StaleFencingToken(bot_id, token, fences.get(bot_id)) for bot_id, token in refused}


# The fence rows of the writers holding their bot's token are locked (a no-op update; a bot
# with no row yet gets one with the writer's token, as in the journal's commit) and only those
# writers' snapshots are written.
_WRITE = """
WITH w AS (
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[]) AS w(bot_id, token, document)
), fenced AS (
    INSERT INTO fences AS f (bot_id, token) SELECT bot_id, token FROM w
    ON CONFLICT (bot_id) DO UPDATE SET token = f.token WHERE f.token = EXCLUDED.token
    RETURNING f.bot_id
)
INSERT INTO snapshots (bot_id, token, document)
SELECT w.bot_id, w.token, w.document FROM w JOIN fenced USING (bot_id)
ON CONFLICT (bot_id) DO UPDATE SET document = EXCLUDED.document, token = EXCLUDED.token, written_at = now()
RETURNING bot_id
"""
