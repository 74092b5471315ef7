"""Bot statuses as Prometheus text (exposition format 0.0.4), for `GET /metrics`.

Written by hand rather than with `prometheus_client`: the numbers already live in `BotStatus`,
so a registry of live metric objects would only copy them, and the format is a few lines.
Every family is written whole (HELP, TYPE, then one sample per bot), as the format requires.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

from market.regime import Regime
from runner.control.status import BotStatus, ModelStatus
from runner.notify.sender import SenderStats

CONTENT_TYPE = "text/plain; version=0.0.4"

# Every state the runner reports. `botrunner_bot_state` writes one series per state (1 for the
# current one, 0 for the others), so `botrunner_bot_state{state="failed"} == 1` keeps working as
# an alert when a bot leaves and re-enters a state, instead of the series appearing and vanishing.
KNOWN_STATES = ("created", "running", "restarting", "finished", "stopped", "killed", "failed")

_GAUGES: tuple[tuple[str, str, Callable[[BotStatus], float]], ...] = (
    ("botrunner_equity", "Cash plus open position at the last price, in quote currency.", lambda s: s.equity),
    ("botrunner_pnl", "Equity minus starting capital, in quote currency.", lambda s: s.pnl),
    ("botrunner_realized_pnl", "Profit and loss of closed trades, in quote currency.", lambda s: s.realized_pnl),
    ("botrunner_position", "Open position size, in base currency (negative when short).", lambda s: s.position),
    ("botrunner_kill_switch", "1 while the bot's kill switch is latched.", lambda s: s.kill_switch),
    ("botrunner_bot_up", "1 while the bot is running.", lambda s: s.state == "running"),
)

_COUNTERS: tuple[tuple[str, str, Callable[[BotStatus], float]], ...] = (
    ("botrunner_candles_total", "Candles processed.", lambda s: s.bars),
    ("botrunner_orders_total", "Orders placed.", lambda s: s.orders),
    ("botrunner_fills_total", "Order fills.", lambda s: s.fills),
    ("botrunner_errors_total", "Bot crashes since the daemon started.", lambda s: s.errors),
    ("botrunner_restarts_total", "Bot restarts since the daemon started.", lambda s: s.restarts),
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

_MODEL_GAUGES: tuple[tuple[str, str, Callable[[ModelStatus], float]], ...] = (
    ("botrunner_model_available", "1 while the bot's prediction model answers.", lambda m: m.available),
    ("botrunner_model_hit_rate", "Share of the bot's scored forecasts whose direction was right.",
     lambda m: math.nan if m.hit_rate is None else m.hit_rate),
    ("botrunner_model_mean_abs_pct_error", "Mean |actual - predicted return| of the bot's scored forecasts.",
     lambda m: math.nan if m.mean_abs_pct_error is None else m.mean_abs_pct_error),
)
_MODEL_COUNTERS: tuple[tuple[str, str, Callable[[ModelStatus], float]], ...] = (
    ("botrunner_model_calls_total", "Requests sent to the bot's model.", lambda m: m.calls),
    ("botrunner_model_failures_total", "Model calls that gave no forecast.", lambda m: m.failures),
    ("botrunner_model_malformed_total", "Model answers refused as malformed.", lambda m: m.malformed),
    ("botrunner_forecasts_scored_total", "The bot's forecasts scored once their horizon passed.", lambda m: m.scored),
)


def render_prometheus(statuses: list[BotStatus], notifications: Sequence[SenderStats] = ()) -> str:
    """The text a Prometheus server scrapes: gauges, counters and the loop latency histogram,
    one `bot="<id>"` series per bot, and the notification counters, one `target="<VAR>"` series
    per target. Ends with a newline, as the format requires."""
    lines: list[str] = []
    for name, help_text, value in _GAUGES:
        lines += _family(name, "gauge", help_text, (_sample(name, {"bot": s.id}, value(s)) for s in statuses))
    lines += _family("botrunner_bot_state", "gauge", "1 for the bot's current state, 0 for the others.",
                     _state_samples(statuses))
    for name, help_text, value in _COUNTERS:
        lines += _family(name, "counter", help_text, (_sample(name, {"bot": s.id}, value(s)) for s in statuses))
    lines += _family(_LATENCY, "histogram", "Time to process one batch of candles, in seconds.",
                     _latency_samples(statuses))
    lines += _family("botrunner_risk_blocks_total", "counter", "Signals a risk rule blocked or resized, by rule.",
                     (_sample("botrunner_risk_blocks_total", {"bot": s.id, "rule": rule}, n)
                      for s in statuses for rule, n in sorted(s.risk_blocks.items())))
    for name, figure, help_text in _RISK_FIGURES:
        lines += _family(name, "gauge", help_text, (_sample(name, {"bot": s.id}, s.risk[figure])
                                                    for s in statuses if s.risk.get(figure) is not None))
    for name, field, help_text in _GOVERNANCE:
        lines += _family(name, "gauge", help_text, (_sample(name, {"bot": s.id}, s.governance[field]) for s in statuses
                                                    if s.governance is not None and s.governance[field] is not None))
    with_regime = [s for s in statuses if s.regime is not None]
    lines += _family("botrunner_regime", "gauge", "1 for the market regime of the bot's last candle, 0 for the others.",
                     (_sample("botrunner_regime", {"bot": s.id, "regime": r}, s.regime == r)
                      for s in with_regime for r in REGIMES))
    lines += _family("botrunner_regime_probability", "gauge", "Filtered probability of each market regime.",
                     (_sample("botrunner_regime_probability", {"bot": s.id, "regime": r}, s.regime_probs[r])
                      for s in with_regime for r in REGIMES if r in s.regime_probs))
    with_model = [s for s in statuses if s.model is not None]
    for families, kind in ((_MODEL_GAUGES, "gauge"), (_MODEL_COUNTERS, "counter")):
        for name, help_text, value in families:
            lines += _family(name, kind, help_text, (_sample(name, {"bot": s.id, "model": s.model.name},
                                                             value(s.model)) for s in with_model))
    if notifications:
        for name, kind, help_text, value in _NOTIFICATIONS:
            lines += _family(name, kind, help_text, (_sample(name, {"target": n.target}, value(n))
                                                     for n in notifications))
    return "\n".join(lines) + "\n"


def _family(name: str, kind: str, help_text: str, samples: Iterator[str]) -> list[str]:
    return [f"# HELP {name} {_escape_help(help_text)}", f"# TYPE {name} {kind}", *samples]


def _state_samples(statuses: list[BotStatus]) -> Iterator[str]:
    for status in statuses:
        states = KNOWN_STATES if status.state in KNOWN_STATES else (*KNOWN_STATES, status.state)
        for state in states:
            yield _sample("botrunner_bot_state", {"bot": status.id, "state": state}, state == status.state)


def _latency_samples(statuses: list[BotStatus]) -> Iterator[str]:
    for status in statuses:
        latency = status.latency
        buckets = list(latency.buckets)
        # Prometheus needs a +Inf bucket equal to the count; a summary without one still scrapes.
        if not buckets or buckets[-1][0] != "+Inf":
            buckets.append(("+Inf", latency.count))
        for bound, cumulative in buckets:
            yield _sample(f"{_LATENCY}_bucket", {"bot": status.id, "le": bound}, cumulative)
        yield _sample(f"{_LATENCY}_sum", {"bot": status.id}, latency.sum_s)
        yield _sample(f"{_LATENCY}_count", {"bot": status.id}, latency.count)


def _sample(name: str, labels: dict[str, str], value: float) -> str:
    rendered = ",".join(f'{key}="{_escape_label(val)}"' for key, val in labels.items())
    return f"{name}{{{rendered}}} {_number(value)}"


def _number(value: float) -> str:
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
