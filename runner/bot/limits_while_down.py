"""A restarted paper (or shadow) bot's resting limit orders over the candles closed while it was down.

A paper bot does not re-run its candles after a restart: it starts on the exchange's next one.
Its protective exits catch up on the candles it missed (`runner.state.exits_past_snapshot`),
but a resting limit order (an entry, or a limit exit) used to wait for the first live candle:
one the market reached while the daemon was down filled there, at that candle's prices and
time, or never, when the price had moved away; and one whose expiry passed meanwhile was
cancelled at that candle's close.

`replay_resting_limits` puts them through the missed candles one at a time, as the loop would
have (`StrategyRunner._steps` without the strategy): the engine fills what each candle reached
(`catch_up_resting`: limit orders and protective exits together, by sim's rule),
the fills are booked and journalled at the candle's close, a resting limit exit's set-aside
stops watch the candle, orders whose expiry is that close are cancelled (journalled
"expired" at it), and a bot with trading hours cancels a resting entry at the first close
outside them (`runner.bot.session_flow`). Once no limit order rests, the candles left go to
the exits' catch-up as before, so an entry filled meanwhile has its exits, armed by the engine
at its fill (from the candle after the fill's, or from its open: sim's rule, `execution.sim`),
go through the rest of the missed candles.

Nothing fills twice across a second restart: the fills are journalled (and committed) before the
bot trades, and a restart does not restore an order whose fill the journal holds
(`PaperExecution.restore_orders`) nor one whose cancel it holds (`runner.state.recovery`); the
exits of an entry whose fill it holds are armed from it (`limits_past_snapshot.exits_of_limit_entries_filled`).

A mixin of `StrategyRunner`, called from `RunnerPersistence.catch_up_exits`; engines without
`catch_up_resting` (live: the exchange matched them; the restart looks them up) skip it.
Paper's and a shadow bot's (sim fills on exchange candles) have it: `SimExecution.catch_up_resting`.
"""

from __future__ import annotations

from typing import Mapping, Protocol, Sequence, runtime_checkable

from loguru import logger

from execution.models import Fill, OrderType
from market.models import Candle, iso_utc

__all__ = ["LimitsWhileDown", "ReplaysRestingOrders"]


@runtime_checkable
class ReplaysRestingOrders(Protocol):
    """An engine that can put its resting orders through a candle the bot did not step through."""

    async def catch_up_resting(self, candle: Candle, *, from_ms: Mapping[str, int] | None = None) -> list[Fill]: ...


class LimitsWhileDown:
    """The restart's replay of resting limit orders; see the module docstring."""

    def _limit_orders_resting(self) -> list[str]:
        return [o.client_order_id for o in self.execution.open_orders()
                if o.oco_group is None and o.type is OrderType.LIMIT]

    async def replay_resting_limits(self, past: Sequence[Candle]) -> Sequence[Candle]:
        """Put the resting limit orders through `past` (closed candles after the snapshot's last,
        oldest first) as the loop would have; return the candles left once none rests (all of
        `past` when none did, or the engine cannot replay them)."""
        engine = self.execution
        resting = self._limit_orders_resting()
        if not past or not resting or not isinstance(engine, ReplaysRestingOrders):
            return past
        self._follow_limit_expiries()        # the restored orders' expiries, due at the candles below
        if self._limit_expiries is not None:
            # One due before the first candle here never sees it: its cancel lost in a crash, or
            # a downtime longer than the catch-up's cap (MAX_CATCH_UP_CANDLES) left candles out.
            await self._expire_limit_orders(past[0].ts_ms)
        bar_ms, fills_booked, seen = self._bar_ms, 0, 0
        for candle in past:
            if not self._limit_orders_resting():
                break
            seen += 1
            close_ms = candle.ts_ms + bar_ms
            fills = await engine.catch_up_resting(candle, from_ms=self._exits_from_ms)
            if fills:
                self._apply_fills(fills, close_ms)
                fills_booked += len(fills)
            if self._replaced_exits is not None:   # a limit exit rests; the stops it set aside watch
                await self._watch_set_aside_exits(candle, close_ms)
            if self._limit_expiries is not None:
                await self._expire_limit_orders(close_ms)
            if self.session is not None and self.portfolio.quantity == 0.0 and self._session_acts(None, close_ms):
                # Flat, so what rests is an entry: cancelled at the first close out of the trading
                # hours (`runner.bot.session_flow`). Holding, the session's flatten is left to the
                # first live candle, as after any restart: a market exit has no missed price.
                await self._session_check(None, close_ms)
        self.journal.commit()                # on disk before the bot goes on: never filled twice
        logger.info("Resting limit order(s) {} put through {} candle(s) closed while the bot was down (from {}): "
                    "{} fill(s), still resting: {}", ", ".join(resting), seen, iso_utc(past[0].ts_ms), fills_booked,
                    ", ".join(self._limit_orders_resting()) or "none")
        return past[seen:]
