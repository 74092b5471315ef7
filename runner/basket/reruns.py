"""The legs of a basket still re-running their journalled candles after a restart, and the wait
of the others before their first fresh decision.

After a crash each leg restores from a snapshot of its own moment and re-runs the candles past
it as its journal holds them (`runner.bot.journal_follow`); the legs replay at their own paces.
The basket's cash is capital plus every leg's flow, so while one leg re-runs, the cash holds its
flow as of the candle its re-run has reached, not as of the crash: an entry another leg decided
afresh then was sized on a cash balance of no moment at all (more than the basket had, while the
re-running leg's journalled entries were not made again yet; less, while its exits were not),
and the cash could go below zero once the re-run caught up.

So each leg of a restored basket passes `RerunBarrier` once, at the candle past its journal
(a leg with nothing to re-run: at its first candle): it is done re-running there, and it waits
until every other leg is too. Then every leg's flow is the one its journal ends with, the cash
is the basket's as at the crash, and the fresh decisions of every leg are sized on it.

A sim leg that crashes, mid-re-run or later, is restarted by the daemon's supervisor after a
backoff, from its last snapshot: it re-runs the candles past it, and until it is past them the
cash holds its share as of the snapshot. So the supervisor `hold`s it here from the crash (its
runner closes meanwhile, which is no end of a re-run), has the other legs wait again before their
next candle (`JournalFollowing.wait_for_reruns`), and `release`s it once it is built again: its
new runner re-runs, or has nothing to. A leg that stays down mid-re-run leaves its share of the
cash partial; the others are released then, and the basket enters nothing until that leg starts
again (`runner.daemon.manager`), when they wait for its re-run as at a restart. One that crashed past its re-run leaves its share as of its
crash, and the others trade on, as before it.
"""

from __future__ import annotations

import asyncio

__all__ = ["RerunBarrier", "either_set"]


async def either_set(event: asyncio.Event, wake: asyncio.Event) -> None:
    """Return once `event` or `wake` is set (a leg's wait, ended early by a stop or kill)."""
    waits = (asyncio.ensure_future(event.wait()), asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()


class RerunBarrier:
    """The bot ids of one basket's legs re-running journalled candles; see the module docstring."""

    def __init__(self) -> None:
        self._legs: set[str] = set()
        self._held: dict[str, bool] = {}     # crashed, not built again yet -> it crashed mid-re-run
        self._none_left = asyncio.Event()
        self._none_left.set()

    @property
    def pending(self) -> frozenset[str]:
        """The legs still re-running, or crashed and not built again yet."""
        return frozenset(self._legs | self._held.keys())

    @property
    def held(self) -> frozenset[str]:
        """The legs crashed, waited for until built again (`hold`)."""
        return frozenset(self._held)

    def held_mid_rerun(self, bot_id: str) -> bool:
        """Whether `bot_id`'s leg, held, crashed before it was past its journal."""
        return self._held.get(bot_id, False)

    def rerunning(self, bot_id: str) -> None:
        """`bot_id`'s leg, being built, re-runs journalled candles: the others wait for it. Called
        before the legs step (they start together: `Baskets.start_together`)."""
        self._legs.add(bot_id)
        self._none_left.clear()

    def done(self, bot_id: str) -> None:
        """`bot_id`'s leg is past its journal, or no longer runs (stopped, killed, failed,
        removed): nothing of its re-run is left to wait for, unless it is held (`hold`)."""
        self._legs.discard(bot_id)
        self._check_none_left()

    def hold(self, bot_id: str) -> None:
        """`bot_id`'s leg crashed and is restarted after a backoff: the others wait for it until
        `release` (its runner's close calls `done` meanwhile, which does not end the hold)."""
        self._held[bot_id] = self._held.get(bot_id, False) or bot_id in self._legs
        self._none_left.clear()

    def release(self, bot_id: str) -> None:
        """`bot_id`'s leg held since its crash is built again (its new runner `rerunning`, or with
        nothing to re-run), or stays down: the hold ends."""
        self._held.pop(bot_id, None)
        self._check_none_left()

    def _check_none_left(self) -> None:
        if not self._legs and not self._held:
            self._none_left.set()

    async def wait(self, wake: asyncio.Event) -> bool:
        """Return once no leg re-runs (True), or once `wake` is set (a stop or kill asked for the
        waiting leg; False while legs still re-run)."""
        while (self._legs or self._held) and not wake.is_set():
            await either_set(self._none_left, wake)
        return not (self._legs or self._held)
