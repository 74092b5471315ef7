"""`LiveExitRefusals`: what `LiveExecution` does when the exchange refuses a market exit it sent
itself for a bot-managed exit (stop-loss, take-profit, trailing stop: `execution.protective`),
a mixin whose `_exits`, `_in_flight`, `_fills`, `_account` and `_arm_again` are the engine's.

A refused exit placed nothing, and the exits its entry held while it was out
(`execution.live_exits_in_flight`) come back; before, they went with a WARNING, and the position
stayed open without any exit. What happens depends on what the account holds:

- **less than the exit sells** (an `InsufficientFunds` refusal, Binance's -2010 "Account has
  insufficient balance for requested action.", with the account's free base asset short of the
  exit: coins sold by hand, a fee, a transfer): the bot's books follow the account. What is
  missing is booked as an outside change, a fill of the exit's id with reason `outside_change`
  at the last close and no fee (valued at the market, so the bot's equity does not jump; no
  trade, so the exchange's trade list never shows it), and the exits are armed again for what
  is held, under the next generation of ids (`-sl2`, `-tp2`, `-ts2`: never an id sent before).
  What is held under the market's minimum order (dust) leaves the position flat: no order can
  sell it, and its exits go.
- **enough** (a refusal for another reason: a filter, trading halted on the symbol, a -2010 the
  balance does not explain): the exits are armed again under new ids, so the next candle that
  reaches one sends a new exit. After `MAX_EXIT_REFUSALS` refusals in a row of one entry's exits
  (an exit of it the exchange takes starts the count again), the engine raises `ExitRefused`,
  a `FatalExchangeError`, so the runner stops and the bot stays down for a person. The exits
  stay armed, so a snapshot keeps them for the bot's next start.

The outside change is booked under the refused exit's id on purpose: a restart that finds it
journalled past the snapshot reads it as that exit having sold that part
(`runner.state.exits_past_snapshot.exits_after_fills`) and arms the rest, as the running engine
did. On an account several bots share, the free balance is all of theirs: it explains a refusal
only when it is short of this exit's quantity.
"""

from __future__ import annotations

from dataclasses import replace

from loguru import logger

from execution.errors import ExchangeError, ExitRefused, InsufficientFunds, OrderRejected
from execution.live_exits_in_flight import unsold
from execution.models import Fill, Order, Side
from execution.order_ids import managed_exit_entry
from execution.reconcile import base_balance

__all__ = ["MAX_EXIT_REFUSALS", "OUTSIDE_CHANGE", "LiveExitRefusals"]

# Three tries, one a candle: a refusal the balance does not explain seldom clears by itself (a
# filter the market changed, trading halted), and every further try is a refused order counted
# against the account's limits, with the position unprotected all along; one or two more tries
# still let a refusal of one candle pass (a price band the candle's spike broke) without stopping.
MAX_EXIT_REFUSALS = 3
OUTSIDE_CHANGE = "outside_change"
"""The `reason` of a fill that books coins the account no longer holds (not a trade)."""


class LiveExitRefusals:
    """`LiveExecution`'s answer to a refused market exit of its own; see the module docstring."""

    async def _exit_refused(self, market_exit: Order, refusal: OrderRejected) -> None:
        """The exchange refused `market_exit`, the market order of a reached protective exit."""
        exit_id = market_exit.client_order_id
        held = self._in_flight.release(exit_id)
        if not held:        # the runner's kill or exit took the close over, or a later exit holds them
            self._unprotected_by(exit_id)
            return
        entry, quantity = held[0].oco_group, market_exit.quantity
        free = None          # a short's exit buys, with quote: the base asset explains none of its refusals
        if isinstance(refusal, InsufficientFunds) and market_exit.side is Side.SELL:
            free = await self._free_base(exit_id)
        round_amount = self._account.round_amount
        if free is not None and round_amount(self.symbol, free) < round_amount(self.symbol, quantity):
            self._exit_refusals.pop(entry, None)
            self._book_outside_change(market_exit, held, free)
            return
        refusals = self._exit_refusals.get(entry, 0) + 1
        self._exit_refusals[entry] = refusals
        self._arm_again(exit_id, held, f"refused ({refusals} of {MAX_EXIT_REFUSALS} tries in a row)" + (
            f"; the account's {free:g} free cover its {quantity:g}" if free is not None else ""))
        if refusals >= MAX_EXIT_REFUSALS:
            self._refused_for_good = ExitRefused(
                "create_order", self.symbol,
                f"bot {self._bot_name}: the exchange refused the exit of entry {entry} {refusals} times in a row "
                f"(the last, {exit_id}: {refusal})")
            logger.error("Order {}: the exchange refused the exit of entry {} {} times in a row; the bot {} stops "
                         "with its exits armed: {}", exit_id, entry, refusals, self._bot_name, self._refused_for_good)

    def _raise_if_refused_for_good(self) -> None:
        if self._refused_for_good is not None:
            raise self._refused_for_good

    def _exit_accepted(self, exit_id: str) -> None:
        """The exchange took `exit_id`, a market exit: its entry's refusals in a row end."""
        self._exit_refusals.pop(managed_exit_entry(exit_id), None)

    async def _free_base(self, exit_id: str) -> float | None:
        try:
            return (await base_balance(self._account, self.symbol))[1]
        except ExchangeError as exc:
            # Counted as a refusal with the coins held: the next try reads the balance again.
            logger.warning("Order {}: reading the balance after its refusal failed ({})", exit_id, exc)
            return None

    def _book_outside_change(self, market_exit: Order, held: list[Order], free: float) -> None:
        """The account holds `free` of the base asset, less than `market_exit` sells: book the
        rest as an outside change, and arm `held` again for what is held (or not, for dust)."""
        exit_id, entry, quantity = market_exit.client_order_id, held[0].oco_group, market_exit.quantity
        missing = unsold(quantity, free)
        level = held[0].stop_price or held[0].price
        price = self._last_price or level
        self._fills.add(Fill(exit_id, self.symbol, market_exit.side, missing, price, 0.0, self._clock.now_ms(),
                             OUTSIDE_CHANGE, f"{exit_id}:outside"))
        base = self.symbol.split("/")[0]
        logger.warning("Order {}: bot {} on {}: the account holds {:g} {} of the {:g} the position of entry {} has "
                       "(sold by hand, a fee, a transfer); {:g} booked as an outside change at {:.8g}", exit_id,
                       self._bot_name, self.symbol, free, base, quantity, entry, missing, price)
        rest = self.closable_quantity(free, 0.0)
        if rest <= 0.0:
            logger.warning("Order {}: bot {} on {}: what the account holds ({:g} {}) is under the market's minimum "
                           "order (dust): the position of entry {} is flat; its protective exits go", exit_id,
                           self._bot_name, self.symbol, free, base, entry)
            return
        self._arm_again(exit_id, [replace(o, quantity=rest) for o in held],
                        f"refused for want of coins; armed for the {rest:g} {base} held")
