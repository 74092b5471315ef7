"""What every bot of a daemon shares: candle feeds, exchange accounts, the journal, snapshots."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from execution.accounts import ExchangeAccounts
from market.shared import FeedHub
from risk.group import RiskGroup, RiskGroupLimits
from runner.basket.group import Baskets
from runner.bot.clock import SYSTEM_CLOCK, Clock
from runner.config.bot import BotConfig
from runner.daemon.checkpoints import Checkpoints
from runner.state.forecasts import ForecastStore
from runner.state.journal import SqliteJournal
from runner.state.snapshots import SnapshotStore, SnapshotWriter
from runner.regime.shared import RegimeHub
from strategies.features import FeatureHub

REPLAY_FEATURE_CANDLES = 1_000_000


class RiskGroups:
    """The daemon's risk groups, made when a first bot joins: a bot's named `risk_group`, or
    else the group of its exchange account when `daemon.yaml` has limits for that account."""

    def __init__(self, groups: Mapping[str, RiskGroupLimits] | None = None,
                 accounts: Mapping[str, RiskGroupLimits] | None = None) -> None:
        self._limits = {**{f"account:{k}": v for k, v in (accounts or {}).items()}, **(groups or {})}
        self._groups: dict[str, RiskGroup] = {}
        self.baskets = Baskets()          # a basket's legs: one group per basket (runner.basket)

    def for_bot(self, config: BotConfig) -> RiskGroup | None:
        if config.basket is not None:
            return self.baskets.for_leg(config)
        name = config.risk_group
        if name is None and config.exchange is not None:
            name = f"account:{config.exchange.id}/{config.exchange.account}"
        limits = self._limits.get(name) if name is not None else None
        if limits is None:
            return None
        return self._groups.setdefault(name, RiskGroup(name, limits))

    def groups(self) -> list[RiskGroup]:
        return list(self._groups.values())


@dataclass
class DaemonServices:
    """The daemon's shared parts. `close()` flushes and stops the snapshot writer."""

    hub: FeedHub
    journal: SqliteJournal
    snapshots: SnapshotStore
    clock: Clock = SYSTEM_CLOCK
    accounts: ExchangeAccounts = field(default_factory=ExchangeAccounts)
    forecasts: ForecastStore | None = None          # the models' forecasts, recorded and scored
    features: FeatureHub = field(default_factory=FeatureHub)    # features computed once per live stream
    # Bots on a replay run at their own pace (and a restarted one re-runs from the first candle),
    # so a replay's features are kept for all of it, up to this many candles (~0.55 KB each).
    replay_features: FeatureHub = field(default_factory=lambda: FeatureHub(max_candles=REPLAY_FEATURE_CANDLES))
    # One regime detector per stream and settings; a replay's readings kept for all of it, as its features.
    regimes: RegimeHub = field(default_factory=RegimeHub)
    replay_regimes: RegimeHub = field(default_factory=lambda: RegimeHub(max_candles=REPLAY_FEATURE_CANDLES))
    risk_groups: RiskGroups = field(default_factory=RiskGroups)
    writer: SnapshotWriter = field(init=False)
    checkpoints: Checkpoints = field(init=False)     # snapshots to the writer, behind a journal commit

    def __post_init__(self) -> None:
        self.writer = SnapshotWriter(self.snapshots)
        commits = [self.journal.commit] + ([self.forecasts.commit] if self.forecasts is not None else [])
        # A bot's checkpoint waits for its candle's orders: behind the journal's group commit (SQLite's).
        self.checkpoints = Checkpoints(self.writer, commits, getattr(self.journal, "after_group_commit", None))

    def close(self) -> None:
        self.checkpoints.close()
        if self.forecasts is not None:
            self.forecasts.commit()        # closed by its owner, the daemon

    async def aclose(self) -> None:
        """Close the exchange clients, then flush and stop the snapshot writer."""
        await self.accounts.aclose()
        self.close()
