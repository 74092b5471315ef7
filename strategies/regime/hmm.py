"""A Gaussian hidden Markov model in numpy: scaled forward-backward and Baum-Welch.

K hidden states, each emitting a D-dimensional Gaussian with a diagonal covariance; a state
follows the last by the transition matrix. Written here rather than taken from hmmlearn: the
regime detector needs a few dozen lines of it (diagonal Gaussians, one sequence), and
hmmlearn would bring scikit-learn and scipy into the daemon for that.

The recursions are the scaled ones (Rabiner 1989, section V.A): each step's forward vector is
normalized to sum 1, so it *is* the filtered distribution P(state_t | x_1..x_t), and the log
likelihood is the sum of the logs of the scale factors. The backward vectors are normalized the
same way (their scale cancels in the posteriors), so both passes are one recursion, which
`recursion.normalized_chain` runs in chunks: a few hundred numpy calls per pass, not several per
observation. Emissions are exponentiated after subtracting each row's largest log density, so an
observation far from every state (a crash candle) cannot underflow to all zeros.

    model, log_likelihood, iterations = fit_hmm(x, n_states=4, seed=7)
    filtered, _ = forward(model, x)          # (T, K): P(state_t | x_1..t), causal
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from strategies.regime.recursion import normalized_chain

_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True, slots=True)
class GaussianHMM:
    """The parameters: `start` (K,), `transition` (K, K) with rows summing to 1, and per state
    the `means` (K, D) and `variances` (K, D) of its diagonal Gaussian emission."""

    start: np.ndarray
    transition: np.ndarray
    means: np.ndarray
    variances: np.ndarray

    @property
    def n_states(self) -> int:
        return len(self.start)


def log_emissions(model: GaussianHMM, x: np.ndarray) -> np.ndarray:
    """log N(x_t | mean_k, diag(var_k)) for every t and state k: shape (T, K)."""
    diff = x[:, None, :] - model.means[None, :, :]
    quad = (diff * diff / model.variances[None, :, :]).sum(axis=2)
    log_norm = -0.5 * (x.shape[1] * _LOG_2PI + np.log(model.variances).sum(axis=1))
    return log_norm[None, :] - 0.5 * quad


def forward(model: GaussianHMM, x: np.ndarray) -> tuple[np.ndarray, float]:
    """The filtered state probabilities P(state_t | x_1..t), shape (T, K), and log P(x_1..T).
    Each row uses only the observations up to its own: no look-ahead."""
    alpha, scales, peaks = _forward_scaled(model, _scaled_emissions(model, x))
    return alpha, float(np.log(scales).sum() + peaks.sum())


def fit_hmm(x: np.ndarray | Sequence[np.ndarray], n_states: int, *, seed: int = 0, max_iter: int = 60,
            tol: float = 1e-4, min_variance: float = 1e-3, sticky: float = 0.95, transition_prior: np.ndarray | None = None,
            initial: GaussianHMM | None = None, constrain: Callable[[GaussianHMM], GaussianHMM] | None = None,
            ) -> tuple[GaussianHMM, float, int]:
    """Baum-Welch from a seeded k-means start: the fitted model, its log likelihood and the
    iterations run. Stops when the log likelihood gains less than `tol` per observation.

    `x` is one (T, D) array or several (independent sequences of one model, e.g. a window and
    its mirror image), best standardized: the variance floor `min_variance` is in its units.
    `sticky` is the initial probability of staying in a state. The same arguments give the
    same model. Raises ValueError when there are fewer observations than states.

    `transition_prior` (K, K) makes it a MAP fit: pseudo-counts (a Dirichlet prior's alpha - 1)
    added to the expected transitions of each row. Heavy on the diagonal, the prior keeps a state
    rather than leaving it for a moment to explain one odd observation; above zero elsewhere, it
    keeps every switch possible, also one the window happened not to hold. `initial` starts from that model (a refit
    from the last fit: fewer iterations, and states that keep their meaning) instead of k-means.
    `constrain` maps each M-step's model to the nearest one the caller allows (tied or fixed
    means, variances held in bands); EM with such a projection is no longer exact, but keeps
    each state in the role the caller gave it.
    """
    sequences = [np.asarray(x, dtype=float)] if isinstance(x, np.ndarray) else [np.asarray(s, dtype=float) for s in x]
    total = sum(len(s) for s in sequences)
    if n_states < 1 or total < n_states or any(s.ndim != 2 or not len(s) for s in sequences):
        raise ValueError(f"need (T, D) arrays with T >= 1, n_states >= 1 and n_states observations at least; "
                         f"got shapes {[s.shape for s in sequences]}, n_states={n_states}")
    if initial is not None and initial.means.shape != (n_states, sequences[0].shape[1]):
        raise ValueError(f"initial model has means {initial.means.shape}, need ({n_states}, {sequences[0].shape[1]})")
    model = initial if initial is not None else _initial_model(
        np.concatenate(sequences), n_states, np.random.default_rng(seed), min_variance, sticky)
    previous = -math.inf
    log_likelihood = -math.inf
    iterations = 0
    for iterations in range(1, max_iter + 1):
        model, log_likelihood = _baum_welch_step(model, sequences, min_variance, transition_prior)
        if constrain is not None:
            model = constrain(model)
        if log_likelihood - previous < tol * total:
            break
        previous = log_likelihood
    return model, log_likelihood, iterations


def sample_hmm(model: GaussianHMM, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`count` (states, observations) drawn from `model`: for tests and benches."""
    states = np.empty(count, dtype=int)
    state = rng.choice(model.n_states, p=model.start)
    for t in range(count):
        if t:
            state = rng.choice(model.n_states, p=model.transition[state])
        states[t] = state
    noise = rng.standard_normal((count, model.means.shape[1]))
    return states, model.means[states] + noise * np.sqrt(model.variances[states])


def _scaled_emissions(model: GaussianHMM, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    log_b = log_emissions(model, x)
    peaks = log_b.max(axis=1)
    return np.exp(log_b - peaks[:, None]), peaks


def _forward_scaled(model: GaussianHMM, emissions: tuple[np.ndarray, np.ndarray]
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    b, peaks = emissions
    alpha, scales = normalized_chain(model.start * b[0], model.transition, b[1:])
    return alpha, scales, peaks


def _baum_welch_step(model: GaussianHMM, sequences: list[np.ndarray], min_variance: float,
                     transition_prior: np.ndarray | None = None) -> tuple[GaussianHMM, float]:
    """One E and M step over every sequence; the new model and the log likelihood under the old one."""
    transition = model.transition
    n_states, dims = model.means.shape
    start, xi = np.zeros(n_states), np.zeros((n_states, n_states))
    weight, first, second = np.zeros(n_states), np.zeros((n_states, dims)), np.zeros((n_states, dims))
    log_likelihood = 0.0
    for x in sequences:
        b, peaks = _scaled_emissions(model, x)
        alpha, scales, _ = _forward_scaled(model, (b, peaks))
        # The backward pass as the same chain over the reversed sequence: u_t = b_t * beta_t up
        # to a factor per t, u_{t-1} ~ (u_t @ A.T) * b_{t-1}, and beta_t ~ A @ u_{t+1}. Each t's
        # factor cancels in gamma_t, and in xi_t once divided by its total, which is gamma_t's.
        weighted = normalized_chain(b[-1], transition.T, b[-2::-1])[0][::-1]
        joint = alpha * _betas(transition, weighted, len(b))
        totals = joint.sum(axis=1)
        gamma = joint / totals[:, None]
        start += gamma[0]
        # Sum over t of the pairwise posteriors xi_t(i, j) = alpha_t(i) A(i, j) u_{t+1}(j) / total_t.
        xi += transition * ((alpha[:-1] / totals[:-1, None]).T @ weighted[1:])
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


def _betas(transition: np.ndarray, weighted: np.ndarray, count: int) -> np.ndarray:
    """The backward vectors (each up to a factor), rebuilt from the weighted rows of the backward pass."""
    betas = np.ones((count, transition.shape[0]))
    if count > 1:
        betas[:-1] = weighted[1:] @ transition.T
    return betas


def _initial_model(x: np.ndarray, n_states: int, rng: np.random.Generator, min_variance: float,
                   sticky: float) -> GaussianHMM:
    """Means from seeded k-means++ and a few Lloyd rounds; each cluster's variance; sticky rows."""
    centers = [x[rng.integers(len(x))]]
    for _ in range(1, n_states):
        d2 = np.min([((x - c) ** 2).sum(axis=1) for c in centers], axis=0)
        total = d2.sum()
        pick = rng.choice(len(x), p=d2 / total) if total > 0 else rng.integers(len(x))
        centers.append(x[pick])
    means = np.array(centers, dtype=float)
    for _ in range(10):
        nearest = ((x[:, None, :] - means[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
        for k in range(n_states):
            members = x[nearest == k]
            if len(members):
                means[k] = members.mean(axis=0)
    nearest = ((x[:, None, :] - means[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    variances = np.array([x[nearest == k].var(axis=0) if (nearest == k).sum() > 1 else x.var(axis=0)
                          for k in range(n_states)])
    variances = np.maximum(variances, min_variance)
    if n_states == 1:
        transition = np.ones((1, 1))
    else:
        transition = np.full((n_states, n_states), (1.0 - sticky) / (n_states - 1))
        np.fill_diagonal(transition, sticky)
    return GaussianHMM(np.full(n_states, 1.0 / n_states), transition, means, variances)
