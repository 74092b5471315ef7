"""Test doubles shared by unit and integration tests."""

from __future__ import annotations

import asyncio
from typing import Any

from market.models import Candle
from runner.config.bot import ConfigError
from runner.control.errors import BotStateError, UnknownBot
from runner.control.live_feed import BotSample, sample_of
from runner.control.status import BotStatus, LatencySummary, ReloadResult
from strategies.base import Strategy


async def eventually(condition, timeout_secs: float = 2.0, *, poll_secs: float = 0.0) -> None:
    """Wait until `condition()` holds, checking it every `poll_secs` (0: at every turn of the
    event loop); raise TimeoutError after `timeout_secs`. A test that waits for busy code (many
    bots, a real socket) polls less often, so that its checks do not take the loop from that work."""
    async with asyncio.timeout(timeout_secs):
        while not condition():
            await asyncio.sleep(poll_secs)


def candles_from(closes, start_open=None) -> list[Candle]:
    """1m candles from ts 0, one a close, each opening at the close before it (the first at
    `start_open`, else at its own close) with a range that spans both."""
    out, prev = [], start_open if start_open is not None else closes[0]
    for i, close in enumerate(closes):
        out.append(Candle(i * 60_000, prev, max(prev, close), min(prev, close), close, 1.0))
        prev = close
    return out


class Scripted(Strategy):
    """Gives the signals it is told to, at the bar indexes it is told to."""

    name = "scripted"

    def __init__(self, script=None, fail_at=None):
        super().__init__(Strategy.Params())
        self.script = script or {}
        self.fail_at = fail_at
        self.seen = []

    def generate_signal(self, market_data):
        self.seen.append(market_data.candle.ts_ms)
        if market_data.bar_index == self.fail_at:
            raise ZeroDivisionError("division by zero in generate_signal")
        return self.script.get(market_data.bar_index)


class Hold:
    """One held call: `held` is set when it starts waiting, which it does until `release` is set."""

    def __init__(self) -> None:
        self.held, self.release = asyncio.Event(), asyncio.Event()

    async def wait(self) -> None:
        self.held.set()
        await self.release.wait()


class QueuedFeed:
    """Hands out the candles the test puts in, one per batch, as a live feed does."""

    stale = False

    def __init__(self, symbol: str = "BTC/USD", timeframe: str = "1m"):
        self.symbol, self.timeframe = symbol, timeframe
        self.queue: asyncio.Queue = asyncio.Queue()

    async def history(self, limit):
        return []

    async def stream(self):
        while (candle := await self.queue.get()) is not None:
            yield [candle]

    async def aclose(self):
        self.queue.put_nowait(None)


def make_status(bot_id: str, state: str = "stopped", **changes: Any) -> BotStatus:
    """A plausible BotStatus; pass any field to change it."""
    fields: dict[str, Any] = dict(
        id=bot_id, state=state, enabled=True, mode="paper", symbol="BTC/USDT", timeframe="1m",
        strategy="ema_cross", equity=1000.0, pnl=0.0, realized_pnl=0.0, unrealized_pnl=0.0,
        cash=1000.0, position=0.0, fees=0.0, bars=0, last_candle_time=None, orders=0, fills=0,
        trades=0, errors=0, restarts=0, kill_switch=False, kill_reason="", last_error="",
        latency=LatencySummary(buckets=[("0.001", 0), ("0.01", 0), ("+Inf", 0)], sum_s=0.0, count=0),
    )
    fields.update(changes)
    return BotStatus(**fields)


class FakeManager:
    """BotManager's control interface in memory: states change and errors are raised as the
    real one does, and every call is recorded in `calls`."""

    def __init__(self, statuses: list[BotStatus], *, reload_result: ReloadResult | None = None,
                 reload_problems: list[str] | None = None) -> None:
        self.bots = {s.id: s for s in statuses}
        self.reload_result = reload_result or ReloadResult(unchanged=sorted(self.bots))
        self.reload_problems = reload_problems
        self.calls: list[tuple[str, ...]] = []

    def statuses(self) -> list[BotStatus]:
        return [self.bots[bot_id] for bot_id in sorted(self.bots)]

    async def status_rows(self) -> list[dict[str, Any]]:
        return [status.model_dump(mode="json") for status in self.statuses()]

    def bot_count(self) -> int:
        return len(self.bots)

    def dashboard_samples(self) -> list[BotSample]:
        return [sample_of(status) for status in self.statuses()]

    def status(self, bot_id: str) -> BotStatus:
        if bot_id not in self.bots:
            raise UnknownBot(f"no bot has the id {bot_id!r}; known: {', '.join(sorted(self.bots))}")
        return self.bots[bot_id]

    def basket(self, basket_id: str):
        raise UnknownBot(f"no basket {basket_id!r}")       # a fake daemon of plain bots only

    async def start(self, bot_id: str) -> BotStatus:
        self.calls.append(("start", bot_id))
        bot = self.status(bot_id)
        if bot.kill_switch:
            raise BotStateError(f"bot {bot_id} is killed ({bot.kill_reason}); resume it first")
        if bot.state == "running":
            raise BotStateError(f"bot {bot_id} is already running")
        return self._set(bot_id, state="running")

    async def stop(self, bot_id: str) -> BotStatus:
        self.calls.append(("stop", bot_id))
        if self.status(bot_id).state != "running":
            raise BotStateError(f"bot {bot_id} is not running (it is {self.bots[bot_id].state})")
        return self._set(bot_id, state="stopped")

    async def kill(self, bot_id: str, reason: str) -> BotStatus:
        self.calls.append(("kill", bot_id, reason))
        self.status(bot_id)
        return self._set(bot_id, state="killed", kill_switch=True, kill_reason=reason)

    async def kill_all(self, reason: str) -> list[BotStatus]:
        self.calls.append(("kill_all", reason))
        for bot_id in self.bots:
            self._set(bot_id, state="killed", kill_switch=True, kill_reason=reason)
        return self.statuses()

    async def resume(self, bot_id: str) -> BotStatus:
        self.calls.append(("resume", bot_id))
        if not self.status(bot_id).kill_switch:
            raise BotStateError(f"bot {bot_id} is not killed (it is {self.bots[bot_id].state}); nothing to resume")
        return self._set(bot_id, state="running", kill_switch=False, kill_reason="")

    async def trigger(self, bot_id: str) -> BotStatus:
        self.calls.append(("trigger", bot_id))
        return self.status(bot_id)

    async def reload(self) -> ReloadResult:
        self.calls.append(("reload",))
        if self.reload_problems:
            raise ConfigError(self.reload_problems)
        return self.reload_result

    def _set(self, bot_id: str, **changes: Any) -> BotStatus:
        self.bots[bot_id] = self.bots[bot_id].model_copy(update=changes)
        return self.bots[bot_id]
