"""`ExitsInFlight`: an entry's protective exits, held while the market exit sent for one of them is out.

When a candle reaches a bot-managed exit (`execution.protective`), `LiveExecution` sends a market
exit and the entry's exits are disarmed: one sells the position, the others would sell it again.
Until the exchange is known to have that exit, they are held here, as they stood before it was
sent (stop, trailing level, take-profit), and then:

- **it reached the exchange** (its reply, or found by its client order id): they stay held until
  it is done. Filled whole, they go for good. Ended with a rest (Binance expires a MARKET order
  the book cannot fill, EXPIRED, or that self-trade prevention stops, EXPIRED_IN_MATCH; or it
  was CANCELED): its fills are booked as any, and they are armed again for what it did not
  sell, under the next generation of ids as below; a rest under the market's minimum is dust
  no order can sell, and they go;
- **it provably never did** (not found twice, the last answer past recvWindow + a grace:
  Binance refuses a signed request whose `timestamp` is more than `recvWindow` old, so none can
  still land; see `execution.live`), or a rate limit refused it before matching: they are
  armed again, so the next candle that reaches one
  sends a new exit. They are held under the next generation of ids (`order_ids.protective_id`):
  that exit is a new order with a new client order id, never the old one again (Binance takes
  the id of a closed order again, and the journal keys intents by id);
- **it is unknown** (the lookup fails, the exchange is down): they stay held; nothing is sent;
- **the exchange refused it** (say, insufficient balance): they are armed again under the next
  generation of ids, for what the account holds, or stop the bot after repeated refusals
  (`execution.live_exit_refusals`).

A kill or an exit of the runner's (`cancel_all`, or a `cancel` naming them) drops held exits too:
the runner closes the position then, so no outcome of the exit arms them again, nor warns that
the position is left to a person.

Held exits are listed in the engine's `open_orders()`, so a snapshot written while the exit is
out keeps them; a restart holds them again beside the exit it follows (`LiveRestart`). Without
them, an exit that never landed left its position open and unprotected. `LiveExitsInFlight`,
a mixin of `LiveExecution`, sends such an exit and acts on its outcome.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace

from loguru import logger

from execution.models import Order
from execution.order_ids import exit_generation, managed_exit_entry, protective_id, protective_kind
from execution.tracked_order import TrackedOrder
from market.models import Candle

__all__ = ["ExitsInFlight", "LiveExitsInFlight", "unsold"]


class ExitsInFlight:
    """The held exits of each entry (`oco_group`) whose market exit is out, with that exit's id.
    An entry has one exit out at a time: the latest one held under replaces an older one (a
    restart that follows both the first exit and the one sent after it never landed)."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[str, list[Order]]] = {}     # entry id -> (its exit out, its exits)
        self._handed_over: set[str] = set()     # exits out whose held exits the runner's close replaced

    def __bool__(self) -> bool:
        return bool(self._held)

    def orders(self) -> list[Order]:
        """Every held exit (a copy)."""
        return [o for _, exits in self._held.values() for o in exits]

    def exit_out(self, group: str) -> str | None:
        """The id of the market exit out for the entry `group`, if its exits are held."""
        held = self._held.get(group)
        return held[0] if held is not None else None

    def hold(self, exit_id: str, exits: Iterable[Order]) -> None:
        """Hold `exits` (of the entry whose exit `exit_id` is) until `exit_id`'s outcome is known,
        under the generation after `exit_id`'s; with those of the entry held already (one of a
        kind: the first kept)."""
        group = managed_exit_entry(exit_id)
        if group is None:
            raise ValueError(f"{exit_id} is no market exit of a protective exit")
        generation = exit_generation(exit_id) + 1
        kept: dict[str, Order] = {}
        for order in [*self._held.pop(group, ("", []))[1], *exits]:
            kind = protective_kind(order.client_order_id, group)
            if kind is not None and kind not in kept:
                kept[kind] = replace(order, client_order_id=protective_id(group, kind, generation))
        self._held[group] = (exit_id, list(kept.values()))

    def release(self, exit_id: str) -> list[Order]:
        """The outcome of `exit_id` is known: its entry's held exits, no longer held (the caller
        arms them again when it never reached the exchange); none when a later exit of the
        entry holds them, or none are held."""
        group = managed_exit_entry(exit_id)
        held = self._held.get(group) if group is not None else None
        if held is None or held[0] != exit_id:
            return []
        return self._held.pop(group)[1]

    def disarm(self, order_ids: Collection[str]) -> list[Order]:
        """Drop the held exits of each entry one of whose held exits is named (the runner's to
        close now: see `handed_over`); return them."""
        groups = [g for g, (_, exits) in self._held.items() if any(o.client_order_id in order_ids for o in exits)]
        self._handed_over.update(self._held[g][0] for g in groups)
        return [o for g in groups for o in self._held.pop(g)[1]]

    def clear(self) -> list[Order]:
        """Drop every held exit (a kill's or an exit's of the runner: see `handed_over`); return them."""
        cleared = self.orders()
        self._handed_over.update(exit_id for exit_id, _ in self._held.values())
        self._held.clear()
        return cleared

    def handed_over(self, exit_id: str) -> bool:
        """The exits held for `exit_id` were dropped while it was out, by `disarm` or `clear`: the
        runner's kill or exit, which closes the position itself. Asked once, when `exit_id`'s
        outcome is known: it is forgotten then."""
        if exit_id not in self._handed_over:
            return False
        self._handed_over.remove(exit_id)
        return True


class LiveExitsInFlight:
    """`LiveExecution`'s sending of a market exit and what its outcome does to the exits held for
    it: a mixin whose `_exits` (armed), `_in_flight` (held) and `_submit` are the engine's."""

    async def _send_exit(self, reached: Order, before: Sequence[Order], candle: Candle) -> None:
        """Send the market exit of `reached`, which `candle` reached, holding its entry's exits
        as they stood in `before` (those armed before the candle) until its outcome is known."""
        market_exit = self._exits.market_exit(reached, candle)
        self._in_flight.hold(market_exit.client_order_id, [o for o in before if o.oco_group == reached.oco_group])
        await self._submit(market_exit)

    def _rearm_exits_of(self, exit_id: str, why: str) -> list[Order]:
        """`exit_id`, a market exit, provably never reached the exchange: arm again the exits held
        for it (under new ids) and return them; or say its position is left unprotected."""
        rearmed = self._in_flight.release(exit_id)
        if rearmed:
            self._arm_again(exit_id, rearmed, why)
        else:
            self._unprotected_by(exit_id)
        return rearmed

    def _exit_done(self, tracked: TrackedOrder, status: str) -> None:
        """`tracked`, a market exit, is done (its fills booked): filled whole, its entry's held exits
        go; ended with a rest (`status` expired or canceled: a book it emptied, self-trade
        prevention), they are armed again for that rest. None when the runner took the close
        over, or a later exit of the entry holds them."""
        exit_order, exit_id = tracked.order, tracked.order.client_order_id
        self._in_flight.handed_over(exit_id)          # asked to forget it: the runner closes, none are held
        held = self._in_flight.release(exit_id)
        if status == "closed" or not held or exit_order.quantity is None:
            return
        rest = self.closable_quantity(unsold(exit_order.quantity, tracked.filled_qty), 0.0)
        if rest <= 0.0:
            logger.info("Order {} {} with {:g} of {:g} sold; the rest is under the market's minimum order (dust): "
                        "the protective exits of entry {} go", exit_id, status, tracked.filled_qty,
                        exit_order.quantity, held[0].oco_group)
            return
        self._arm_again(exit_id, [replace(o, quantity=rest) for o in held],
                        f"{status} with {tracked.filled_qty:g} of {exit_order.quantity:g} sold, {rest:g} left")

    def _arm_again(self, exit_id: str, exits: list[Order], why: str) -> None:
        for order in exits:
            self._exits.restore(order)
        logger.warning("Order {}: {}; the protective exits of entry {} are armed again: {} (the next candle "
                       "reaching one sends a new exit)", exit_id, why, exits[0].oco_group, ", ".join(
                           f"{o.client_order_id} at {o.stop_price or o.price:.8g}" for o in exits))

    def _unprotected_by(self, exit_id: str) -> None:
        """`exit_id` is not placed and is not sent again: say so when it leaves its entry's
        position without protective exits (none held for a later exit of the entry). Not when a
        kill or an exit of the runner's dropped them while it was out: the runner closes it."""
        runner_closes = self._in_flight.handed_over(exit_id)
        self._in_flight.release(exit_id)
        entry = managed_exit_entry(exit_id)
        if entry is None or self._in_flight.exit_out(entry) is not None:
            return
        if runner_closes:
            logger.info("Order {}: not placed; the position of entry {} is the runner's to close (its kill or exit "
                        "replaced the protective exits)", exit_id, entry)
        else:
            logger.warning("Order {}: the position of entry {} stays open without its protective exits; close it "
                           "by hand, or the strategy's exit or a kill will", exit_id, entry)


def unsold(quantity: float, filled: float) -> float:
    """What an exit of `quantity` that sold `filled` leaves, to 12 decimals (the exchange's
    quantities have 8 at most): 0.3 - 0.1 is 0.19999999999999998 in floats, which rounding down
    to the lot step would cut by a whole step."""
    return max(round(quantity - filled, 12), 0.0)
