"""The journal of a bot at L0 shadow: its orders, fills and cancels are marked `shadow: true`.

A shadow bot decides and books as it would trade, but nothing leaves: its fills are sim fills on
the exchange's candles. Marking them in the journal keeps them apart from real ones for whoever
reads it (`botrunner journal BOT --kind fill` shows `shadow=True`), while recovery books them as
the bot's own, which they are: its ledger at L0 is its shadow book.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from runner.state.journal import JournalEvent

__all__ = ["ShadowJournal"]

_MARKED = frozenset({"order", "fill", "cancel"})


class ShadowJournal:
    """Wraps the bot's journal; everything else (commit, events, last_seq...) passes through."""

    def __init__(self, journal: Any) -> None:
        self._journal = journal

    def record(self, event: JournalEvent) -> int:
        if event.kind in _MARKED:
            event = replace(event, data={**event.data, "shadow": True})
        return self._journal.record(event)

    def commit(self) -> None:
        self._journal.commit()

    async def group_commit(self) -> None:
        await self._journal.group_commit()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._journal, name)
