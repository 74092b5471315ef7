"""The journal in PostgreSQL: the `SqliteJournal` port for daemons that share bots.

Same methods, same guarantees: a keyed event is written once and a re-write is compared
(`JournalConflict` on a difference); `group_commit` makes one commit for every caller of a
loop turn (a live order's intent is durable before the order leaves); `events`, `recent` and
`last_seq` read what recovery and status read, including what was recorded and not yet
committed, as SQLite's reads on the writing connection do. What differs, and why:

- `record` only buffers (a round trip per event would cost the candle ~0.3 ms per event); the
  buffer goes in one statement at `commit`/`group_commit`, in `unnest` arrays, on a database
  thread (`db_thread`; how: `journal_write`). Listeners hear of an event once it is committed.
- Event numbers (`seq`) are per bot, handed out by the bot's handle when it records (a number
  is needed at once: the snapshot stores the last one). `fences.last_seq` keeps the highest
  handed out, so a new handle starts above an event that was a duplicate and stored nothing.
- A re-write that differs is found at the commit, not at `record`: the bot's events past it in
  that commit are removed, its snapshots are refused from then on, and `JournalConflict` is
  raised at its next `record` or `group_commit`.
- Fencing: each handle writes with a fencing token (`for_bot(bot_id, token)`), checked in the
  statement that writes against the bot's fence row, which it also locks until it commits (a
  node's `claim` of the bot waits for it). A refused handle gets `StaleFencingToken` at its next
  call; the other bots of the batch are written. See `runner.cluster.postgres.errors`.
"""

from __future__ import annotations

import asyncio
import heapq
import json
from concurrent.futures import Future
from itertools import groupby
from typing import Callable

import asyncpg
from loguru import logger

from runner.cluster.postgres.db_thread import COMMAND_TIMEOUT_SECS, DatabaseThread
from runner.cluster.postgres.journal_write import Outcome, Pending, write_batch
from runner.cluster.postgres.schema import check_readable, migrate
from runner.cluster.postgres.url import mask
from runner.state.journal import JournalEvent

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)   # as SqliteJournal's


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
        self._pending: list[Pending] = []
        self._group_waiters: list[tuple[PostgresBotJournal | None, asyncio.Future[None]]] = []
        self._listeners: tuple[Callable[[JournalEvent], None], ...] = ()
        self._writers: dict[str, PostgresBotJournal] = {}     # each bot's latest handle
        self._claimed: dict[str, int] = {}                    # this node's last successful claim per bot
        self._write_lock = asyncio.Lock()     # on the database thread: commits in the order they were asked
        self.commits = 0
        self.committing = 0       # group commits asked for and not done yet

    @classmethod
    def open(cls, url: str, *, max_connections: int = 4, migrate_schema: bool = True) -> PostgresJournal:
        """Connect, bring the schema up to date (`schema.migrate`; with `migrate_schema=False`,
        for a tool that only reads, check it instead) and return the journal. Raises
        ConnectionError, or SchemaTooNew when the database is ahead of this code."""
        db = DatabaseThread.start(url, max_connections=max_connections)
        try:
            applied = db.call(migrate if migrate_schema else check_readable)
        except BaseException:
            db.close()
            raise
        if migrate_schema and applied:
            logger.info("PostgreSQL {}: schema migrated to version {}", mask(url), applied[-1])
        return cls(db)

    @property
    def url(self) -> str:
        """The database's URL with its password masked."""
        return mask(self.db.url)

    # -- fencing -----------------------------------------------------------------------------

    async def claim(self, bot_id: str, token: int) -> bool:
        """Raise the bot's fence to `token` (the Redis lease generation this node won). False
        when the fence already holds `token` or a higher one: another node won a later lease,
        or Redis handed the token out before (it lost its generations; equal is refused too, or
        the two nodes holding that token would both write). From now on writes with a lower
        token are refused; `for_bot(bot_id)` writes with `token`."""
        if token < 1:
            raise ValueError(f"fencing tokens start at 1; got {token} for bot {bot_id}")
        won = await self.db.acall(lambda conn: conn.fetchval(_CLAIM, bot_id, token))
        if won:
            self._claimed[bot_id] = token
        return bool(won)

    def fence(self, bot_id: str) -> int:
        """The token the bot's fence holds now (0: never claimed)."""
        return self.db.call(lambda conn: conn.fetchval(_FENCE, bot_id))

    async def current_fence(self, bot_id: str) -> int:
        """`fence`, awaited without blocking the loop (a node taking a bot reads it)."""
        return await self.db.acall(lambda conn: conn.fetchval(_FENCE, bot_id))

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

    def commit(self, *, to_disk: bool = False) -> None:
        """Write everything recorded so far, in one statement; returns once it is committed.
        A bot refused (stale token, conflict) does not fail the others: its handle raises.

        Committed as SQLite's commits are here (`synchronous=NORMAL`): safe from the daemon's
        death, not yet from the database server's; the next `group_commit` or snapshot write
        puts it on disk with its own. This call blocks the event loop (the daemon's checkpoints
        call it), and waiting for the disk cost it ~4 ms a commit where one round trip costs ~1.
        `to_disk=True` waits for the disk too. A live order's intent goes by `group_commit`,
        which always does, off the loop."""
        batch, self._pending = self._pending, []
        try:
            outcome = self.db.run(self._write(batch, to_disk=to_disk))
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
            self.committing += 1
            loop.call_soon(self._commit_group, loop)
        self._group_waiters.append((handle, waiter))
        await waiter

    def _commit_group(self, loop: asyncio.AbstractEventLoop) -> None:
        waiters, self._group_waiters = self._group_waiters, []
        batch, self._pending = self._pending, []
        try:
            written = self.db.submit_coroutine(self._write(batch))
        except RuntimeError as exc:                   # closed: the callers hear it, nothing waits forever
            written = Future()
            written.set_exception(exc)
        written.add_done_callback(lambda done: loop.call_soon_threadsafe(self._group_done, done, batch, waiters))

    def _group_done(self, done: Future[Outcome], batch: list[Pending],
                    waiters: list[tuple[PostgresBotJournal | None, asyncio.Future[None]]]) -> None:
        self.committing -= 1
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

    def _settle(self, outcome: Outcome) -> None:
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

    def basket_events(self, basket_id: str, *, kinds: tuple[str, ...] | None = None,
                      limit: int | None = None) -> list[JournalEvent]:
        """Every leg's events of the basket `basket_id` (`botrunner journal BASKET`), as
        `SqliteJournal.basket_events`: a leg's id is `<basket>.<base>-<quote>` and no bot's id
        holds a dot. `starts_with`, not the range SQLite reads: a database's collation (en_US,
        say) need not sort '.' and '/' by their code points.

        Here events are numbered per bot, not across the journal, so there is no one journal
        order: each leg's events come in its own order, the legs merged by event time."""
        self.commit()
        rows = self.db.call(lambda conn: conn.fetch(
            "SELECT seq, bot_id, kind, key, bar, ts_ms, data FROM events WHERE starts_with(bot_id, $1)"
            " AND ($2::text[] IS NULL OR kind = ANY($2)) ORDER BY bot_id, seq LIMIT $3",
            f"{basket_id}.", list(kinds) if kinds else None, limit))
        legs = [[_event(row) for row in leg] for _, leg in groupby(rows, key=lambda row: row["bot_id"])]
        return list(heapq.merge(*legs, key=lambda event: event.ts_ms))

    def seq_of(self, bot_id: str, kind: str, key: str) -> int | None:
        """The sequence number of the bot's `kind` event under `key` (None: none journalled)."""
        self.commit()
        return self.db.call(lambda conn: conn.fetchval(
            "SELECT seq FROM events WHERE bot_id = $1 AND kind = $2 AND key = $3", bot_id, kind, key))

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
            self.commit(to_disk=True)
        finally:
            self.db.close()

    # -- on the database thread ----------------------------------------------------------------

    async def _write(self, batch: list[Pending], *, to_disk: bool = True) -> Outcome:
        async with self._write_lock:             # behind every commit asked before this one
            if not batch:
                return Outcome()
            pool = self.db.pool if to_disk else self.db.relaxed_pool
            async with pool.acquire(timeout=COMMAND_TIMEOUT_SECS) as conn:
                return await write_batch(conn, batch)


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

    def seq_of(self, kind: str, key: str) -> int | None:
        return self._journal.seq_of(self.bot_id, kind, key)


def _event(row: asyncpg.Record) -> JournalEvent:
    return JournalEvent(row["bot_id"], row["kind"], row["ts_ms"], json.loads(row["data"]), row["key"],
                        row["bar"], row["seq"])


_CLAIM = """
INSERT INTO fences (bot_id, token) VALUES ($1, $2)
ON CONFLICT (bot_id) DO UPDATE SET token = EXCLUDED.token WHERE fences.token < EXCLUDED.token
RETURNING true
"""

_FENCE = "SELECT COALESCE((SELECT token FROM fences WHERE bot_id = $1), 0)"

_LAST_SEQ = """
SELECT GREATEST(COALESCE((SELECT last_seq FROM fences WHERE bot_id = $1), 0),
                COALESCE((SELECT MAX(seq) FROM events WHERE bot_id = $1), 0))
"""
