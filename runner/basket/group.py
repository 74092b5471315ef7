"""What the legs of one basket share: cash, the kill switch, `max_open_positions` and the stake.

A basket's legs are ordinary `StrategyRunner`s, each built by the composition root like any
bot; this group is what makes them one bot. It is a `RiskGroup` (`risk.group`), whose
`reserve` already checks and takes room for an entry in one synchronous call: of two legs
deciding on the same candle, the one the event loop runs first takes the last open position
and the last of the cash, and the other is refused. On top of the group's rules it refuses
an entry while a leg the basket expects has not started yet: after a restart, a leg's share
of the cash (its fills) is back only once it is restored, and an entry sized before that
could spend cash another leg already spent.

So that a restart ends where the uninterrupted run does, whatever order the legs start in, a
leg does not even step before the others are back: the daemon joins each restored leg to its
group and waits (`Baskets.start_together`) until every leg the basket expects has joined. A
leg whose start fails (it cannot be built, or is halted by its recovery) is not waited for:
the others step on, managing their positions, and enter nothing until it starts or leaves the
basket's symbols (its share of the cash is in its snapshot, which nothing has read).

One `BasketKillSwitch` is every leg's latch: a leg tripping it (a drawdown of the basket's
equity, a kill by hand) makes every other leg close its position as of that moment, in the
daemon and in a backtest alike, both listening to the latch (`BasketKillSwitch.listen`): a leg
that has read its candle of the trip's time closes at once, one that steps that candle after the
tripping leg closes at its close (`runner.bot.kill_flow` says why).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Callable, Iterable

from loguru import logger

from portfolio.basket import CashLedger, LegPortfolio
from risk.group import Reservation, RiskGroup, RiskGroupLimits
from risk.kill_switch import KillSwitch
from runner.basket.lockstep import LegLockstep
from runner.basket.reruns import RerunBarrier
from runner.basket.roster import SnapshotPort, settle_leavers
from runner.config.basket_leg import BasketLeg

if TYPE_CHECKING:
    from runner.bot.strategy_runner import StrategyRunner
    from runner.config.bot import BotConfig

__all__ = ["BasketGroup", "BasketKillSwitch", "BasketStake", "Baskets"]


class BasketKillSwitch(KillSwitch):
    """One latch for a basket's legs. Restoring only ever trips it: a leg whose snapshot was
    saved before another leg tripped the latch must not clear it at a restart."""

    __slots__ = ("_listeners",)
    shared = True

    def __init__(self) -> None:
        super().__init__()
        self._listeners: dict[str, Callable[[str], None]] = {}

    def listen(self, name: str, callback: Callable[[str], None]) -> None:
        """Call `callback(reason)` when the latch trips (once per `name`: a leg rebuilt
        registers again without adding a call). The daemon (and a basket's backtest) closes
        every leg's position then, rather than at each leg's next candle (an hour away on 1h
        candles)."""
        self._listeners[name] = callback

    def trip(self, reason: str, ts_ms: int) -> bool:
        if not super().trip(reason, ts_ms):
            return False
        for callback in list(self._listeners.values()):
            callback(reason)
        return True

    def restore(self, data: dict[str, Any]) -> None:
        resets = max(self.resets, data.get("resets", 0))
        if data["tripped"] and not self.tripped:
            super().restore(data)
        self.resets = resets


class BasketGroup(RiskGroup):
    """One basket's shared parts; see the module docstring."""

    def __init__(self, basket: BasketLeg, capital: float) -> None:
        super().__init__(basket.basket, RiskGroupLimits(max_open_positions=basket.max_open_positions))
        self.basket = basket
        self.ledger = CashLedger(capital)
        self.kill_switch = BasketKillSwitch()
        self._expected: set[str] = set()         # symbols of the legs the basket runs now
        self._started: set[str] = set()          # ... that have joined (restored, running)
        self._failed: dict[str, str] = {}        # ... whose start failed: not waited for (why)
        self._all_in = asyncio.Event()           # set while no leg is left to wait for
        self.reruns = RerunBarrier()             # the legs re-running journalled candles after a restart
        self.lockstep = LegLockstep(self.reruns, basket.basket)   # the daemon's sim legs: candle t after the others' t - 1
        self._places: dict[str, int] = {}        # symbol -> its place in the basket's list (the order on a tie)

    def expect(self, symbols: Iterable[str]) -> None:
        """The legs the basket runs (set again when its list changes), in the basket's order."""
        symbols = list(symbols)
        self._expected = set(symbols)
        self._places = {symbol: place for place, symbol in enumerate(symbols)}
        self.lockstep.keep_spans(symbols)
        self._check_all_in()

    def place_of(self, symbol: str) -> int:
        """`symbol`'s place in the basket's list: legs on one candle time step in this order."""
        return self._places.get(symbol, len(self._places))

    def waiting_for(self) -> set[str]:
        """The symbols whose legs the others wait for at their start: expected, not joined
        yet, and not failed to start."""
        return self._expected - self._started - self._failed.keys()

    async def all_in(self) -> None:
        """Return once no expected leg is left to wait for (see the module docstring)."""
        while self.waiting_for():
            await self._all_in.wait()

    def start_failed(self, symbol: str, reason: str) -> None:
        """`symbol`'s leg could not start: the others stop waiting for it, and enter nothing
        until it joins (its cash is not known without it)."""
        if symbol not in self._expected or symbol in self._started or symbol in self._failed:
            return
        self._failed[symbol] = reason
        logger.warning("Basket {}: the leg of {} could not start ({}); its other legs go on without it, entering "
                       "nothing until it starts or leaves symbols:", self.name, symbol, reason)
        self._check_all_in()

    def forget(self, symbol: str) -> None:
        """`symbol`'s leg was dropped without a snapshot (a cluster's lost lease): its share here
        is stale, so when the basket is taken again its legs wait for it as after a restart."""
        self._started.discard(symbol)
        self._check_all_in()

    def _check_all_in(self) -> None:
        if self.waiting_for():
            self._all_in.clear()
        else:
            self._all_in.set()

    def follow(self, leg: BasketLeg) -> None:
        """The basket's settings as a leg reloaded with a changed file has them."""
        self.basket = leg
        self.limits = RiskGroupLimits(max_open_positions=leg.max_open_positions)

    def portfolio(self, symbol: str) -> LegPortfolio:
        """A fresh ledger for `symbol`'s leg, on the basket's cash (it replaces the one of a
        leg built before: a restart)."""
        return LegPortfolio(symbol, self.ledger)

    def join(self, bot_id: str, symbol: str, portfolio: Any) -> None:
        super().join(bot_id, symbol, portfolio)
        if isinstance(portfolio, LegPortfolio):
            self.ledger.attach(portfolio)        # a restored ledger replaces the one built empty
        self._started.add(symbol)
        self._failed.pop(symbol, None)
        self._check_all_in()

    def leave(self, bot_id: str) -> None:
        super().leave(bot_id)
        self.reruns.done(bot_id)                 # stopped or gone mid-re-run: the others stop waiting for it
        self.lockstep.leave(bot_id)              # ... and stepping: nor at its next candle

    def reserve(self, bot_id: str, order_id: str, symbol: str, notional: float, candle_ts_ms: int) -> str | None:
        waiting = self._expected - self._started
        if waiting:
            return self._refuse(f"waiting for the legs of {', '.join(sorted(waiting))} to start (their share of the "
                                "cash is not restored yet)")
        available = self.available_cash()
        if notional > available * (1 + 1e-9):
            return self._refuse(f"the entry ({notional:.2f}) is more than the basket's cash not yet spoken for "
                                f"({available:.2f})")
        return super().reserve(bot_id, order_id, symbol, notional, candle_ts_ms)

    def hold(self, bot_id: str, order_id: str, symbol: str, notional: float, candle_ts_ms: int) -> None:
        """Take room for an entry a leg re-running its candles makes as its journal holds it
        (`runner.bot.journal_follow`), without asking the limits: the run journalled found the
        room, on a basket the re-run cannot see again (the other legs were elsewhere then)."""
        self._reserved[order_id] = Reservation(bot_id, order_id, symbol, notional, candle_ts_ms)

    def available_cash(self) -> float:
        """Cash minus the entries on their way (reserved, not yet filled)."""
        return self.ledger.cash - sum(r.notional for r in self._reserved.values())

    def stake(self, leg: BasketLeg, stake_pct: float) -> BasketStake:
        """The entry size of the leg whose config has `leg`."""
        return BasketStake(self, leg, stake_pct)

    # -- figures -----------------------------------------------------------------------------

    def equity(self) -> float:
        return self.ledger.equity()          # each leg's equity is the basket's: summing them counts it n times

    def figures(self) -> dict[str, Any]:
        figures = super().figures()
        figures.update(group=f"basket {self.name}", cash=self.ledger.cash, symbols=len(self.ledger.legs),
                       max_open_positions=self.basket.max_open_positions)
        return figures


class BasketStake:
    """A leg's entry size (the risk engine's `PositionSizing` port): `stake_amount` of quote
    currency, or `stake_fraction` of the basket's equity, or equity / `max_open_positions`
    (/ the number of legs without it); never more than `stake_pct` of the cash not yet spoken
    for (the rest pays the fee)."""

    def __init__(self, group: BasketGroup, leg: BasketLeg, stake_pct: float) -> None:
        self.group = group
        self.leg = leg
        self.stake_pct = stake_pct

    def entry_amount(self, cash: float) -> float:
        group, basket = self.group, self.leg
        if basket.retiring:
            return 0.0                        # a retired leg kept until it exits enters nothing
        if basket.stake_amount is not None:
            stake = basket.stake_amount
        else:
            share = basket.stake_fraction
            if share is None:
                share = 1.0 / (basket.max_open_positions or max(len(group.ledger.legs), 1))
            stake = share * group.ledger.equity()
        return max(min(stake, group.available_cash() * self.stake_pct), 0.0)


class Baskets:
    """The daemon's baskets: each basket's group, made when its first leg is built."""

    def __init__(self) -> None:
        self._groups: dict[str, BasketGroup] = {}
        self._legs: dict[str, dict[str, None]] = {}
        self._settled: dict[str, dict[str, float]] = {}
        self._store: SnapshotPort | None = None

    def keep_in(self, store: SnapshotPort) -> None:
        """Keep each basket's roster in `store` (the daemon's snapshots): what the legs that left
        a basket made or lost stays in its cash, across restarts (`runner.basket.roster`)."""
        self._store = store

    def group(self, basket: str) -> BasketGroup | None:
        """The basket's group once a leg of it is built, else None."""
        return self._groups.get(basket)

    def for_leg(self, config: BotConfig) -> BasketGroup:
        """The group of the basket `config` is a leg of."""
        leg = config.basket
        assert leg is not None, f"{config.id} is not a basket's leg"
        group = self._groups.get(leg.basket)
        if group is None:
            group = self._groups[leg.basket] = BasketGroup(leg, config.capital)
            group.expect(self._legs.get(leg.basket, ()))
            group.ledger.settle(self._settled.get(leg.basket, {}))
        elif group.basket.max_open_positions != leg.max_open_positions:
            group.follow(leg)          # the basket's file changed and its legs were reloaded
        return group

    def expect(self, configs: Iterable[BotConfig]) -> None:
        """The legs each basket runs, from every bot configured (at the start, after a reload):
        a basket enters nothing until each of them has started. With a store (`keep_in`), the
        symbols that left are settled (`runner.basket.roster`)."""
        legs: dict[str, dict[str, None]] = {}    # ordered: a leg's place steps it first on a tie
        for config in configs:
            if config.basket is not None and config.enabled:
                legs.setdefault(config.basket.basket, {})[config.symbol] = None
        self._legs = legs
        for name, group in self._groups.items():
            group.expect(legs.get(name, ()))
        if self._store is not None:
            for name in sorted(set(legs) | set(self._groups)):
                group = self._groups.get(name)
                self._settled[name] = settle_leavers(self._store, name, set(legs.get(name, ())),
                                                     group.ledger if group is not None else None)
                if group is not None:
                    group.ledger.settle(self._settled[name])

    def groups(self) -> list[BasketGroup]:
        return list(self._groups.values())

    async def start_together(self, runner: StrategyRunner, config: BotConfig) -> None:
        """Join a restored leg to its basket and wait until every leg it expects has joined
        or failed to start, so that no leg decides on a cash balance missing another's share;
        a bot that is no basket's leg returns at once. (`run()` joins again: a no-op.)"""
        group = runner.risk_group
        if config.basket is None or not isinstance(group, BasketGroup):
            return
        group.join(runner.bot_id, runner.symbol, runner.portfolio)
        if waiting := group.waiting_for():
            logger.info("Waiting for the legs of {} to start: the basket's cash is whole only then",
                        ", ".join(sorted(waiting)))
            await group.all_in()

    def dropped(self, config: BotConfig) -> None:
        """A leg dropped by a cluster (see `BasketGroup.forget`); nothing for a plain bot."""
        if config.basket is not None and (group := self._groups.get(config.basket.basket)) is not None:
            group.forget(config.symbol)

    def start_failed(self, config: BotConfig, exc: BaseException) -> None:
        """A leg's start failed (see `BasketGroup.start_failed`); nothing for a plain bot."""
        if config.basket is not None:        # the group too, when its first leg failed before making it
            group = self.for_leg(config)
            group.reruns.done(config.id)     # built, maybe, before it failed: its re-run is not waited for
            group.lockstep.leave(config.id)  # nor its next candle (a crash's backoff comes before its close)
            group.start_failed(config.symbol, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
