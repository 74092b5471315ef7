"""`LiveCancels`: cancelling a live bot's orders, a part of `LiveExecution` (a mixin whose state,
orders and exits are the engine's).

Two ways: every order of the bot (`cancel_all`: an exit of the runner's replaces what protects
the position, a kill's flatten) or those named (`cancel`: a limit order at its expiry). Either
way each order is followed to its end, and the fills it had are returned with what was
cancelled: an order may fill before its cancel arrives, and the runner books those fills before
it sizes anything on the position. A protective exit is the bot's, not the exchange's: it is
disarmed here, with its pair (or dropped, held while its entry's market exit is out).
"""

from __future__ import annotations

from collections.abc import Collection

from loguru import logger

from execution.errors import OrderNotFound, TemporaryExchangeError
from execution.models import Fill, Order
from execution.reconcile import order_from_ccxt
from execution.tracked_order import OrderState, TrackedOrder

__all__ = ["LiveCancels"]

_OPEN, _UNKNOWN = OrderState.OPEN, OrderState.UNKNOWN


class LiveCancels:
    """`LiveExecution`'s cancels; see the module docstring."""

    async def cancel_all(self) -> tuple[list[Order], list[Fill]]:
        """Cancel this bot's open orders on the exchange (those with its prefix, known or not)
        and drop its protective exits; return what was cancelled and every fill learned on the
        way (orders of unknown outcome are looked up first, and an order that filled before its
        cancel arrived is polled), so the caller books them before it sizes a flatten. An order
        whose outcome is still unknown stays in `open_orders()`."""
        await self._account.load_markets()
        for tracked in [t for t in self._orders.values() if t.state is _UNKNOWN]:
            await self._resolve(tracked)
        client = self._account.client
        targets: dict[str, str] = {}
        try:
            for raw in await self._account.call("fetch_open_orders", self.symbol, client.fetch_open_orders,
                                                self.symbol):
                cid = str(raw.get("clientOrderId") or "")
                if not cid.startswith(self._prefix):
                    continue
                targets[cid] = str(raw["id"])
                tracked = self._orders.get(cid)
                if tracked is None:
                    logger.warning("Order {} is open on the exchange but unknown to this bot; adopting it "
                                   "to cancel it", cid)
                    self._sent.add(cid)
                    self._orders[cid] = TrackedOrder(order_from_ccxt(raw, self.symbol, reason="adopted"), _OPEN,
                                                 exchange_id=str(raw["id"]))
                elif tracked.state is _UNKNOWN:         # its lookup failed just now; the listing found it
                    tracked.state, tracked.exchange_id = _OPEN, str(raw["id"])
        except TemporaryExchangeError as exc:
            logger.warning("Cannot list open orders of {} ({}); cancelling the ones this bot knows", self.symbol, exc)
            targets = {cid: t.exchange_id for cid, t in self._orders.items() if t.state is _OPEN and t.exchange_id}
        cancelled: list[Order] = []
        for cid, exchange_id in targets.items():
            try:
                await self._account.call("cancel_order", self.symbol, client.cancel_order, exchange_id, self.symbol)
            except OrderNotFound:
                pass                 # filled or cancelled meanwhile: the poll below fetches its fills
            except TemporaryExchangeError as exc:
                logger.warning("Cancelling order {} failed ({}); it stays open and is polled at the next candle",
                               cid, exc)
                continue
            else:
                cancelled.append(self._orders[cid].order)
        for tracked in [t for t in self._orders.values() if t.state is _OPEN]:
            await self._poll(tracked)
        cancelled.extend(self._exits.clear())
        cancelled.extend(self._in_flight.clear())      # the caller's exit or flatten replaces them
        if cancelled:
            logger.info("Cancelled {} order(s) of {}: {}", len(cancelled), self.symbol,
                        ", ".join(o.client_order_id for o in cancelled))
        return cancelled, self._fills.drain()

    async def cancel(self, order_ids: Collection[str]) -> tuple[list[Order], list[Fill]]:
        """Cancel the bot's orders named (a limit order at its expiry) and follow each to its end:
        the fills it had are reported, and an entry that filled in part arms its protective exits
        for that part (`cancel_all` drops every exit; this keeps them). An order of unknown
        outcome is looked up first; one still unknown, or whose cancel fails for now, stays in
        `open_orders()` and the caller tries again later. A protective exit named is disarmed,
        with its pair (they are the bot's, not the exchange's)."""
        await self._account.load_markets()
        client, cancelled = self._account.client, self._exits.disarm(order_ids) + self._in_flight.disarm(order_ids)
        for cid in order_ids:
            tracked = self._orders.get(cid)
            if tracked is not None and tracked.state is _UNKNOWN:
                await self._resolve(tracked)
            if tracked is None or self._orders.get(cid) is not tracked or tracked.state is _UNKNOWN:
                continue                     # not open any more (done), or its outcome still unknown
            try:
                await self._account.call("cancel_order", self.symbol, client.cancel_order, tracked.exchange_id,
                                         self.symbol)
            except OrderNotFound:
                pass                         # filled or cancelled meanwhile: the poll below fetches its fills
            except TemporaryExchangeError as exc:
                logger.warning("Cancelling order {} failed ({}); it stays open", cid, exc)
                continue
            else:
                cancelled.append(tracked.order)
            await self._poll(tracked)        # done now: its last fills, and exits for what it filled
        if cancelled:
            logger.info("Cancelled order(s) of {}: {}", self.symbol, ", ".join(o.client_order_id for o in cancelled))
        return cancelled, self._fills.drain()
