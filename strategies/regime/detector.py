"""`RegimeDetector`: a label for every closed candle from an HMM refitted on recent history.

The model: K hidden states, each a Gaussian over the candle's log return r (its drift and its
volatility; `strategies.regime.observations`), with a role given by its place:

    state 0, 1        rising and falling: the same volatility, drifts +mu and -mu
    states 2 .. K-2   quiet, no drift
    state K-1         wild, no drift

Each role's volatility is held inside its label's band of the `LabelRule` (relative to the
reference volatility: the median of the window's realized volatility), so a state cannot
wander into another's role when a window lacks that regime, and the labels, read off each fitted state's drift and volatility by the
rule, cannot swap between refits. The transition matrix is fitted with a sticky Dirichlet
prior (mean regime length `regime_candles`): the filter then adds up a weak drift's evidence
over hundreds of candles instead of leaving a state at the first odd candle, and every switch,
also one the window did not hold, stays possible.

Per candle (`update`, O(K^2) in plain floats, on the event loop): one step of the forward
recursion turns the previous candle's state probabilities into this candle's, P(state_t |
r_1..r_t). Only these *filtered* probabilities are used; a smoothed (forward-backward) label
would use later candles. A label's probability is the sum over its states; the regime is the
most probable label.

Fitting is separate, so that the caller decides where it runs: when one is due (`min_window`
observations seen, and `refit_every` candles since the last one was asked for), `fit_request()`
hands out a `FitRequest`, `fit_regime_model(request)` (pure, slow: run it in a worker thread)
makes a `RegimeModel`, and `install(model)` puts it to use. The model knows where its window
ended, so `install` runs the forward recursion over the candles observed since: a model that
took five candles to fit labels the sixth exactly as one fitted at once would have. A refit
starts from the last model (a few Baum-Welch iterations rather than a fit from scratch).

Each fit sees the last `window` observations (fewer until that many are seen). After every
M-step the two trend states are made each other's mirror image (`_in_roles`): up and down are
equally likely a priori, and a window that rose more than it fell would otherwise give the
falling state another volatility, and with it another role (fitted freely, one trend state
took the sideways markets' volatility, and downtrends were labelled by the other).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from market.regime import NO_READING, Regime, RegimeReading
from strategies.regime.hmm import GaussianHMM, fit_hmm, forward
from strategies.regime.labelling import LabelRule
from strategies.regime.observations import RegimeObservations
from strategies.regime.window import ObservationWindow

__all__ = ["KNOWN_REGIMES", "FitRequest", "RegimeDetector", "RegimeModel", "RegimeSettings", "fit_regime_model",
           "label_history"]

KNOWN_REGIMES = (Regime.TRENDING_UP, Regime.TRENDING_DOWN, Regime.RANGING, Regime.VOLATILE)
RISING, FALLING = 0, 1


@dataclass(frozen=True, slots=True)
class RegimeSettings:
    """The detector's settings (`regime:` in a bot config). Two bots with equal settings on one
    stream share one detector. The windows, `refit_every` and `regime_candles` count candles.

    `min_drift` is the least drift per candle, in units of volatility, that the trend states
    keep (a window without a trend would otherwise fit them none, and the next trend would be
    called ranging until a refit). `max_iterations` bounds the first fit, `refit_iterations`
    the later ones, which start from the last model."""

    states: int = 4
    window: int = 20_000
    min_window: int = 5_000
    refit_every: int = 2_000
    vol_window: int = 60
    regime_candles: int = 1_000
    min_drift: float = 0.03
    rule: LabelRule = field(default_factory=LabelRule)
    max_iterations: int = 20
    refit_iterations: int = 6


@dataclass(frozen=True, slots=True)
class FitRequest:
    """Everything a fit needs, copied out of the detector: the raw observations of the window
    (W, 2: r, log_vol), `end`, the count of observations at its last one, and the model to
    start from (None: the first fit)."""

    observations: np.ndarray
    end: int
    settings: RegimeSettings
    previous: RegimeModel | None = None


@dataclass(frozen=True, slots=True)
class RegimeModel:
    """A fitted HMM over r / `scale`, each state's label, and the filtered state probabilities
    at the window's last observation (`end`)."""

    hmm: GaussianHMM
    scale: float
    labels: tuple[Regime, ...]
    filtered: tuple[float, ...]
    end: int
    log_likelihood: float
    iterations: int


def fit_regime_model(request: FitRequest) -> RegimeModel:
    """MAP Baum-Welch on the request's window, states held to their roles; pure, so any thread may run it."""
    settings, rule, k = request.settings, request.settings.rule, request.settings.states
    returns, log_vols = request.observations[:, 0], request.observations[:, 1]
    scale = float(returns.std()) or 1.0
    z = (returns / scale)[:, None]
    # The window's median: a long-run average (an EWMA over everything seen) stayed at the level
    # of a calm first window for tens of thousands of candles, and called every later trend
    # volatile (seed 2 of the synthetic generator: 25% agreement; 79% with the median).
    reference_log_vol = float(np.median(log_vols))
    reference = math.exp(reference_log_vol) / scale                 # in units of z
    bounds = _variance_bounds(k, reference, rule)
    if request.previous is None:
        initial, iterations = _initial_model(np.exp(log_vols) / scale, k, bounds, settings), settings.max_iterations
    else:
        initial, iterations = _rescaled(request.previous, scale, settings), settings.refit_iterations
    def in_roles(model: GaussianHMM) -> GaussianHMM:
        return _in_roles(model, bounds, settings.min_drift)

    hmm, log_likelihood, iterations = fit_hmm(
        z, k, max_iter=iterations, initial=in_roles(initial),
        transition_prior=_sticky_prior(k, len(z), settings.regime_candles), constrain=in_roles)
    sd = np.sqrt(hmm.variances[:, 0])
    labels = tuple(rule.label(float(m / s), math.log(s * scale), reference_log_vol)
                   for m, s in zip(hmm.means[:, 0], sd))
    filtered = forward(hmm, z)[0][-1]
    return RegimeModel(hmm, scale, labels, tuple(filtered.tolist()), request.end, log_likelihood, iterations)


def _variance_bounds(k: int, reference: float, rule: LabelRule) -> tuple[np.ndarray, np.ndarray]:
    """Each role's band of variance (K, 1), from the rule's volatility ratios: quiet below
    `quiet_ratio` x the reference, wild at or above `volatile_ratio` x it, trends between."""
    quiet, wild = (rule.quiet_ratio * reference) ** 2, (rule.volatile_ratio * reference) ** 2
    # A hair inside each edge, so that a variance clipped to its bound still gets its role's label.
    lower = np.array([quiet * 1.001] * 2 + [1e-6 * quiet] * (k - 3) + [wild * 1.001])
    upper = np.array([wild * 0.999] * 2 + [quiet * 0.999] * (k - 3) + [1e6 * wild])
    return lower[:, None], upper[:, None]


def _initial_model(vols: np.ndarray, k: int, bounds: tuple[np.ndarray, np.ndarray],
                   settings: RegimeSettings) -> GaussianHMM:
    """The first fit's start: trend states at the window's median realized volatility, quiet
    ones spread over its 10-30% quantiles, the wild one at its 95%, each held to its band."""
    levels = np.quantile(vols, [0.5, 0.5, *np.linspace(0.1, 0.3, k - 3), 0.95])
    variances = np.clip((levels ** 2)[:, None], *bounds)
    stay = 1.0 - 1.0 / settings.regime_candles
    transition = np.full((k, k), (1.0 - stay) / (k - 1))
    np.fill_diagonal(transition, stay)
    return GaussianHMM(np.full(k, 1.0 / k), transition, np.zeros((k, 1)), variances)


def _rescaled(model: RegimeModel, scale: float, settings: RegimeSettings) -> GaussianHMM:
    """The last model in this window's units (r / scale instead of r / model.scale)."""
    hmm, ratio = model.hmm, model.scale / scale
    return GaussianHMM(hmm.start, hmm.transition, hmm.means * ratio, hmm.variances * ratio ** 2)


def _in_roles(hmm: GaussianHMM, bounds: tuple[np.ndarray, np.ndarray], min_drift: float) -> GaussianHMM:
    """`hmm` with each state held to its role: the trend states each other's mirror image (their
    variance the mean of both, drifts +-d with d the mean of +mean_0 and -mean_1, at least
    `min_drift` volatilities), the others without drift, every variance inside its band.
    Up and down are equally likely a priori, and a window that rose more than it fell must not
    give the rising state a volatility or a drift the falling one lacks."""
    variances = hmm.variances.copy()
    variances[[RISING, FALLING]] = variances[[RISING, FALLING]].mean(axis=0)
    variances = np.clip(variances, *bounds)
    drift = max((float(hmm.means[RISING, 0]) - float(hmm.means[FALLING, 0])) / 2,
                min_drift * math.sqrt(float(variances[RISING, 0])))
    means = np.zeros_like(hmm.means)
    means[RISING, 0], means[FALLING, 0] = drift, -drift
    return GaussianHMM(hmm.start, hmm.transition, means, variances)


def _sticky_prior(k: int, observations: int, regime_candles: int) -> np.ndarray:
    """Dirichlet pseudo-counts for the transitions: as many as the window holds per state,
    spread as a chain whose regimes last `regime_candles` on average, every switch as likely."""
    weight = observations / k
    prior = np.full((k, k), weight / regime_candles / (k - 1))
    np.fill_diagonal(prior, weight * (1.0 - 1.0 / regime_candles))
    return prior


class RegimeDetector:
    """Labels closed candles; see the module docstring. Feed it every candle of one stream, in
    order, through `update`; ask `fit_request()` after each, and `install` what it led to."""

    def __init__(self, settings: RegimeSettings) -> None:
        if not settings.vol_window < settings.min_window <= settings.window or settings.refit_every < 1 or (
                settings.states < 4 or settings.regime_candles < 2):
            raise ValueError(f"the fit windows ({settings.min_window} <= {settings.window}) must be longer than the "
                             f"volatility window, refit_every ({settings.refit_every}) >= 1, states "
                             f"({settings.states}) >= 4 (two trends, a quiet and a wild one), regime_candles >= 2")
        self.settings = settings
        self.model: RegimeModel | None = None
        self.observed = 0                    # observations so far (candles past the warm-up)
        self._observations = RegimeObservations(settings.vol_window)
        self._recent = ObservationWindow(settings.window)
        self._requested_end = -1             # `observed` when the last fit was asked for
        self._filtered: list[float] = []
        self._step: _FilterStep | None = None
        self.reading: RegimeReading = NO_READING

    def update(self, close: float) -> RegimeReading:
        """This candle's reading: its observation, then one filter step (when a model is in)."""
        observation = self._observations.update(close)
        if observation is None:
            return self.reading
        self.observed += 1
        self._recent.append(observation)
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
        # A copy of numpy rows kept as the candles came (strategies.regime.window): about 60 us on the
        # loop for 20,000 observations, where np.array over them as tuples took 1.6-2.9 ms.
        return FitRequest(self._recent.latest(), self.observed, settings, self.model)

    def install(self, model: RegimeModel) -> None:
        """Use `model` from now on, its filter caught up over the candles seen since its window."""
        step = _FilterStep(model)
        filtered = list(model.filtered)
        behind = self.observed - model.end
        if behind > len(self._recent):      # fell further behind than the window: start afresh
            filtered = [1.0 / len(filtered)] * len(filtered)
            behind = len(self._recent)
        if behind:
            for observation in self._recent.tail(behind):
                filtered = step.advance(filtered, observation)
        self.model, self._step, self._filtered = model, step, filtered
        self.reading = step.reading(filtered)


class _FilterStep:
    """One forward step of a fitted model, compiled to straight-line float arithmetic for its K
    states: per candle, K Gaussian log densities, K^2 products and K exponentials, with every
    constant (means, 1 / 2 variance, normalizers, transitions) a literal. Plain floats beat
    numpy's per-call overhead at a handful of states, and the loops and tuple lookups of a
    generic version cost more than the arithmetic (bench/regime.py measures it).

    The densities are taken relative to the widest state's: for a crash candle every density
    underflows, but the widest one's ratio to itself is 1, and the sticky prior keeps every
    transition into it above zero, so the total never is zero."""

    __slots__ = ("advance", "reading")

    def __init__(self, model: RegimeModel) -> None:
        hmm, scale = model.hmm, model.scale
        means = (hmm.means[:, 0] * scale).tolist()
        variances = (hmm.variances[:, 0] * scale * scale).tolist()
        transition = hmm.transition.tolist()
        k = len(means)
        widest = max(range(k), key=variances.__getitem__)
        # log N(r; m, v) - log N(r; m_w, v_w) = c - (r - m)^2 h + (r - m_w)^2 h_w
        lines = ["def advance(filtered, observation, exp=exp):",
                 "    r = observation[0]",
                 f"    {', '.join(f'f{i}' for i in range(k))}, = filtered",
                 f"    w = (r - {means[widest]!r}) * (r - {means[widest]!r}) * {0.5 / variances[widest]!r}"]
        for j in range(k):
            c = 0.5 * math.log(variances[widest] / variances[j])
            prior = " + ".join(f"f{i} * {transition[i][j]!r}" for i in range(k))
            density = "1.0" if j == widest else (
                f"exp({c!r} - (r - {means[j]!r}) * (r - {means[j]!r}) * {0.5 / variances[j]!r} + w)")
            lines.append(f"    p{j} = {density} * ({prior})")
        lines.append(f"    total = 1.0 / ({' + '.join(f'p{j}' for j in range(k))})")
        lines.append(f"    return [{', '.join(f'p{j} * total' for j in range(k))}]")
        namespace: dict = {"exp": math.exp}
        exec("\n".join(lines), namespace)      # noqa: S102 - the source is built above from floats only
        self.advance = namespace["advance"]
        self.reading = _compiled_reading(model.labels)


def _compiled_reading(labels: tuple[Regime, ...]) -> Callable[[list[float]], RegimeReading]:
    """filtered -> RegimeReading: each label's probability the sum over its states, the regime
    the most probable label (the first in `KNOWN_REGIMES` order on a tie)."""
    sums = [" + ".join(f"filtered[{k}]" for k, lab in enumerate(labels) if lab is label) or "0.0"
            for label in KNOWN_REGIMES]
    lines = ["def reading(filtered):"]
    lines += [f"    q{n} = {total}" for n, total in enumerate(sums)]
    lines.append("    best, p = L0, q0")
    lines += [f"    if q{n} > p:\n        best, p = L{n}, q{n}" for n in range(1, len(sums))]
    # tuple.__new__ skips the NamedTuple's Python-level __new__ (a third of this function's time).
    lines.append("    return new(Reading, (best, Proxy({" + ", ".join(
        f"{label.value!r}: q{n}" for n, label in enumerate(KNOWN_REGIMES)) + "})))")
    namespace: dict = {"Reading": RegimeReading, "Proxy": MappingProxyType, "new": tuple.__new__}
    namespace.update({f"L{n}": label for n, label in enumerate(KNOWN_REGIMES)})
    exec("\n".join(lines), namespace)          # noqa: S102 - built above from indices and enum values
    return namespace["reading"]


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
