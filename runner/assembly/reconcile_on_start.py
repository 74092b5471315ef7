"""Bringing a paper or live bot back after a restart: its journal, then (live) the exchange.

The bot restores its snapshot, books the fills the journal holds past it, and follows the
intents journalled past it (their outcome is asked for). A live bot then reconciles with the
exchange: trades of its orders that the journal lacks, and open orders with its prefix that
it does not know. Its `on_restart` policy says what to do with a difference:

- `resume`: adopt what the exchange says (book the missing fills, track the unknown orders);
- `flatten`: book the missing fills, cancel every order of the bot, close its position (while
  an order's outcome is unknown, the bot owes the flatten and decides nothing until it is done:
  `StrategyRunner.flatten_on_restart`);
- `halt`: refuse to start, with the differences in the reason, until a person looks.

Either way a position the exchange holds for the bot is booked before the strategy runs, so
it is never bought a second time.
"""

from __future__ import annotations

from loguru import logger

from execution.errors import OrderNotFound, TemporaryExchangeError
from execution.exchange import ExchangeAccount
from execution.models import Order, fill_from_dict, order_from_dict
from execution.reconcile import ReconcileReport, reconcile
from runner.bot.clock import Clock
from runner.bot.strategy_runner import StrategyRunner
from runner.config.bot import BotConfig
from runner.state.exits_past_snapshot import exits_after_fills
from runner.state.journal import BotJournal
from runner.state.recovery import RecoveredState, RecoveryError

__all__ = ["RECONCILE_LOOKBACK_MS", "reconcile_on_start", "restore_from_journal"]

_DAY_MS = 86_400_000
RECONCILE_LOOKBACK_MS = 7 * _DAY_MS


def restore_from_journal(runner: StrategyRunner, recovered: RecoveredState, journal: BotJournal) -> None:
    """Snapshot, then the kill latch, fills and intents the journal holds past it."""
    left: list[Order] = []      # the exits an exit filled in part past the snapshot leaves, for its rest
    if recovered.state is not None:
        # An exit filled past the snapshot: its entry's exits as they stood do not come back; for
        # the rest, under the next ids, if it sold part of what it was sent for (`exits_after_fills`).
        after = exits_after_fills([*(order_from_dict(data) for data in recovered.state["open_orders"]
                                     if data["order_id"] not in recovered.cancelled_after),
                                   *map(order_from_dict, recovered.orders_after)],
                                  ((f["order_id"], f["quantity"]) for f in recovered.fills_after),
                                  closable=runner.execution.closable_quantity)
        left = after.left
        runner.restore(recovered.state, cancelled_after=recovered.cancelled_after,   # not what was cancelled since,
                       exits_filled_after=after.filled)
    if recovered.latch_after is not None:
        # Killed (or resumed) past the snapshot: the latch holds, with its reason, and `run`
        # finishes the flatten, following its order if journalled (restored below), not resending it.
        runner.kill_switch.restore(recovered.latch_after)
    runner.book_journalled_fills([fill_from_dict(data) for data in recovered.fills_after])
    intents = [order_from_dict(data) for data in recovered.orders_after]
    runner.resume_order_sequence(o.client_order_id for o in intents)
    # A market entry filled past the snapshot is done: its exits are armed from its journalled
    # fills (and caught up from its fill's candle on), not by following it again (live looked it
    # up and armed them a second time, at its fill price).
    done = {late.entry.client_order_id for late in recovered.exits_to_arm}
    runner.restore_orders([o for o in intents if o.client_order_id not in done], fill_ids=_booked_fill_ids(journal))
    if left:    # after the intents: held beside the exit they follow, as the engine held them (not a limit exit's)
        runner.restore_orders(left)
    runner.arm_exits_past_snapshot(recovered.exits_to_arm)
    if recovered.fills_after or recovered.orders_after:
        logger.info("Restored past the snapshot from the journal: {} fills booked, {} orders to look up",
                    len(recovered.fills_after), len(recovered.orders_after))


async def reconcile_on_start(runner: StrategyRunner, config: BotConfig, account: ExchangeAccount,
                             journal: BotJournal, clock: Clock) -> None:
    """Compare the bot with the exchange and apply its `on_restart` policy (see the module).
    Raises `RecoveryError` when the policy is halt and the exchange disagrees."""
    booked = _booked_fill_ids(journal)
    report = await reconcile(account, config.symbol, prefix=runner.order_id_prefix,
                             known_open_orders=runner.execution.open_orders(), journal_fill_ids=booked,
                             since_ms=clock.now_ms() - RECONCILE_LOOKBACK_MS)
    # An order the bot holds open that the exchange does not list either never reached it (an
    # intent journalled before a crash) or is done, its fills among the missing ones. Only one
    # the exchange knows is a difference; one it does not know stays with the engine, which
    # looks it up again and drops it once it cannot land any more. Nor is one it shows filled
    # whole with every trade journalled (a limit entry of the snapshot, filled before the crash,
    # its fill journalled, halted a bot on nothing), nor one the exchange expired with every
    # trade journalled (a market exit filled in part: its lookup arms the exits for the rest);
    # one whose trades the exchange's trade list does not show yet (it can lag the order) still is.
    journalled_qty = _journalled_quantities(journal, {o.client_order_id for o in report.vanished_orders})
    vanished = [o for o in report.vanished_orders
                if await _exchange_knows(account, config.symbol, o, journalled_qty.get(o.client_order_id, 0.0))]
    if not (report.missing_fills or report.unknown_open_orders or vanished):
        if report.vanished_orders:
            logger.info("Reconciled with {}: order(s) {} not open on the exchange (never reached it, or filled "
                        "with every trade journalled); looked up again at the next candle", account.name,
                        ", ".join(o.client_order_id for o in report.vanished_orders))
        else:
            logger.info("Reconciled with {}: nothing to adopt", account.name)
        return
    summary = _describe(report, vanished)
    if config.on_restart == "halt":
        raise RecoveryError(f"the exchange disagrees with the bot's state ({summary}); on_restart is halt, "
                            "so it waits for a person. Set on_restart: resume to adopt the exchange's view.")
    logger.warning("The exchange disagrees with the bot's state: {}; on_restart: {}", summary, config.on_restart)
    runner.adopt_fills(report.missing_fills, clock.now_ms())      # booked first: never bought twice
    # An exit the exchange shows carried out (its answer lost before the crash): armed still, it
    # would sell what it sold again when a candle reaches it. Only one that sold all its exits
    # cover: one that sold part (Binance expired the rest) leaves them held beside it, and its
    # lookup arms them for the rest (`execution.live_exits_in_flight`), or lets dust go.
    after = exits_after_fills(runner.execution.open_orders(),
                              ((f.client_order_id, f.quantity) for f in report.missing_fills),
                              closable=runner.execution.closable_quantity)
    await runner.disarm_exits_of(after.sold_whole, clock.now_ms())
    if after.sold_in_part:
        logger.info("Exits of {} found filled in part on the exchange: their protective exits stay for the rest",
                    ", ".join(sorted(after.sold_in_part)))
    runner.restore_orders(report.unknown_open_orders, fill_ids={*booked, *(f.key for f in report.missing_fills)})
    if config.on_restart == "flatten":
        await runner.flatten_on_restart("on_restart: flatten")   # owed until done, if it cannot be now
    journal.commit()


def _booked_fill_ids(journal: BotJournal) -> set[str]:
    return {e.key for e in journal.events(kinds=("fill",)) if e.key}


def _journalled_quantities(journal: BotJournal, order_ids: set[str]) -> dict[str, float]:
    """What the journal's fills of each of `order_ids` add up to."""
    if not order_ids:
        return {}
    quantities: dict[str, float] = {}
    for event in journal.events(kinds=("fill",)):
        if (order_id := event.data.get("order_id")) in order_ids:
            quantities[order_id] = quantities.get(order_id, 0.0) + event.data["quantity"]
    return quantities


async def _exchange_knows(account: ExchangeAccount, symbol: str, order: Order, journalled_qty: float) -> bool:
    """Whether the exchange finds `order` by its client order id, other than done (filled whole,
    or expired by the exchange) with `journalled_qty` (what the journal's fills of it add up to)
    covering what it filled (a failed lookup: assume so)."""
    try:
        raw = await account.call("fetch_order", symbol, account.client.fetch_order, None, symbol,
                                 {"origClientOrderId": order.client_order_id})
    except OrderNotFound:
        return False
    except TemporaryExchangeError:
        return True
    filled = float(raw.get("filled") or 0.0)
    return not (raw.get("status") in ("closed", "expired") and journalled_qty >= filled * (1 - 1e-9))


def _describe(report: ReconcileReport, vanished: list[Order]) -> str:
    parts = []
    if report.missing_fills:
        parts.append(f"{len(report.missing_fills)} trade{'' if len(report.missing_fills) == 1 else 's'} "
                     "not in the journal")
    if report.unknown_open_orders:
        parts.append(f"{len(report.unknown_open_orders)} open order{'' if len(report.unknown_open_orders) == 1 else 's'} "
                     "the bot does not know")
    if vanished:
        parts.append(f"{len(vanished)} order{'' if len(vanished) == 1 else 's'} no longer open on the exchange")
    return ", ".join(parts)
