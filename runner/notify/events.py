"""What a notification says: a `Notice` for each event a person should hear about.

Each function turns what the daemon already records (a journal event, the bots' statuses) into
a title and a plain-text body that reads well in a chat, an e-mail or a webhook's JSON. The
text names the bot, what happened, and what a person can do about it; it never holds a URL,
a key or anything else from the environment.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Literal

from runner.control.status import BotStatus
from runner.state.journal import JournalEvent

__all__ = ["Notice", "daemon_started", "daemon_stopped", "daily_summary", "failed", "fill", "kill"]

Severity = Literal["info", "success", "warning", "failure"]      # apprise's notify types

SUMMARY_MAX_BOTS = 50
"""Bots listed one a line in the start and daily messages; the rest are counted. Telegram cuts a
message at 4,096 characters, and a thousand-bot daemon would otherwise send one nobody reads."""


@dataclass(slots=True, frozen=True)
class Notice:
    """One message to send: `event` is its kind in `NotificationsConfig.events`."""

    event: str
    title: str
    body: str
    severity: Severity = "info"


_KILLED_HOW = {"manual": "by hand", "rule": "by a rule", "basket": "with its basket (the one latch of its legs)"}


def kill(event: JournalEvent) -> Notice:
    """A `kill` journal event: the bot's kill switch tripped, by a rule or by hand, or, for a
    basket's leg, with its basket (another leg, or a person, latched the latch they share)."""
    bot, reason = event.bot_id, _sentence(event.data.get("reason", ""))
    how = _KILLED_HOW.get(event.data.get("source"), "by a rule")
    return Notice("kill", f"{bot}: kill switch tripped",
                  f"The kill switch of {bot} tripped {how}: {reason}. Its orders are cancelled and its "
                  f"position is being closed; it stays stopped until `botrunner resume {bot}`.",
                  "failure")


def failed(event: JournalEvent) -> Notice:
    """A `lifecycle` journal event of a bot the supervisor gave up on (`stays_down`)."""
    bot = event.bot_id
    return Notice("failed", f"{bot}: failed",
                  f"Bot {bot} failed and stays down: {_sentence(event.data.get('detail', ''))}. The other bots run on; "
                  f"once the cause is fixed, `botrunner start {bot}` starts it from its saved state.",
                  "failure")


def fill(event: JournalEvent, mode: str) -> Notice:
    """A `fill` journal event of a bot in `mode`."""
    data = event.data
    side, quantity, symbol, price = data.get("side", "?"), data.get("quantity"), data.get("symbol", "?"), data.get("price")
    adopted = " (found on the exchange at reconciliation)" if data.get("adopted") else ""
    # .10g: a price or an amount as the exchange wrote it (24922.23, 0.00036), not rounded to 6 digits.
    return Notice("fill", f"{event.bot_id}: {side} {quantity:.10g} {symbol} @ {price:.10g}",
                  f"{mode} bot {event.bot_id} filled {side} {quantity:.10g} {symbol} at {price:.10g}{adopted}, "
                  f"fee {data.get('fee', 0.0):.10g}, order {data.get('order_id', '?')} "
                  f"({data.get('reason') or 'signal'}); position now {data.get('position', 0.0):.10g}.")


def daemon_started(host: str, statuses: list[BotStatus]) -> Notice:
    enabled = [s for s in statuses if s.enabled]
    lines = [f"{s.id}: {s.mode} {s.symbol} {s.timeframe} {s.strategy}" for s in enabled[:SUMMARY_MAX_BOTS]]
    return Notice("daemon", f"botrunner started on {host}",
                  "\n".join([f"The daemon on {host} started with {len(enabled)} bot(s)"
                             f"{f' ({len(statuses) - len(enabled)} disabled)' if len(enabled) < len(statuses) else ''}.",
                             *lines, *_more(len(enabled))]), "success")


def daemon_stopped(host: str, statuses: list[BotStatus]) -> Notice:
    states = Counter(s.state for s in statuses)
    counted = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    trouble = [s for s in statuses if s.state in ("failed", "killed")]
    lines = [f"{s.id}: {s.state}: {s.kill_reason or s.last_error}" for s in trouble[:SUMMARY_MAX_BOTS]]
    return Notice("daemon", f"botrunner stopped on {host}",
                  "\n".join([f"The daemon on {host} stopped; its bots: {counted or 'none'}.", *lines,
                             *_more(len(trouble))]), "warning")


@dataclass(slots=True, frozen=True)
class DayFigures:
    """A bot's equity and trade count when the last summary was made."""

    equity: float
    trades: int


def daily_summary(host: str, when: str, statuses: list[BotStatus],
                  previous: dict[str, DayFigures]) -> Notice:
    """Per bot: equity, PnL since the start (and since `previous`, the last summary, where
    known), trades, state; then the totals. `when` is the summary's time as its title shows it."""
    lines = []
    for s in statuses[:SUMMARY_MAX_BOTS]:
        before = previous.get(s.id)
        day = f" (day {s.equity - before.equity:+,.2f}, {_trades(s.trades - before.trades)})" if before else ""
        lines.append(f"{s.id}: equity {s.equity:,.2f}, PnL {s.pnl:+,.2f}{day}, {_trades(s.trades)}, {s.state}")
    total_pnl = sum(s.pnl for s in statuses)
    return Notice("daily", f"botrunner daily summary on {host}, {when}",
                  "\n".join([*lines, *_more(len(statuses)),
                             f"All {len(statuses)} bot(s): equity {sum(s.equity for s in statuses):,.2f}, "
                             f"PnL {total_pnl:+,.2f}, {_trades(sum(s.trades for s in statuses))}."]))


def _trades(count: int) -> str:
    return f"{count} trade" if count == 1 else f"{count} trades"


def _sentence(text: str) -> str:
    """`text` to be followed by a full stop: without its own."""
    return text.rstrip().rstrip(".")


def _more(count: int) -> list[str]:
    return [f"... and {count - SUMMARY_MAX_BOTS} more"] if count > SUMMARY_MAX_BOTS else []
