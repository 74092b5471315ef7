"""A paper or live bot's protective exits across a restart: the candles past its snapshot.

A sim bot re-runs its candles from its snapshot (`runner.state.recovery`), so its exits see every
candle again. A paper or live bot (and a shadow one: sim fills on exchange candles) cannot: it
starts on the exchange's next candle. Its snapshot holds each exit as it stood at the snapshot's
last candle, a trailing stop at the level it had trailed to then (`stop_price`; see
`execution.protective`). What came after that candle never reached the restored exits:

- candles the bot stepped through before it died, after its last snapshot (snapshots are
  written every `snapshot_interval_secs` and after fills, so with a fast feed, a long interval
  or a crash between two, a trailing stop came back many candles behind: at its entry's level
  when no fill had written a snapshot since);
- candles that closed while the daemon was down.

The feed hands them over as history when the bot starts (`candles_past_snapshot` says how many
to ask for), and `StrategyRunner.catch_up_exits` puts the exits through them: each candle is
checked against the level as it stood, then trails it, so the stop comes back where an
uninterrupted run has it (H, the highest high since the entry, times 1 - pct), and an exit a
candle reached is carried out (paper: filled at that candle, as it would have been; live: a
market exit sent at once).

Checking again a candle the bot had already checked before it died changes nothing: the same
candle against the same level gives the same answer. The one it may have answered already is a
reached exit: the fill of an exit journalled past the snapshot means the exit was carried out.
Filled whole (all it was sent for, a rest too small to sell aside), its entry's exits are not
restored at all, and nothing is sold twice. Filled in part (Binance expired the rest of the market exit: a book it
emptied, self-trade prevention), they are restored for the rest only, as the running engine
armed them again: scaled to what the exit did not sell, under the next ids (`-sl2`, never an
id sent before; `exits_after_fills`). The same holds for an exit's fills the restart's
reconciliation finds on the exchange (`runner.assembly.reconcile_on_start`). Before, any fill
of an exit dropped them, and a crash between a part fill's journal commit and the snapshot
left the rest of the position unprotected.
A live exit whose answer was lost before the crash (or that crashed with the process before it
was sent) has no fill journalled, but its intent is: the engine journals it before it sends it.
Its entry's exits are restored, and the engine holds them, not armed, beside the exit it follows
by its client order id (`execution.live_exits_in_flight`): found on the exchange, they go and
its fill is booked when the lookup finds it (or by reconciliation first, once); proven never to
have reached it, they are armed again and the next candle reaching one sends a new exit under a
new id. Before the intent was journalled, the exit came back armed and was sent a second time
when the exchange's trade list did not show its trade yet; then, with the intent journalled
but the exits dropped, an exit that never reached the exchange left the position unprotected.

An entry whose fill the journal holds past the snapshot (the process died between the fill's
journal commit and the snapshot's write, or before any snapshot) has no exits in the snapshot:
a paper bot came back with none at all (the entry, its fill booked, is not followed again), a
live one looked the entry up and armed them at its fill price, trailing only from the restart.
`exits_of_entries_past_snapshot` arms them from the journalled fills instead, as the engine
armed them (`execution.protective.protective_exits`), and the catch-up puts them through the
candles from their fill's candle on (`ExitsToArm.first_candle_ms`): the candle the entry filled
in is the first an uninterrupted bot checked them against, and one before it never sees them.
Market entries; and limit entries too for an engine that fills an order whole, once (sim's
rule: paper, a shadow bot; `runner.state.limits_past_snapshot.exits_of_limit_entries_filled`),
from the candle after their fill's when they filled at their price, as the engine armed them
(`execution.protective.exits_from_next_candle`). A live limit entry may still rest in part:
the engine follows it, and arms its exits when it is done.

A live bot also follows again, by looking them up, the entries the journal holds no fill of past
the snapshot: one resting in it (a limit entry), one whose answer was lost before the crash.
Whether such an entry is done cannot be read from the journal (the intent's quantity is before
rounding to the lot step), so `entries_to_look_up` lists them, the feed gives the candles since
the snapshot or since each was decided, and the engine's catch-up looks them up before the
candles (`LiveExecution.catch_up_exits`): one the exchange filled meanwhile arms its exits then,
and they see the candles from its fill on, as those armed from the journal do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from loguru import logger

from execution.models import Order, OrderType, Side, order_from_dict
from execution.live_exits_in_flight import unsold
from execution.order_ids import (
    exit_generation, is_exchange_stop, managed_exit_entry, protected_entry, protective_id, protective_kind,
)
from execution.protective import exits_from_next_candle, protective_exits
from market.models import timeframe_ms

__all__ = ["MAX_CATCH_UP_CANDLES", "ExitsAfterFills", "ExitsToArm", "asks_for_exits", "candles_past_snapshot",
           "entries_to_look_up", "exits_after_fills", "exits_of_entries_past_snapshot"]

# Past this many candles (69 days of 1m, 11 years of 1h) a bot's exits catch up on the latest
# only: the older ones are 200 requests of history and 28 MB for a stop that long in the past
# (`runner.assembly.catch_up_history` says how they are fetched).
MAX_CATCH_UP_CANDLES = 100_000


@dataclass(frozen=True, slots=True)
class ExitsToArm:
    """The protective exits of an entry whose fills the journal holds past the snapshot."""

    entry: Order
    exits: list[Order]
    fill_ts_ms: int           # its last fill's time
    from_next_candle: bool = False      # a limit entry filled at its price (`exits_from_next_candle`)

    def first_candle_ms(self, bar_ms: int) -> int:
        """The open time of the first candle the exits see: the one the entry filled in (the one
        after it, `from_next_candle`), and never one that closed before the entry was decided
        (its `created_ts_ms`, the close it was decided on; an exchange's clock a little behind
        the bot's must not reach back)."""
        decided_ms = self.entry.created_ts_ms
        first_ms = max(self.fill_ts_ms - self.fill_ts_ms % bar_ms, decided_ms - decided_ms % bar_ms)
        return first_ms + bar_ms if self.from_next_candle else first_ms


def exits_of_entries_past_snapshot(orders_after: Sequence[Mapping[str, Any]], fills_after: Sequence[Mapping[str, Any]],
                                   cancelled_after: Mapping[str, str], *,
                                   entry_type: OrderType = OrderType.MARKET) -> list[ExitsToArm]:
    """The exits to arm for the entries of `entry_type` (market; limit for an engine that fills
    an order whole, once) asking for them whose intents (`orders_after`, or the snapshot's)
    and fills (`fills_after`, journal dicts) the journal holds past the snapshot: held quantity
    (what filled less a base-asset fee) at the fills' average price, as the engine armed them.
    None for an entry whose exits were carried out (an exit's fill of all they cover) or
    cancelled (replaced by an exit, a kill's flatten: `cancelled_after`) past the snapshot; for
    the rest only, under the next ids, when an exit's fills sold part of it (`exits_after_fills`).
    An exit's intent alone does not count: a live engine holds the exits beside that exit until
    its lookup says whether it reached the exchange (see the module docstring)."""
    fills_of: dict[str, list[Mapping[str, Any]]] = {}
    for fill in fills_after:
        fills_of.setdefault(fill["order_id"], []).append(fill)
    armed = []
    for data in orders_after:
        group = data["order_id"]
        fills = fills_of.get(group)
        if not fills or data["type"] != entry_type or data["oco_group"] is not None:
            continue
        entry = order_from_dict(data)
        if not asks_for_exits(entry):
            continue
        if any(protective_id(group, kind) in cancelled_after for kind in ("sl", "tp", "ts")):
            continue
        quantity = sum(f["quantity"] for f in fills)
        if quantity <= 0:
            continue
        # One fill (paper's always): its price as it is, as the engine used it.
        avg_price = fills[0]["price"] if len(fills) == 1 else sum(f["quantity"] * f["price"] for f in fills) / quantity
        held = quantity - (sum(f.get("base_fee", 0.0) for f in fills) if entry.side is Side.BUY else 0.0)
        fill_ts_ms = max(f["fill_ts_ms"] for f in fills)
        armed.append(ExitsToArm(entry, protective_exits(entry, entry.symbol, quantity=held, avg_price=avg_price,
                                                        ts_ms=fill_ts_ms), fill_ts_ms,
                                exits_from_next_candle(entry, avg_price)))
    sent = (order_from_dict(data) for data in orders_after if data["oco_group"] is None)    # market exits among them
    after = exits_after_fills([*(o for late in armed for o in late.exits), *sent],
                              ((f["order_id"], f["quantity"]) for f in fills_after))
    return [late if (group := late.entry.client_order_id) not in after.filled
            else replace(late, exits=[o for o in after.left if o.oco_group == group])
            for late in armed if late.entry.client_order_id not in after.sold_whole]


def entries_to_look_up(state: dict[str, Any] | None, orders_after: Sequence[Mapping[str, Any]],
                       to_arm: Sequence[ExitsToArm], cancelled_after: Mapping[str, str]) -> list[Order]:
    """The entries asking for protective exits that a restarted live bot follows again by looking
    them up (see the module docstring): open in the snapshot `state` and not cancelled past it,
    and the intents journalled past it (`orders_after`) but those whose exits are armed from the
    journal (`to_arm`)."""
    done = {x.entry.client_order_id for x in to_arm}
    resting = [d for d in state["open_orders"] if d["order_id"] not in cancelled_after] if state is not None else []
    return [entry for data in (*resting, *orders_after) if data.get("oco_group") is None and data["order_id"] not in done
            and asks_for_exits(entry := order_from_dict(data))]


def candles_past_snapshot(state: dict[str, Any] | None, timeframe: str, now_ms: int,
                          to_arm: Sequence[ExitsToArm] = (), looked_up: Sequence[Order] = ()) -> int:
    """How many of the latest closed candles of `timeframe` the history must give, at `now_ms`,
    to hold every candle after the last one of the snapshot `state` (two more than can have
    closed by then: one closing while the feed is asked still leaves the oldest needed one in,
    and the extra ones, the snapshot's own candle at most, are told apart by time), every
    candle from the first that the exits `to_arm` see on, and, for the entries a live bot
    looks up again (`looked_up`, from `entries_to_look_up`), every candle after the snapshot's
    last and from the one each was decided on; 0 when neither `state` (its open orders or the
    exits a resting limit exit set aside), `to_arm` nor `looked_up` holds a protective exit or an
    entry asking for one. At most `MAX_CATCH_UP_CANDLES`, with a warning."""
    bar_ms = timeframe_ms(timeframe)
    after = [x.first_candle_ms(bar_ms) - bar_ms for x in to_arm]      # as if a snapshot ended the candle before
    last_ms = (state["last_candle_ts_ms"] or 0) if state is not None else 0
    # A snapshot taken while a limit exit rests has its stops set aside (`replaced_exits`), not
    # among its open orders: they watch the candles all the same.
    if last_ms and (state.get("replaced_exits") or any(o.get("oco_group") for o in state["open_orders"])):
        after.append(last_ms)
    after.extend(max(last_ms, o.created_ts_ms - o.created_ts_ms % bar_ms - bar_ms) for o in looked_up)
    if not after:
        return 0
    spans = max(0, (now_ms - min(after)) // bar_ms)
    if spans > MAX_CATCH_UP_CANDLES:
        logger.warning("{} candles closed since the snapshot's last; the protective exits catch up on the last {} "
                       "only (a candle before them that reached an exit is not seen)", spans - 1, MAX_CATCH_UP_CANDLES)
        return MAX_CATCH_UP_CANDLES
    return spans + 1


@dataclass(frozen=True, slots=True)
class ExitsAfterFills:
    """What fills of protective exits leave of their entries' exits (`exits_after_fills`)."""

    sold_whole: set[str]        # entries whose exit sold all their exits covered: the exits go
    sold_in_part: set[str]      # entries whose exit sold part of it: their exits are `left`
    left: list[Order]           # the bot-managed exits of `sold_in_part`, for the rest, under the next ids

    @property
    def filled(self) -> set[str]:
        """Every entry one of whose exits filled: its exits as they stood before do not come back."""
        return self.sold_whole | self.sold_in_part


def exits_after_fills(orders: Iterable[Order], fills: Iterable[tuple[str, float]], *,
                      closable: Callable[[float, float], float] | None = None) -> ExitsAfterFills:
    """What `fills` ((order id, quantity) of fills journalled past the snapshot, or found on the
    exchange; those of other orders are passed over) leave of the entries' protective exits
    among `orders` (as they stood before those fills), with the market exits sent for them
    (their intents, or those the engine follows: `oco_group` None). An entry whose latest exit
    filled (`-sl`, `-tp`, `-ts`, of the highest generation) sold all it was sent for (all its
    exits cover when its market order is not among `orders`; that is rounded down to a lot
    step, these are not) is `sold_whole`. One that sold less keeps its bot-managed exits for
    the rest (`left`), as the running engine arms them again (`execution.live_exits_in_flight`):
    scaled to what that exit did not sell, under the next generation, never an id sent before.
    A rest too small to sell (`closable`, the engine's `closable_quantity`, says 0 at the filled
    exit's level) is dust: sold whole. Without `closable` that is the engine's to judge: it holds
    the exits beside that exit, which it follows, and lets them go at its lookup. An exit of an
    entry whose stop rested on the exchange (an `-xs` among `orders`: the gap exit `-sl`, or a
    take-profit or trailing exit, which cancelled it first) leaves a bot-managed stop at that
    stop's level, as the engine held it (one the engine put back on the exchange for the rest,
    `-xs2`, is followed by its intent, and the bot stop gives way to it). A fill of the `-xs` itself
    (the engine follows it and acts at its end), or of an entry none of whose exits are among
    `orders`, counts as sold whole."""
    sold: dict[str, float] = {}                     # by exit order id
    latest: dict[str, str] = {}                     # entry -> its exit of the highest generation filled
    whole: set[str] = set()
    for order_id, quantity in fills:
        if (entry := managed_exit_entry(order_id)) is not None:
            sold[order_id] = sold.get(order_id, 0.0) + quantity
            if entry not in latest or exit_generation(order_id) > exit_generation(latest[entry]):
                latest[entry] = order_id
        elif (entry := protected_entry(order_id)) is not None:
            whole.add(entry)
    sent: dict[str, float] = {}                     # market exit id -> its quantity
    of_entry: dict[str, dict[str, Order]] = {}
    for order in orders:
        if order.oco_group is None:
            if order.client_order_id in sold and order.quantity is not None:
                sent[order.client_order_id] = order.quantity
        elif order.oco_group in latest and (kind := protective_kind(order.client_order_id, order.oco_group)):
            of_entry.setdefault(order.oco_group, {}).setdefault(kind, order)      # one of a kind
        elif is_exchange_stop(order.client_order_id) and order.oco_group in latest:
            # An exit of an entry whose stop rested on the exchange (its gap exit `-sl`, or a
            # take-profit or trailing exit, which cancelled it first): the engine held a bot-managed
            # stop at that stop's level beside it (`execution.exchange_stop`).
            of_entry.setdefault(order.oco_group, {}).setdefault("sl", Order(
                protective_id(order.oco_group, "sl"), order.symbol, order.side, OrderType.STOP,
                quantity=order.quantity, stop_price=order.stop_price, reason="stop_loss",
                created_ts_ms=order.created_ts_ms, oco_group=order.oco_group))
    in_part: set[str] = set()
    left: list[Order] = []
    for entry, exit_id in latest.items():
        kept = of_entry.get(entry)
        if not kept or entry in whole:
            whole.add(entry)
            continue
        if exit_id in sent:
            rest = unsold(sent[exit_id], sold[exit_id])
        else:
            rest = unsold(max(o.quantity or 0.0 for o in kept.values()),
                          sum(q for i, q in sold.items() if managed_exit_entry(i) == entry))
        if rest > 0.0 and closable is not None:
            at = kept.get(protective_kind(exit_id, entry)) or next(iter(kept.values()))
            rest = closable(rest, at.stop_price or at.price or 0.0)
        if rest <= 0.0:
            whole.add(entry)
            continue
        in_part.add(entry)
        generation = exit_generation(exit_id) + 1
        left.extend(replace(o, quantity=rest, client_order_id=protective_id(entry, kind, generation))
                    for kind, o in kept.items())
    return ExitsAfterFills(whole, in_part, left)


def asks_for_exits(order: Order) -> bool:
    """Whether `order`, an entry, asks for protective exits once it is done."""
    return (order.stop_loss_pct is not None or order.take_profit_pct is not None
            or order.trailing_stop_pct is not None or order.trailing_stop_distance is not None)
