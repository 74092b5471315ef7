"""The HMM's forward-backward as it was before the chunked recursion (strategies/regime/recursion.py):
numpy, one time step at a time, beta scaled by the forward pass' factors (Rabiner 1989, V.A).
The reference the chunked one is checked against (tests/unit/strategies/regime/test_recursion.py,
bench/regime_fit.py). Swap both functions into strategies.regime.hmm to fit with it."""

from __future__ import annotations

import numpy as np

from strategies.regime.hmm import GaussianHMM, _scaled_emissions


def forward_scaled(model: GaussianHMM, emissions: tuple[np.ndarray, np.ndarray]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    b, peaks = emissions
    transition = model.transition
    alpha = np.empty_like(b)
    scales = np.empty(len(b))
    a = model.start * b[0]
    for t in range(len(b)):
        if t:
            a = (a @ transition) * b[t]
        scale = a.sum()
        if not scale > 0:       # every state at zero (a variance floored to nothing): restart flat
            a, scale = np.full(len(a), 1.0 / len(a)), 1.0
        a = a / scale
        alpha[t] = a
        scales[t] = scale
    return alpha, scales, peaks


def baum_welch_step(model: GaussianHMM, sequences: list[np.ndarray], min_variance: float,
                    transition_prior: np.ndarray | None = None) -> tuple[GaussianHMM, float]:
    """One E and M step over every sequence; the new model and the log likelihood under the old one."""
    transition = model.transition
    n_states, dims = model.means.shape
    start, xi = np.zeros(n_states), np.zeros((n_states, n_states))
    weight, first, second = np.zeros(n_states), np.zeros((n_states, dims)), np.zeros((n_states, dims))
    log_likelihood = 0.0
    for x in sequences:
        b, peaks = _scaled_emissions(model, x)
        alpha, scales, _ = forward_scaled(model, (b, peaks))
        # beta_t = A (b_{t+1} * beta_{t+1}) / c_{t+1}, scaled by the same factors as alpha.
        weighted = np.zeros_like(b)             # b_t * beta_t / c_t, the backward pass' rows
        beta = np.ones(n_states)
        for t in range(len(b) - 1, 0, -1):
            w = b[t] * beta / scales[t]
            weighted[t] = w
            beta = transition @ w
        betas = np.ones_like(b)
        betas[:-1] = weighted[1:] @ transition.T
        gamma = alpha * betas
        gamma /= gamma.sum(axis=1, keepdims=True)
        start += gamma[0]
        # Sum over t of the pairwise posteriors xi_t(i, j) = alpha_t(i) A(i, j) w_{t+1}(j).
        xi += transition * (alpha[:-1].T @ weighted[1:])
        weight += gamma.sum(axis=0)
        first += gamma.T @ x
        second += gamma.T @ (x * x)
        log_likelihood += float(np.log(scales).sum() + peaks.sum())
    # A state nothing visits keeps its old parameters rather than rows of zeros.
    visited = weight > 1e-300
    if transition_prior is not None:        # the Dirichlet prior's mode: counts + (alpha - 1)
        xi += transition_prior
    rows = xi.sum(axis=1, keepdims=True)
    new_transition = np.where(rows > 1e-300, xi / np.maximum(rows, 1e-300), transition)
    safe = np.maximum(weight, 1e-300)[:, None]
    means = np.where(visited[:, None], first / safe, model.means)
    variances = np.where(visited[:, None], np.maximum(second / safe - means * means, min_variance), model.variances)
    return GaussianHMM(start / len(sequences), new_transition, means, variances), log_likelihood
