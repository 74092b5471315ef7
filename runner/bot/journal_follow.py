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
the limits' say); on a candle where the journal's next order came later, or none came though
the journal goes on (a fill of a resting stop, a refusal, the leg's stop), the run journalled
sent none there (refused, or out of room), and the leg sends none either. Its fills are then
the journalled ones (in sim an order fills from its candles), so its flow is, and the one cash
balance (capital plus every leg's flow) is the one the journal accounts for. Past the candle
of its journal's last event, the leg passes the basket's `RerunBarrier` (`runner.basket.reruns`):
it waits until no other leg re-runs, then decides afresh, on the basket as it then is, whole.

What is read, as the leg is built: its events past the last order its snapshot holds (found by
its id through the journal's (bot, kind, key) index), not its whole history.

A re-run that is not the journalled run still stops the bot with `JournalConflict`: a signal
on that candle for the other side, another symbol or order type, a kill's flatten where the
re-run has a strategy's signal, or a journalled order the re-run did not make on its candle
(its order ids left the journal's). Sim only: a paper or live leg does not re-run its candles,
it follows its journalled intents on the exchange (`runner.assembly.reconcile_on_start`).
"""

from __future__ import annotations

import asyncio
from typing import Any, Iterable

from loguru import logger

from execution.models import Side
from execution.order_ids import client_order_id, sequence_of
from market.models import iso_utc
from risk.decision import RiskDecision, Verdict
from runner.state.journal import BotJournal, JournalConflict
from strategies.signal import Direction, LimitSignal, Signal

__all__ = ["JournalFollowing", "journal_past_snapshot"]

# The decision on a candle where the journal's next order came later: send nothing, journal
# nothing (the run journalled journalled its own refusal there, if it had one).
_NONE_HERE = RiskDecision(Verdict.REJECT, "the journal holds no order of this candle")


def journal_past_snapshot(journal: BotJournal, prefix: str,
                          order_seq: int) -> tuple[list[tuple[int, dict[str, Any]]], int]:
    """What a leg restored with `order_seq` orders made re-runs as journalled: (candle index,
    order data) of the orders the journal holds past the last of them, cancelled ones included
    (a cancelled order was sent all the same), and the number of candles its journal covers: up
    to its last event (an order, a fill, a refusal, its stop or end), which the run journalled
    read, deciding nothing more than its journal holds (0 without any).

    Read from the last order the snapshot holds on, found by its id: every later order was
    first journalled after it, and a re-written event keeps its place. Not from the snapshot's
    `journal_seq`: a snapshot written while the leg re-ran candles it had journalled holds the
    journal's end there, and a crash then must still re-run them as journalled. Without that
    order in the journal (none made yet, a journal rebuilt), every event of the leg is read."""
    after = journal.seq_of("order", client_order_id(prefix, order_seq)) if order_seq else None
    orders, covered = [], 0
    for event in journal.events(after_seq=after or 0):
        if event.kind == "fill":
            covered = max(covered, event.bar + 2)         # journalled at `bar`, filled at candle bar + 1
            continue
        if event.kind == "order":
            orders.append((event.bar, event.data))
        covered = max(covered, event.bar + 1)             # on candle `bar`, or after it (a stop, a kill)
    return orders, covered


class JournalFollowing:
    """`StrategyRunner`'s re-run after its journal; see the module docstring."""

    # Order id -> (candle index, journalled data) of the orders a re-run leg has yet to make;
    # None for every other bot, and once past its journal (`_decide` pays one `is None` a signal).
    _journalled_orders: dict[str, tuple[int, dict[str, Any]]] | None = None
    _last_journalled_seq = 0
    _journal_covers = 0                 # candles its journal covers: no fresh decision before their end
    # Candles read at which a basket leg passes its basket's `RerunBarrier` (its journal's end, or
    # its first candle), and what wakes it there (a stop or kill asked for); None for other bots.
    _rerun_until: int | None = None
    _rerun_wake: asyncio.Event | None = None

    def follow_journal(self, journal: BotJournal | None) -> None:
        """For a basket leg's sim runner in the daemon, after `restore`: re-run the orders its
        `journal` holds past the snapshot as journalled (`journal_past_snapshot`; None: a leg
        new to the journal, nothing to read), and pass the basket's `RerunBarrier` once past them."""
        reruns = self.risk_group.reruns
        covered = 0
        if journal is not None:
            orders, covered = journal_past_snapshot(journal, self.order_id_prefix, self.order_seq)
            self.follow_journalled_orders(orders, covers=covered)
        if covered > self.bars:
            reruns.rerunning(self.bot_id)
        self._rerun_until = max(covered, self.bars)
        if self._interrupt is None:          # read before each candle (`_handle_interrupt`), as a scheduled kill
            self._interrupt = ("scheduled", "")

    def follow_journalled_orders(self, orders: Iterable[tuple[int, dict[str, Any]]], *, covers: int = 0) -> None:
        """Make `orders` (`journal_past_snapshot`) of a higher sequence than the last one restored
        as journalled when re-running their candles, and none afresh before `covers` candles
        are read. After `restore`."""
        prefix, restored_seq = self.order_id_prefix, self.order_seq
        followed = {}
        for bar, data in orders:
            seq = sequence_of(data["order_id"], prefix)
            if seq > restored_seq and data["order_id"] == client_order_id(prefix, seq):   # not a protective exit's
                followed[data["order_id"]] = (bar, data)
                self._last_journalled_seq = max(self._last_journalled_seq, seq)
        self._journal_covers = covers
        self._journalled_orders = followed if followed or covers > self.bars else None
        if followed:
            logger.info("Re-running {} order(s) journalled past the snapshot as journalled: the basket's cash "
                        "they were sized on is not the one it has now", len(followed))

    def journal_covers_until(self, bars: int) -> None:
        """The leg's journal goes on to `bars` candles read (its kill there): it decides nothing
        afresh before, and passes its basket's barrier there. Nothing for a runner that does not
        `follow_journal`."""
        if self._rerun_until is None or bars <= self._journal_covers:
            return
        self._journal_covers = bars
        if self._journalled_orders is None:
            self._journalled_orders = {}
        if bars > self.bars:
            self.risk_group.reruns.rerunning(self.bot_id)
        self._rerun_until = max(bars, self.bars)

    def wait_for_reruns(self) -> None:
        """Another leg of the basket crashed and comes back re-running its journal: pass the
        basket's `RerunBarrier` again before the next candle, deciding nothing afresh until it is
        back. Nothing for a leg still re-running its own (it passes the barrier at its end)."""
        if self._rerun_until is None or self._rerun_until < self.bars:
            self._rerun_until = self.bars
        if self._interrupt is None:          # read before each candle (`_handle_interrupt`)
            self._interrupt = ("scheduled", "")

    async def _pass_rerun_barrier(self) -> None:
        """At the candle past its journal: done re-running; wait until the basket's other legs
        are too (`runner.basket.reruns`), or a stop or kill is asked for (`request_stop`,
        `request_kill` set the wake: the caller then acts on it)."""
        reruns, self._rerun_until = self.risk_group.reruns, None
        reruns.done(self.bot_id)
        if not reruns.pending:
            return
        logger.info("Past its journal at candle {}; its first fresh decision waits for {} to re-run theirs (the "
                    "basket's cash is of one moment only then)", self.bars, ", ".join(sorted(reruns.pending)))
        self._rerun_wake = asyncio.Event()
        try:
            await reruns.wait(self._rerun_wake)
        finally:
            self._rerun_wake = None

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
            if self.bars <= self._journal_covers:
                return _NONE_HERE, False            # a candle the journal covers: the run journalled sent none
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
