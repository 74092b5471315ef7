"""Bots' snapshots on their way to the writer, behind one journal commit per event-loop turn.

A snapshot must never be ahead of the journal: recovery re-runs from the snapshot and checks the
re-run against the journal past it. The manager used to commit the journal before each snapshot
it handed over, a commit per bot: at the end of a run, or on a candle where many bots fill, ten
thousand bots each began a transaction, inserted one event and committed it, and the candle
waited for all of them. Here a snapshot is encoded at once (the bot goes on changing its state)
and held until the end of the current loop turn; then one commit of the journal (and of the
forecast store) covers every snapshot held, and they go to the writer together.

A bot's checkpoint at the end of its candle (`submit_soon`) is made later still: after the
orders of that candle are on the wire. Every bot of a one-minute daemon checkpoints after every
candle (its interval, 5 s, is shorter than a candle), so each candle's fan-out built and encoded
a hundred snapshots (~50 us each) before the commit its orders wait for: milliseconds before
the first order left. Now the state is read when the group commit of the candle's intents has
woken its bots and they have sent their orders (`SqliteJournal.after_group_commit`), or at the
end of the loop turn where no commit is gathered, and only from a bot still between candles
(none of its turns taken: a batch, or a kill or resume by hand), so a snapshot always holds
whole candles. A bot that has started its next candle by then is told it owes one
(`checkpoint_owed`) and checkpoints again at the end of that candle, whatever its interval; the
journal covers it meanwhile.

Those checkpoints are made a batch of about `batch_secs` (1 ms) at a time, one batch a loop turn:
made in one callback, a hundred bots' snapshots held the loop for milliseconds (a thousand's for
tens of them), and whatever came meanwhile waited, another stream's candle and the orders of its
bots. Between two batches the loop runs what is ready. Each bot is still read when it is made and
only if between candles then, and the commit after the last batch covers them all before they go
to the writer in one lot (a `submit` meanwhile hands over those made so far, behind a commit
too). A flush or a close makes what is left at once.

A commit that fails hands nothing over: the snapshots on disk stay the older ones, which the
journal does cover. The error is logged, and each bot whose snapshot was held gets it raised at
its next checkpoint (the supervisor restarts it from its last good state), as it got it at once
when the commit was its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from loguru import logger

from runner.state.snapshots import SnapshotWriter, encode

__all__ = ["Checkpoints"]

StateOf = Callable[[Any], dict[str, Any]]     # a bot to the state its snapshot holds


class Checkpointed(Protocol):
    """What `submit_soon` needs of a bot (a `StrategyRunner`)."""

    bot_id: str

    @property
    def between_candles(self) -> bool: ...

    def checkpoint_owed(self) -> None: ...


class Checkpoints:
    """Snapshots held until one commit of `commits` (in order) covers them, then given to `writer`.
    `after_group_commit` (the journal's, see `submit_soon`) defers a bot's checkpoint past the
    orders of its candle; without it, to the end of the loop turn. Deferred checkpoints are made
    for about `batch_secs` a loop turn (one at least), the loop free in between."""

    def __init__(self, writer: SnapshotWriter, commits: Sequence[Callable[[], None]],
                 after_group_commit: Callable[[Callable[[], None]], bool] | None = None, *,
                 batch_secs: float = 0.001) -> None:
        self._writer = writer
        self._commits = tuple(commits)
        self._after_group_commit = after_group_commit
        self._held: dict[str, bytes] = {}
        self._failed: dict[str, Exception] = {}
        self._scheduled = False
        self._soon: dict[str, tuple[Checkpointed, StateOf]] = {}
        self._soon_scheduled = False
        self._batch_secs = batch_secs
        # Checkpoints whose candle's orders are on the wire, being made a batch a loop turn.
        self._making: dict[str, tuple[Checkpointed, StateOf]] = {}
        self._batch_scheduled = False

    def submit(self, bot_id: str, state: dict[str, Any]) -> None:
        """Hold `state` for the end of this loop turn (the latest of a bot's states wins, and a
        checkpoint of it still deferred is dropped).
        Raises the error of a failed commit that held this bot's previous snapshot."""
        if (error := self._failed.pop(bot_id, None)) is not None:
            raise error
        # A checkpoint deferred earlier (`submit_soon`) is older than `state`, and made later it
        # would read a bot that may have closed its parts meanwhile (a finished sim bot's engine
        # drops its resting stops): `state` replaces it.
        self._soon.pop(bot_id, None)
        self._making.pop(bot_id, None)
        self._held[bot_id] = encode(bot_id, state)
        if not self._scheduled:
            self._scheduled = True
            # Behind the callbacks already queued: the other bots stepping on the same candle.
            asyncio.get_running_loop().call_soon(self.hand_over)

    def submit_soon(self, bot: Checkpointed, state_of: StateOf) -> None:
        """`submit(bot.bot_id, state_of(bot))` once the orders of the candle are on the wire (see
        the module docstring): at once for a bot not between candles now (a kill or resume by hand
        holds its turn). Raises the error of a failed commit, or of a deferred state that could
        not be made, for this bot's previous checkpoint."""
        if self._failed and (error := self._failed.pop(bot.bot_id, None)) is not None:   # every bot, every candle
            raise error
        if not bot.between_candles:
            self.submit(bot.bot_id, state_of(bot))
            return
        if self._making:                     # an older one not made yet: this one, after this candle's orders
            self._making.pop(bot.bot_id, None)
        self._soon[bot.bot_id] = (bot, state_of)
        if not self._soon_scheduled:
            self._soon_scheduled = True
            asyncio.get_running_loop().call_soon(self._after_orders)

    def _after_orders(self) -> None:
        # The bots of a candle step in one loop turn, the deciders among them gathering one
        # group commit for the next. Here, in that next turn, the commit is still being gathered
        # (the snapshots wait for it), or it was done earlier in this turn and queued its bots'
        # wake-ups (the snapshots come behind them), or there was none.
        if self._after_group_commit is None or not self._after_group_commit(self._submit_deferred):
            asyncio.get_running_loop().call_soon(self._submit_deferred)

    def _submit_deferred(self) -> None:
        self._take_soon()
        if not self._batch_scheduled:        # else the batches under way make these too
            self._make_batch()

    def _take_soon(self) -> None:
        self._soon_scheduled = False
        self._making.update(self._soon)
        self._soon = {}

    def _make_batch(self) -> None:
        self._batch_scheduled = False
        making, make = self._making, self._make
        deadline = time.perf_counter() + self._batch_secs     # wall time: what waits meanwhile waits in it
        # The order they are made in does not matter (each bot is read when made, and the commit
        # after the last covers them all): `popitem` takes the last one in O(1).
        while making:
            make(*making.popitem())
            if time.perf_counter() >= deadline:
                break
        if making:
            self._batch_scheduled = True
            asyncio.get_running_loop().call_soon(self._make_batch)     # behind what came meanwhile
        elif self._held and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.hand_over)

    def _make_deferred(self) -> None:
        """Every deferred checkpoint of a bot between candles, now (a flush, a close)."""
        self._take_soon()
        while self._making:
            self._make(*self._making.popitem())

    def _make(self, bot_id: str, deferred: tuple[Checkpointed, StateOf]) -> None:
        bot, state_of = deferred
        if not bot.between_candles:
            bot.checkpoint_owed()            # busy again: at the end of its candle (see the docstring)
            return
        try:
            self._held[bot_id] = encode(bot_id, state_of(bot))
        except Exception as exc:              # raised to the bot at its next checkpoint, as `submit` would
            logger.error("Snapshot of {} not made: {}: {}", bot_id, type(exc).__name__, exc)
            self._failed[bot_id] = exc

    def hand_over(self) -> None:
        """Commit, then give every held snapshot to the writer. Safe to call at any time."""
        self._scheduled = False
        if not self._held:
            return
        held, self._held = self._held, {}
        try:
            for commit in self._commits:
                commit()
        except Exception as exc:
            logger.error("Journal commit failed ({}: {}); {} snapshots not written, their bots stop at their next "
                         "checkpoint", type(exc).__name__, exc, len(held))
            self._failed.update(dict.fromkeys(held, exc))
            return
        self._writer.submit_encoded_many(held)

    async def aflush(self, bot_id: str | None = None) -> None:
        """Make the deferred snapshots of bots between candles, hand over what is held, then wait
        until it (or only `bot_id`'s) is on disk."""
        self._make_deferred()
        self.hand_over()
        await self._writer.aflush(bot_id)

    def close(self) -> None:
        """Make the deferred snapshots of bots between candles, hand over what is held, then
        flush and stop the writer."""
        self._make_deferred()
        self.hand_over()
        self._writer.close()
