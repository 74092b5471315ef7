"""`RegimeDetector`: a label for every closed candle from an HMM refitted on recent history.

Per candle (`update`, O(states^2), on the event loop): the observation (trend strength, log
volatility; `strategies.regime.observations`) is standardized with the fitted model's centre and
scale, and one step of the forward recursion turns the previous candle's state probabilities
into this candle's: P(state_t | observations up to t). Only the *filtered* probabilities are
used; a smoothed (forward-backward) label would use later candles. A label's probability is
the sum over the states that carry it (`strategies.regime.labelling`); the regime is the most
probable label.

Fitting is separate, so that the caller decides where it runs: when one is due (`min_window`
observations seen, and `refit_every` candles since the last one was asked for), `fit_request()`
hands out a `FitRequest`, `fit_regime_model(request)` (pure, slow: run it in a worker thread)
makes a `RegimeModel`, and `install(model)` puts it to use. The model knows where its window
ended, so `install` runs the forward recursion over the candles observed since: a model that
took five candles to fit labels the sixth exactly as one fitted at once would have.

Each fit sees the last `window` observations (fewer until that many are seen): a long window,
because a regime the model has no state for is labelled by whichever state is least unlikely,
and a model fitted on a few thousand candles meets such regimes often. It sees them twice, once
mirrored (trend negated): a window that only rose would
otherwise give a model without a falling state, and the first downtrend after it would be
labelled by the nearest state it has, a rising one. Up and down are equally likely a priori.
"""

from __future__ import annotations

import math
from collections import deque
from operator import mul
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from market.regime import NO_READING, Regime, RegimeReading
from strategies.regime.hmm import GaussianHMM, fit_hmm, forward
from strategies.regime.labelling import LabelRule
from strategies.regime.observations import RegimeObservations

__all__ = ["KNOWN_REGIMES", "FitRequest", "RegimeDetector", "RegimeModel", "RegimeSettings", "fit_regime_model",
           "label_history"]

KNOWN_REGIMES = (Regime.TRENDING_UP, Regime.TRENDING_DOWN, Regime.RANGING, Regime.VOLATILE)
_MIRROR = np.array([-1.0, 1.0])


@dataclass(frozen=True, slots=True)
class RegimeSettings:
    """The detector's settings (`regime:` in a bot config). Two bots with equal settings on one
    stream share one detector. The windows and `refit_every` count candles; the fit is seeded."""

    states: int = 6
    window: int = 20_000
    min_window: int = 5_000
    refit_every: int = 2_000
    trend_window: int = 600
    vol_window: int = 60
    rule: LabelRule = field(default_factory=LabelRule)
    max_iterations: int = 40
    seed: int = 0

    @property
    def reference_halflife(self) -> int:
        """Candles over which the reference volatility forgets (an EWMA of log volatility)."""
        return 4 * self.window


@dataclass(frozen=True, slots=True)
class FitRequest:
    """Everything a fit needs, copied out of the detector: the raw observations of the window
    (W, 2), the reference log volatility, and `end`, the count of observations at its last one."""

    observations: np.ndarray
    reference_log_vol: float
    end: int
    settings: RegimeSettings


@dataclass(frozen=True, slots=True)
class RegimeModel:
    """A fitted HMM in standardized units (`centre`, `scale`), each state's label, and the
    filtered state probabilities at the window's last observation (`end`)."""

    hmm: GaussianHMM
    centre: tuple[float, float]
    scale: tuple[float, float]
    labels: tuple[Regime, ...]
    filtered: tuple[float, ...]
    end: int
    log_likelihood: float
    iterations: int


def fit_regime_model(request: FitRequest) -> RegimeModel:
    """Baum-Welch on the request's window (and its mirror image); pure, so any thread may run it."""
    settings = request.settings
    x = request.observations
    centre, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    z = (x - centre) / scale
    mirrored = (x * _MIRROR - centre) / scale
    hmm, log_likelihood, iterations = fit_hmm([z, mirrored], settings.states, seed=settings.seed,
                                              max_iter=settings.max_iterations)
    physical = hmm.means * scale + centre
    labels = tuple(settings.rule.label(trend, log_vol, request.reference_log_vol) for trend, log_vol in physical)
    filtered = forward(hmm, z)[0][-1]
    return RegimeModel(hmm, tuple(centre.tolist()), tuple(scale.tolist()), labels, tuple(filtered.tolist()),
                       request.end, log_likelihood, iterations)


class RegimeDetector:
    """Labels closed candles; see the module docstring. Feed it every candle of one stream, in
    order, through `update`; ask `fit_request()` after each, and `install` what it led to."""

    def __init__(self, settings: RegimeSettings) -> None:
        if not max(settings.trend_window, settings.vol_window) < settings.min_window <= settings.window or (
                settings.refit_every < 1):
            raise ValueError(f"the fit windows ({settings.min_window} <= {settings.window}) must be longer than the "
                             f"observation windows, and refit_every ({settings.refit_every}) >= 1")
        self.settings = settings
        self.model: RegimeModel | None = None
        self.observed = 0                    # observations so far (candles past the warm-up)
        self._observations = RegimeObservations(settings.trend_window, settings.vol_window)
        self._recent: deque[tuple[float, float]] = deque(maxlen=settings.window)
        self._requested_end = -1             # `observed` when the last fit was asked for
        self._decay = 0.5 ** (1.0 / settings.reference_halflife)
        self._reference_sum = self._reference_weight = 0.0
        self._filtered: list[float] = []
        self._step: _FilterStep | None = None
        self.reading: RegimeReading = NO_READING

    @property
    def reference_log_vol(self) -> float:
        """The long-run log volatility (an EWMA, unbiased at the start); nan before any candle."""
        weight = self._reference_weight
        return self._reference_sum / weight if weight else math.nan

    def update(self, close: float) -> RegimeReading:
        """This candle's reading: its observation, then one filter step (when a model is in)."""
        observation = self._observations.update(close)
        if observation is None:
            return self.reading
        self.observed += 1
        self._recent.append(observation)
        decay = self._decay
        self._reference_sum = self._reference_sum * decay + observation[1]
        self._reference_weight = self._reference_weight * decay + 1.0
        step = self._step
        if step is not None:
            self._filtered = step.advance(self._filtered, observation)
            self.reading = step.reading(self._filtered)
        return self.reading

    def fit_request(self) -> FitRequest | None:
        """A fit to run now, or None: fewer than `min_window` observations yet, or one was asked for less than
        `refit_every` candles ago. Asking counts as fitted, whether or not it is installed."""
        settings = self.settings
        if self.observed < settings.min_window or (
                self._requested_end >= 0 and self.observed - self._requested_end < settings.refit_every):
            return None
        self._requested_end = self.observed
        return FitRequest(np.array(self._recent), self.reference_log_vol, self.observed, settings)

    def install(self, model: RegimeModel) -> None:
        """Use `model` from now on, its filter caught up over the candles seen since its window."""
        step = _FilterStep(model)
        filtered = list(model.filtered)
        behind = self.observed - model.end
        if behind > len(self._recent):      # fell further behind than the window: start afresh
            filtered = [1.0 / len(filtered)] * len(filtered)
            behind = len(self._recent)
        if behind:
            for observation in list(self._recent)[-behind:]:
                filtered = step.advance(filtered, observation)
        self.model, self._step, self._filtered = model, step, filtered
        self.reading = step.reading(filtered)


class _FilterStep:
    """One forward step of a fitted model in plain floats: for a handful of states, cheaper per
    candle than numpy's per-call overhead (see bench/regime.py)."""

    __slots__ = ("_centre", "_inv_scale", "_states", "_columns", "_groups")

    def __init__(self, model: RegimeModel) -> None:
        hmm = model.hmm
        self._centre = model.centre
        self._inv_scale = tuple(1.0 / s for s in model.scale)
        log_norm = (-0.5 * (hmm.means.shape[1] * math.log(2 * math.pi) + np.log(hmm.variances).sum(axis=1))).tolist()
        # Per state: log normalizer, means and 1 / (2 variance) of its two observations.
        self._states = [(norm, m0, m1, 0.5 / v0, 0.5 / v1)
                        for norm, (m0, m1), (v0, v1) in zip(log_norm, hmm.means.tolist(), hmm.variances.tolist())]
        self._columns = [tuple(col) for col in hmm.transition.T.tolist()]   # P(from i -> to j), by j
        self._groups = [(label, label.value, tuple(k for k, lab in enumerate(model.labels) if lab is label))
                        for label in KNOWN_REGIMES]

    def advance(self, filtered: list[float], observation: tuple[float, float]) -> list[float]:
        (c0, c1), (s0, s1) = self._centre, self._inv_scale
        z0, z1 = (observation[0] - c0) * s0, (observation[1] - c1) * s1
        logs = [norm - (z0 - m0) * (z0 - m0) * h0 - (z1 - m1) * (z1 - m1) * h1 for norm, m0, m1, h0, h1 in self._states]
        peak = max(logs)
        exp = math.exp
        new = [exp(lb - peak) * sum(map(mul, filtered, column)) for lb, column in zip(logs, self._columns)]
        total = sum(new)
        if not total > 0:
            return [1.0 / len(new)] * len(new)
        return [p / total for p in new]

    def reading(self, filtered: list[float]) -> RegimeReading:
        probs = {}
        best, best_p = Regime.UNKNOWN, -1.0
        for label, name, states in self._groups:
            p = 0.0
            for k in states:
                p += filtered[k]
            probs[name] = p
            if p > best_p:
                best, best_p = label, p
        return RegimeReading(best, MappingProxyType(probs))


def label_history(closes: list[float], settings: RegimeSettings, *, apply_after: int = 0) -> list[RegimeReading]:
    """Every candle's reading, each fit run at once and installed `apply_after` candles after it
    was asked for: what a sim bot on these closes sees (`runner.regime`), without the runner."""
    detector = RegimeDetector(settings)
    readings: list[RegimeReading] = []
    pending: deque[tuple[int, RegimeModel]] = deque()
    for index, close in enumerate(closes):
        while pending and pending[0][0] <= index:
            detector.install(pending.popleft()[1])     # before this candle's own step
        readings.append(detector.update(close))
        request = detector.fit_request()
        if request is not None:
            model = fit_regime_model(request)
            if apply_after:
                pending.append((index + apply_after, model))
            else:
                detector.install(model)
                readings[-1] = detector.reading
    return readings
