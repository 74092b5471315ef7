"""A restarted paper (or shadow) bot's orders and session over the candles closed while it was down.

A paper bot does not re-run its candles after a restart: it starts on the exchange's next one.
Its protective exits catch up on the candles it missed (`runner.state.exits_past_snapshot`),
but a resting limit order (an entry, or a limit exit) used to wait for the first live candle:
one the market reached while the daemon was down filled there, at that candle's prices and
time, or never, when the price had moved away; and one whose expiry passed meanwhile was
cancelled at that candle's close.

`replay_missed_candles` puts them through the missed candles one at a time, as the loop would
have (`StrategyRunner._steps` without the strategy): the engine fills what each candle reached
(`catch_up_resting`: limit orders and protective exits together, by sim's rule),
the fills are booked and journalled at the candle's close, a resting limit exit's set-aside
stops watch the candle, orders whose expiry is that close are cancelled (journalled
"expired" at it), and a bot with trading hours cancels a resting entry at the first close
outside them (`runner.bot.session_flow`). Once none of what it replays is left (a limit order
resting, a market order waiting, a position a session flattens: below), the candles left go to
the exits' catch-up as before, so an entry filled meanwhile has its exits, armed by the engine
at its fill (from the candle after the fill's, or from its open: sim's rule, `execution.sim`),
go through the rest of the missed candles.

Two more things the loop would have done at those closes go the same way:

- **A market order still waiting** (paper: no quote could be read before the daemon stopped;
  a shadow bot's, decided at the last close it saw) fills at the first missed candle after it
  was placed, at the price the bot would have got: paper quotes each missed candle by its close
  (`PaperExecution.quote_missed_candle`), where `on_candle` would have tried again; sim fills it
  at that candle's open. Before, it waited for the first live candle and filled at its quote.
- **A session's `flatten_at_close`** closes a position held at the first missed close out of the
  session's hours (the flatten point, one candle before the close), cancelling its exits first,
  as `_steps` would have: paper at that candle's close, at once; a shadow bot at the next
  candle's open. Before, the position waited for the first live candle, and its stop could
  fill on a missed candle after the close the bot should have been flat by.

Nothing fills twice across a second restart: the fills are journalled (and committed) before the
bot trades, and a restart does not restore an order whose fill the journal holds
(`PaperExecution.restore_orders`) nor one whose cancel it holds (`runner.state.recovery`); the
exits of an entry whose fill it holds are armed from it (`limits_past_snapshot.exits_of_limit_entries_filled`).

A mixin of `StrategyRunner`, called from `RunnerPersistence.catch_up_exits`; engines without
`catch_up_resting` (live: the exchange matched them; the restart looks them up) skip it.
Paper's and a shadow bot's (sim fills on exchange candles) have it: `SimExecution.catch_up_resting`.
The restart asks the feed for these candles (`runner.state.limits_past_snapshot`,
`runner.state.session_past_snapshot`).
"""

from __future__ import annotations

from typing import Mapping, Protocol, Sequence, runtime_checkable

from loguru import logger

from execution.models import Fill, OrderType
from market.models import Candle, iso_utc

__all__ = ["LimitsWhileDown", "QuotesMissedCandles", "ReplaysRestingOrders"]

# Module names: read off their class, as this reads them for each order on each missed candle,
# they cost ~150 ns each (`runner.bot.order_flow`).
_LIMIT, _MARKET = OrderType.LIMIT, OrderType.MARKET


@runtime_checkable
class ReplaysRestingOrders(Protocol):
    """An engine that can put its resting orders through a candle the bot did not step through."""

    async def catch_up_resting(self, candle: Candle, *, from_ms: Mapping[str, int] | None = None) -> list[Fill]: ...


@runtime_checkable
class QuotesMissedCandles(Protocol):
    """An engine that fills market orders at a quote (paper), told to quote a missed candle instead."""

    def quote_missed_candle(self, candle: Candle | None, close_ms: int = 0) -> None: ...


class LimitsWhileDown:
    """The restart's replay of the candles missed while down; see the module docstring."""

    def _orders_waiting(self) -> list[str]:
        """The bot's own orders that a missed candle may fill: resting limit orders, waiting market orders."""
        return [o.client_order_id for o in self.execution.open_orders()
                if o.oco_group is None and ((kind := o.type) is _LIMIT or kind is _MARKET)]

    def _flatten_owed(self) -> bool:
        """A position that the session's close would close (`runner.bot.session_flow`)."""
        session = self.session
        return session is not None and session.flatten_at_close and self.portfolio.quantity != 0.0

    async def replay_missed_candles(self, past: Sequence[Candle]) -> Sequence[Candle]:
        """Put the bot's resting limit orders, waiting market orders and a position its session
        flattens through `past` (closed candles after the snapshot's last, oldest first) as the
        loop would have; return the candles left once none of them is left (all of `past` when
        there was none, or the engine cannot replay them)."""
        engine = self.execution
        waiting = self._orders_waiting()
        if not past or not (waiting or self._flatten_owed()) or not isinstance(engine, ReplaysRestingOrders):
            return past
        self._follow_limit_expiries()        # the restored orders' expiries, due at the candles below
        if self._limit_expiries is not None:
            # One due before the first candle here never sees it: its cancel lost in a crash, or
            # a downtime longer than the catch-up's cap (MAX_CATCH_UP_CANDLES) left candles out.
            await self._expire_limit_orders(past[0].ts_ms)
        # Paper fills a market order at a quote, here the missed candle's. Only a waiting one or a
        # session's flatten is a market order in this replay: without them, nothing to quote.
        quoting = engine if isinstance(engine, QuotesMissedCandles) and (
            self.session is not None and self.session.flatten_at_close
            or any(o.type is _MARKET for o in engine.open_orders())) else None
        bar_ms, fills_before, seen, session = self._bar_ms, self.fills, 0, self.session
        try:
            for candle in past:
                if not self._orders_waiting() and not self._flatten_owed():
                    break
                seen += 1
                close_ms = candle.ts_ms + bar_ms
                if quoting is not None:
                    quoting.quote_missed_candle(candle, close_ms)
                fills = await engine.catch_up_resting(candle, from_ms=self._exits_from_ms)
                if fills:
                    self._apply_fills(fills, close_ms)
                if self._replaced_exits is not None:   # a limit exit rests; the stops it set aside watch
                    await self._watch_set_aside_exits(candle, close_ms)
                if self._limit_expiries is not None:
                    await self._expire_limit_orders(close_ms)
                if session is not None and self._session_acts(None, close_ms):
                    # The first close out of the trading hours (`runner.bot.session_flow`): a
                    # resting entry is cancelled, and with `flatten_at_close` the position closed.
                    await self._session_check(None, close_ms)
        finally:
            if quoting is not None:
                quoting.quote_missed_candle(None)    # the live quotes again, whatever happened above
        self.journal.commit()                # on disk before the bot goes on: never filled twice
        logger.info("Replayed {} candle(s) closed while the bot was down (from {}) for order(s) {}{}: {} fill(s), "
                    "position {}, still open: {}", seen, iso_utc(past[0].ts_ms), ", ".join(waiting) or "none",
                    " and the session's close" if session is not None and session.flatten_at_close else "",
                    self.fills - fills_before, self.portfolio.quantity, ", ".join(self._orders_waiting()) or "none")
        return past[seen:]
