"""An asyncpg pool on a thread of its own, callable from synchronous code and from any loop.

The journal's port is synchronous in places (`record`, `commit`, the reads recovery does) and
asyncpg is asyncio-only. Running the pool on the daemon's own loop would make every synchronous
call a deadlock (the loop would wait on itself); so the pool lives on a dedicated thread with
its own event loop. A synchronous call blocks its caller for one round trip (`call`), as
SQLite's commit blocks it for one fsync; the daemon's loop awaits the same work without
blocking (`acall`), so forty bots waiting on one group commit leave the loop free meanwhile.

    db = DatabaseThread.start("postgresql://postgres@127.0.0.1:5432/botrunner")
    one = db.call(lambda conn: conn.fetchval("SELECT 1"))
    db.close()
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import asyncpg

from runner.cluster.postgres.url import mask

T = TypeVar("T")

CONNECT_TIMEOUT_SECS = 10.0
COMMAND_TIMEOUT_SECS = 30.0     # asyncpg's per-statement timeout: a hung server fails the call, not the daemon


class DatabaseThread:
    """A thread running an event loop that owns an asyncpg pool. `call`/`acall`/`submit` run
    `work(connection)` there on a pooled connection; `run`/`submit_coroutine` run any coroutine
    there. `relaxed_pool` is one connection whose commits return before their WAL is on disk
    (`synchronous_commit=off`): they survive the daemon's death (the server has them), and any
    later commit on `pool` puts them on disk first, as the WAL is one sequence."""

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop, thread: threading.Thread,
                 pools: tuple[asyncpg.Pool, asyncpg.Pool]) -> None:
        self.url = url
        self._loop = loop
        self._thread = thread
        self.pool, self.relaxed_pool = pools

    @classmethod
    def start(cls, url: str, *, min_connections: int = 1, max_connections: int = 4) -> DatabaseThread:
        """Start the thread and connect. Raises ConnectionError naming the (masked) URL when the
        database cannot be reached."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="postgres", daemon=True)
        thread.start()

        async def connect() -> tuple[asyncpg.Pool, asyncpg.Pool]:
            pool = await asyncpg.create_pool(url, min_size=min_connections, max_size=max_connections,
                                             timeout=CONNECT_TIMEOUT_SECS, command_timeout=COMMAND_TIMEOUT_SECS)
            try:
                relaxed = await asyncpg.create_pool(url, min_size=0, max_size=1, timeout=CONNECT_TIMEOUT_SECS,
                                                    command_timeout=COMMAND_TIMEOUT_SECS,
                                                    server_settings={"synchronous_commit": "off"})
            except BaseException:
                await pool.close()
                raise
            return pool, relaxed

        made = asyncio.run_coroutine_threadsafe(connect(), loop)
        try:
            pools = made.result(CONNECT_TIMEOUT_SECS + 5)
        except Exception as exc:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
            # The exception may quote the DSN; only its type and the masked URL are shown.
            raise ConnectionError(f"cannot connect to PostgreSQL at {mask(url)} "
                                  f"({type(exc).__name__}: {_without(url, str(exc))})") from None
        return cls(url, loop, thread, pools)

    def submit(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> Future[T]:
        """Run `work(connection)` on the thread; a concurrent future of its result."""
        return self.submit_coroutine(self._with_connection(work))

    def call(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """`submit` and wait: blocks the calling thread for the round trip."""
        return self.submit(work).result()

    async def acall(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """`submit` and await from another event loop, which stays free meanwhile."""
        return await asyncio.wrap_future(self.submit(work))

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run any coroutine on the thread's loop and wait for it."""
        return self.submit_coroutine(coroutine).result()

    def submit_coroutine(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        """Start `coroutine` on the thread's loop. RuntimeError once `close()` has run."""
        if self._loop.is_closed():
            coroutine.close()
            raise RuntimeError(f"the connection to PostgreSQL {mask(self.url)} is closed")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    async def _with_connection(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        async with self.pool.acquire(timeout=COMMAND_TIMEOUT_SECS) as connection:   # a pool never freed fails too
            return await work(connection)

    def close(self) -> None:
        """Close the pools (waiting for calls under way) and end the thread."""
        if self._loop.is_closed():
            return
        try:
            for pool in (self.relaxed_pool, self.pool):
                try:
                    asyncio.run_coroutine_threadsafe(asyncio.wait_for(pool.close(), COMMAND_TIMEOUT_SECS),
                                                     self._loop).result()
                except (asyncio.TimeoutError, OSError):
                    pool.terminate()
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()


def _without(url: str, text: Any) -> str:
    return str(text).replace(url, mask(url))
