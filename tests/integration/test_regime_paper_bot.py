"""A paper bot with `regimes:` against the Binance stand-in, under the BotManager: it fetches the
history its detector's first fit needs when it starts, so it has a regime within its first
candles rather than after `min_window` of them, and its status shows it."""

from __future__ import annotations

import math

from execution.standin import BinanceStandIn, FastForwardClock
from market.synthetic import generate_candles
from tests.integration.manager_runs import ManagerRun
from tests.integration.test_exchange_bots import T0_MS, MIN, bot, services_for, until

# Small detector settings, so that the test's tape is short: the first fit needs
# vol_window + min_window = 620 candles of history.
DETECTOR = {"window": 600, "min_window": 600, "refit_every": 300, "vol_window": 20, "apply_after": 3}
HISTORY = 700                # candles on the tape before the stand-in's clock starts


def synthetic_tape(count: int) -> list[tuple[int, float, float, float, float, float]]:
    return [(T0_MS + i * MIN, c.open, c.high, c.low, c.close, c.volume)
            for i, c in enumerate(generate_candles(count=count, seed=3, start_price=30_000))]


async def test_a_paper_bot_with_regimes_fetches_its_first_fits_history_and_shows_its_regime(tmp_path):
    async with BinanceStandIn(synthetic_tape(HISTORY + 200), balances={"USDT": 10_000, "BTC": 0},
                              start_ms=T0_MS + HISTORY * MIN) as standin:
        clock = FastForwardClock(standin)
        services = services_for(tmp_path, clock)
        config = bot("regime-paper", "paper", standin.base_url, regimes=["trending_up"], regime=DETECTOR)
        assert config.regime_history_candles == 620
        # The stand-in's clock runs on whenever no request is in flight, while the fit takes its
        # time in a worker thread: time stops before the 20th live candle until the fit is done.
        clock.hold_at(T0_MS + (HISTORY + 20) * MIN)
        async with ManagerRun([config], services) as run:
            await until(lambda: services.regimes.detectors() and services.regimes.detectors()[0].candles >= 620)
            [shared] = services.regimes.detectors()
            await shared.fit_done()
            clock.release()
            # The fit is used at the first candle after it is done.
            await until(lambda: run.manager.status("regime-paper").regime not in (None, "unknown"))
            status = run.manager.status("regime-paper")

    assert status.regime in {"trending_up", "trending_down", "ranging", "volatile"}
    assert set(status.regime_probs) == {"trending_up", "trending_down", "ranging", "volatile"}
    assert math.isclose(sum(status.regime_probs.values()), 1.0)
    assert max(status.regime_probs, key=status.regime_probs.get) == status.regime
    # Without the history fetched at start it would take 620 live candles to get here.
    assert status.bars < 50
    assert not [r for r in standin.requests if r.method == "POST"]          # paper: no order sent
