"""The surface the runner needs from an execution engine. Sim, paper and live implement it."""

from __future__ import annotations

from typing import Collection, Iterable, Mapping, Protocol, Sequence

from execution.models import Fill, Order
from market.models import Candle


class ExecutionEngine(Protocol):
    """Places and cancels one bot's orders, and reports their fills.

    `execute_signal` returns the fills known when it returns (none, in sim: a market order decided
    on candle t fills at the open of candle t+1). `on_candle` is called once per closed candle,
    before the strategy sees it, and returns the fills of resting orders that candle reached.
    """

    async def execute_signal(self, order: Order) -> list[Fill]: ...

    async def on_candle(self, candle: Candle) -> Sequence[Fill]: ...

    def on_candle_now(self, candle: Candle) -> Sequence[Fill] | None:
        """`on_candle` when it needs no wait: the candle's fills (sim's always, live's while it
        follows nothing on the exchange), or None when only awaiting `on_candle` can tell (paper;
        live following an order). The runner tries this first: an awaited coroutine per candle
        cost a backtest ~140 ns a candle."""
        ...

    async def cancel_all(self) -> tuple[list[Order], list[Fill]]:
        """Cancel every open order; return the cancelled orders and the fills learned while
        cancelling (an order that filled before its cancel arrived), which the runner books
        before it sizes anything on the position."""
        ...

    async def cancel(self, order_ids: Collection[str]) -> tuple[list[Order], list[Fill]]:
        """Cancel the open orders named (a limit order at its expiry), leaving the others as they
        are; return those cancelled and the fills learned while cancelling, as `cancel_all` does.
        An order that filled (in part) keeps its fills, and a partly filled entry's protective
        exits are armed for what it filled. One whose cancel fails for now stays open."""
        ...

    async def spread_bps(self) -> float | None:
        """The best bid/ask spread now, in basis points of the mid, where the engine sees the
        exchange's book (paper, live: one ticker read); None in sim or when the read fails."""
        ...

    def closable_quantity(self, quantity: float, price: float) -> float:
        """How much of a position of `quantity` (base units, > 0) one market order can close at
        about `price`: rounded down to the market's step, 0.0 when under its minimum amount or
        notional (dust). Sim and paper trade any size."""
        ...

    def open_orders(self) -> list[Order]: ...

    def restore_orders(self, orders: list[Order], *, fill_ids: Iterable[str] = ()) -> None:
        """Follow `orders` again after a restart (a snapshot's open orders, intents journalled
        past it, orders found on the exchange); an order already followed is not added twice.
        `fill_ids`: trade ids the bot has booked, never to be reported again (live)."""
        ...

    async def catch_up_exits(self, candles: Sequence[Candle], *, why: str = "past the snapshot",
                             from_ms: Mapping[str, int] | None = None) -> list[Fill]:
        """Put the protective exits (stop-loss, take-profit, trailing stop) through `candles`,
        closed candles the bot did not step through: after a restart of a bot that does not
        re-run its candles (paper, live, shadow), those past its snapshot. Each is checked and
        then trails, as at `on_candle`; an exit one of them reached is carried out (sim, paper:
        filled at that candle; live: a market exit sent now). Returns the fills to book. Also
        the candle that reached exits a resting limit exit had set aside (`runner.bot.limit_orders`);
        `why` says which, in the log. `from_ms`: by `oco_group`, the open time of the first
        candle an entry's exits see (an entry filled past the snapshot: not the candles before
        its fill); the exits of other entries see every candle."""
        ...

    async def aclose(self) -> None: ...
