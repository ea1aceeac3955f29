"""Stage: padded buffers, level normalisation and the listening-device input filter.

Signals live in padded buffers laid out as ``[sb zeros | signal | pad + sb zeros]``
(design note §0); ``n_padded`` = len(signal) + 2 sb.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft  # single-precision transforms (numpy's run in double precision only)
from numpy import fft  # double precision: the pocketfft of scipy.fft, bit-identical
from numpy.typing import NDArray

from perceptq.p862 import tables
from perceptq.p862._kernels import _biquad_cascade_pair_kernel
from perceptq.p862.config import TARGET_POWER, ModelConfig


def cascade_pair(a: NDArray[np.float64], b: NDArray[np.float64], sos: NDArray[np.float64]
                 ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Two signals through the same biquad cascade ``sos`` (zero initial state), in one
    kernel pass: the same values, to the bit, as filtering each alone. New arrays.

    The shorter one runs zero-padded to the longer one's length: a causal filter's output
    before the padding does not depend on it."""
    n = max(a.shape[0], b.shape[0])
    y = np.zeros(n)
    z = np.zeros(n)
    y[: a.shape[0]] = a
    z[: b.shape[0]] = b
    _biquad_cascade_pair_kernel(y, z, sos)
    return y[: a.shape[0]], z[: b.shape[0]]


def padded_buffer(x: NDArray[np.float64], cfg: ModelConfig) -> NDArray[np.float64]:
    """Place ``x`` into a zero buffer of length len(x) + 2 sb + pad."""
    buf = np.zeros(x.shape[0] + 2 * cfg.sb + cfg.pad)
    buf[cfg.sb : cfg.sb + x.shape[0]] = x
    return buf


@lru_cache(maxsize=16)
def curve_gain(curve: str, fs: int, size: int) -> NDArray[np.float64]:
    """Linear gain per rfft bin of a ``size``-point transform at ``fs`` for a (Hz, dB)
    curve normalised at 1 kHz (read-only; cached, as every pair of similar length needs
    the same one)."""
    freq_pts, db_pts = tables.curve(curve)
    freqs = np.arange(size // 2 + 1) * fs / size
    gain_db = np.interp(freqs, freq_pts, db_pts) - np.interp(1000.0, freq_pts, db_pts)
    gain = 10.0 ** (gain_db / 20.0)
    gain.setflags(write=False)
    return gain


@lru_cache(maxsize=16)
def curve_gain_single(curve: str, fs: int, size: int) -> NDArray[np.float32]:
    """:func:`curve_gain` in single precision (read-only; cached)."""
    gain = curve_gain(curve, fs, size).astype(np.float32)
    gain.setflags(write=False)
    return gain


def _spectrum(buf: NDArray[np.float64], n_signal: int, cfg: ModelConfig
              ) -> tuple[NDArray[np.complex128], int]:
    """rfft of the signal plus its zero tail over the next power-of-two length."""
    n = n_signal + cfg.pad
    size = 1 << int(np.ceil(np.log2(n)))
    return fft.rfft(buf[cfg.sb : cfg.sb + n], size), size


def curve_filter(
    buf: NDArray[np.float64], n_signal: int, cfg: ModelConfig, curve: str,
    spectrum: tuple[NDArray[np.complex128], int] | None = None,
) -> NDArray[np.float64]:
    """Zero-phase FFT-domain filter with a (Hz, dB) curve normalised at 1 kHz (§4.1).

    Filters the signal plus its zero tail (n_signal + pad samples) circularly over the
    next power-of-two length, so the output spills into the tail. Returns a new buffer.
    ``spectrum``: the buffer's :func:`_spectrum`, when already computed (it is consumed).
    """
    n = n_signal + cfg.pad
    spec, size = spectrum if spectrum is not None else _spectrum(buf, n_signal, cfg)
    spec *= curve_gain(curve, cfg.fs, size)
    out = buf.copy()
    out[cfg.sb : cfg.sb + n] = fft.irfft(spec, size)[:n]
    return out


#: Below this energy the single-precision band energy is not trusted: samples under the
#: smallest normal float32 (1.2e-38) add at most n * 1.4e-76 to the sum, a negligible share
#: of an energy of at least 1e-60 for any length n below 1e8.
SINGLE_MIN_ENERGY = 1e-60


def band_energy(spec: NDArray[np.complex128], size: int, n: int, cfg: ModelConfig) -> float:
    """Energy of the first ``n`` samples of the buffer's 350-3250 Hz band (its spectrum
    ``spec`` filtered by :func:`curve_filter` with the "align_filter" curve).

    Only this one sum of the filtered signal is used (it sets the level), so the inverse
    transform runs in single precision (about 1.5 x faster at these lengths): its relative error,
    about 1e-7 per sample, averages out in the sum (far below the 1e-4 the scores are held
    to; tests/p862 compares with the double-precision sum); the sum itself is accumulated
    in double precision. Outside the range where single precision holds every sample that
    matters to full relative precision (an energy below :data:`SINGLE_MIN_ENERGY`, where
    subnormal and flushed values could weigh in, or a spectrum beyond its largest value),
    the transform is redone in double precision.
    """
    band = spec * curve_gain("align_filter", cfg.fs, size)
    with np.errstate(over="ignore", invalid="ignore"):  # such energies are redone below
        y = fft.irfft(band.astype(np.complex64), size)[:n].astype(np.float64)
        energy = float(np.sum(y * y))
    return energy if SINGLE_MIN_ENERGY <= energy < np.inf else _double_band_energy(band, size, n)


def _double_band_energy(band: NDArray[np.complex128], size: int, n: int) -> float:
    """The band energy from the band's spectrum, all in double precision."""
    y = fft.irfft(band, size)[:n]
    return float(np.sum(y * y))


def signal_band_energy(buf: NDArray[np.float64], n_signal: int, cfg: ModelConfig) -> float:
    """:func:`band_energy` of a buffer whose spectrum is not needed otherwise (wideband,
    where the listening-device filter is an IIR one), from its samples.

    Forward and inverse transform both run in single precision (scipy's; numpy's forward
    one is double precision only): together about 2 x faster than the double-precision
    forward transform alone. The sum is taken in double precision. Each single-precision
    transform leaves the energy about 6e-8 low (its rounding shrinks magnitudes slightly,
    the same way in every bin), so the energy comes out about 1.1e-7 low and the level
    scale 6e-8 low: MOS moves by less than 4e-8 (measured on the test corpora; tests/p862
    compares with the double-precision filter). An energy outside the range where
    single precision holds is redone in double precision, as in :func:`band_energy`.
    """
    n = n_signal + cfg.pad
    size = 1 << int(np.ceil(np.log2(n)))
    with np.errstate(over="ignore", invalid="ignore"):  # such energies are redone below
        spec = scipy.fft.rfft(buf[cfg.sb : cfg.sb + n].astype(np.float32), size, workers=1)
        spec *= curve_gain_single("align_filter", cfg.fs, size)
        y = scipy.fft.irfft(spec, size, workers=1, overwrite_x=True)[:n].astype(np.float64)
        energy = float(np.sum(y * y))
    if not SINGLE_MIN_ENERGY <= energy < np.inf:
        spec64, size = _spectrum(buf, n_signal, cfg)
        return _double_band_energy(spec64 * curve_gain("align_filter", cfg.fs, size), size, n)
    return energy


def normalise_level(
    buf: NDArray[np.float64], n_signal: int, max_padded: int, cfg: ModelConfig,
    *, keep_spectrum: bool = False,
) -> tuple[NDArray[np.float64], tuple[NDArray[np.complex128], int] | None]:
    """Scale a buffer so that its 350-3250 Hz mean square is 1e7 (§3).

    The mean is taken over the longer signal's length (``max_padded``), as the model
    defines it. Returns the scaled buffer and, with ``keep_spectrum``, its spectrum for
    :func:`curve_filter` (the input spectrum times the same scale: saves a transform
    when the next filter is an FFT one too, as in narrowband), else None.
    """
    if keep_spectrum:
        kept, size = _spectrum(buf, n_signal, cfg)  # band_energy leaves it unchanged
        energy = band_energy(kept, size, n_signal + cfg.pad, cfg)
    else:
        kept, energy = None, signal_band_energy(buf, n_signal, cfg)
    power = energy / (max_padded - 2 * cfg.sb + cfg.pad)
    if power <= 0:  # silent, or so faint that its power underflows: silence to the model
        if keep_spectrum:
            kept[:] = 0.0
        return np.zeros_like(buf), (kept, size) if keep_spectrum else None
    scale = np.sqrt(TARGET_POWER / power)
    if not np.isfinite(scale):  # a power so small that its reciprocal overflows
        scale = np.sqrt(TARGET_POWER) / np.sqrt(power)
    if keep_spectrum:
        kept *= scale
    return buf * scale, (kept, size) if keep_spectrum else None


def input_filters(
    ref: NDArray[np.float64], n_ref: int, deg: NDArray[np.float64], n_deg: int,
    cfg: ModelConfig, mode: str,
    spectra: tuple[tuple[NDArray[np.complex128], int] | None, ...] = (None, None),
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Listening-device filter of both buffers: IRS receive (nb, §4.2) or edge ramps +
    high-pass (wb, §4.3); new buffers.

    ``spectra``: for nb, each buffer's spectrum from :func:`normalise_level`."""
    if mode == "nb":
        return (curve_filter(ref, n_ref, cfg, "irs_receive_filter", spectra[0]),
                curve_filter(deg, n_deg, cfg, "irs_receive_filter", spectra[1]))
    s0 = cfg.sb
    outs, signals = [], []
    for buf, n in ((ref, n_ref), (deg, n_deg)):
        out = buf.copy()
        ramp = np.arange(1, 16) / 16.0
        k = min(15, n)
        out[s0 : s0 + k] *= ramp[:k]
        out[s0 + n - k : s0 + n] *= ramp[:k][::-1]
        outs.append(out)
        signals.append(out[s0 : s0 + n])
    filtered = cascade_pair(*signals, tables.wb_input_sos(cfg.fs))
    for out, y in zip(outs, filtered, strict=True):
        out[s0 : s0 + y.shape[0]] = y
    return outs[0], outs[1]
