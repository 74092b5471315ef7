"""The journal in PostgreSQL: the `SqliteJournal` port for daemons that share bots.

Same methods, same guarantees: a keyed event is written once and a re-write is compared
(`JournalConflict` on a difference); `group_commit` makes one commit for every caller of a
loop turn (a live order's intent is durable before the order leaves); `events`, `recent` and
`last_seq` read what recovery and status read, including what was recorded and not yet
committed, as SQLite's reads on the writing connection do. What differs, and why:

- `record` only buffers (a round trip per event would cost the candle ~0.3 ms per event); the
  buffer goes in one transaction at `commit`/`group_commit`, in `unnest` arrays.
- Event numbers (`seq`) are per bot, handed out by the bot's handle when it records (a number
  is needed at once: the snapshot stores the last one). `fences.last_seq` keeps the highest
  handed out, so a new handle starts above an event that was a duplicate and stored nothing.
- A re-write that differs is found at the commit, not at `record`: the bot's events past it in
  that commit are removed, its snapshots are refused from then on, and `JournalConflict` is
  raised at its next `record` or `group_commit`.
- Fencing: each handle writes with a fencing token (`for_bot(bot_id, token)`), checked in the
  transaction that writes, against the bot's fence row, which that UPDATE also locks (a node's
  `claim` of the bot waits for it). A refused handle gets `StaleFencingToken` at its next call;
  the other bots of the batch are written. See `runner.cluster.postgres.errors`.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable

import asyncpg
from loguru import logger

from runner.cluster.postgres.db_thread import DatabaseThread
from runner.cluster.postgres.errors import StaleFencingToken
from runner.cluster.postgres.schema import migrate
from runner.cluster.postgres.url import mask
from runner.state.journal import JournalConflict, JournalEvent

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)   # as SqliteJournal's

# One recorded event on its way: (handle, seq, event, canonical JSON of its data).
_Pending = tuple["PostgresBotJournal", int, JournalEvent, str]


class PostgresJournal:
    """Every bot's events in one PostgreSQL database; see the module docstring.

        journal = PostgresJournal.open(os.environ["BOTRUNNER_POSTGRES_URL"])
        bot = journal.for_bot("btc-ema", token=7)      # 7: this node's lease generation
        bot.record(JournalEvent("btc-ema", "order", ts_ms, data, key="..."))
        await bot.group_commit()
        journal.close()
    """

    def __init__(self, db: DatabaseThread) -> None:
        self.db = db
        self._pending: list[_Pending] = []
        self._group_waiters: list[tuple[PostgresBotJournal | None, asyncio.Future[None]]] = []
        self._listeners: tuple[Callable[[JournalEvent], None], ...] = ()
        self._writers: dict[str, PostgresBotJournal] = {}     # each bot's latest handle
        self._claimed: dict[str, int] = {}                    # this node's last successful claim per bot
        self._write_lock = asyncio.Lock()     # on the database thread: commits in the order they were asked
        self.commits = 0

    @classmethod
    def open(cls, url: str, *, max_connections: int = 4) -> PostgresJournal:
        """Connect, bring the schema up to date (`schema.migrate`) and return the journal.
        Raises ConnectionError, or SchemaTooNew when the database is ahead of this code."""
        db = DatabaseThread.start(url, max_connections=max_connections)
        try:
            applied = db.call(migrate)
        except BaseException:
            db.close()
            raise
        if applied:
            logger.info("PostgreSQL {}: schema migrated to version {}", mask(url), applied[-1])
        return cls(db)

    @property
    def url(self) -> str:
        """The database's URL with its password masked."""
        return mask(self.db.url)

    # -- fencing -----------------------------------------------------------------------------

    async def claim(self, bot_id: str, token: int) -> bool:
        """Raise the bot's fence to `token` (the Redis lease generation this node won). False
        when the fence already holds a higher token: another node won a later lease. From now
        on writes with a lower token are refused; `for_bot(bot_id)` writes with `token`."""
        if token < 1:
            raise ValueError(f"fencing tokens start at 1; got {token} for bot {bot_id}")
        won = await self.db.acall(lambda conn: conn.fetchval(_CLAIM, bot_id, token))
        if won:
            self._claimed[bot_id] = token
        return bool(won)

    def fence(self, bot_id: str) -> int:
        """The token the bot's fence holds now (0: never claimed)."""
        return self.db.call(lambda conn: conn.fetchval(
            "SELECT COALESCE((SELECT token FROM fences WHERE bot_id = $1), 0)", bot_id))

    def writer_token(self, bot_id: str) -> tuple[int, Exception | None]:
        """The token snapshots of the bot are written with (its latest handle's, else this node's
        claim, else 0), and the failure that refuses them (a stale token or a conflict)."""
        handle = self._writers.get(bot_id)
        if handle is not None:
            return handle.token, handle.failure
        return self._claimed.get(bot_id, 0), None

    # -- the port ----------------------------------------------------------------------------

    def for_bot(self, bot_id: str, token: int | None = None) -> PostgresBotJournal:
        """One bot's handle, writing with `token` for its whole life (None: this node's last
        successful `claim` of the bot, or 0 for a bot no node ever claimed). One read: the
        bot's last event number."""
        if bot_id in self._writers:
            self.commit()        # an older handle's events take their numbers before this one starts
        token = self._claimed.get(bot_id, 0) if token is None else token
        last_seq = self.db.call(lambda conn: conn.fetchval(_LAST_SEQ, bot_id))
        handle = PostgresBotJournal(self, bot_id, token, last_seq)
        self._writers[bot_id] = handle
        return handle

    def subscribe(self, listener: Callable[[JournalEvent], None]) -> None:
        """Call `listener(event)` for each event stored from now on, once it is committed, on the
        committing thread (the daemon's loop); as `SqliteJournal.subscribe`, a duplicate is not
        passed on, and a listener that raises is logged."""
        self._listeners = (*self._listeners, listener)

    def record(self, event: JournalEvent) -> int:
        handle = self._writers.get(event.bot_id) or self.for_bot(event.bot_id)
        return handle.record(event)

    def commit(self) -> None:
        """Write everything recorded so far, in one transaction; returns once it is committed.
        A bot refused (stale token, conflict) does not fail the others: its handle raises."""
        batch, self._pending = self._pending, []
        try:
            outcome = self.db.run(self._write(batch))
        except BaseException:
            self._pending[:0] = batch       # nothing was written: the next commit tries them again
            raise
        self._settle(outcome)

    async def group_commit(self, handle: PostgresBotJournal | None = None) -> None:
        """`commit()` once for every caller in this event-loop turn, awaited without blocking the
        loop (see `SqliteJournal.group_commit`). Raises what the commit raised to every caller,
        and a caller whose `handle` was refused gets that handle's error."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        if not self._group_waiters:
            loop.call_soon(self._commit_group, loop)
        self._group_waiters.append((handle, waiter))
        await waiter

    def _commit_group(self, loop: asyncio.AbstractEventLoop) -> None:
        waiters, self._group_waiters = self._group_waiters, []
        batch, self._pending = self._pending, []
        written = self.db.submit_coroutine(self._write(batch))
        written.add_done_callback(lambda done: loop.call_soon_threadsafe(self._group_done, done, batch, waiters))

    def _group_done(self, done: Future[_Outcome], batch: list[_Pending],
                    waiters: list[tuple[PostgresBotJournal | None, asyncio.Future[None]]]) -> None:
        try:
            outcome = done.result()
        except Exception as exc:
            self._pending[:0] = batch
            for _, waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
                    waiter.exception()      # retrieved: a waiter cancelled meanwhile must not leave it unread
            return
        self._settle(outcome)
        for handle, waiter in waiters:
            if waiter.done():
                continue
            if handle is not None and handle.failure is not None:
                waiter.set_exception(handle.failure)
                waiter.exception()
            else:
                waiter.set_result(None)

    def _settle(self, outcome: _Outcome) -> None:
        """On the committing thread: mark refused handles, then tell the listeners."""
        self.commits += 1
        for handle, failure in outcome.failures.items():
            if handle.failure is None:
                handle.failure = failure
                logger.error("Journal writes of bot {} refused: {}", handle.bot_id, failure)
        for event in outcome.stored:
            for listener in self._listeners:
                try:
                    listener(event)
                except Exception:
                    logger.exception("Journal listener {!r} failed on a {} event", listener, event.kind)

    # -- reads (what was recorded is committed first, so a read sees it) ------------------------

    def events(self, bot_id: str, *, after_seq: int = 0, kinds: tuple[str, ...] | None = None,
               limit: int | None = None) -> list[JournalEvent]:
        self.commit()
        rows = self.db.call(lambda conn: conn.fetch(
            "SELECT seq, bot_id, kind, key, bar, ts_ms, data FROM events WHERE bot_id = $1 AND seq > $2"
            " AND ($3::text[] IS NULL OR kind = ANY($3)) ORDER BY seq LIMIT $4",
            bot_id, after_seq, list(kinds) if kinds else None, limit))
        return [_event(row) for row in rows]

    def recent(self, bot_id: str, *, kinds: tuple[str, ...] | None = None, limit: int = 50) -> list[JournalEvent]:
        """The bot's `limit` latest events (of `kinds`), newest first."""
        self.commit()
        rows = self.db.call(lambda conn: conn.fetch(
            "SELECT seq, bot_id, kind, key, bar, ts_ms, data FROM events WHERE bot_id = $1"
            " AND ($2::text[] IS NULL OR kind = ANY($2)) ORDER BY seq DESC LIMIT $3",
            bot_id, list(kinds) if kinds else None, limit))
        return [_event(row) for row in rows]

    def last_seq(self, bot_id: str) -> int:
        """The highest event number handed out for the bot (0: none)."""
        self.commit()
        return self.db.call(lambda conn: conn.fetchval(_LAST_SEQ, bot_id))

    def close(self) -> None:
        try:
            self.commit()
        finally:
            self.db.close()

    # -- on the database thread ----------------------------------------------------------------

    async def _write(self, batch: list[_Pending]) -> _Outcome:
        async with self._write_lock:             # behind every commit asked before this one
            if not batch:
                return _Outcome()
            async with self.db.pool.acquire() as conn:
                return await _write_batch(conn, batch)


class PostgresBotJournal:
    """One bot's view of the journal, writing with one fencing token; like `BotJournal`."""

    __slots__ = ("_journal", "bot_id", "token", "last_seq", "failure")

    def __init__(self, journal: PostgresJournal, bot_id: str, token: int, last_seq: int) -> None:
        self._journal = journal
        self.bot_id = bot_id
        self.token = token
        self.last_seq = last_seq
        self.failure: Exception | None = None       # set when a commit refused this handle's writes

    def record(self, event: JournalEvent) -> int:
        if self.failure is not None:
            raise self.failure
        self.last_seq += 1
        self._journal._pending.append((self, self.last_seq, event, _ENCODER.encode(event.data)))
        return self.last_seq

    def commit(self) -> None:
        self._journal.commit()
        if self.failure is not None:
            raise self.failure

    async def group_commit(self) -> None:
        await self._journal.group_commit(self)

    def events(self, *, after_seq: int = 0, kinds: tuple[str, ...] | None = None,
               limit: int | None = None) -> list[JournalEvent]:
        return self._journal.events(self.bot_id, after_seq=after_seq, kinds=kinds, limit=limit)


@dataclass(slots=True)
class _Outcome:
    stored: list[JournalEvent] = field(default_factory=list)
    failures: dict[PostgresBotJournal, Exception] = field(default_factory=dict)


async def _write_batch(conn: asyncpg.Connection, batch: list[_Pending]) -> _Outcome:
    """Advance the fences of the writers whose token they hold and insert those writers' events,
    in one statement (one round trip, its own transaction: a commit under way for a bot holds
    the bot's fence row, so a claim waits for it); then compare the events not inserted, whose
    key (or number) the journal already holds."""
    outcome = _Outcome()
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


async def _compare_rewrites(conn: asyncpg.Connection, again: list[_Pending]) -> dict[PostgresBotJournal, tuple[int, Exception]]:
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
            if journalled != data:
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


def _event(row: asyncpg.Record) -> JournalEvent:
    return JournalEvent(row["bot_id"], row["kind"], row["ts_ms"], json.loads(row["data"]), row["key"],
                        row["bar"], row["seq"])


_CLAIM = """
INSERT INTO fences (bot_id, token) VALUES ($1, $2)
ON CONFLICT (bot_id) DO UPDATE SET token = EXCLUDED.token WHERE fences.token <= EXCLUDED.token
RETURNING true
"""

_LAST_SEQ = """
SELECT GREATEST(COALESCE((SELECT last_seq FROM fences WHERE bot_id = $1), 0),
                COALESCE((SELECT MAX(seq) FROM events WHERE bot_id = $1), 0))
"""

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
