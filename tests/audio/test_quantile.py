"""The fast percentile of the checks and diagnostics is numpy's, to the bit."""

from __future__ import annotations

import numpy as np
import pytest

from perceptq.audio.quantile import percentile


def test_percentile_is_numpys_to_the_bit():
    rng = np.random.default_rng(99)
    for i in range(4000):
        n = int(rng.integers(1, 400))
        x = [rng.standard_normal(n) * 30,
             rng.integers(-4, 4, n).astype(float),  # ties
             10 * np.log10(rng.random(n) + 1e-20)][i % 3]
        if i % 5 == 0 and n % 4 == 0:
            x = x.reshape(-1, 4)  # over all values, as np.percentile without an axis
        q = float(rng.choice([0.0, 10.0, 50.0, 98.0, 99.0, 100.0, rng.uniform(0, 100)]))
        assert percentile(x, q) == float(np.percentile(x, q)), (n, q)


def test_percentile_defers_to_numpy_for_nan_and_empty_input():
    assert np.isnan(percentile(np.array([1.0, np.nan, 3.0]), 50))
    with pytest.raises((IndexError, ValueError)):
        np.percentile(np.zeros(0), 50)
    with pytest.raises((IndexError, ValueError)):
        percentile(np.zeros(0), 50)
