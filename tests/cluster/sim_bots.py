"""The sim bot the cluster tests and benches share out among their nodes: BTC/USDT on seeded
synthetic 1m candles, paced with `speed:` (1 = real time, 60 = a candle a second), an
sma_cross(3, 8) strategy on 10,000 USDT."""

from __future__ import annotations

SIM = """\
id: {bot_id}
mode: sim
symbol: BTC/USDT
timeframe: 1m
capital: 10000
market: {{source: synthetic, seed: {seed}, bars: {bars}}}
speed: {speed}
strategy: {{name: sma_cross, params: {{fast: 3, slow: 8}}}}
"""


def sim_bots(*ids: str, bars: int, speed: int) -> dict[str, str]:
    """A sim bot's file text for each id, by id, seeded 1, 2, ... in the order given: `bars` candles
    each, replayed `speed` times as fast as real time."""
    return {bot_id: SIM.format(bot_id=bot_id, seed=i + 1, bars=bars, speed=speed) for i, bot_id in enumerate(ids)}
