"""One regime detector per candle stream and setting, shared by its bots, fitted off the event loop.

`SharedRegime.reading_for(candle)` works like `SharedFeatures.values_for`: the first bot to reach
a candle newer than any seen labels it (one filter step), later ones get the stored reading,
and a candle older than any stored gets `NO_READING` (unknown).

A fit runs in a worker thread (`loop.run_in_executor`), never on the event loop. When its
result is used depends on what the stream needs:

- sim (a backtest, or a replay in the daemon, paced or not): exactly `apply_after` candles
  after the fit was asked for. If the fit is not done by then, `reading_for` returns None and
  the caller awaits `fit_done()` (a backtest usually does: it replays faster than a fit runs;
  a paced replay never does). The labels are therefore the same in a backtest, in the daemon
  and after a restart, whatever the machine's load: a sim bot re-running its candles must
  decide exactly as it did (`runner.state.recovery`).
- paper and live: at the first candle after it is done, so no candle ever waits. The model is
  caught up over the candles seen meanwhile (`RegimeDetector.install`), so from then on the
  labels are those a fit that took no time would give; only the few candles during the fit
  keep the older model's labels.

The fit holds the GIL in short numpy calls, so while one runs the event loop still turns, at
part speed (bench/regime.py measures the fit).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from concurrent.futures import Executor
from typing import TYPE_CHECKING

from loguru import logger

from market.models import Candle
from market.regime import NO_READING, RegimeReading

if TYPE_CHECKING:
    from strategies.regime.detector import RegimeModel, RegimeSettings

__all__ = ["RegimeHub", "SharedRegime"]

DEFAULT_MAX_CANDLES = 10_000


class SharedRegime:
    """A `RegimeDetector` fed once per candle of one stream; see the module docstring."""

    def __init__(self, settings: RegimeSettings, *, deterministic: bool, apply_after: int = 10,
                 max_candles: int = DEFAULT_MAX_CANDLES, executor: Executor | None = None) -> None:
        if apply_after < 1 or max_candles < 1:
            raise ValueError(f"need apply_after >= 1 and max_candles >= 1, got {apply_after}, {max_candles}")
        # Here, not at the top: the detector is numpy's, and every daemon holds a RegimeHub
        # (runner.daemon.services) whether or not a bot of it reads regimes.
        from strategies.regime.detector import RegimeDetector, fit_regime_model

        self.detector = RegimeDetector(settings)
        self._fit_model = fit_regime_model
        self.deterministic = deterministic
        self.apply_after = apply_after
        self.max_candles = max_candles
        self._executor = executor           # None: the loop's default thread pool
        self.candles = 0                    # candles labelled
        self.fits = 0                       # models installed
        self._last_ts_ms: float = float("-inf")
        self._store: dict[int, RegimeReading] = {}
        self._order: deque[int] = deque(maxlen=max_candles)
        self._fit: asyncio.Future[RegimeModel] | None = None
        self._apply_at = 0                  # sim: the candle count at which `_fit` is installed

    @property
    def reading(self) -> RegimeReading:
        """The reading of the newest candle labelled."""
        return self.detector.reading

    def reading_for(self, candle: Candle) -> RegimeReading | None:
        """The reading of `candle`; None when a sim fit due now is still running: await
        `fit_done()` and ask again. Call with the stream's candles in order, from a running loop."""
        ts_ms = candle.ts_ms
        if ts_ms <= self._last_ts_ms:
            return self._store.get(ts_ms, NO_READING)
        fit = self._fit
        if fit is not None and (not self.deterministic or self.candles >= self._apply_at):
            if not fit.done():
                if self.deterministic:
                    return None
            else:
                self._fit = None
                self._install(fit)
        detector = self.detector
        reading = detector.update(candle.close)
        self._last_ts_ms = ts_ms
        order = self._order
        if len(order) == self.max_candles:
            del self._store[order[0]]
        order.append(ts_ms)
        self._store[ts_ms] = reading
        self.candles += 1
        if self._fit is None:
            request = detector.fit_request()
            if request is not None:
                self._fit = asyncio.get_running_loop().run_in_executor(self._executor, self._fit_model, request)
                self._apply_at = self.candles + self.apply_after - 1
        return reading

    async def fit_done(self) -> None:
        """Wait for the fit in flight, if any (its failure is logged when it is installed)."""
        if self._fit is not None:
            await asyncio.wait({self._fit})

    def _install(self, fit: asyncio.Future[RegimeModel]) -> None:
        try:
            model = fit.result()
        except Exception:                  # a bug in the fit: keep labelling with the model in use
            logger.exception("Regime fit failed; the detector keeps its previous model")
            return
        self.detector.install(model)
        self.fits += 1


class RegimeHub:
    """Hands out one `SharedRegime` per (stream, settings, fit timing): every bot of a daemon (or
    a backtest) on that stream with those settings reads the one detector."""

    def __init__(self, *, max_candles: int = DEFAULT_MAX_CANDLES) -> None:
        self._max_candles = max_candles
        self._shared: dict[Hashable, SharedRegime] = {}

    def shared(self, stream_key: Hashable, settings: RegimeSettings, *, deterministic: bool,
               apply_after: int) -> SharedRegime:
        key = (stream_key, settings, deterministic, apply_after)
        shared = self._shared.get(key)
        if shared is None:
            shared = self._shared[key] = SharedRegime(settings, deterministic=deterministic, apply_after=apply_after,
                                                      max_candles=self._max_candles)
        return shared

    def __len__(self) -> int:
        return len(self._shared)

    def detectors(self) -> list[SharedRegime]:
        """Every shared detector handed out so far."""
        return list(self._shared.values())
