"""Bot statuses as Prometheus text (exposition format 0.0.4), for `GET /metrics`.

Written by hand rather than with `prometheus_client`: the numbers already live in the bots'
statuses, so a registry of live metric objects would only copy them, and the format is a few
lines. Every family is written whole (HELP, TYPE, then one sample per bot), as the format
requires. The statuses come as the API's JSON rows (`BotManager.status_rows()`, or
`BotStatus.model_dump(mode="json")`); ten thousand bots make 17 MB of text, so
`render_prometheus_rows` writes them a chunk of bots at a time with a turn of the event loop
between chunks, each family's samples kept apart until the end.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from market.regime import Regime
from runner.control.status import BotStatus
from runner.notify.sender import SenderStats

CONTENT_TYPE = "text/plain; version=0.0.4"

# Every state the runner reports. `botrunner_bot_state` writes one series per state (1 for the
# current one, 0 for the others), so `botrunner_bot_state{state="failed"} == 1` keeps working as
# an alert when a bot leaves and re-enters a state, instead of the series appearing and vanishing.
KNOWN_STATES = ("created", "running", "restarting", "finished", "stopped", "killed", "failed")

_GAUGES: tuple[tuple[str, str, Callable[[dict[str, Any]], float]], ...] = (
    ("botrunner_equity", "Cash plus open position at the last price, in quote currency.", lambda s: s["equity"]),
    ("botrunner_pnl", "Equity minus starting capital, in quote currency.", lambda s: s["pnl"]),
    ("botrunner_realized_pnl", "Profit and loss of closed trades, in quote currency.", lambda s: s["realized_pnl"]),
    ("botrunner_position", "Open position size, in base currency (negative when short).", lambda s: s["position"]),
    ("botrunner_kill_switch", "1 while the bot's kill switch is latched.", lambda s: s["kill_switch"]),
    ("botrunner_bot_up", "1 while the bot is running.", lambda s: s["state"] == "running"),
)

_COUNTERS: tuple[tuple[str, str, Callable[[dict[str, Any]], float]], ...] = (
    ("botrunner_candles_total", "Candles processed.", lambda s: s["bars"]),
    ("botrunner_orders_total", "Orders placed.", lambda s: s["orders"]),
    ("botrunner_fills_total", "Order fills.", lambda s: s["fills"]),
    ("botrunner_errors_total", "Bot crashes since the daemon started.", lambda s: s["errors"]),
    ("botrunner_restarts_total", "Bot restarts since the daemon started.", lambda s: s["restarts"]),
)

_LATENCY = "botrunner_loop_latency_seconds"

# One `botrunner_regime` series per label, as for the states: unknown until the first fit.
REGIMES = tuple(r.value for r in Regime)

# One series per notification target (the environment variable naming its URL, never the URL).
_NOTIFICATIONS: tuple[tuple[str, str, str, Callable[[SenderStats], float]], ...] = (
    ("botrunner_notifications_sent_total", "counter", "Notifications delivered.", lambda n: n.sent),
    ("botrunner_notifications_failed_total", "counter", "Notifications given up on after every retry.",
     lambda n: n.failed),
    ("botrunner_notifications_dropped_total", "counter",
     "Notifications never tried: the queue was full, or still held them at shutdown.", lambda n: n.dropped),
    ("botrunner_notifications_retries_total", "counter", "Notification attempts after a failure.",
     lambda n: n.retries),
    ("botrunner_notifications_queued", "gauge", "Notifications waiting to be sent.", lambda n: n.queued),
)

_RISK_FIGURES = (
    ("botrunner_value_at_risk", "var", "Value at risk of the bot's per-candle equity returns, a share of equity."),
    ("botrunner_expected_shortfall", "es", "Expected shortfall beyond the value at risk, a share of equity."),
    ("botrunner_volatility", "volatility", "Realized volatility (or ATR over close) the volatility breaker watches."),
)

_GOVERNANCE: tuple[tuple[str, str, str], ...] = (
    ("botrunner_governance_level", "level", "The bot's governance level: 0 shadow, 1 paper, 2 gated, 3 constrained, 4 full."),
    ("botrunner_governance_health", "health", "The bot's health score from its recent trades, 0 to 1."),
    ("botrunner_governance_size_multiplier", "size_multiplier", "What governance scales the bot's entries by."),
    ("botrunner_governance_drift", "drift_divergence", "The last drift check's divergence from the backtest."),
)

_MODEL_GAUGES: tuple[tuple[str, str, Callable[[dict[str, Any]], float]], ...] = (
    ("botrunner_model_available", "1 while the bot's prediction model answers.", lambda m: m["available"]),
    ("botrunner_model_hit_rate", "Share of the bot's scored forecasts whose direction was right.",
     lambda m: math.nan if m["hit_rate"] is None else m["hit_rate"]),
    ("botrunner_model_mean_abs_pct_error", "Mean |actual - predicted return| of the bot's scored forecasts.",
     lambda m: math.nan if m["mean_abs_pct_error"] is None else m["mean_abs_pct_error"]),
)
_MODEL_COUNTERS: tuple[tuple[str, str, Callable[[dict[str, Any]], float]], ...] = (
    ("botrunner_model_calls_total", "Requests sent to the bot's model.", lambda m: m["calls"]),
    ("botrunner_model_failures_total", "Model calls that gave no forecast.", lambda m: m["failures"]),
    ("botrunner_model_malformed_total", "Model answers refused as malformed.", lambda m: m["malformed"]),
    ("botrunner_forecasts_scored_total", "The bot's forecasts scored once their horizon passed.", lambda m: m["scored"]),
)


def render_prometheus(statuses: Sequence[BotStatus], notifications: Sequence[SenderStats] = ()) -> str:
    """The text a Prometheus server scrapes: gauges, counters and the loop latency histogram,
    one `bot="<id>"` series per bot, and the notification counters, one `target="<VAR>"` series
    per target. Ends with a newline, as the format requires."""
    exposition = _Exposition()
    exposition.add_bots([status.model_dump(mode="json") for status in statuses])
    return exposition.text(notifications)


async def render_prometheus_rows(rows: Sequence[dict[str, Any]], notifications: Sequence[SenderStats] = (),
                                 *, chunk_bots: int = 100) -> str:
    """`render_prometheus` of the API's status rows, with a turn of the event loop after every
    `chunk_bots` bots (20-25 us a bot here; ten thousand bots in one go held the loop for half
    a second with the renderer before this one, a quarter with this one)."""
    exposition = _Exposition()
    for start in range(0, len(rows), chunk_bots):
        if start:
            await asyncio.sleep(0)
        exposition.add_bots(rows[start:start + chunk_bots])
    return exposition.text(notifications)


class _Exposition:
    """Every bot family's samples, added a chunk of bots at a time, then written family by family."""

    def __init__(self) -> None:
        self._families: list[tuple[str, str, str]] = [
            *((name, "gauge", help_text) for name, help_text, _ in _GAUGES),
            ("botrunner_bot_state", "gauge", "1 for the bot's current state, 0 for the others."),
            *((name, "counter", help_text) for name, help_text, _ in _COUNTERS),
            (_LATENCY, "histogram", "Time to process one batch of candles, in seconds."),
            ("botrunner_risk_blocks_total", "counter", "Signals a risk rule blocked or resized, by rule."),
            *((name, "gauge", help_text) for name, _, help_text in _RISK_FIGURES),
            *((name, "gauge", help_text) for name, _, help_text in _GOVERNANCE),
            ("botrunner_regime", "gauge", "1 for the market regime of the bot's last candle, 0 for the others."),
            ("botrunner_regime_probability", "gauge", "Filtered probability of each market regime."),
            ("botrunner_late_trades_total", "counter", "Trades that came after their candle was emitted (candles "
                                                       "from trades), left out of it."),
            ("botrunner_late_trade_volume_total", "counter", "The volume of those late trades, in base currency."),
            *((name, "gauge", help_text) for name, help_text, _ in _MODEL_GAUGES),
            *((name, "counter", help_text) for name, help_text, _ in _MODEL_COUNTERS),
        ]
        self._chunks: list[list[str]] = [[] for _ in self._families]   # per family: its samples, joined per chunk
        self._le: dict[str, str] = {}                                   # bucket bound -> escaped label

    def add_bots(self, rows: Iterable[dict[str, Any]]) -> None:
        """The samples of these bots, in every family."""
        samples: list[list[str]] = [[] for _ in self._families]
        for row in rows:
            self._add_bot(row, samples)
        for chunks, lines in zip(self._chunks, samples):
            if lines:
                chunks.append("\n".join(lines))

    def text(self, notifications: Sequence[SenderStats] = ()) -> str:
        lines: list[str] = []
        for (name, kind, help_text), chunks in zip(self._families, self._chunks):
            lines += _header(name, kind, help_text)
            lines += chunks
        for name, kind, help_text, value in _NOTIFICATIONS if notifications else ():
            lines += _header(name, kind, help_text)
            lines += (_sample(name, {"target": n.target}, value(n)) for n in notifications)
        return "\n".join(lines) + "\n"

    def _add_bot(self, s: dict[str, Any], out: list[list[str]]) -> None:
        # One bot's samples straight into each family's list, in _families' order. The bot's
        # label is escaped once: per sample, building and escaping labels was most of the cost.
        bot = f'bot="{_escape_label(s["id"])}"'
        family = iter(out)
        for (name, _, value), lines in zip(_GAUGES, family):
            lines.append(f"{name}{{{bot}}} {_number(value(s))}")
        lines = next(family)
        state = s["state"]
        for known in KNOWN_STATES if state in KNOWN_STATES else (*KNOWN_STATES, state):
            lines.append(f'botrunner_bot_state{{{bot},state="{_escape_label(known)}"}} {_number(known == state)}')
        for (name, _, value), lines in zip(_COUNTERS, family):
            lines.append(f"{name}{{{bot}}} {_number(value(s))}")
        lines, latency = next(family), s["latency"]
        buckets = list(latency["buckets"])
        # Prometheus needs a +Inf bucket equal to the count; a summary without one still scrapes.
        if not buckets or buckets[-1][0] != "+Inf":
            buckets.append(("+Inf", latency["count"]))
        le = self._le
        for bound, cumulative in buckets:
            label = le.get(bound)
            if label is None:
                label = le[bound] = _escape_label(bound)
            lines.append(f'{_LATENCY}_bucket{{{bot},le="{label}"}} {_number(cumulative)}')
        lines.append(f"{_LATENCY}_sum{{{bot}}} {_number(latency['sum_s'])}")
        lines.append(f"{_LATENCY}_count{{{bot}}} {_number(latency['count'])}")
        lines = next(family)
        for rule, n in sorted(s["risk_blocks"].items()):
            lines.append(f'botrunner_risk_blocks_total{{{bot},rule="{_escape_label(rule)}"}} {_number(n)}')
        risk = s["risk"]
        for (name, figure, _), lines in zip(_RISK_FIGURES, family):
            if risk.get(figure) is not None:
                lines.append(f"{name}{{{bot}}} {_number(risk[figure])}")
        governance = s["governance"]
        for (name, field, _), lines in zip(_GOVERNANCE, family):
            if governance is not None and governance[field] is not None:
                lines.append(f"{name}{{{bot}}} {_number(governance[field])}")
        regime, regime_lines, probability_lines = s["regime"], next(family), next(family)
        if regime is not None:
            probabilities = s["regime_probs"]
            for r in REGIMES:
                regime_lines.append(f'botrunner_regime{{{bot},regime="{r}"}} {_number(regime == r)}')
            for r in REGIMES:
                if r in probabilities:
                    probability_lines.append(f'botrunner_regime_probability{{{bot},regime="{r}"}} '
                                             f'{_number(probabilities[r])}')
        late, late_trades_lines, late_volume_lines = s.get("late_trades"), next(family), next(family)
        if late is not None:
            late_trades_lines.append(f"botrunner_late_trades_total{{{bot}}} {_number(late['trades'])}")
            late_volume_lines.append(f"botrunner_late_trade_volume_total{{{bot}}} {_number(late['volume'])}")
        model = s["model"]
        if model is not None:
            labels = f'{bot},model="{_escape_label(model["name"])}"'
            for (name, _, value), lines in zip((*_MODEL_GAUGES, *_MODEL_COUNTERS), family):
                lines.append(f"{name}{{{labels}}} {_number(value(model))}")


def _header(name: str, kind: str, help_text: str) -> list[str]:
    return [f"# HELP {name} {_escape_help(help_text)}", f"# TYPE {name} {kind}"]


def _sample(name: str, labels: dict[str, str], value: float) -> str:
    rendered = ",".join(f'{key}="{_escape_label(val)}"' for key, val in labels.items())
    return f"{name}{{{rendered}}} {_number(value)}"


def _number(value: float) -> str:
    if value.__class__ is float and math.isfinite(value):       # most samples: no further checks
        return repr(value)
    if isinstance(value, bool | int):
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escape_label(value: str) -> str:
    """Label values escape backslash, double quote and newline (format 0.0.4)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    """HELP text escapes only backslash and newline."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")
