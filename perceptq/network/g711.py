"""ITU-T G.711 µ-law and A-law companding, vectorised with numpy.

Floats in [-1, 1] map to 8-bit codes and back. The float scale is the 16-bit PCM scale
divided by 32768: µ-law works on 14-bit magnitudes (float × 8192), A-law on 13-bit
magnitudes (float × 4096), as in G.711 Tables 1 and 2. Codes are the octets as sent on
the line (µ-law with all bits inverted; A-law with the even bits inverted, i.e. XOR 0x55).

Encoding picks, for each input, the code whose decision interval contains it, and decoding
returns the interval's centre, so the round-trip error is at most half a quantisation step
(1/8192 × 2**segment for µ-law, 1/4096 × 2**max(segment - 1, 0) for A-law) for inputs
inside the coder's range. Inputs beyond the largest decision level are clipped to the
largest code of their sign.

References
----------
ITU-T Recommendation G.711 (11/1988), Pulse code modulation (PCM) of voice frequencies.

Examples
--------
>>> import numpy as np
>>> from perceptq import g711
>>> int(g711.encode_ulaw(np.array([0.0]))[0])
255
>>> float(g711.decode_ulaw(np.array([0xFF], dtype=np.uint8))[0])
0.0
>>> codes = g711.encode_alaw(np.array([0.25, -0.25]))
>>> [hex(c) for c in codes], g711.decode_alaw(codes).tolist()
(['0xb5', '0x35'], [0.2578125, -0.2578125])
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "ALAW_SCALE",
    "ULAW_SCALE",
    "decode",
    "decode_alaw",
    "decode_ulaw",
    "encode",
    "encode_alaw",
    "encode_ulaw",
]

#: Float → integer magnitude scale of each law (14-bit µ-law, 13-bit A-law).
ULAW_SCALE = 8192
ALAW_SCALE = 4096
_ULAW_BIAS = 33  # added to the 14-bit magnitude before the segment search (G.711 Table 2)
_ULAW_MAX_MAG = 8191 - _ULAW_BIAS  # largest magnitude whose biased value stays in segment 7
_ALAW_MAX_MAG = 4095

Law = Literal["ulaw", "alaw"]


def _readonly(a: NDArray) -> NDArray:
    a.setflags(write=False)
    return a


@lru_cache(maxsize=1)
def _ulaw_tables() -> tuple[NDArray[np.uint8], NDArray[np.float64]]:
    """Positive-magnitude → code table (8159 entries) and code → float table (256)."""
    mag = np.arange(_ULAW_MAX_MAG + 1, dtype=np.int64)
    biased = mag + _ULAW_BIAS  # 33 … 8191
    _, exponent = np.frexp(biased.astype(np.float64))  # biased = f·2**e, f in [0.5, 1)
    seg = exponent.astype(np.int64) - 6  # floor(log2(biased)) - 5 → 0 … 7
    mantissa = (biased >> (seg + 1)) & 0x0F
    enc = (~((seg << 4) | mantissa)) & 0xFF  # sign bit 0 (positive), all bits inverted
    codes = np.arange(256, dtype=np.int64)
    u = (~codes) & 0xFF
    d_seg = (u >> 4) & 0x07
    d_mant = u & 0x0F
    d_mag = (((d_mant << 1) + _ULAW_BIAS) << d_seg) - _ULAW_BIAS  # interval centre
    dec = np.where(u & 0x80, -d_mag, d_mag) / ULAW_SCALE
    return _readonly(enc.astype(np.uint8)), _readonly(dec.astype(np.float64))


@lru_cache(maxsize=1)
def _alaw_tables() -> tuple[NDArray[np.uint8], NDArray[np.float64]]:
    """Positive-magnitude → code table (4096 entries) and code → float table (256)."""
    mag = np.arange(_ALAW_MAX_MAG + 1, dtype=np.int64)
    _, exponent = np.frexp(np.maximum(mag, 1).astype(np.float64))
    seg = np.clip(exponent.astype(np.int64) - 5, 0, 7)  # 0: 0…31, 1: 32…63, … 7: 2048…4095
    shift = np.maximum(seg, 1)
    mantissa = (mag >> shift) & 0x0F
    enc = (0x80 | (seg << 4) | mantissa) ^ 0x55  # sign bit 1 = positive, even bits inverted
    codes = np.arange(256, dtype=np.int64)
    a = codes ^ 0x55
    d_seg = (a >> 4) & 0x07
    d_mant = a & 0x0F
    # Interval centre: segment 0 → 2·m + 1; segment s ≥ 1 → (m + 16.5)·2**s.
    d_mag = np.where(d_seg == 0, 2 * d_mant + 1, ((2 * d_mant + 33) << d_seg) >> 1)
    dec = np.where(a & 0x80, d_mag, -d_mag) / ALAW_SCALE
    return _readonly(enc.astype(np.uint8)), _readonly(dec.astype(np.float64))


def _magnitudes(x: ArrayLike, scale: int, max_mag: int) -> tuple[NDArray, NDArray[np.bool_]]:
    arr = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("G.711 encode: input contains NaN or infinite samples")
    negative = np.signbit(arr) & (arr != 0)
    mag = np.minimum(np.floor(np.abs(arr) * scale), max_mag).astype(np.int64)
    return mag, negative


def encode_ulaw(x: ArrayLike) -> NDArray[np.uint8]:
    """Encode float samples to G.711 µ-law octets (0xFF is +0, 0x7F is -0); see :func:`encode`."""
    enc, _ = _ulaw_tables()
    mag, negative = _magnitudes(x, ULAW_SCALE, _ULAW_MAX_MAG)
    codes = enc[mag]
    return np.where(negative, codes & 0x7F, codes).astype(np.uint8)


def decode_ulaw(codes: ArrayLike) -> NDArray[np.float64]:
    """Decode G.711 µ-law octets to floats on the [-1, 1] scale (max ±0.9804)."""
    _, dec = _ulaw_tables()
    return dec[_as_codes(codes)]


def encode_alaw(x: ArrayLike) -> NDArray[np.uint8]:
    """Encode float samples to G.711 A-law octets (0xD5 is the smallest positive value)."""
    enc, _ = _alaw_tables()
    mag, negative = _magnitudes(x, ALAW_SCALE, _ALAW_MAX_MAG)
    codes = enc[mag]
    return np.where(negative, codes ^ 0x80, codes).astype(np.uint8)


def decode_alaw(codes: ArrayLike) -> NDArray[np.float64]:
    """Decode G.711 A-law octets to floats on the [-1, 1] scale (max ±0.9844)."""
    _, dec = _alaw_tables()
    return dec[_as_codes(codes)]


def _as_codes(codes: ArrayLike) -> NDArray[np.intp]:
    arr = np.asarray(codes)
    if arr.dtype.kind not in "ui":
        raise ValueError(f"G.711 decode: codes must be integers, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() > 255):
        raise ValueError("G.711 decode: codes must lie in 0 … 255")
    return arr.astype(np.intp)


def encode(x: ArrayLike, law: Law) -> NDArray[np.uint8]:
    """Encode float samples to G.711 octets.

    Parameters
    ----------
    x : array_like of float, any shape
        Samples on the [-1, 1] scale (16-bit PCM / 32768). Larger magnitudes are clipped
        to the largest code of their sign.
    law : {"ulaw", "alaw"}
        Companding law.

    Returns
    -------
    ndarray of uint8, same shape as ``x``
        Octets as transmitted on the line.

    Raises
    ------
    ValueError
        If ``x`` holds NaN or infinite values, or ``law`` is unknown.
    """
    if law == "ulaw":
        return encode_ulaw(x)
    if law == "alaw":
        return encode_alaw(x)
    raise ValueError(f"G.711 law must be 'ulaw' or 'alaw', got {law!r}")


def decode(codes: ArrayLike, law: Law) -> NDArray[np.float64]:
    """Decode G.711 octets (integers 0 … 255, any shape) to floats on the [-1, 1] scale."""
    if law == "ulaw":
        return decode_ulaw(codes)
    if law == "alaw":
        return decode_alaw(codes)
    raise ValueError(f"G.711 law must be 'ulaw' or 'alaw', got {law!r}")
