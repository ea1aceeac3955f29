"""numpy reductions of the checks, drift and diagnostics in one kernel pass each, the same
values to the bit as the array expressions they replace (tests/audio/test_reductions.py
checks them against numpy): block mean squares without the squared copy, and band
energies of frame spectra without the power-spectrum array.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: Longest block (and band) the kernels sum in numpy's order; numpy splits longer ones.
MAX_RUN = 128


def mean_square_blocks(x: NDArray[np.float64], size: int) -> NDArray[np.float64]:
    """``(x[:k * size].reshape(k, size) ** 2).mean(axis=1)``, ``k = len(x) // size``."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    if size > MAX_RUN:
        k = x.shape[0] // size
        return (x[: k * size].reshape(k, size) ** 2).mean(axis=1)
    from perceptq.audio._kernels import _mean_square_blocks_kernel

    out = np.empty(x.shape[0] // size)
    _mean_square_blocks_kernel(x, size, out, np.empty(size))
    return out


def band_powers(spec: NDArray[np.complex128], first: NDArray[np.int64],
                width: NDArray[np.int64], picked: NDArray[np.int64],
                total: NDArray[np.float64]) -> NDArray[np.float64]:
    """Band energies (frames, bands) of the power spectra of ``spec`` (frames, bins): band
    ``j`` sums bins ``first[j]`` .. ``first[j] + width[j] - 1`` (0 when ``width[j]`` is 0),
    as ``np.add.reduceat(power, first, axis=1)`` does with empty bands set to 0. The power
    spectra of the frames ``picked`` (ascending indices) are added to ``total`` in place, as
    ``total + power[picked].sum(axis=0)``."""
    from perceptq.audio._kernels import _band_power_kernel

    if int(np.max(width, initial=0)) > MAX_RUN + 1:
        raise ValueError(f"bands wider than {MAX_RUN + 1} bins")
    spec = np.ascontiguousarray(spec, dtype=np.complex128)
    out = np.empty((spec.shape[0], first.shape[0]))
    _band_power_kernel(spec, np.ascontiguousarray(first, dtype=np.int64),
                       np.ascontiguousarray(width, dtype=np.int64),
                       np.ascontiguousarray(picked, dtype=np.int64), total, out,
                       np.empty(spec.shape[1]))
    return out
