"""A basket leg re-running its candles after a restart makes the orders its journal holds.

A sim bot comes back by re-running the candles past its snapshot, and each order it makes
again is checked against the one journalled under its id (`runner.state.journal`). A basket
leg's order is not its own to size again: a `stake_fraction` entry is a share of the basket's
equity, a `stake_amount` is capped by the cash the other legs left, and `max_open_positions`
counts the other legs' positions. After a SIGKILL each leg restores from a snapshot of its own
moment, so a leg re-running its candles decides on a basket its journalled run never saw (the
others a hundred candles further, or already at their end): its entry came out 2,969.03 where
3,000 was journalled, and the leg refused to start.

So a re-run leg follows its journal rather than deciding again: on the candle where the
journal holds the leg's next order, the decision is that order as journalled (its size, reason
and protection, whatever the basket's cash says now: it takes its room in the basket without
the limits' say); on a candle where the journal's next order came later, the run journalled
sent none there (refused, or out of room), and the leg sends none either. Its fills are then
the journalled ones (in sim an order fills from its candles), so its flow is, and the one cash
balance (capital plus every leg's flow) is the one the journal accounts for. Past its last
journalled order the leg decides afresh, on the basket as it then is.

A re-run that is not the journalled run still stops the bot with `JournalConflict`: a signal
on that candle for the other side, another symbol or order type, a kill's flatten where the
re-run has a strategy's signal, or a journalled order the re-run did not make on its candle
(its order ids left the journal's). Sim only: a paper or live leg does not re-run its candles,
it follows its journalled intents on the exchange (`runner.assembly.reconcile_on_start`).
"""

from __future__ import annotations

from typing import Any, Iterable

from loguru import logger

from execution.models import Side
from execution.order_ids import client_order_id, sequence_of
from market.models import iso_utc
from risk.decision import RiskDecision, Verdict
from runner.state.journal import BotJournal, JournalConflict
from strategies.signal import Direction, LimitSignal, Signal

__all__ = ["JournalFollowing", "journalled_orders"]

# The decision on a candle where the journal's next order came later: send nothing, journal
# nothing (the run journalled journalled its own refusal there, if it had one).
_NONE_HERE = RiskDecision(Verdict.REJECT, "the journal holds no order of this candle")


def journalled_orders(journal: BotJournal) -> list[tuple[int, dict[str, Any]]]:
    """(candle index, order data) of every order the journal holds of the bot, cancelled ones
    included (a cancelled order was sent all the same); `follow_journalled_orders` keeps those
    past the snapshot by their order sequence. Not by the snapshot's `journal_seq`: a leg's
    snapshot written while it re-ran candles it had journalled holds the journal's end there
    (its rewritten events keep their place), and a crash then must still re-run them as journalled."""
    return [(event.bar, event.data) for event in journal.events(kinds=("order",))]


class JournalFollowing:
    """`StrategyRunner`'s re-run after its journal; see the module docstring."""

    # Order id -> (candle index, journalled data) of the orders a re-run leg has yet to make;
    # None for every other bot, and once past them (`_decide` pays one `is None` a signal).
    _journalled_orders: dict[str, tuple[int, dict[str, Any]]] | None = None
    _last_journalled_seq = 0

    def follow_journalled_orders(self, orders: Iterable[tuple[int, dict[str, Any]]]) -> None:
        """Make `orders` (`journalled_orders`) of a higher sequence than the last one restored
        as journalled when re-running their candles. For a basket leg's sim runner, after `restore`."""
        prefix, restored_seq = self.order_id_prefix, self.order_seq
        followed = {}
        for bar, data in orders:
            seq = sequence_of(data["order_id"], prefix)
            if seq > restored_seq and data["order_id"] == client_order_id(prefix, seq):   # not a protective exit's
                followed[data["order_id"]] = (bar, data)
                self._last_journalled_seq = max(self._last_journalled_seq, seq)
        self._journalled_orders = followed or None
        if followed:
            logger.info("Re-running {} order(s) journalled past the snapshot as journalled: the basket's cash "
                        "they were sized on is not the one it has now", len(followed))

    def _journalled_decision(self, decision: RiskDecision, signal: Signal,
                             now_ms: int) -> tuple[RiskDecision, bool]:
        """The decision on `signal` of the candle closing at `now_ms` as the journal has it, and
        whether it is a journalled order adopted (it then takes its room in the risk group here,
        without the limits' say). `decision` (the risk engine's) where the journal holds no
        order from here on. Raises `JournalConflict` where the re-run is not the run journalled."""
        orders = self._journalled_orders
        seq = self.order_seq + 1
        order_id = client_order_id(self.order_id_prefix, seq)
        bar = self.bars - 1
        journalled = orders.pop(order_id, None)
        if journalled is None:
            if seq <= self._last_journalled_seq:
                raise self._conflict(bar, f"would make order {order_id}, which the journal lacks though it holds "
                                          f"later ones of this bot")
            self._journalled_orders = None          # past the journal: the leg decides afresh
            return decision, False
        journalled_bar, data = journalled
        if journalled_bar > bar:
            orders[order_id] = journalled           # made later, on its own candle
            return _NONE_HERE, False
        if journalled_bar < bar:
            raise self._conflict(bar, f"has not made order {order_id}, which the journal holds on candle "
                                      f"{journalled_bar}: {_described(data)}")
        side = decision.side if decision.approved else _side_of(signal, self.portfolio.quantity)
        wanted = {"symbol": self.symbol, "side": side._value_ if side is not None else None,
                  "type": "limit" if isinstance(signal, LimitSignal) else "market"}
        if any(data[name] != value for name, value in wanted.items()) or data["reason"] == "kill_switch":
            raise self._conflict(bar, f"decides a {wanted['side'] or 'no'} {wanted['type']} order on {self.symbol} "
                                      f"({signal.direction.name.lower()} signal) where the journal holds {order_id}: "
                                      f"{_described(data)}")
        adopted = RiskDecision(Verdict.APPROVE, data["reason"], side, data["quantity"], data["quote_amount"],
                               data["stop_loss_pct"], data["take_profit_pct"], data.get("trailing_stop_pct"),
                               data.get("trailing_stop_distance"), price=data["price"])
        group = self.risk_group
        if group is not None and side is Side.BUY:
            notional = data["quote_amount"] if data["quote_amount"] is not None else data["quantity"] * data["price"]
            group.hold(self.bot_id, order_id, self.symbol, notional, now_ms)
        return adopted, True

    def _conflict(self, bar: int, what: str) -> JournalConflict:
        return JournalConflict(
            f"bot {self.bot_id}, re-running its candles past its snapshot, {what} (candle {bar}, closed "
            f"{iso_utc(self.last_candle_ts_ms + self._bar_ms)}). The re-run is not the run journalled: the data "
            f"or the bot's code changed since it was written; move the bot's state away to start it afresh.")


def _side_of(signal: Signal, position: float) -> Side | None:
    """The side of the order `signal` asks for on `position` (None: none, a flat signal while
    flat or a long one while long)."""
    if signal.direction is Direction.LONG:
        return Side.BUY if position <= 0 else None
    if signal.direction is Direction.SHORT:
        return Side.SELL
    return Side.SELL if position > 0 else Side.BUY if position < 0 else None


def _described(data: dict[str, Any]) -> str:
    size = f"{data['quantity']}" if data["quantity"] is not None else f"{data['quote_amount']} of quote"
    return f"{data['side']} {data['type']} {size} {data['symbol']} ({data['reason']})"
