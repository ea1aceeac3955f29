"""From similarity to MOS: the audio-mode SVR, the speech-mode exponential fit, the extremes.

The audio-mode model is ViSQOL v3's default libsvm nu-SVR (RBF kernel) trained on the
TCDAudio14, AACvOpus14 and CoreSV15 datasets, shipped as ``data/libsvm_nu_svr_model.txt``
under the Apache License 2.0 (``data/LICENSE-visqol-model.txt``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

SVR_MODEL_PATH = Path(__file__).parent / "data" / "libsvm_nu_svr_model.txt"
#: Speech mode: MOS = A + exp(B (nsim - X0)), times SCALE so that NSIM 1 maps to 5.
SPEECH_FIT_A = -262.847869
SPEECH_FIT_B = 0.0154302525
SPEECH_FIT_X0 = -361.063949
SPEECH_FIT_SCALE = 1.245063
#: Below this mean similarity the pair is taken as unrelated audio: MOS 1.
MIN_SIMILARITY = 0.15


@dataclass(frozen=True, slots=True)
class SvrModel:
    """An RBF-kernel support vector regression: f(x) = sum_i c_i exp(-gamma |x - s_i|^2) - rho."""

    support_vectors: NDArray[np.float64]
    coefficients: NDArray[np.float64]
    gamma: float
    rho: float

    def predict(self, x: NDArray[np.float64]) -> float:
        """Evaluate the model at one feature vector of shape (n_features,)."""
        d2 = np.sum((self.support_vectors - x[None, :]) ** 2, axis=1)
        return float(np.dot(self.coefficients, np.exp(-self.gamma * d2)) - self.rho)


def parse_libsvm_model(text: str) -> SvrModel:
    """Parse a plain-text libsvm regression model with an RBF kernel (sparse SV rows)."""
    lines = text.splitlines()
    header: dict[str, str] = {}
    i = 0
    while i < len(lines) and lines[i].strip() != "SV":
        key, _, value = lines[i].strip().partition(" ")
        header[key] = value
        i += 1
    if header.get("kernel_type") != "rbf" or "svr" not in header.get("svm_type", ""):
        raise ValueError(f"not an RBF support vector regression model: {header!r}")
    rows = [line.split() for line in lines[i + 1 :] if line.strip()]
    pairs = [[tuple(tok.split(":")) for tok in row[1:]] for row in rows]
    n_features = max((int(k) for row in pairs for k, _ in row), default=0)
    sv = np.zeros((len(rows), n_features))
    for r, row in enumerate(pairs):
        for k, v in row:
            sv[r, int(k) - 1] = float(v)
    sv.setflags(write=False)
    coef = np.array([float(row[0]) for row in rows])
    coef.setflags(write=False)
    return SvrModel(sv, coef, float(header["gamma"]), float(header["rho"]))


@lru_cache(maxsize=1)
def default_svr_model() -> SvrModel:
    """ViSQOL v3's default audio-mode model (parsed once)."""
    return parse_libsvm_model(SVR_MODEL_PATH.read_text())


def svr_mos(fvnsim: NDArray[np.float64]) -> float:
    """Audio mode: the SVR prediction from the per-band similarity, clipped to [1, 5]."""
    return min(max(default_svr_model().predict(fvnsim), 1.0), 5.0)


def exponential_mos(fvnsim: NDArray[np.float64], *, scaled: bool = True) -> float:
    """Speech mode: the exponential fit of the mean similarity (scaled to 5), clipped to [1, 5]."""
    nsim = float(np.sum(fvnsim)) / fvnsim.shape[0]
    mos = SPEECH_FIT_A + np.exp(SPEECH_FIT_B * (nsim - SPEECH_FIT_X0))
    # ViSQOL holds the scale in single precision; keep that rounding for identical scores.
    scale = float(np.float32(SPEECH_FIT_SCALE)) if scaled else 1.0
    return min(max(float(mos) * scale, 1.0), 5.0)


def apply_extremes(vnsim: float, mos: float) -> float:
    """Totally dissimilar signals (mean similarity below 0.15) get MOS 1."""
    return 1.0 if vnsim < MIN_SIMILARITY else mos
