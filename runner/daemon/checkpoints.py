"""Bots' snapshots on their way to the writer, behind one journal commit per event-loop turn.

A snapshot must never be ahead of the journal: recovery re-runs from the snapshot and checks the
re-run against the journal past it. The manager used to commit the journal before each snapshot
it handed over, a commit per bot: at the end of a run, or on a candle where many bots fill, ten
thousand bots each began a transaction, inserted one event and committed it, and the candle
waited for all of them. Here a snapshot is encoded at once (the bot goes on changing its state)
and held until the end of the current loop turn; then one commit of the journal (and of the
forecast store) covers every snapshot held, and they go to the writer together.

A commit that fails hands nothing over: the snapshots on disk stay the older ones, which the
journal does cover. The error is logged, and each bot whose snapshot was held gets it raised at
its next checkpoint (the supervisor restarts it from its last good state), as it got it at once
when the commit was its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from loguru import logger

from runner.state.snapshots import SnapshotWriter, encode

__all__ = ["Checkpoints"]


class Checkpoints:
    """Snapshots held until one commit of `commits` (in order) covers them, then given to `writer`."""

    def __init__(self, writer: SnapshotWriter, commits: Sequence[Callable[[], None]]) -> None:
        self._writer = writer
        self._commits = tuple(commits)
        self._held: dict[str, bytes] = {}
        self._failed: dict[str, Exception] = {}
        self._scheduled = False

    def submit(self, bot_id: str, state: dict[str, Any]) -> None:
        """Hold `state` for the end of this loop turn (the latest of a bot's states wins).
        Raises the error of a failed commit that held this bot's previous snapshot."""
        if (error := self._failed.pop(bot_id, None)) is not None:
            raise error
        self._held[bot_id] = encode(bot_id, state)
        if not self._scheduled:
            self._scheduled = True
            # Behind the callbacks already queued: the other bots stepping on the same candle.
            asyncio.get_running_loop().call_soon(self.hand_over)

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
        """Hand over what is held, then wait until it (or only `bot_id`'s) is on disk."""
        self.hand_over()
        await self._writer.aflush(bot_id)

    def close(self) -> None:
        """Hand over what is held, then flush and stop the writer."""
        self.hand_over()
        self._writer.close()
