"""The Gaussian HMM: forward probabilities against brute force, and Baum-Welch recovering a
model from a sequence sampled from it."""

import itertools
import math

import numpy as np
import pytest

from strategies.regime.hmm import GaussianHMM, fit_hmm, forward, log_emissions, sample_hmm


def _tiny_model() -> GaussianHMM:
    return GaussianHMM(start=np.array([0.6, 0.4]),
                       transition=np.array([[0.7, 0.3], [0.2, 0.8]]),
                       means=np.array([[0.0, 1.0], [2.0, -1.0]]),
                       variances=np.array([[1.0, 0.5], [2.0, 1.5]]))


def _brute_force(model: GaussianHMM, x: np.ndarray) -> tuple[np.ndarray, float]:
    """P(state_t | x_1..t) and log P(x) by summing the joint over every state path."""
    density = np.exp(log_emissions(model, x))
    count, states = len(x), model.n_states
    filtered = np.zeros((count, states))
    for t in range(count):
        for path in itertools.product(range(states), repeat=t + 1):
            p = model.start[path[0]] * density[0, path[0]]
            for s in range(1, t + 1):
                p *= model.transition[path[s - 1], path[s]] * density[s, path[s]]
            filtered[t, path[-1]] += p
    total = filtered[-1].sum()
    return filtered / filtered.sum(axis=1, keepdims=True), math.log(total)


def test_forward_probabilities_equal_brute_force_on_a_tiny_case():
    model = _tiny_model()
    x = np.array([[0.1, 0.9], [1.8, -0.7], [2.5, -1.2], [-0.3, 0.4], [1.0, 0.0]])
    filtered, log_likelihood = forward(model, x)
    expected_filtered, expected_log_likelihood = _brute_force(model, x)
    np.testing.assert_allclose(filtered, expected_filtered, rtol=1e-12)
    assert log_likelihood == pytest.approx(expected_log_likelihood, rel=1e-12)


def test_forward_survives_an_observation_far_from_every_state():
    model = _tiny_model()
    x = np.array([[0.0, 1.0], [1e4, -1e4], [2.0, -1.0]])
    filtered, log_likelihood = forward(model, x)
    assert np.isfinite(filtered).all() and np.isfinite(log_likelihood)
    np.testing.assert_allclose(filtered.sum(axis=1), 1.0)


def test_filtered_probabilities_do_not_depend_on_later_observations():
    model = _tiny_model()
    x = sample_hmm(model, 50, np.random.default_rng(3))[1]
    changed = x.copy()
    changed[30:] += 5.0
    np.testing.assert_array_equal(forward(model, x)[0][:30], forward(model, changed)[0][:30])


def test_baum_welch_recovers_the_model_a_sequence_was_sampled_from():
    truth = GaussianHMM(start=np.array([1.0, 0.0, 0.0]),
                        transition=np.array([[0.95, 0.03, 0.02], [0.04, 0.92, 0.04], [0.05, 0.05, 0.90]]),
                        means=np.array([[-2.0, 0.0], [0.0, 1.5], [2.5, -1.0]]),
                        variances=np.array([[0.3, 0.5], [0.4, 0.2], [0.6, 0.3]]))
    states, x = sample_hmm(truth, 6000, np.random.default_rng(11))
    model, log_likelihood, iterations = fit_hmm(x, 3, seed=5)

    order = np.argsort(model.means[:, 0])          # fitted states in the true states' order
    np.testing.assert_allclose(model.means[order], truth.means, atol=0.08)
    np.testing.assert_allclose(model.variances[order], truth.variances, rtol=0.12)
    np.testing.assert_allclose(model.transition[np.ix_(order, order)], truth.transition, atol=0.02)
    assert log_likelihood >= forward(truth, x)[1] - 1e-6 * len(x)   # at least as likely as the truth
    assert iterations < 60
    decoded = order.argsort()[forward(model, x)[0].argmax(axis=1)]
    assert (decoded == states).mean() > 0.97


def test_the_same_arguments_give_the_same_fit():
    x = sample_hmm(_tiny_model(), 500, np.random.default_rng(1))[1]
    first, second = fit_hmm(x, 2, seed=4), fit_hmm(x, 2, seed=4)
    np.testing.assert_array_equal(first[0].means, second[0].means)
    np.testing.assert_array_equal(first[0].transition, second[0].transition)
    assert first[1] == second[1]


def test_fitting_fewer_observations_than_states_is_refused():
    with pytest.raises(ValueError, match="n_states"):
        fit_hmm(np.zeros((2, 2)), 3)
