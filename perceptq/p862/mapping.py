"""Stage: raw score and MOS-LQO mapping (P.862, P.862.1, P.862.2)."""

from __future__ import annotations

import math

from perceptq.p862.config import A_WEIGHT, D_WEIGHT

#: Logistic mapping constants (slope, offset) per mode: P.862.1 (nb) and P.862.2 (wb).
MAPPING = {"nb": (1.4945, 4.6607), "wb": (1.3669, 3.8224)}


def raw_score(d: float, a: float) -> float:
    """P.862 raw score 4.5 - 0.1 D - 0.0309 A (about -0.5 ... 4.5)."""
    return 4.5 - D_WEIGHT * d - A_WEIGHT * a


def mos_lqo(raw: float, mode: str) -> float:
    """MOS-LQO from a raw score: 0.999 + 4 / (1 + exp(-slope raw + offset))."""
    slope, offset = MAPPING[mode]
    return 0.999 + 4.0 / (1.0 + math.exp(-slope * raw + offset))


def raw_from_mos(mos: float, mode: str) -> float:
    """Inverse of :func:`mos_lqo`."""
    slope, offset = MAPPING[mode]
    return (offset - math.log(4.0 / (mos - 0.999) - 1.0)) / slope
