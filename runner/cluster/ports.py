"""What a node's `ClusterCoordinator` (runner.cluster.coordinator) asks of the rest of the daemon:
the bots it runs (the `BotManager`) and the database side of fencing (runner.cluster.postgres)."""

from __future__ import annotations

from typing import Any, Protocol

from runner.state.journal import BotJournal


class OwnedBots(Protocol):
    """What the coordinator asks of the daemon's `BotManager`."""

    def take(self, bot_id: str, journal: BotJournal, *, kill_reason: str | None = None) -> None: ...
    async def stop(self, bot_id: str) -> Any: ...
    async def drop(self, bot_id: str) -> None: ...
    async def kill(self, bot_id: str, reason: str) -> Any: ...
    async def resume(self, bot_id: str) -> Any: ...
    async def status_rows(self) -> list[dict[str, Any]]: ...


class Fencing(Protocol):
    """The database side of fencing (runner.cluster.postgres): raise a bot's fence to a token
    (False when it already holds a higher one), read it, and a journal handle whose writes carry it."""

    async def claim(self, bot_id: str, token: int) -> bool: ...
    async def fence(self, bot_id: str) -> int: ...        # the token the fence holds (0: none yet)
    def journal_for(self, bot_id: str, token: int) -> BotJournal: ...
