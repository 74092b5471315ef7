"""How a `PostgresJournal` commit writes its batch, on the database thread.

One statement advances the fences of the writers that hold their bot's token and inserts
those writers' events; then the events not inserted (their key, or their number, already in
the journal) are compared. What each writer's commit came to is returned, and the journal
(`runner.cluster.postgres.journal`) hands it to the writers on its own thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import asyncpg

from runner.cluster.postgres.errors import StaleFencingToken
from runner.state.journal import JournalConflict, JournalEvent, rewritten_alike

if TYPE_CHECKING:
    from runner.cluster.postgres.journal import PostgresBotJournal

# One recorded event on its way: (handle, seq, event, canonical JSON of its data).
Pending = tuple["PostgresBotJournal", int, JournalEvent, str]


@dataclass(slots=True)
class Outcome:
    stored: list[JournalEvent] = field(default_factory=list)
    failures: dict[PostgresBotJournal, Exception] = field(default_factory=dict)


async def write_batch(conn: asyncpg.Connection, batch: list[Pending]) -> Outcome:
    """Advance the fences of the writers whose token they hold and insert those writers' events,
    in one statement (one round trip, its own transaction: a commit under way for a bot holds
    the bot's fence row, so a claim waits for it); then compare the events not inserted, whose
    key (or number) the journal already holds."""
    outcome = Outcome()
    top: dict[PostgresBotJournal, int] = {}
    newest: dict[str, PostgresBotJournal] = {}
    for handle, seq, _, _ in batch:
        top[handle] = max(top.get(handle, 0), seq)
        if handle.token > newest.setdefault(handle.bot_id, handle).token:
            newest[handle.bot_id] = handle
    for handle in top:
        # A writer of the bot with a higher token in the same batch: this node claimed the bot
        # again since, so this one's token is below the fence.
        if handle.token < newest[handle.bot_id].token:
            outcome.failures[handle] = StaleFencingToken(handle.bot_id, handle.token, newest[handle.bot_id].token)
    numbered: dict[tuple[str, int], PostgresBotJournal] = {}
    for handle, seq, event, _ in batch:
        if handle not in outcome.failures and numbered.setdefault((handle.bot_id, seq), handle) is not handle:
            outcome.failures[handle] = _numbered_alike(handle.bot_id, seq, event.kind)
    tops: dict[str, int] = {}                           # one fence row per bot in the statement
    for handle, seq in top.items():
        if handle.token == newest[handle.bot_id].token:
            tops[handle.bot_id] = max(tops.get(handle.bot_id, 0), seq)
    bots = sorted(tops)
    rows = sorted((p for p in batch if p[0] not in outcome.failures), key=lambda p: (p[0].bot_id, p[1]))
    written = await conn.fetch(
        _WRITE, bots, [newest[b].token for b in bots], [tops[b] for b in bots],
        [p[0].bot_id for p in rows], [p[0].token for p in rows], [p[1] for p in rows], [p[2].kind for p in rows],
        [p[2].key for p in rows], [p[2].bar for p in rows], [p[2].ts_ms for p in rows], [p[3] for p in rows])
    accepted = {r["bot_id"] for r in written if r["what"] == "fence"}
    inserted = {(r["bot_id"], r["n"]) for r in written if r["what"] == "event"}
    refused = [h for h in top if h.bot_id not in accepted and h not in outcome.failures]
    if refused:
        current = dict(await conn.fetch("SELECT bot_id, token FROM fences WHERE bot_id = ANY($1)",
                                        [h.bot_id for h in refused]))
        for handle in refused:
            outcome.failures[handle] = StaleFencingToken(handle.bot_id, handle.token, current.get(handle.bot_id))
    rows = [p for p in rows if p[0] not in outcome.failures]
    again = [p for p in rows if (p[0].bot_id, p[1]) not in inserted]
    conflicts = await _compare_rewrites(conn, again) if again else {}
    for handle, (seq, failure) in conflicts.items():
        # The run diverged at `seq`: what it recorded past that is not the journalled run either.
        await conn.execute("DELETE FROM events WHERE bot_id = $1 AND seq = ANY($2)", handle.bot_id,
                           [p[1] for p in rows if p[0] is handle and p[1] > seq and (handle.bot_id, p[1]) in inserted])
        outcome.failures[handle] = failure
    outcome.stored = [p[2] for p in rows if (p[0].bot_id, p[1]) in inserted
                      and not (p[0] in conflicts and p[1] > conflicts[p[0]][0])]
    return outcome


async def _compare_rewrites(conn: asyncpg.Connection, again: list[Pending]) -> dict[PostgresBotJournal, tuple[int, Exception]]:
    """The first differing re-write of each handle in `again` (events not inserted because the
    journal holds their key, or their number after a commit whose outcome was unknown)."""
    keyed = [p for p in again if p[2].key is not None]
    stored = {(r["bot_id"], r["kind"], r["key"]): r["data"] for r in await conn.fetch(
        "SELECT e.bot_id, e.kind, e.key, e.data FROM events e JOIN unnest($1::text[], $2::text[], $3::text[])"
        " AS v(bot_id, kind, key) USING (bot_id, kind, key)",
        [p[0].bot_id for p in keyed], [p[2].kind for p in keyed], [p[2].key for p in keyed])}
    by_seq = {(r["bot_id"], r["seq"]): (r["kind"], r["data"]) for r in await conn.fetch(
        "SELECT e.bot_id, e.seq, e.kind, e.data FROM events e JOIN unnest($1::text[], $2::bigint[])"
        " AS v(bot_id, seq) USING (bot_id, seq)", [p[0].bot_id for p in again], [p[1] for p in again])}
    conflicts: dict[PostgresBotJournal, tuple[int, Exception]] = {}
    for handle, seq, event, data in again:
        if handle in conflicts:
            continue
        if event.key is not None and (handle.bot_id, event.kind, event.key) in stored:
            journalled = stored[(handle.bot_id, event.kind, event.key)]
            if not rewritten_alike(journalled, data):
                conflicts[handle] = (seq, JournalConflict(
                    f"journal already holds {event.kind} {event.key} of bot {event.bot_id} with other values: "
                    f"journalled {journalled}, now {data}. The data or the bot's code changed since it was "
                    f"written; move the bot's state away to start it afresh."))
        elif by_seq.get((handle.bot_id, seq)) != (event.kind, data):
            # Not this event written by a commit whose outcome was unknown: two writers of the
            # bot handed out one number. Only that writer stops; the other bots' events are in.
            conflicts[handle] = (seq, _numbered_alike(handle.bot_id, seq, event.kind))
    return conflicts


def _numbered_alike(bot_id: str, seq: int, kind: str) -> JournalConflict:
    return JournalConflict(f"journal event {seq} of bot {bot_id} is another event than this {kind}: two writers "
                           f"of the bot numbered their events alike; restart the bot")


# One statement: the fences of the writers holding the bot's token move their last_seq up (and
# are locked until it commits), and only those writers' events are inserted. Rows tell which:
# ("fence", bot_id, token) per accepted writer, ("event", bot_id, seq) per inserted event. A bot
# with no fence row yet gets one with the writer's token: 0 for a bot no node claimed, and a
# writer with a higher token exists only after its `claim` made the row.
_WRITE = """
WITH fenced AS (
    INSERT INTO fences AS f (bot_id, token, last_seq)
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])
    ON CONFLICT (bot_id) DO UPDATE SET last_seq = GREATEST(f.last_seq, EXCLUDED.last_seq)
    WHERE f.token = EXCLUDED.token
    RETURNING f.bot_id, f.token
), inserted AS (
    INSERT INTO events (bot_id, seq, kind, key, bar, ts_ms, data)
    SELECT e.bot_id, e.seq, e.kind, e.key, e.bar, e.ts_ms, e.data
    FROM unnest($4::text[], $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::bigint[], $10::bigint[],
                $11::text[]) AS e(bot_id, token, seq, kind, key, bar, ts_ms, data)
    JOIN fenced USING (bot_id, token)
    ORDER BY e.bot_id, e.seq
    ON CONFLICT DO NOTHING
    RETURNING bot_id, seq
)
SELECT 'fence' AS what, bot_id, token AS n FROM fenced
UNION ALL
SELECT 'event', bot_id, seq FROM inserted
"""
