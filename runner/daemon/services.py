"""What every bot of a daemon shares: candle feeds, exchange accounts, the journal, snapshots."""

from __future__ import annotations

from dataclasses import dataclass, field

from execution.exchange import ExchangeAccounts
from market.shared import FeedHub
from runner.bot.clock import SYSTEM_CLOCK, Clock
from runner.state.journal import SqliteJournal
from runner.state.snapshots import SnapshotStore, SnapshotWriter


@dataclass
class DaemonServices:
    """The daemon's shared parts. `close()` flushes and stops the snapshot writer."""

    hub: FeedHub
    journal: SqliteJournal
    snapshots: SnapshotStore
    clock: Clock = SYSTEM_CLOCK
    accounts: ExchangeAccounts = field(default_factory=ExchangeAccounts)
    writer: SnapshotWriter = field(init=False)

    def __post_init__(self) -> None:
        self.writer = SnapshotWriter(self.snapshots)

    def close(self) -> None:
        self.writer.close()

    async def aclose(self) -> None:
        """Close the exchange clients, then flush and stop the snapshot writer."""
        await self.accounts.aclose()
        self.close()
