"""A cool-down's "N candles left" counts what a person counts: the candle closes still refused,
the one being decided included, and never more than the cool-down is long."""

from __future__ import annotations

from execution.models import Fill, Side
from market.models import Candle
from risk.breakers import SpreadBreaker
from risk.protections import CooldownAfterStop, LosingStreak

CANDLE = Candle(0, 1.0, 1.0, 1.0, 1.0, 1.0)


def stop_fill() -> Fill:
    return Fill("o", "BTC/USD", Side.SELL, 1.0, 90.0, 0.0, 0, "stop_loss")


def test_right_after_a_stop_a_one_candle_cool_down_has_one_candle_left():
    rule = CooldownAfterStop(1)
    rule.on_fill(stop_fill())
    # Before: "2 candles left of 1" (the close of the stop's candle not yet ticked).
    assert rule.refusal().reason == "cool-down after a stop-loss: 1 candle left of 1"
    assert rule.refusal().inputs["candles_left"] == 1.0
    assert rule.figures() == {"cooldown_after_stop_left": 1.0}


def test_the_cool_down_counts_down_to_one_on_its_last_refused_close():
    rule = CooldownAfterStop(3)
    rule.on_fill(stop_fill())
    reasons = [rule.refusal().reason]
    for _ in range(3):
        rule.on_candle(CANDLE, 0.0)
        refusal = rule.refusal()
        reasons.append(refusal.reason if refusal else None)
    assert reasons == ["cool-down after a stop-loss: 3 candles left of 3",
                       "cool-down after a stop-loss: 3 candles left of 3",
                       "cool-down after a stop-loss: 2 candles left of 3",
                       "cool-down after a stop-loss: 1 candle left of 3"]
    rule.on_candle(CANDLE, 0.0)
    assert rule.refusal() is None


def test_a_losing_streak_pause_never_counts_more_than_its_length():
    rule = LosingStreak(1, 1)
    rule.on_fill(Fill("o", "BTC/USD", Side.BUY, 1.0, 100.0, 0.0, 0, ""))
    rule.on_fill(Fill("o", "BTC/USD", Side.SELL, 1.0, 99.0, 0.0, 0, ""))
    assert rule.refusal().reason == "1 losing trades in a row: no new entry for 1 candle more"


def test_a_breaker_counts_the_candle_it_refuses_on_down_to_the_last():
    breaker = SpreadBreaker(25.0, cooldown_candles=2)
    breaker.observe(30.0)                       # beyond: the whole cool-down is ahead
    notes = [breaker.refusal().reason]
    breaker.observe(10.0)
    while breaker.refusal() is not None:
        breaker.on_candle(CANDLE, 0.0)
        if (refusal := breaker.refusal()) is not None:
            notes.append(refusal.reason)
    # Before: 2, 1, 0: "0 candles left" on a candle it still refused.
    assert [n.split("(or cooling down, ")[1] for n in notes] == ["2 candles left)", "2 candles left)",
                                                                 "1 candle left)"]
