"""`SharedRegime`: fits in a worker, used at a fixed candle in sim and as soon as done otherwise."""

import asyncio
import dataclasses
from concurrent.futures import Executor, Future

import numpy as np

from market.models import Candle
from market.regime import Regime
from runner.regime.shared import RegimeHub, SharedRegime
from strategies.regime.detector import RegimeSettings, label_history

MIN = 60_000
SETTINGS = RegimeSettings(states=4, window=400, min_window=400, refit_every=150, vol_window=10)


def _candles(count: int = 1_000, seed: int = 2) -> list[Candle]:
    rng = np.random.default_rng(seed)
    vol = np.repeat([0.001, 0.004, 0.001, 0.002], count // 4 + 1)[:count]
    closes = 100 * np.exp(np.cumsum(vol * rng.standard_normal(count)))
    return [Candle(i * MIN, c, c, c, c, 1.0) for i, c in enumerate(closes.tolist())]


class HeldExecutor(Executor):
    """Runs nothing until `release()`: a fit that takes as long as the test wants."""

    def __init__(self) -> None:
        self.calls: list[tuple[Future, object, tuple]] = []

    def submit(self, fn, /, *args, **kwargs):
        future: Future = Future()
        self.calls.append((future, fn, args))
        return future

    def release(self) -> None:
        for future, fn, args in self.calls:
            if not future.done():
                future.set_result(fn(*args))


async def test_sim_labels_equal_a_fit_run_at_once_and_used_apply_after_candles_later():
    candles = _candles()
    shared = SharedRegime(SETTINGS, deterministic=True, apply_after=5)
    readings = []
    for candle in candles:
        reading = shared.reading_for(candle)
        while reading is None:                         # the fit due on this candle is still running
            await shared.fit_done()
            reading = shared.reading_for(candle)
        readings.append(reading)
    expected = label_history([c.close for c in candles], SETTINGS, apply_after=5)
    assert readings == expected
    assert shared.fits == 4 and {r.regime for r in readings} > {Regime.UNKNOWN}


async def test_a_sim_candle_waits_for_its_fit_and_no_other_does():
    executor, candles = HeldExecutor(), _candles()
    shared = SharedRegime(SETTINGS, deterministic=True, apply_after=5, executor=executor)
    index = 0
    while (reading := shared.reading_for(candles[index])) is not None:
        index += 1
    first_observation = SETTINGS.vol_window                 # candle of the first observation
    assert index == first_observation + SETTINGS.window - 1 + 5       # the window filled, then 5 candles
    assert len(executor.calls) == 1
    executor.release()
    await shared.fit_done()
    assert shared.reading_for(candles[index]) is not None and shared.fits == 1


async def test_paper_and_live_never_wait_and_use_the_fit_once_done_caught_up():
    executor, candles = HeldExecutor(), _candles()
    one_fit = dataclasses.replace(SETTINGS, refit_every=10_000)
    shared = SharedRegime(one_fit, deterministic=False, apply_after=5, executor=executor)
    readings = [shared.reading_for(c) for c in candles[:700]]
    assert all(r is not None for r in readings) and {r.regime for r in readings} == {Regime.UNKNOWN}
    executor.release()
    await asyncio.sleep(0)                              # the loop sees the worker's result
    readings += [shared.reading_for(c) for c in candles[700:]]
    at_once = label_history([c.close for c in candles], one_fit)
    # Installed at candle 700, caught up over the 280 candles since its window: from then on
    # the labels are those of the same fit installed at once.
    assert readings[700:] == at_once[700:]
    assert readings[:700] != at_once[:700]
    assert shared.fits == 1


async def test_a_candle_read_again_gets_its_stored_reading_and_an_unseen_old_one_unknown():
    candles = _candles()
    shared = SharedRegime(SETTINGS, deterministic=False, max_candles=50)
    readings = [shared.reading_for(c) for c in candles]
    assert shared.reading_for(candles[-1]) is readings[-1]
    assert shared.reading_for(candles[-10]) is readings[-10]
    assert shared.reading_for(candles[0]).regime is Regime.UNKNOWN      # dropped from the store
    assert shared.candles == len(candles)


def test_the_hub_gives_one_detector_per_stream_and_settings():
    hub = RegimeHub()
    one = hub.shared("a", SETTINGS, deterministic=True, apply_after=5)
    assert hub.shared("a", SETTINGS, deterministic=True, apply_after=5) is one
    assert hub.shared("b", SETTINGS, deterministic=True, apply_after=5) is not one
    assert hub.shared("a", dataclasses.replace(SETTINGS, states=5),
                      deterministic=True, apply_after=5) is not one
    assert len(hub) == 3
