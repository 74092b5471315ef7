"""The limit orders a restarted paper bot holds resting, and the market orders it holds waiting
(`waiting_market_orders`), read from its snapshot and journal before the bot is built: the feed
must hold the candles they catch up on (`runner.bot.limits_while_down`), from the snapshot's
last candle or from the candle each was decided on, whichever is later
(`candles_past_snapshot`'s `looked_up` counts them so). And the protective exits of those the
journal holds a fill of past the snapshot, which the engine armed at that fill and no snapshot
has (`exits_of_limit_entries_filled`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from execution.models import Order, OrderType, order_from_dict
from runner.state.exits_past_snapshot import ExitsToArm, exits_of_entries_past_snapshot

__all__ = ["exits_of_limit_entries_filled", "resting_limit_orders", "waiting_market_orders"]


def resting_limit_orders(state: Mapping[str, Any] | None, orders_after: Sequence[Mapping[str, Any]],
                         fills_after: Sequence[Mapping[str, Any]], cancelled_after: Mapping[str, str]) -> list[Order]:
    """The bot's own limit orders (no `oco_group`) that rest after a restart: open in the
    snapshot `state` and not cancelled past it (`cancelled_after`), and the limit intents
    journalled past it (`orders_after`, those cancelled since already left out by recovery);
    none with a fill journalled past it (`fills_after`: paper fills an order whole, once)."""
    filled = {f["order_id"] for f in fills_after}
    return [order_from_dict(d) for d in _own_orders(state, orders_after, cancelled_after, OrderType.LIMIT)
            if d["order_id"] not in filled]


def waiting_market_orders(state: Mapping[str, Any] | None, orders_after: Sequence[Mapping[str, Any]],
                          fills_after: Sequence[Mapping[str, Any]], cancelled_after: Mapping[str, str]) -> list[Order]:
    """The bot's own market orders (no `oco_group`) that still wait for their fill after a
    restart, from the same sources as `resting_limit_orders`: a paper order placed while no quote
    could be read, or a shadow bot's decided at the last close it saw (sim fills it at the next
    candle's open). For an engine that fills an order whole, once: one with a fill journalled is done."""
    filled = {f["order_id"] for f in fills_after}
    return [order_from_dict(d) for d in _own_orders(state, orders_after, cancelled_after, OrderType.MARKET)
            if d["order_id"] not in filled]


def exits_of_limit_entries_filled(state: Mapping[str, Any] | None, orders_after: Sequence[Mapping[str, Any]],
                                  fills_after: Sequence[Mapping[str, Any]],
                                  cancelled_after: Mapping[str, str]) -> list[ExitsToArm]:
    """The protective exits to arm, as a market entry's are (`exits_of_entries_past_snapshot`),
    for the limit entries of `resting_limit_orders`'s sources whose fill the journal holds past
    the snapshot (say, filled while the bot was down, then a crash before the next snapshot).
    For an engine that fills an order whole, once (sim's rule: paper, a shadow bot), so that
    fill is all of it; a live one may rest in part, and is looked up (`entries_to_look_up`)."""
    limits = _own_orders(state, orders_after, cancelled_after, OrderType.LIMIT)
    return exits_of_entries_past_snapshot(limits, fills_after, cancelled_after, entry_type=OrderType.LIMIT)


def _own_orders(state: Mapping[str, Any] | None, orders_after: Sequence[Mapping[str, Any]],
               cancelled_after: Mapping[str, str], order_type: OrderType) -> list[Mapping[str, Any]]:
    """The bot's own orders of `order_type` (no `oco_group`): open in the snapshot and not
    cancelled past it, then those journalled past it."""
    snapshot = [d for d in state["open_orders"] if d["order_id"] not in cancelled_after] if state is not None else []
    return [d for d in (*snapshot, *orders_after) if d.get("oco_group") is None and d["type"] == order_type]
