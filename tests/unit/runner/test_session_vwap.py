"""A bot with a session reads `vwap:day` over its session's day: the strategy sees the VWAP start
afresh at New York's midnight, as the bot's daily risk counters do, not at UTC midnight."""

from __future__ import annotations

from market.models import Candle
from runner.assembly.compose import sim_runner
from strategies.base import Strategy
from tests.unit.runner.test_session_runner import config, ny


class ReadsVwap(Strategy):
    """Keeps each candle's `vwap:day`; never trades."""

    name = "reads_vwap"

    def __init__(self) -> None:
        super().__init__(Strategy.Params())
        self.seen: list[float | None] = []

    @property
    def features(self) -> tuple[str, ...]:
        return ("vwap:day",)

    def generate_signal(self, market_data):
        self.seen.append(market_data.features["vwap:day"])


def hourly(first_ms: int, prices: list[float]) -> list[Candle]:
    return [Candle(first_ms + i * 3_600_000, p, p, p, p, 1.0) for i, p in enumerate(prices)]


async def test_a_bot_with_a_session_reads_its_vwap_day_from_the_zones_midnight():
    # 2026-03-09 22:00 to 2026-03-10 01:00 New York: UTC's day started at 20:00 there.
    data = hourly(ny(2026, 3, 9, 22), [10.0, 20.0, 30.0, 40.0])
    zoned, utc = ReadsVwap(), ReadsVwap()

    await sim_runner(config({"time_zone": "America/New_York"}, "1h"), data, strategy=zoned, warmup_bars=0).run()
    await sim_runner(config(None, "1h"), data, strategy=utc, warmup_bars=0).run()

    assert zoned.seen == [10.0, 15.0, 30.0, 35.0]
    assert utc.seen == [10.0, 15.0, 20.0, 25.0]
