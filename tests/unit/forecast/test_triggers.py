"""Triggers fire on crafted candles exactly where their rule says, and nowhere else."""

from __future__ import annotations

import math

import pytest
from pydantic import TypeAdapter, ValidationError

from market.models import Candle
from runner.forecast.triggers import TriggerConfig, Triggers

MIN = 60_000
TRIGGERS = TypeAdapter(list[TriggerConfig])


def triggers(*configs: dict) -> Triggers:
    return Triggers(TRIGGERS.validate_python(list(configs)))


def run(trig: Triggers, closes, volumes=None, *, ask_when_fired: bool = True, first: int = 0) -> list[tuple[int, str]]:
    """(candle index, trigger) for every candle where a trigger fired; the model is 'asked' then.
    `first`: the index of the first candle given (a run that goes on from an earlier one)."""
    fired = []
    for j, close in enumerate(closes):
        i = first + j
        candle = Candle(i * MIN, close, close, close, close, (volumes or [1.0] * len(closes))[j])
        reason = trig.check(candle, (i + 1) * MIN)
        if reason is not None:
            fired.append((i, reason))
            if ask_when_fired:
                trig.asked(candle, (i + 1) * MIN)
    return fired


def test_without_triggers_the_model_is_asked_on_every_candle():
    assert run(triggers(), [100.0] * 3) == [(0, "every_candle"), (1, "every_candle"), (2, "every_candle")]


def test_an_interval_fires_first_and_then_each_time_it_has_passed():
    assert run(triggers({"kind": "interval", "every": "5m"}), [100.0] * 12) == [
        (0, "interval"), (5, "interval"), (10, "interval")]


def test_a_price_move_fires_once_the_close_moved_that_far_from_the_last_call():
    closes = [100.0, 100.5, 100.9, 101.0, 100.2, 99.99, 100.9, 101.0]
    # asked at 100 (no call yet), at 101.0 (+1%), at 99.99 (-1% of 101.0), at 101.0 (+1.01%)
    assert run(triggers({"kind": "price_move", "pct": 0.01}), closes) == [
        (0, "price_move"), (3, "price_move"), (5, "price_move"), (7, "price_move")]


def test_a_volume_spike_fires_on_volume_over_factor_times_the_mean_of_the_window_before():
    volumes = [10.0, 10.0, 10.0, 29.0, 30.0, 10.0, 10.0]
    # window 3: candle 3 sees mean 10 (29 < 30), candle 4 sees mean (10+10+29)/3 = 16.3 (30 < 49);
    # so only a factor of 2 fires: 29 >= 20 and 30 >= 32.7? no -> only candle 3
    fired = run(triggers({"kind": "volume_spike", "factor": 2, "window": 3}), [100.0] * 7, volumes)
    assert fired == [(3, "volume_spike")]


def test_a_volatility_spike_fires_once_per_rise_above_the_threshold():
    closes = [100.0, 100.0, 100.0, 100.0, 102.0, 98.0, 102.0, 100.0, 100.0, 100.0, 100.0, 100.0, 103.0, 97.0]
    fired = run(triggers({"kind": "volatility_spike", "threshold": 0.015, "window": 3}), closes)
    stds = []
    for i in range(3, len(closes)):
        r = [math.log(closes[j] / closes[j - 1]) for j in range(i - 2, i + 1)]
        mean = sum(r) / 3
        stds.append((i, math.sqrt(sum((x - mean) ** 2 for x in r) / 2)))
    rises = [i for k, (i, s) in enumerate(stds) if s >= 0.015 and (k == 0 or stds[k - 1][1] < 0.015)]
    assert rises and [i for i, _ in fired] == rises


def test_a_call_by_hand_fires_on_the_next_candle_only():
    trig = triggers({"kind": "interval", "every": "1h"})
    assert run(trig, [100.0]) == [(0, "interval")]
    trig.request_manual()
    assert trig.check(Candle(MIN, 1, 1, 1, 1, 1), 2 * MIN) == "manual"
    trig.asked(Candle(MIN, 1, 1, 1, 1, 1), 2 * MIN)
    assert trig.check(Candle(2 * MIN, 1, 1, 1, 1, 1), 3 * MIN) is None


def test_several_triggers_each_keep_their_state_and_the_first_that_fires_names_the_call():
    trig = triggers({"kind": "interval", "every": "3m"}, {"kind": "volume_spike", "factor": 2, "window": 2})
    # candle 2: volume 5 over a mean of 1; candle 5: 3 minutes after the call on candle 2 (its
    # volume spike is named after the interval, which comes first); candle 6: 1 after 1 and 9.
    fired = run(trig, [100.0] * 7, [1.0, 1.0, 5.0, 1.0, 1.0, 9.0, 30.0])
    assert fired == [(0, "interval"), (2, "volume_spike"), (5, "interval"), (6, "volume_spike")]


def test_a_bad_trigger_is_refused_with_what_is_allowed():
    with pytest.raises(ValidationError, match="bad timeframe"):
        triggers({"kind": "interval", "every": "soon"})
    with pytest.raises(ValidationError, match="price_move"):
        triggers({"kind": "sometimes"})


def test_a_restored_trigger_set_fires_on_the_same_candles_as_one_never_stopped():
    import json

    configs = ({"kind": "interval", "every": "7m"}, {"kind": "volume_spike", "factor": 1.5, "window": 4},
               {"kind": "volatility_spike", "threshold": 0.004, "window": 5})
    closes = [100 * (1 + 0.003 * ((i * 7919) % 11 - 5)) for i in range(60)]
    volumes = [1.0 + ((i * 104729) % 13) / 4 for i in range(60)]
    whole = run(triggers(*configs), closes, volumes)

    first = triggers(*configs)
    before = run(first, closes[:23], volumes[:23])
    restored = triggers(*configs)
    restored.restore(json.loads(json.dumps(first.snapshot())))
    after = run(restored, closes[23:], volumes[23:], first=23)

    assert before + after == whole and len(whole) >= 8
    assert after != run(triggers(*configs), closes[23:], volumes[23:], first=23)    # a fresh set differs
