"""The detector's observation window: the last `size` observations, copied out for a fit."""

import random
from collections import deque

import numpy as np
import pytest

from strategies.regime.window import CHUNK, ObservationWindow


@pytest.mark.parametrize("size", [1, 7, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5])
def test_the_window_is_the_last_observations_bit_for_bit_across_chunks_and_compactions(size):
    rng = random.Random(size)
    window, reference = ObservationWindow(size), deque(maxlen=size)
    for step in range(7 * size + 3 * CHUNK):
        observation = (rng.gauss(0, 0.01), rng.gauss(-6, 1))
        window.append(observation)
        reference.append(observation)
        if step % 97 == 0 or step % CHUNK in (0, CHUNK - 1):
            copied = window.latest()
            assert len(window) == len(reference)
            assert copied.dtype == np.float64 and copied.flags.c_contiguous
            assert np.array_equal(copied, np.array(reference))
            count = rng.randint(1, len(reference))
            assert [tuple(o) for o in window.tail(count)] == list(reference)[-count:]


def test_a_copy_handed_to_a_fit_does_not_change_as_candles_keep_coming():
    window = ObservationWindow(600)
    for i in range(700):
        window.append((float(i), -float(i)))
    copied = window.latest()
    for i in range(700, 700 + 5 * CHUNK):
        window.append((float(i), -float(i)))
    assert copied[0].tolist() == [100.0, -100.0] and copied[-1].tolist() == [699.0, -699.0]
    assert window.latest()[-1].tolist() == [699.0 + 5 * CHUNK, -699.0 - 5 * CHUNK]
