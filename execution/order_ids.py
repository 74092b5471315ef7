"""Client order ids: the one place that makes and reads them, for sim, paper and live alike.

A bot's orders are `<prefix><seq>`: the prefix is `br` + 8 hex of the SHA-1 of the bot's id +
`-` (exchanges cap ids, Binance at 36 characters, and bot ids may be 63), the sequence counts
the bot's orders and survives restarts. A protective exit the engine derives from an entry
is `<entry id>-sl` (stop-loss), `<entry id>-tp` (take-profit) or `<entry id>-ts` (trailing
stop), so it is as deterministic as its entry and names it; a stop-loss resting on the exchange
(`execution.stop_on_exchange`) is `<entry id>-xs`, never the id of the market exit a bot-managed
stop sends (`-sl`). The ids are the orders' identity on the exchange and the journal's
keys, which is why they are deterministic: a restarted bot makes the same ids again.

An exit sent once and proven never to have reached the exchange has its entry's exits armed
again under the next generation, `<entry id>-sl2` (then `-sl3`, ...; the first has no number):
the exit the next candle sends is a new order with a new id, since Binance takes the id of a
closed order again and the journal keys its intents by id (`execution.live_exits_in_flight`).
So does a stop resting on the exchange that an exit of the bot's cancelled and puts back for
what that exit did not sell: `<entry id>-xs2` (`execution.exchange_stop`).
"""

from __future__ import annotations

import hashlib
from typing import Literal, NewType

BotId = NewType("BotId", str)
ClientOrderId = NewType("ClientOrderId", str)
ProtectiveKind = Literal["sl", "tp", "ts"]
_PROTECTIVE_KINDS: tuple[ProtectiveKind, ...] = ("sl", "tp", "ts")
_EXCHANGE_STOP = "xs"

__all__ = ["BotId", "ClientOrderId", "ProtectiveKind", "client_order_id", "exchange_stop_id", "exit_generation",
           "is_exchange_stop", "managed_exit_entry", "order_id_prefix", "protected_entry", "protective_id",
           "protective_kind", "sequence_of"]


def order_id_prefix(bot_id: BotId | str) -> str:
    """The prefix of every client order id of `bot_id`: `br` + 8 hex of its SHA-1 + `-`."""
    return f"br{hashlib.sha1(bot_id.encode()).hexdigest()[:8]}-"


def client_order_id(prefix: str, seq: int) -> ClientOrderId:
    """The id of a bot's `seq`-th order."""
    return ClientOrderId(f"{prefix}{seq}")


def sequence_of(order_id: str, prefix: str) -> int:
    """The sequence number in `order_id` (of an entry, or of the entry a protective exit
    belongs to); 0 when the id is not one of `prefix`'s."""
    tail = order_id[len(prefix):] if order_id.startswith(prefix) else ""
    head = tail.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


def protective_id(entry_id: str, kind: ProtectiveKind, generation: int = 1) -> ClientOrderId:
    """The id of the stop-loss (`"sl"`), take-profit (`"tp"`) or trailing stop (`"ts"`) exit of the
    entry `entry_id`; of its `generation`-th arming (see the module docstring) past the first."""
    return ClientOrderId(f"{entry_id}-{kind}" if generation == 1 else f"{entry_id}-{kind}{generation}")


def protective_kind(order_id: str, entry_id: str | None) -> ProtectiveKind | None:
    """`"sl"`, `"tp"` or `"ts"` when `order_id` is a protective exit of the entry `entry_id` (of
    any generation), else None."""
    if entry_id is None:
        return None
    parsed = _managed_exit(order_id)
    return parsed[1] if parsed is not None and parsed[0] == entry_id else None


def exit_generation(order_id: str) -> int:
    """The generation of the protective exit or exchange stop `order_id` (`protective_id`'s,
    `exchange_stop_id`'s); 1 for any other id."""
    parsed = _managed_exit(order_id) or _exchange_stop(order_id)
    return parsed[-1] if parsed is not None else 1


def exchange_stop_id(entry_id: str, generation: int = 1) -> ClientOrderId:
    """The id of the stop-loss of the entry `entry_id` that rests on the exchange; of its
    `generation`-th placing past the first (see the module docstring)."""
    return ClientOrderId(f"{entry_id}-{_EXCHANGE_STOP}{'' if generation == 1 else generation}")


def is_exchange_stop(order_id: str) -> bool:
    """`order_id` is a stop-loss resting on the exchange (`exchange_stop_id`, any generation)."""
    return order_id.endswith(f"-{_EXCHANGE_STOP}") or _exchange_stop(order_id) is not None


def protected_entry(order_id: str) -> str | None:
    """The entry whose protective exit `order_id` is (`protective_id`'s or `exchange_stop_id`'s
    inverse), or None when `order_id` is not one (an entry's own id ends in its sequence number,
    never in a kind)."""
    if (stop := _exchange_stop(order_id)) is not None:
        return stop[0]
    return managed_exit_entry(order_id)


def managed_exit_entry(order_id: str) -> str | None:
    """The entry whose bot-managed exit (`protective_id`: stop-loss, take-profit, trailing stop)
    `order_id` is, or None: an entry, or a stop resting on the exchange (`exchange_stop_id`).
    The engine sends such an exit itself, as a market order, when a candle reaches it."""
    parsed = _managed_exit(order_id)
    return parsed[0] if parsed is not None else None


def _managed_exit(order_id: str) -> tuple[str, ProtectiveKind, int] | None:
    """(entry id, kind, generation) of a `protective_id`, else None."""
    entry_id, _, tail = order_id.rpartition("-")
    kind, generation = tail[:2], tail[2:]
    if not entry_id or kind not in _PROTECTIVE_KINDS or not (generation == "" or generation.isdigit()):
        return None
    return entry_id, kind, int(generation) if generation else 1


def _exchange_stop(order_id: str) -> tuple[str, int] | None:
    """(entry id, generation) of an `exchange_stop_id`, else None."""
    entry_id, _, tail = order_id.rpartition("-")
    generation = tail[len(_EXCHANGE_STOP):]
    if not entry_id or not tail.startswith(_EXCHANGE_STOP) or not (generation == "" or generation.isdigit()):
        return None
    return entry_id, int(generation) if generation else 1
