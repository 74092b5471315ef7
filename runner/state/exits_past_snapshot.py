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
reached exit: the fill of an exit journalled past the snapshot means the exit was carried out,
so its entry's exits are not restored at all (`filled_exit_groups`), and nothing is sold twice.
A live exit whose answer was lost before the crash has no fill journalled; reconciliation finds
its fill on the exchange and adopts it, and its entry's exits are disarmed then
(`StrategyRunner.disarm_exits_of`), before the catch-up could send it again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from loguru import logger

from execution.order_ids import protected_entry
from market.models import timeframe_ms

__all__ = ["MAX_CATCH_UP_CANDLES", "candles_past_snapshot", "filled_exit_groups"]

# Past this many candles (3.5 days of 1m) a bot's exits catch up on the latest only: older ones
# would cost pages of history on every start for a stop that long in the past.
MAX_CATCH_UP_CANDLES = 5_000


def candles_past_snapshot(state: dict[str, Any] | None, timeframe: str, now_ms: int) -> int:
    """How many of the latest closed candles of `timeframe` the history must give, at `now_ms`,
    to hold every candle after the last one of the snapshot `state` (two more than can have
    closed by then: one closing while the feed is asked still leaves the oldest needed one in,
    and the extra ones, the snapshot's own candle at most, are told apart by time); 0 when `state`
    is None or holds no protective exit. At most `MAX_CATCH_UP_CANDLES`, with a warning."""
    if state is None or not state["last_candle_ts_ms"] or not any(o.get("oco_group") for o in state["open_orders"]):
        return 0
    spans = max(0, (now_ms - state["last_candle_ts_ms"]) // timeframe_ms(timeframe))
    if spans > MAX_CATCH_UP_CANDLES:
        logger.warning("{} candles closed since the snapshot's last; the protective exits catch up on the last {} "
                       "only (a candle before them that reached an exit is not seen)", spans - 1, MAX_CATCH_UP_CANDLES)
        return MAX_CATCH_UP_CANDLES
    return spans + 1


def filled_exit_groups(order_ids: Iterable[str]) -> set[str]:
    """The entries (`oco_group`s) one of whose protective exits is among `order_ids` (of fills
    journalled past the snapshot, or found on the exchange): that exit was carried out, and the
    group's exits, one cancelling the other, are not to be restored, nor left armed."""
    return {entry for order_id in order_ids if (entry := protected_entry(order_id)) is not None}
