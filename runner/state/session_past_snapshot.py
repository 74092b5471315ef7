"""Whether a restarted paper or shadow bot's session closed its position while the daemon was
down, read before the bot is built: then the feed must hold the candles from the snapshot's last
on, for the restart to close it at the missed flatten point (`runner.bot.limits_while_down`), as
a bot that never went down did, rather than at the first live candle.

The rule is `runner.bot.session_flow`'s: with `flatten_at_close`, a position is closed at the
first candle closing out of the session's hours, counted to end one candle early (the flatten
point). A bot with no position, no snapshot, or no such close since its snapshot needs none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from market.models import timeframe_ms
from market.session import TradingSession
from runner.state.exits_past_snapshot import MAX_CATCH_UP_CANDLES

__all__ = ["candles_to_flatten"]


def candles_to_flatten(state: Mapping[str, Any] | None, fills_after: Sequence[Mapping[str, Any]],
                       session: TradingSession | None, timeframe: str, now_ms: int) -> int:
    """How many of the latest closed candles of `timeframe` the history must give at `now_ms` to
    hold every candle after the snapshot `state`'s last, counted as `candles_past_snapshot`
    counts them (two more than can have closed, at most `MAX_CATCH_UP_CANDLES`), when `session`
    flattens and a flatten point passed since, with a position held: the snapshot's, or the one
    the last fill journalled past it (`fills_after`, each with the position after it) left. 0
    otherwise."""
    if session is None or not session.flatten_at_close or state is None or not state["last_candle_ts_ms"]:
        return 0
    position = fills_after[-1].get("position") if fills_after else None
    if (state["portfolio"]["quantity"] if position is None else position) == 0.0:
        return 0
    bar_ms = timeframe_ms(timeframe)
    last_ms = state["last_candle_ts_ms"]
    first_close_ms = last_ms + 2 * bar_ms                 # the close of the first candle after the snapshot's
    open_ms, close_ms = session.window(first_close_ms)
    flatten_ms = close_ms - bar_ms
    if open_ms <= first_close_ms < flatten_ms:            # in the hours: it acts at the first close from the point on
        first_close_ms += -(-(flatten_ms - first_close_ms) // bar_ms) * bar_ms
    if first_close_ms > now_ms:
        return 0
    return min((now_ms - last_ms) // bar_ms + 1, MAX_CATCH_UP_CANDLES)
