"""Butterworth filters of the input checks and diagnostics, without importing scipy.signal.

``scipy.signal`` takes most of a second to import (it pulls in ``scipy.stats``), more than a
whole 10 s pair takes to score, so the two designs used on every call are kept here as
the coefficients ``scipy.signal.butter`` gives at the model rates (a test checks they still
agree), and filtering runs in a numba kernel that repeats ``scipy.signal.sosfilt``'s
arithmetic operation by operation. Other rates fall back to scipy.signal.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: Designs in use: name -> (order, cut-off Hz, band type) as given to scipy.signal.butter.
DESIGNS = {
    "dc_hum": (2, 100.0, "highpass"),  # checks: DC and hum removal before frame levels
    "telephone_band": (4, (300.0, 3400.0), "bandpass"),  # diagnostics: 300-3400 Hz levels
}

#: scipy.signal.butter(order, cut-off, band, fs=fs, output="sos") at the model rates.
_SOS = {
    ("dc_hum", 8000): [[0.9459768560027902, -1.8919537120055805, 0.9459768560027902,
                        1.0, -1.8890330793945245, 0.8948743446166354]],
    ("dc_hum", 16000): [[0.9726138984998438, -1.9452277969996876, 0.9726138984998438,
                         1.0, -1.9444776577670935, 0.9459779362322813]],
    ("telephone_band", 8000): [
        [0.38783095426643777, 0.7756619085328755, 0.38783095426643777,
         1.0, 1.2274704860994592, 0.39450250896553396],
        [1.0, -2.0, 1.0, 1.0, -1.583868533292729, 0.6336862439335336],
        [1.0, 2.0, 1.0, 1.0, 1.5250350254256015, 0.7146213626170144],
        [1.0, -2.0, 1.0, 1.0, -1.7905664366124538, 0.8422361647626042]],
    ("telephone_band", 16000): [
        [0.04213264620447594, 0.08426529240895188, 0.04213264620447594,
         1.0, -0.39112790241252204, 0.09087590988960496],
        [1.0, 2.0, 1.0, 1.0, -0.3770506584528211, 0.5109041566523097],
        [1.0, -2.0, 1.0, 1.0, -1.769041649621499, 0.7853120861143953],
        [1.0, -2.0, 1.0, 1.0, -1.9093502950980377, 0.9231429208679337]],
}


def butter_sos(design: str, fs: int) -> NDArray[np.float64]:
    """Second-order sections (k, 6) of one of :data:`DESIGNS` at rate ``fs``."""
    table = _SOS.get((design, fs))
    if table is not None:
        return np.array(table)
    from scipy.signal import butter  # rates other than the model rates: rare

    order, cut, band = DESIGNS[design]
    return butter(order, cut, band, fs=fs, output="sos")


def sosfilt(sos: NDArray[np.float64], x: NDArray[np.float64],
            zi: NDArray[np.float64] | None = None) -> tuple[NDArray[np.float64],
                                                            NDArray[np.float64]]:
    """(filtered ``x``, final state): ``scipy.signal.sosfilt(sos, x, zi=zi)`` for 1-D ``x``,
    zero initial state when ``zi`` is None."""
    y, _, state, _ = sosfilt_pair(sos, x, np.zeros(0), zi)
    return y, state


def sosfilt_pair(sos: NDArray[np.float64], x: NDArray[np.float64], y: NDArray[np.float64],
                 zx: NDArray[np.float64] | None = None, zy: NDArray[np.float64] | None = None,
                 *, offsets: tuple[float, float] = (0.0, 0.0)
                 ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64],
                            NDArray[np.float64]]:
    """:func:`sosfilt` of two 1-D signals (any lengths) in one kernel pass, each less its
    ``offsets`` entry first (``x - offsets[0]`` as numpy computes it): (filtered ``x``,
    filtered ``y``, final state of ``x``, final state of ``y``). The same numbers as two
    calls, in one call (a single section runs both recurrences side by side: twice as
    fast as two calls)."""
    from perceptq.audio._kernels import _sos_kernel

    def state(zi):
        return np.zeros((sos.shape[0], 2)) if zi is None else np.array(zi, dtype=np.float64)

    sx, sy = state(zx), state(zy)
    fx = np.ascontiguousarray(x, dtype=np.float64) - float(offsets[0])  # new arrays: the
    fy = np.ascontiguousarray(y, dtype=np.float64) - float(offsets[1])  # kernel's output
    _sos_kernel(fx, fy, np.ascontiguousarray(sos, dtype=np.float64), sx, sy)
    return fx, fy, sx, sy
