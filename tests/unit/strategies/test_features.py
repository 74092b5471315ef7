"""The feature engine: values against ta and pandas on real candles, the spec grammar, and one
computation per stream shared by the bots reading it.

Compared after warm-up with a relative tolerance of 1e-9; before it a feature is None exactly
where the reference has NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import ta

from market.files import load_candles
from market.models import Candle
from market.synthetic import generate_candles
from strategies.features import FeatureHub, FeatureSet, SharedFeatures, parse_spec
from strategies.indicators import Bollinger, RollingStd

RTOL = 1e-9
PERIODS = [1, 2, 14, 20, 200]
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def btc(shared_data) -> tuple[list[Candle], pd.DataFrame]:
    """45,031 one-minute BTC/USD candles (2021-12-31 23:01 to 2022-02-01 UTC: 33 midnights),
    as candles and as a DataFrame of the same numbers."""
    candles = load_candles(shared_data / "BTC_USD-1m-2022-01.csv").candles
    return candles, pd.DataFrame(candles, columns=Candle._fields)


def feature(spec_or_key: str, candles, *, specs: tuple[str, ...] | None = None) -> np.ndarray:
    """One key's values over `candles` from a FeatureSet of `specs` (default: the key itself),
    None as NaN."""
    features = FeatureSet(specs or (spec_or_key,))
    return np.array([np.nan if (v := features.update(c)[spec_or_key]) is None else v for c in candles])


def assert_matches(ours: np.ndarray, theirs: pd.Series | np.ndarray, rtol: float = RTOL) -> None:
    theirs = np.asarray(theirs, dtype=float)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs), err_msg="warm-up differs from the reference")
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=0, equal_nan=True)


# Values


@pytest.mark.parametrize("period", PERIODS)
def test_sma_ema_and_rsi_features_match_ta(btc, period):
    candles, frame = btc
    close = frame["close"]
    assert_matches(feature(f"sma:{period}", candles), ta.trend.SMAIndicator(close, period).sma_indicator())
    assert_matches(feature(f"ema:{period}", candles), ta.trend.EMAIndicator(close, period).ema_indicator())
    assert_matches(feature(f"rsi:{period}", candles), ta.momentum.RSIIndicator(close, period).rsi())


@pytest.mark.parametrize("period, dev", [(2, "2"), (20, "2"), (20, "2.0"), (20, "0.5"), (50, "3")])
def test_bollinger_feature_bands_match_ta_outside_flat_windows(btc, period, dev):
    candles, frame = btc
    close, spec = frame["close"], f"bb:{period}:{dev}"
    theirs = ta.volatility.BollingerBands(close, period, float(dev))
    # ta's rolling std keeps rounding residue on a window of equal closes, where ours is exactly
    # 0 (see test_indicators_match_ta): those windows are compared with the middle band instead.
    flat = (close.rolling(period).max() == close.rolling(period).min()).to_numpy()
    middle = feature(f"{spec}:middle", candles, specs=(spec,))
    assert_matches(middle, theirs.bollinger_mavg())
    for part, reference in (("upper", theirs.bollinger_hband()), ("lower", theirs.bollinger_lband())):
        ours = feature(f"{spec}:{part}", candles, specs=(spec,))
        assert_matches(ours[~flat], reference[~flat])
        assert (ours[flat] == middle[flat]).all()


@pytest.mark.parametrize("period", PERIODS)
def test_atr_feature_matches_ta_average_true_range_after_warm_up(btc, period):
    candles, frame = btc
    ours = feature(f"atr:{period}", candles)
    theirs = ta.volatility.AverageTrueRange(frame["high"], frame["low"], frame["close"], period).average_true_range()
    # ta writes 0.0 in the rows before its first ATR; ours has no value there.
    assert np.isnan(ours[: period - 1]).all()
    assert_matches(ours[period - 1 :], theirs[period - 1 :])


def test_vwap_day_matches_a_pandas_cumulative_sum_grouped_by_utc_day(btc):
    candles, frame = btc
    typical = (frame["high"] + frame["low"] + frame["close"]) / 3
    day = frame["ts_ms"] // DAY_MS
    theirs = (typical * frame["volume"]).groupby(day).cumsum() / frame["volume"].groupby(day).cumsum()
    # pandas' grouped cumsum is compensated (Kahan); ours is a plain running sum: ~1e-14 apart.
    assert_matches(feature("vwap:day", candles), theirs, rtol=1e-12)


def test_vwap_day_starts_afresh_with_the_first_candle_after_utc_midnight():
    midnight = 1_641_081_600_000  # 2022-01-02T00:00:00Z
    features = FeatureSet(["vwap:day"])
    values = [features.update(c)["vwap:day"] for c in [
        Candle(midnight - 120_000, 10.0, 10.0, 10.0, 10.0, 1.0),
        Candle(midnight - 60_000, 10.0, 40.0, 10.0, 40.0, 1.0),   # typical price 30
        Candle(midnight, 100.0, 130.0, 70.0, 100.0, 2.0),         # typical price 100
        Candle(midnight + 60_000, 100.0, 100.0, 100.0, 100.0, 0.0),
        Candle(midnight + 120_000, 40.0, 40.0, 40.0, 40.0, 2.0),
    ]]
    assert values == [10.0, 20.0, 100.0, 100.0, 70.0]


def test_vwap_day_is_none_until_the_day_has_volume():
    features = FeatureSet(["vwap:day"])
    assert features.update(Candle(0, 10.0, 11.0, 9.0, 10.0, 0.0))["vwap:day"] is None
    assert features.update(Candle(60_000, 10.0, 11.0, 9.0, 13.0, 3.0))["vwap:day"] == 11.0


@pytest.mark.parametrize("period", [2, 14, 20, 200])
def test_volatility_feature_matches_pandas_rolling_std_of_log_returns(btc, period):
    candles, frame = btc
    close = frame["close"]
    theirs = np.log(close / close.shift()).rolling(period).std()
    assert_matches(feature(f"volatility:{period}", candles), theirs)


def test_volatility_of_a_flat_stretch_is_exactly_zero():
    features = FeatureSet(["volatility:3"])
    values = [features.update(Candle(60_000 * i, 5.0, 5.0, 5.0, c, 1.0))["volatility:3"]
              for i, c in enumerate([4.0, 5.0, 5.0, 5.0, 5.0])]
    assert values[:3] == [None, None, None] and values[3] > 0 and values[4] == 0.0


@pytest.mark.parametrize("period", PERIODS)
def test_volume_ratio_feature_matches_volume_over_its_rolling_mean_including_this_candle(btc, period):
    candles, frame = btc
    volume = frame["volume"]
    assert_matches(feature(f"volume_ratio:{period}", candles), volume / volume.rolling(period).mean())


def test_features_match_a_feature_set_of_each_spec_alone():
    candles = generate_candles(count=2_000, seed=3)
    specs = ["ema:12", "ema:26", "rsi:14", "bb:20:2", "vwap:day", "atr:14", "volatility:20", "volume_ratio:20"]
    together = FeatureSet(specs)
    alone = [FeatureSet([spec]) for spec in specs]
    for candle in candles:
        merged = {}
        for features in alone:
            merged |= features.update(candle)
        assert together.update(candle) == merged
    assert together.keys == ("ema:12", "ema:26", "rsi:14", "bb:20:2:upper", "bb:20:2:middle", "bb:20:2:lower",
                             "vwap:day", "atr:14", "volatility:20", "volume_ratio:20")


def test_bands_written_two_ways_are_two_sets_of_keys_with_the_same_values():
    features = FeatureSet(["bb:3:2", "bb:3:2.0"])
    for candle in generate_candles(count=10, seed=1):
        values = features.update(candle)
    assert set(values) == {f"bb:3:{dev}:{part}" for dev in ("2", "2.0") for part in ("upper", "middle", "lower")}
    assert all(values[f"bb:3:2:{part}"] == values[f"bb:3:2.0:{part}"] is not None for part in ("upper", "lower"))


# Specs


@pytest.mark.parametrize("spec, reason", [
    ("foo:3", "unknown feature 'foo:3'"),
    ("ema", "bad feature 'ema': wrong number of ':' parts"),
    ("ema:0", "N must be a whole number from 1 to 10,000"),
    ("ema:012", "without leading zeros"),
    ("sma:10001", "N must be a whole number from 1 to 10,000"),
    ("volatility:1", "from 2 to 10,000"),
    ("bb:20", "wrong number of ':' parts"),
    ("bb:20:-2", "DEV must be a decimal such as 2 or 2.5"),
    ("bb:20:2e1", "DEV must be a decimal"),
    ("vwap:session", "sessions are not defined yet"),
    ("EMA:12", "unknown feature 'EMA:12'"),
    (" ema:12", "unknown feature"),
])
def test_a_bad_spec_is_refused_with_what_is_allowed(spec, reason):
    with pytest.raises(ValueError, match="allowed: sma:N, ema:N, rsi:N, bb:N:DEV, atr:N, volatility:N, "
                                         "volume_ratio:N, vwap:day") as error:
        FeatureSet(["ema:12", spec])
    assert reason in str(error.value)


def test_the_hub_refuses_a_bad_spec_too():
    with pytest.raises(ValueError, match="unknown feature 'foo:3'"):
        FeatureHub().shared("BTC/USDT 1m", ["foo:3"])


def test_spec_keys_are_the_spec_text_with_three_band_keys_for_bollinger():
    assert parse_spec("ema:12").keys == ("ema:12",)
    assert parse_spec("bb:20:2.5").keys == ("bb:20:2.5:upper", "bb:20:2.5:middle", "bb:20:2.5:lower")
    assert parse_spec("bb:20:2").dev == 2.0 and parse_spec("vwap:day").anchor == "day"


# Sharing


@pytest.fixture
def counted_updates(monkeypatch) -> list[int]:
    """Counts every FeatureSet.update in the test: one entry per call."""
    calls, update = [], FeatureSet.update

    def counting(self, candle):
        calls.append(candle.ts_ms)
        return update(self, candle)

    monkeypatch.setattr(FeatureSet, "update", counting)
    return calls


def test_two_bots_on_one_stream_with_the_same_specs_share_one_computation(counted_updates):
    hub, candles = FeatureHub(), generate_candles(count=500, seed=5)
    specs = ["ema:12", "rsi:14", "bb:20:2"]
    first, second = hub.shared("BTC/USDT 1m", specs), hub.shared("BTC/USDT 1m", list(reversed(specs)))
    assert first is second and len(hub) == 1

    for candle in candles:  # interleaved, the way the daemon's bots step
        a, b = first.values_for(candle), second.values_for(candle)
        assert a is b
    assert len(counted_updates) == len(candles) == first.computed


def test_shared_values_are_those_of_a_bot_computing_its_own():
    candles = generate_candles(count=300, seed=9)
    shared, own = FeatureHub().shared("s", ["ema:12", "vwap:day"]), FeatureSet(["ema:12", "vwap:day"])
    for candle in candles:
        assert dict(shared.values_for(candle)) == own.update(candle)


def test_a_bot_behind_the_other_reads_the_stored_values_without_computing(counted_updates):
    hub, candles = FeatureHub(), generate_candles(count=400, seed=2)
    leader, follower = hub.shared("s", ["ema:5"]), hub.shared("s", ["ema:5"])
    led = [leader.values_for(c) for c in candles]  # the first bot finishes its warm-up first
    followed = [follower.values_for(c) for c in candles]
    assert followed == led and len(counted_updates) == len(candles) and follower.misses == 0


def test_other_streams_and_late_new_features_get_their_own_computation():
    hub, candle = FeatureHub(), generate_candles(count=1, seed=1)[0]
    btc = hub.shared("BTC 1m", ["ema:12"])
    assert hub.shared("ETH 1m", ["ema:12"]) is not btc
    btc.values_for(candle)
    late = hub.shared("BTC 1m", ["rsi:14"])  # the BTC computation has started: rsi cannot join it
    assert late is not btc and late.specs == ("rsi:14",) and len(hub) == 3
    assert hub.shared("BTC 1m", ["ema:12"]) is btc


def test_bots_built_before_the_stream_starts_share_the_union_of_their_specs():
    hub = FeatureHub()
    ema_bot = hub.shared("s", ["ema:12"])
    hybrid_bot = hub.shared("s", ["ema:12", "rsi:14", "bb:20:2"])
    rsi_bot = hub.shared("s", ["rsi:14"])
    assert ema_bot is hybrid_bot is rsi_bot and ema_bot.specs == ("ema:12", "rsi:14", "bb:20:2")
    values = ema_bot.values_for(generate_candles(count=1, seed=1)[0])
    assert set(values) == {"ema:12", "rsi:14", "bb:20:2:upper", "bb:20:2:middle", "bb:20:2:lower"}


def test_a_candle_older_than_the_shared_history_gets_none_values_and_counts_as_a_miss():
    candles = generate_candles(count=30, seed=4)
    shared = SharedFeatures(["ema:2", "bb:2:1"], max_candles=10)
    for candle in candles[10:]:
        shared.values_for(candle)
    late_joiner = shared.values_for(candles[0])        # warming up from before the first computed
    too_far_behind = shared.values_for(candles[15])    # more than 10 candles behind the newest
    assert dict(late_joiner) == dict(too_far_behind) == dict.fromkeys(shared.keys)
    assert shared.misses == 2 and shared.computed == 20
    assert shared.values_for(candles[20])["ema:2"] is not None  # the last 10 are kept


def test_shared_values_are_read_only():
    shared = SharedFeatures(["ema:2"])
    values = shared.values_for(generate_candles(count=1, seed=1)[0])
    with pytest.raises(TypeError):
        values["ema:2"] = 1.0


def test_features_cannot_be_added_once_the_stream_has_started():
    shared = SharedFeatures(["ema:2"])
    shared.values_for(generate_candles(count=1, seed=1)[0])
    with pytest.raises(RuntimeError, match="after 1 candles"):
        shared.extend(["rsi:14"])


def test_a_feature_set_with_no_specs_gives_an_empty_mapping():
    assert FeatureSet([]).update(generate_candles(count=1, seed=1)[0]) == {}


def test_rolling_std_with_ddof_0_is_bollingers_std():
    std, bands = RollingStd(20, ddof=0), Bollinger(20, 2.0)
    for candle in generate_candles(count=500, seed=8):
        ours = std.update(candle.close)
        bands.update(candle.close)
        assert ours == bands.std
