"""The HMM's one sequential recursion, run in chunks so that numpy does the work in a few hundred
calls instead of several per time step.

Both passes of forward-backward are the same normalized linear recursion:

    v_0 = first / c_0                        c_0 = sum(first)
    v_t = (v_{t-1} @ A) * e_t / c_t          c_t = sum((v_{t-1} @ A) * e_t),  t = 1 .. T-1

the forward pass with A the transition matrix and e_t the emission densities (v_t is then the
filtered distribution and c_t the scale factor), the backward pass with A transposed over the
reversed sequence. Step by step it costs a handful of numpy calls on K-element arrays per time
step (3 to 6 us at K = 4: 0.05 to 0.12 s per pass over 20,000 candles, nearly all of a regime
fit's cost); chunked, about 3 ms (both timed side by side, best of 15).

Chunked, in three passes over chunks of L steps (L about 0.7 sqrt(T)):

1. each chunk's product of step matrices P_c = M_{cL+1} .. M_{cL+L}, M_t = A diag(e_t), every
   chunk at once (L steps over (chunks, K, K) arrays, rescaled: the scale of P_c is of no use);
2. the vector at each chunk's start, chunk by chunk: v_{(c+1)L} is v_{cL} @ P_c normalized
   (T / L steps of one vector-matrix product);
3. every chunk at once, step by step from those starts (L steps over (chunks, K) arrays): the
   very step of the plain recursion, so each v_t and c_t is computed as before, and only the
   chunk starts come from products (rounded differently, and forgotten by the recursion, which
   contracts).

A step whose total is not above zero (every state impossible: a transition matrix with zeros and
a variance floored to nothing) restarts flat at 1 / K with c_t = 1; a chunk start cannot know of
that, so such a sequence is rerun step by step, as is one whose products come near underflow.
"""

from __future__ import annotations

import math

import numpy as np

# Below about 32 steps the chunks' set-up costs more than it saves (64: 68 against 151 us).
_MIN_CHUNKED_STEPS = 64
# Passes 1 and 2 rescale every this many steps. A step's total is the chance of its emission
# relative to the likeliest state's: about the chance of switching to that state at worst (1e-4
# at the regime detector's defaults). A product whose scale still falls under _TINY (near the
# denormals, where rounding is no longer relative) sends the sequence step by step.
_RESCALE = 4
_TINY = 1e-280


def normalized_chain(first: np.ndarray, transition: np.ndarray, emissions: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The rows v_0 .. v_{T-1} (T, K) of the recursion above and their totals c (T,), for
    `first` (K,), `transition` (K, K) and `emissions` (T-1, K): e_1 .. e_{T-1}. Chunked from
    64 steps, step by step below that or where the chunks cannot be trusted (see above)."""
    steps = len(emissions)
    if steps >= _MIN_CHUNKED_STEPS:
        chunked = _chunked(first, transition, emissions)
        if chunked is not None:
            return chunked
    return _stepwise(first, transition, emissions)


def _stepwise(first: np.ndarray, transition: np.ndarray, emissions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k = len(first)
    rows = np.empty((len(emissions) + 1, k))
    totals = np.empty(len(emissions) + 1)
    a = first
    for t in range(len(rows)):
        if t:
            a = (a @ transition) * emissions[t - 1]
        total = a.sum()
        if not total > 0:       # every state at zero (a variance floored to nothing): restart flat
            a, total = np.full(k, 1.0 / k), 1.0
        a = a / total
        rows[t] = a
        totals[t] = total
    return rows, totals


def _chunked(first: np.ndarray, transition: np.ndarray, emissions: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray] | None:
    """The three passes of the module docstring; None where a total is not above zero or a
    product's scale falls near the denormals."""
    with np.errstate(divide="ignore", invalid="ignore"):    # a zero total: None, below
        return _chunked_passes(first, transition, emissions)


def _chunked_passes(first: np.ndarray, transition: np.ndarray, emissions: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray] | None:
    steps, k = emissions.shape
    # L: pass 1 and 3 make a few numpy calls per step of a chunk, pass 2 one per chunk; this
    # balances them (bench/regime_fit.py: 0.6 to 0.8 sqrt(T) were the fastest).
    length = max(2, int(0.7 * math.sqrt(steps)))
    chunks = -(-steps // length)
    # Step j of every chunk side by side: e[j, c] = e_{1 + cL + j}. The last chunk's tail is
    # padding, computed and dropped.
    e = np.ones((length, chunks, k))
    by_chunk = e.transpose(1, 0, 2)
    whole = (chunks - 1) * length
    by_chunk[:-1] = emissions[:whole].reshape(chunks - 1, length, k)
    by_chunk[-1, :steps - whole] = emissions[whole:]
    first_total = first.sum()
    if not first_total > 0:
        return None
    # v_0 .. v_T in time order; pass 3 writes chunk c's step j at row 1 + cL + j.
    rows = np.empty((1 + chunks * length, k))
    totals = np.empty(1 + chunks * length)
    rows[0], totals[0] = first / first_total, first_total
    starts = np.empty((chunks, k))
    starts[0] = rows[0]
    if chunks > 1:
        # Pass 1: the products of chunks 0 .. C-2 (the last one's is never needed), as one
        # (C-1)K x K matrix times A per step.
        n = chunks - 1
        product = transition * e[0, :-1, None, :]           # M[c, i, j] = A[i, j] e[c, j]
        for j in range(1, length):
            product = (product.reshape(n * k, k) @ transition).reshape(n, k, k)
            product *= e[j, :-1, None, :]
            if j % _RESCALE == 0 or j == length - 1:
                scale = product.sum(axis=(1, 2), keepdims=True)
                if not (scale > _TINY).all():
                    return None
                product /= scale
        # Pass 2: each chunk's start from the last, rescaled every few chunks, normalized after.
        for c in range(1, chunks):
            np.matmul(starts[c - 1], product[c - 1], out=starts[c])
            if c % _RESCALE == 0:
                starts[c] /= starts[c].sum()
        scale = starts.sum(axis=1, keepdims=True)
        if not (scale > _TINY).all():
            return None
        starts /= scale
    # Pass 3: the plain step, every chunk at once.
    chunk_rows = rows[1:].reshape(chunks, length, k)
    chunk_totals = totals[1:].reshape(chunks, length)
    v = starts
    for j in range(length):
        a = np.matmul(v, transition)
        a *= e[j]
        total = np.add.reduce(a, axis=1, out=chunk_totals[:, j])
        v = np.divide(a, total[:, None], out=chunk_rows[:, j])
    if not (totals[:steps + 1] > 0).all():
        return None
    return rows[:steps + 1], totals[:steps + 1]
