"""The limit orders a restarted paper bot holds resting, read from its snapshot and journal
before the bot is built: the feed must hold the candles they catch up on
(`runner.bot.limits_while_down`), from the snapshot's last candle or from the candle each was
decided on, whichever is later (`candles_past_snapshot`'s `looked_up` counts them so)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from execution.models import Order, OrderType, order_from_dict

__all__ = ["resting_limit_orders"]


def resting_limit_orders(state: Mapping[str, Any] | None, orders_after: Sequence[Mapping[str, Any]],
                         fills_after: Sequence[Mapping[str, Any]], cancelled_after: Mapping[str, str]) -> list[Order]:
    """The bot's own limit orders (no `oco_group`) that rest after a restart: open in the
    snapshot `state` and not cancelled past it (`cancelled_after`), and the limit intents
    journalled past it (`orders_after`, those cancelled since already left out by recovery);
    none with a fill journalled past it (`fills_after`: paper fills an order whole, once)."""
    filled = {f["order_id"] for f in fills_after}
    snapshot = [d for d in state["open_orders"] if d["order_id"] not in cancelled_after] if state is not None else []
    return [order_from_dict(d) for d in (*snapshot, *orders_after)
            if d.get("oco_group") is None and d["type"] == OrderType.LIMIT and d["order_id"] not in filled]
