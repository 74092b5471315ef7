"""The runner's state in and out: snapshots, checkpoints, and restoring after a restart.

A mixin of `StrategyRunner`: the runner owns its state, so restoring a snapshot, booking the
fills the journal holds past it, adopting fills that reconciliation found and resuming the
order sequence are its methods, never writes to its attributes from outside. Kept in its own
module so that the loop in `strategy_runner.py` reads alone.
"""

from __future__ import annotations

import time
from typing import Any, Collection, Iterable, Mapping, Sequence

from loguru import logger

from execution.models import Fill, Order, OrderType, Side, fill_to_dict, order_from_dict, order_to_dict
from execution.order_ids import sequence_of
from execution.protective import is_trailing_stop
from market.models import Candle, iso_utc
from runner.state.exits_past_snapshot import ExitsToArm, asks_for_exits

__all__ = ["RunnerPersistence"]


class RunnerPersistence:
    """State methods of `StrategyRunner`; see the module docstring."""

    # `oco_group` -> the first candle (open time) its exits, armed from the journal, catch up on.
    _exits_from_ms: dict[str, int] | None = None

    def snapshot(self) -> dict[str, Any]:
        """The bot's whole state as JSON-ready values."""
        state = {
            "bot_id": self.bot_id,
            "state": self.state.value,
            "last_error": self.last_error,
            "bars": self.bars,
            "last_candle_ts_ms": self.last_candle_ts_ms,
            "order_seq": self.order_seq,
            "counters": {"signals": self.signals, "orders": self.orders, "fills": self.fills},
            "portfolio": self.portfolio.snapshot(),
            "risk": self.risk.snapshot(),
            "kill_switch": self.kill_switch.snapshot(),
            "open_orders": [order_to_dict(o) for o in self.execution.open_orders()],
        }
        if self.forecasting is not None:
            state["forecasting"] = self.forecasting.snapshot()
        if self.governance is not None:
            state["governance"] = self.governance.snapshot()
        if self.flatten_pending and not self.kill_switch.tripped:   # `on_restart: flatten` owed (kill_flow)
            state["restart_flatten"] = self._restart_flatten_reason
        if self._replaced_exits is not None:     # a resting limit exit's (`runner.bot.limit_orders`)
            state["replaced_exits"] = self.replaced_exits_snapshot()
        return state

    def checkpoint(self) -> None:
        """Hand the current state to `on_checkpoint` (the daemon writes it to disk). Called at
        candle boundaries only, so a snapshot never holds half a candle's work."""
        self._filled = False
        self._last_checkpoint = time.monotonic()
        if self._on_checkpoint is not None:
            self._on_checkpoint(self)

    def checkpoint_owed(self) -> None:
        """A checkpoint handed over was not made (the bot was at work again when its turn came,
        see `runner.daemon.checkpoints`): take one at the end of the next batch, whatever the
        interval, rather than leave the snapshot as old as the interval allows."""
        self._last_checkpoint = float("-inf")

    def advance_checkpoint(self, secs: float) -> None:
        """Take the next periodic checkpoint `secs` sooner than the interval says. The daemon
        gives each bot its own offset: ten thousand bots started together otherwise all wrote
        their snapshots on the same candle, once every interval."""
        self._last_checkpoint -= secs

    def book_journalled_fills(self, fills: Sequence[Fill]) -> None:
        """Book fills the journal holds past the snapshot restored (they are journalled already)."""
        for fill in fills:
            self.portfolio.apply_fill(fill)
            self.fills += 1
        self._booked_position = self.portfolio.quantity

    async def catch_up_exits(self, candles: Sequence[Candle]) -> None:
        """Put the protective exits restored from the snapshot through those of `candles` (the
        feed's latest) that closed after the snapshot's last candle, and book what they filled
        (paper, live: see `runner.state.exits_past_snapshot`); first those a resting limit exit
        set aside, which cancel it for a stop reached; first of all, a paper bot's resting limit
        orders, waiting market orders and session close (`replay_missed_candles`). Call after
        `restore`, before `run()`."""
        if self._replaced_exits is not None:            # a limit exit done before the restart gives them back
            self.settle_limit_exits_done_while_down()
        past = [c for c in candles if c.ts_ms > self.last_candle_ts_ms]
        # Paper: its resting limit orders, waiting market orders and session close first, candle
        # by candle, with the exits beside them (`runner.bot.limits_while_down`); the candles
        # after the last of them go on below.
        past = await self.replay_missed_candles(past)
        if past and self._replaced_exits is not None:   # a resting limit exit's set-aside stops (limit_orders)
            for candle in past:
                await self._watch_set_aside_exits(candle, self.clock.now_ms())
                if self._replaced_exits is None:
                    break
            self.journal.commit()        # a cancel or an exit sent: on disk before the bot goes on
        trailing = {o.client_order_id: o.stop_price for o in self.execution.open_orders() if is_trailing_stop(o)}
        # An entry asking for exits counts too: live looks it up first, and one found filled arms them.
        if not past or not any(o.oco_group is not None or asks_for_exits(o) for o in self.execution.open_orders()):
            return
        # Exits armed from the journal (`arm_exits_past_snapshot`) see the candles from their fill's on.
        fills = await self.execution.catch_up_exits(past, from_ms=self._exits_from_ms)
        self._exits_from_ms = None
        moved = [f"{o.client_order_id} {trailing[o.client_order_id]:.8g} -> {o.stop_price:.8g}"
                 for o in self.execution.open_orders() if trailing.get(o.client_order_id, o.stop_price) != o.stop_price]
        logger.info("Protective exits caught up on {} candle(s) past the snapshot ({} to {}): {}", len(past),
                    iso_utc(past[0].ts_ms), iso_utc(past[-1].ts_ms),
                    ", ".join(moved + [f"{f.client_order_id} filled" for f in fills]) or "nothing moved or reached")
        if fills:
            self._apply_fills(fills, self.clock.now_ms())
            self.journal.commit()        # a live exit is out: its fill on disk before the bot goes on

    def arm_exits_past_snapshot(self, to_arm: Sequence[ExitsToArm]) -> None:
        """Arm the protective exits of the market entries whose fills the journal holds past the
        snapshot (`runner.state.exits_past_snapshot`), for `catch_up_exits` to put through the
        candles from each one's fill on. Call after the journalled fills are booked: exits of a
        position the booked fills do not hold (flat, or the other way) are not armed."""
        position, armed = self.portfolio.quantity, []
        for late in to_arm:
            if (position > 0) if late.entry.side is Side.BUY else (position < 0):
                armed.append(late)
            else:
                logger.warning("Order {}: its protective exits are not armed again; the journal's fills leave a "
                               "position of {}, not one it opened", late.entry.client_order_id, position)
        if armed:
            self.execution.restore_orders([o for late in armed for o in late.exits])
            self._exits_from_ms = {late.entry.client_order_id: late.first_candle_ms(self._bar_ms) for late in armed}
            logger.info("Protective exits armed from the journal for {} filled past the snapshot: {}",
                        ", ".join(late.entry.client_order_id for late in armed), ", ".join(
                            f"{o.reason} at {o.stop_price or o.price:.8g}" for late in armed for o in late.exits))

    async def disarm_exits_of(self, entries: Collection[str], now_ms: int) -> None:
        """Disarm the protective exits of `entries` (`oco_group`s) whose exit was carried out
        with no word of it before a restart (its fills adopted from the exchange), each
        journalled as a cancel, why `exit filled`."""
        named = [o.client_order_id for o in self.execution.open_orders() if o.oco_group in entries]
        if not named:
            return
        cancelled, fills = await self.execution.cancel(named)
        for order in cancelled:
            self._record_cancel(order, "exit filled", now_ms)
        if fills:
            self._apply_fills(fills, now_ms)

    def adopt_fills(self, fills: Sequence[Fill], now_ms: int) -> None:
        """Book and journal fills that reconciliation found on the exchange and the journal
        lacks, before the strategy runs: a position the exchange holds is never bought twice."""
        for fill in fills:
            self.portfolio.apply_fill(fill)
            self.fills += 1
            self._record("fill", now_ms, {**fill_to_dict(fill), "adopted": True}, key=fill.key)
        self._booked_position = self.portfolio.quantity
        self._filled = self._filled or bool(fills)

    def resume_order_sequence(self, order_ids: Iterable[str]) -> None:
        """Go on after the highest sequence among `order_ids` (intents journalled past the
        snapshot), so no client order id is made twice."""
        for order_id in order_ids:
            self.order_seq = max(self.order_seq, sequence_of(order_id, self.order_id_prefix))

    def restore_orders(self, orders: list[Order], *, fill_ids: Iterable[str] = ()) -> None:
        """Hand orders to follow (open in a snapshot, journalled, or found on the exchange) to
        the execution engine, with the trade ids the bot has booked (`fill_ids`). A limit exit
        among them gets the protective exits it replaced past the snapshot
        (see `restore`), to watch while it rests and put back if it expires."""
        self.execution.restore_orders(orders, fill_ids=fill_ids)
        kept, self._exits_set_aside = self._exits_set_aside, None
        position = self.portfolio.quantity
        if kept and position:
            exit_side = Side.SELL if position > 0 else Side.BUY
            for order in orders:
                if order.type is OrderType.LIMIT and order.side is exit_side:
                    self.restore_replaced_exits({**(self.replaced_exits_snapshot() or {}),
                                                 order.client_order_id: [order_to_dict(o) for o in kept]})
                    break

    def restore(self, state: dict[str, Any], *, cancelled_after: Mapping[str, str] | None = None,
                exits_filled_after: Collection[str] = ()) -> None:
        """Continue from `snapshot()`'s output: ledger, risk counters, kill latch, open orders, a
        flatten owed and the position in the candle stream. Call before `run()`.

        `cancelled_after` (paper, live: they do not re-run their candles): the orders the journal
        cancelled past the snapshot, by id, with why. Those of the snapshot are not restored:
        a protective exit an exit replaced since would otherwise rest again beside it (and sell
        a position sold already). Those a limit exit replaced are kept for it (`restore_orders`).
        `exits_filled_after` (paper, live): the entries one of whose protective exits the journal
        holds a fill of past the snapshot; their exits were carried out and are not restored
        (`runner.state.exits_past_snapshot.exits_after_fills`: an exit filled in part has those
        for its rest restored after the intents instead; a live exit's intent alone has the
        engine hold them until its lookup, see `execution.live_exits_in_flight`)."""
        self.portfolio = self.portfolio.restored(state["portfolio"])
        if self.forecasting is not None and state.get("forecasting") is not None:
            self.forecasting.restore(state["forecasting"])
        self._booked_position = self.portfolio.quantity
        self.risk.restore(state["risk"])
        self.kill_switch.restore(state["kill_switch"])
        orders = [order_from_dict(o) for o in state["open_orders"]]
        if exits_filled_after:
            orders = [o for o in orders if o.oco_group not in exits_filled_after]
        if cancelled_after:
            self._exits_set_aside = [o for o in orders if o.oco_group is not None
                                     and cancelled_after.get(o.client_order_id) == "replaced by an exit"] or None
            orders = [o for o in orders if o.client_order_id not in cancelled_after]
        self.execution.restore_orders(orders)
        self.bars = state["bars"]
        self.last_candle_ts_ms = state["last_candle_ts_ms"]
        self.order_seq = state["order_seq"]
        counters = state["counters"]
        self.signals, self.orders, self.fills = counters["signals"], counters["orders"], counters["fills"]
        self.last_error = state.get("last_error", "")
        if self.governance is not None and state.get("governance") is not None:
            self.governance.restore(state["governance"])
        self.restore_replaced_exits(state.get("replaced_exits"))
        if (owed := state.get("restart_flatten")) is not None:   # closed at the start (`finish_owed_flatten`)
            self._restart_flatten_reason, self.flatten_pending = owed, True
