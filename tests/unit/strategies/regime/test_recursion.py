"""The chunked recursion of forward-backward against the step-by-step one it replaced: the same
rows and scale factors, the same Baum-Welch step, and the same detector labels and fits on
synthetic and real BTC candles (bench/regime_fit.py runs the long version: 40,000 candles a seed)."""

import numpy as np
import pytest

from market.files import load_candles
from market.synthetic import generate_candles
from strategies.regime import detector as detector_module
from strategies.regime import hmm
from strategies.regime.detector import RegimeSettings, label_history
from strategies.regime.hmm import GaussianHMM, _baum_welch_step, _scaled_emissions, sample_hmm
from strategies.regime.recursion import _stepwise, normalized_chain
from tests.unit.strategies.regime import stepwise_hmm

# Small windows, so that the step-by-step reference fits in about a second; long enough (over
# 64 steps) for the chunked path.
SETTINGS = RegimeSettings(window=2_000, min_window=2_000, refit_every=1_500)


def _sticky_model() -> GaussianHMM:
    transition = np.full((4, 4), 0.002 / 3)
    np.fill_diagonal(transition, 0.998)
    return GaussianHMM(np.full(4, 0.25), transition, np.array([[0.3], [-0.3], [0.0], [0.0]]),
                       np.array([[1.0], [1.0], [0.3], [4.0]]))


@pytest.mark.parametrize("count", [65, 257, 1_000, 4_099])     # chunks with and without a padded tail
def test_the_chunked_recursion_gives_the_step_by_step_rows_and_totals(count):
    model = _sticky_model()
    x = sample_hmm(model, count, np.random.default_rng(count))[1]
    b, _ = _scaled_emissions(model, x)
    for first, transition, emissions in [(model.start * b[0], model.transition, b[1:]),
                                         (b[-1], model.transition.T, b[-2::-1])]:
        rows, totals = normalized_chain(first, transition, emissions)
        expected_rows, expected_totals = _stepwise(first, transition, emissions)
        np.testing.assert_allclose(rows, expected_rows, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(totals, expected_totals, rtol=1e-12)


def test_a_step_where_no_state_is_possible_restarts_flat_as_step_by_step():
    # The first state only ever leads to itself, and at step 700 only the second one can emit.
    transition = np.eye(2)
    emissions = np.ones((999, 2))
    emissions[700] = [0.0, 1.0]
    rows, totals = normalized_chain(np.array([1.0, 0.0]), transition, emissions)
    np.testing.assert_array_equal(rows[701], [0.5, 0.5])
    assert totals[701] == 1.0
    expected_rows, expected_totals = _stepwise(np.array([1.0, 0.0]), transition, emissions)
    np.testing.assert_array_equal(rows, expected_rows)
    np.testing.assert_array_equal(totals, expected_totals)


def test_steps_each_1e_minus_100_likely_give_the_step_by_step_rows_and_totals():
    # Each step only the state the last one almost never leads to can emit: a chunk's product
    # of such steps underflows, the normalized step-by-step rows do not.
    transition = np.array([[1 - 1e-100, 1e-100], [1e-100, 1 - 1e-100]])
    emissions = np.tile([[0.0, 1.0], [1.0, 0.0]], (500, 1))
    rows, totals = normalized_chain(np.array([1.0, 0.0]), transition, emissions)
    expected_rows, expected_totals = _stepwise(np.array([1.0, 0.0]), transition, emissions)
    np.testing.assert_allclose(rows, expected_rows, rtol=1e-12)
    np.testing.assert_allclose(totals, expected_totals, rtol=1e-12)
    assert totals[1:].max() < 1e-99


def test_a_baum_welch_step_equals_the_step_by_step_one():
    model = _sticky_model()
    x = sample_hmm(model, 3_000, np.random.default_rng(5))[1]
    prior = np.full((4, 4), 1.0) + np.eye(4) * 500
    new, log_likelihood = _baum_welch_step(model, [x, -x], 1e-3, prior)
    expected, expected_log_likelihood = stepwise_hmm.baum_welch_step(model, [x, -x], 1e-3, prior)
    for name in ("start", "transition", "means", "variances"):
        # atol: the quiet and wild states' means are zeros, up to rounding, over x and -x
        np.testing.assert_allclose(getattr(new, name), getattr(expected, name), rtol=1e-11, atol=1e-15)
    assert log_likelihood == pytest.approx(expected_log_likelihood, rel=1e-13)


def _labelled_with_fits(closes: list[float], monkeypatch, *, step_by_step: bool):
    fits, fit = [], detector_module.fit_regime_model
    with monkeypatch.context() as patch:
        patch.setattr(detector_module, "fit_regime_model", lambda request: fits.append(fit(request)) or fits[-1])
        if step_by_step:
            patch.setattr(hmm, "_baum_welch_step", stepwise_hmm.baum_welch_step)
            patch.setattr(hmm, "_forward_scaled", stepwise_hmm.forward_scaled)
        return label_history(closes, SETTINGS, apply_after=10), fits


def _assert_same_labels_and_fits(closes: list[float], monkeypatch) -> None:
    readings, fits = _labelled_with_fits(closes, monkeypatch, step_by_step=False)
    expected, expected_fits = _labelled_with_fits(closes, monkeypatch, step_by_step=True)
    assert len(fits) == len(expected_fits) >= 3
    assert [r.regime for r in readings] == [r.regime for r in expected]
    for reading, other in zip(readings, expected):
        assert reading.probs == pytest.approx(other.probs, rel=1e-9, abs=1e-12)
    for fit, other in zip(fits, expected_fits):
        assert (fit.labels, fit.iterations) == (other.labels, other.iterations)
        for name in ("start", "transition", "means", "variances"):
            np.testing.assert_allclose(getattr(fit.hmm, name), getattr(other.hmm, name), rtol=1e-9)
        assert fit.log_likelihood == pytest.approx(other.log_likelihood, rel=1e-12)
        assert fit.filtered == pytest.approx(other.filtered, rel=1e-9, abs=1e-12)


def test_the_detector_labels_and_fits_synthetic_candles_as_with_the_step_by_step_recursion(monkeypatch):
    _assert_same_labels_and_fits([c.close for c in generate_candles(count=6_000, seed=42)], monkeypatch)


def test_the_detector_labels_and_fits_real_btc_candles_as_with_the_step_by_step_recursion(shared_data, monkeypatch):
    candles = load_candles(shared_data / "BTC_USD-1m-2022-01.csv").candles
    _assert_same_labels_and_fits([c.close for c in candles[20_000:26_000]], monkeypatch)

