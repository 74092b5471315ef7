"""A sim bot's higher timeframes: what its strategy sees at each candle (closed candles only),
what it costs a bot that reads none, sharing per stream, warm-up, and the config check."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from market.models import Candle
from market.replay import ReplayProvider
from market.synthetic import generate_candles
from market.timeframes import warmup_candles
from runner.assembly.compose import compose_runner, sim_runner
from runner.config.bot import BotConfig, ConfigError, load_bot_config
from runner.research.pool import Window, backtest_window
from strategies.features import FeatureHub
from tests.higher_timeframes import RECORDED, resampled, same_candles, visible_at

MIN = 60_000


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


def recording_bot(tag: str, timeframe: str = "1m", higher: str = "1h", bars: int = 2) -> BotConfig:
    RECORDED.pop(tag, None)
    return BotConfig.model_validate({
        "id": tag.replace("_", "-"), "symbol": "BTC/USDT", "timeframe": timeframe, "capital": 1_000,
        "strategy": {"name": "test_records_higher_candles",
                     "params": {"tag": tag, "timeframe": higher, "bars": bars}}})


def candles_with_gaps(timeframe: str, count: int, start: str, skip: set[int]) -> list[Candle]:
    return [c for i, c in enumerate(generate_candles(count=count, seed=11, timeframe=timeframe, start_ms=ms(start)))
            if i not in skip]


@pytest.mark.parametrize(("timeframe", "higher", "start", "count", "skip"), [
    # starts mid-hour; 11:21-11:25 missing inside an hour; 12:59 missing (12:00 closes on 13:00's
    # candle); 14:00-14:59 missing entirely
    ("1m", "1h", "2024-01-03T10:17", 420, {64, 65, 66, 67, 68, 162, *range(223, 283)}),
    ("5m", "4h", "2024-01-03T10:15", 600, {10, 11, 200, 299}),
    ("1h", "1w", "2024-01-03T10:00", 1_000, {50, 51, 52, 400}),
    ("1h", "1d", "2024-01-03T10:00", 200, set()),
])
async def test_at_every_candle_the_strategy_sees_exactly_the_higher_candles_closed_by_then(
        timeframe, higher, start, count, skip):
    candles = candles_with_gaps(timeframe, count, start, skip)
    config = recording_bot(f"sees_closed_{timeframe}_{higher}", timeframe, higher)
    await sim_runner(config, candles).run()

    periods = resampled(candles, higher)                # computed offline, from all the candles at once
    seen = RECORDED[config.strategy.params["tag"]]
    assert [ts for ts, _, _ in seen] == [c.ts_ms for c in candles]
    base_ms = candles[1].ts_ms - candles[0].ts_ms
    for (ts_ms, held, _), candle in zip(seen, candles):
        assert same_candles(held, visible_at(periods, ts_ms + base_ms, higher)), f"at the candle of {ts_ms}"
    assert len(seen[-1][1]) >= 3                         # the test saw some of them


async def test_the_hour_is_seen_on_its_last_minute_and_not_one_minute_earlier():
    # A partial 10:00 candle shown at 10:58 (with 59 of its minutes) would fail here.
    candles = candles_with_gaps("1m", 180, "2024-01-03T09:00", set())
    config = recording_bot("hour_on_its_last_minute")
    await sim_runner(config, candles).run()
    seen = {ts: held for ts, held, _ in RECORDED["hour_on_its_last_minute"]}

    assert seen[ms("2024-01-03T10:58")][-1].ts_ms == ms("2024-01-03T09:00")
    at_10_59 = seen[ms("2024-01-03T10:59")][-1]
    assert at_10_59.ts_ms == ms("2024-01-03T10:00")
    minutes = candles[60:120]
    volume = pytest.approx(sum(c.volume for c in minutes))
    assert at_10_59 == Candle(minutes[0].ts_ms, minutes[0].open, max(c.high for c in minutes),
                              min(c.low for c in minutes), minutes[-1].close, volume)


async def test_a_candle_built_with_minutes_missing_says_so():
    candles = candles_with_gaps("1m", 180, "2024-01-03T09:00", {70, 71})
    config = recording_bot("says_incomplete")
    await sim_runner(config, candles).run()
    parts = {ts: parts for ts, _, parts in RECORDED["says_incomplete"]}
    assert parts[ms("2024-01-03T09:59")] == 60
    assert parts[ms("2024-01-03T10:59")] == 58


async def test_a_bot_whose_strategy_reads_no_higher_timeframe_has_none_to_feed():
    config = BotConfig.model_validate({"id": "plain", "symbol": "BTC/USDT", "capital": 1_000,
                                       "strategy": {"name": "sma_cross", "params": {"fast": 3, "slow": 8}}})
    runner = sim_runner(config, generate_candles(count=100))
    assert runner.timeframes is None and runner.view.timeframes == {}


async def test_bots_of_one_stream_share_one_aggregation_unless_one_starts_before_it():
    candles = candles_with_gaps("1m", 600, "2024-01-03T09:00", {130})
    hub = FeatureHub()

    def bot(tag: str, first: int):
        return compose_runner(recording_bot(tag), ReplayProvider("BTC/USDT", "1m", candles[first:]),
                              feature_hub=hub, stream_key="btc-1m")

    first, second = bot("shared_a", 100), bot("shared_b", 100)
    await asyncio.gather(first.run(), second.run())
    assert len(hub.timeframes) == 1
    [aggregation] = first.timeframes.aggregations()
    assert second.timeframes.aggregations() == [aggregation]
    assert aggregation.aggregator.closed == 8            # 11:00 .. 18:00, each computed once
    assert RECORDED["shared_a"] == RECORDED["shared_b"]

    later = bot("shared_c", 200)                         # within what the stream computed: reads it
    await later.run()
    assert later.timeframes.aggregations() == [aggregation] and len(hub.timeframes) == 1
    # It sees what the stream computed (the same candles as the others) from its first candle on.
    for (ts_c, held_c, parts_c), (ts_a, held_a, parts_a) in zip(RECORDED["shared_c"], RECORDED["shared_a"][100:],
                                                                strict=True):
        assert ts_c == ts_a and held_c == held_a[len(held_a) - len(held_c):]
    assert len(RECORDED["shared_c"][-1][1]) == 7          # 12:00 .. 18:00

    earlier = bot("shared_d", 0)                         # older candles than the stream's first
    await earlier.run()
    assert len(hub.timeframes) == 2                      # its own: it sees the 09:00 and 10:00 candles too
    assert RECORDED["shared_d"][-1][1][0].ts_ms == ms("2024-01-03T09:00")
    assert RECORDED["shared_d"][-1][1][2:] == RECORDED["shared_a"][-1][1]


def test_the_warm_up_covers_the_higher_candles_needed_and_one_period_more():
    assert warmup_candles("5m", {"1h": 50}) == 51 * 12
    assert warmup_candles("1m", {"1h": 2, "1d": 1}) == 2 * 1440
    assert warmup_candles("1m", {}) == 0 and warmup_candles("1m", {"1h": 0}) == 0


@pytest.mark.parametrize(("timeframe", "params", "field", "allowed"), [
    ("1h", {"trend_timeframe": "30m"}, "strategy.params.trend_timeframe", "2h, 4h, 6h, 8h, 12h, 1d, 1w"),
    ("3m", {"trend_timeframe": "5m"}, "strategy.params.trend_timeframe", "15m, 30m, 1h, 2h, 4h, 6h, 8h, 12h, 1d, 1w"),
    ("1w", {"trend_timeframe": "1w"}, "strategy.params.trend_timeframe", "none"),
])
def test_a_higher_timeframe_that_is_no_multiple_of_the_bots_is_a_config_error_naming_file_and_field(
        tmp_path, timeframe, params, field, allowed):
    path = tmp_path / "trend.yaml"
    path.write_text(f"id: trend\nsymbol: BTC/USDT\ntimeframe: {timeframe}\ncapital: 1000\n"
                    f"strategy: {{name: sma_cross_trend, params: {params}}}\n")
    with pytest.raises(ConfigError) as caught:
        load_bot_config(path)
    [problem] = caught.value.problems
    assert problem.startswith(f"{path}: {field}: ")
    assert "not a whole multiple of the bot's timeframe" in problem
    assert f"allowed with timeframe {timeframe}: {allowed}" in problem


def test_a_timeframe_not_held_in_a_param_is_reported_under_strategy(tmp_path):
    path = tmp_path / "rec.yaml"
    path.write_text("id: rec\nsymbol: BTC/USDT\ntimeframe: 1h\ncapital: 1000\n"
                    "strategy: {name: test_records_higher_candles, params: {tag: x, timeframe: 7m}}\n")
    with pytest.raises(ConfigError) as caught:
        load_bot_config(path)
    assert caught.value.problems[0].startswith(f"{path}: strategy.params.timeframe: ")


def test_a_walk_forward_window_warms_up_the_higher_candles_its_strategy_needs():
    candles = candles_with_gaps("1m", 600, "2024-01-03T09:00", set())
    config = recording_bot("walk_forward_window", bars=3)
    backtest_window(config, candles, Window(first=400))
    seen = {ts: held for ts, held, _ in RECORDED["walk_forward_window"]}
    # The window starts at 15:40; its warm-up of 4 hours before it (11:40 on) built 12:00 .. 14:00.
    assert [c.ts_ms for c in seen[candles[400].ts_ms]] == [ms(f"2024-01-03T{h}:00") for h in (12, 13, 14)]
