"""What the control API says about a bot: a pydantic model, built only when someone asks."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class LatencySummary(BaseModel):
    """The runner's step latency histogram (seconds per candle batch), cumulative buckets."""

    buckets: list[tuple[str, int]]   # ("0.001", count <= 1 ms), ..., ("+Inf", count)
    sum_s: float
    count: int


class ModelStatus(BaseModel):
    """A bot's prediction model: reachable or not, its calls, and how right it has been (the
    forecasts of this bot scored so far, from the forecast store)."""

    name: str
    available: bool
    breaker: str            # closed, open or half_open
    calls: int              # requests sent since the bot started
    failures: int           # of those, the ones that gave no forecast
    malformed: int          # answers refused as malformed
    forecasts: int          # forecasts the bot used since it started
    scored: int             # all this bot's forecasts of this model scored so far
    hit_rate: float | None  # of the scored ones with a direction
    mean_abs_pct_error: float | None
    mean_confidence: float | None


class BotStatus(BaseModel):
    id: str
    state: str              # created, running, restarting, finished, stopped, killed, failed
    enabled: bool
    mode: str
    symbol: str
    timeframe: str
    strategy: str
    equity: float
    pnl: float              # equity - capital
    realized_pnl: float
    unrealized_pnl: float
    cash: float
    position: float
    fees: float
    bars: int               # candles processed
    last_candle_time: str | None
    orders: int
    fills: int
    trades: int
    errors: int             # crashes since the daemon started
    restarts: int
    kill_switch: bool
    kill_reason: str
    flatten_pending: bool = False   # killed or restarted with on_restart: flatten, position not closed yet (retried)
    started: bool = False           # reached running at least once in this daemon's life
    model: ModelStatus | None = None
    risk: dict[str, float | None] = {}      # the configured rules' figures: var, es, volatility, breakers
    risk_blocks: dict[str, int] = {}        # signals each rule blocked or resized, by rule
    risk_group: dict[str, Any] | None = None  # the bot's risk group: equity, gross exposure, positions
    governance: dict[str, Any] | None = None  # governed bots: level, execution, health, size_multiplier, drift
    regime: str | None = None               # bots with a regime detector: the last candle's regime
    regime_probs: dict[str, float] = {}     # and each label's filtered probability
    late_trades: dict[str, float] | None = None   # candles from trades: {trades, volume} left out as late
    session_open: bool | None = None        # bots with a session: open now (sim: at the last candle's close)
    plugins_disabled: dict[str, str] = {}   # plugins that raised, disabled for this bot: name -> "hook: error"
    last_error: str
    latency: LatencySummary
    cluster: dict[str, Any] | None = None   # cluster mode: the lease (node, token, expires_in_secs); None: unowned
    basket: str | None = None               # a basket's leg: the basket's id (its equity, pnl and cash are the leg's share)


class ReloadResult(BaseModel):
    added: list[str] = []
    removed: list[str] = []
    restarted: list[str] = []
    unchanged: list[str] = []
