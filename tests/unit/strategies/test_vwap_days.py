"""`vwap:day` on a bot's own days: UTC midnight without a session, its session's days in its zone
with one (the zone's midnight, or the open of a session crossing midnight), cut by the same
`TradingDays` the session's daily risk counters use; and bots whose days differ never share a
day-restarting computation on one stream."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from market.models import Candle
from market.session import TradingSession
from strategies.features import FeatureHub, FeatureSet

NY = ZoneInfo("America/New_York")


def ny(*parts) -> int:
    return int(datetime(*parts, tzinfo=NY).timestamp() * 1000)


def vwaps(features, first_ms: int, prices: list[float]) -> list[float | None]:
    """The vwap:day of hourly candles from `first_ms`, each at one price and volume 1."""
    return [features.update(Candle(first_ms + i * 3_600_000, p, p, p, p, 1.0))["vwap:day"]
            for i, p in enumerate(prices)]


def test_a_sessions_vwap_day_restarts_at_its_zones_midnight_not_at_utc_midnight():
    days = TradingSession("America/New_York", 9 * 60 + 30, 16 * 60, range(5)).trading_days
    # 2026-03-09 22:00 to 2026-03-10 02:00 New York (EDT): UTC midnight is 20:00 there.
    zoned = vwaps(FeatureSet(["vwap:day"], day_of=days.day_of), ny(2026, 3, 9, 22), [10.0, 20.0, 30.0, 40.0, 50.0])
    utc = vwaps(FeatureSet(["vwap:day"]), ny(2026, 3, 9, 22), [10.0, 20.0, 30.0, 40.0, 50.0])

    assert zoned == [10.0, 15.0, 30.0, 35.0, 40.0]      # 00:00 New York starts the day afresh
    assert utc == [10.0, 15.0, 20.0, 25.0, 30.0]        # UTC's day began at 20:00 New York: no restart


def test_a_session_across_midnight_restarts_its_vwap_day_at_its_open():
    days = TradingSession("America/New_York", 18 * 60, 6 * 60, range(7)).trading_days
    features = FeatureSet(["vwap:day"], day_of=days.day_of)

    assert vwaps(features, ny(2026, 3, 10, 16), [10.0, 20.0, 30.0, 40.0]) == [10.0, 15.0, 30.0, 35.0]   # 18:00 opens


def test_bots_whose_days_differ_share_their_other_features_but_not_a_vwap_day():
    hub = FeatureHub()
    new_york = TradingSession("America/New_York", 9 * 60 + 30, 16 * 60, range(5)).trading_days
    same_zone = TradingSession("America/New_York", 8 * 60, 17 * 60, range(5)).trading_days   # same days, other hours

    utc_vwap = hub.shared("btc", ["ema:3", "vwap:day"])
    ny_vwap = hub.shared("btc", ["ema:3", "vwap:day"], days=new_york)
    ny_vwap_again = hub.shared("btc", ["vwap:day"], days=same_zone)
    ny_ema = hub.shared("btc", ["ema:3"], days=new_york)
    utc_ema = hub.shared("btc", ["ema:3"])

    assert ny_vwap is not utc_vwap and ny_vwap_again is ny_vwap and ny_ema is ny_vwap and utc_ema is utc_vwap
    plain = hub.shared("eth", ["ema:3"])
    assert hub.shared("eth", ["ema:3"], days=new_york) is plain      # no feature cut by day: one computation
    candle = Candle(ny(2026, 3, 10, 0), 10.0, 10.0, 10.0, 10.0, 1.0)
    before = Candle(candle.ts_ms - 3_600_000, 20.0, 20.0, 20.0, 20.0, 1.0)
    for shared in (utc_vwap, ny_vwap):
        shared.values_for(before)
    assert utc_vwap.values_for(candle)["vwap:day"] == 15.0 and ny_vwap.values_for(candle)["vwap:day"] == 10.0
