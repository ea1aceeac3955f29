"""Model tables (Bark bands, filter curves, biquads), read once from package data.

Every returned array is read-only and cached.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
from numpy.typing import NDArray


def _read_csv(name: str) -> list[dict[str, str]]:
    with resources.files("perceptq.p862.data").joinpath(name).open("r", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _frozen(values) -> NDArray[np.float64]:
    arr = np.ascontiguousarray(values, dtype=np.float64)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class BarkTable:
    """Bark bands of one model rate.

    ``band_of_bin[k]`` is the band of FFT bin k (k < nf/2); ``scale`` is the
    power-density scaling Sp times each band's correction.
    """

    n_bins: NDArray[np.float64]
    centre_bark: NDArray[np.float64]
    centre_hz: NDArray[np.float64]
    width_bark: NDArray[np.float64]
    correction: NDArray[np.float64]
    abs_thresh: NDArray[np.float64]
    band_of_bin: NDArray[np.int64]

    @property
    def n_bands(self) -> int:
        """Number of bands."""
        return int(self.centre_bark.shape[0])


@cache
def bark_table(fs: int) -> BarkTable:
    """Bark table for model rate ``fs`` (42 bands at 8 kHz, 49 at 16 kHz)."""
    rows = _read_csv(f"bark_bands_{fs // 1000}k.csv")
    n_bins = np.array([int(r["n_fft_bins"]) for r in rows])
    band_of_bin = np.repeat(np.arange(len(rows)), n_bins).astype(np.int64)
    band_of_bin.setflags(write=False)
    col = lambda key: _frozen([float(r[key]) for r in rows])  # noqa: E731
    return BarkTable(
        n_bins=_frozen(n_bins),
        centre_bark=col("centre_bark"),
        centre_hz=col("centre_hz"),
        width_bark=col("width_bark"),
        correction=col("pow_dens_correction"),
        abs_thresh=col("abs_thresh_power"),
        band_of_bin=band_of_bin,
    )


@cache
def curve(name: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(frequency Hz, gain dB) points of a curve: ``align_filter`` or ``irs_receive_filter``."""
    rows = _read_csv(f"{name}_db.csv")
    freqs = _frozen([float(r["freq_hz"]) for r in rows])
    return freqs, _frozen([float(r["gain_db"]) for r in rows])


@cache
def align_sos(fs: int) -> NDArray[np.float64]:
    """Cascaded biquads (b0, b1, b2, a1, a2) of the alignment filter at ``fs``."""
    rows = _read_csv(f"align_iir_sos_{fs // 1000}k.csv")
    return _frozen([[float(r[k]) for k in ("b0", "b1", "b2", "a1", "a2")] for r in rows])


@cache
def wb_input_sos(fs: int) -> NDArray[np.float64]:
    """The single wideband input biquad (b0, b1, b2, a1, a2) at ``fs``, shape (1, 5)."""
    rows = [r for r in _read_csv("wb_input_iir_sos.csv") if int(r["fs_hz"]) == fs]
    return _frozen([[float(rows[0][k]) for k in ("b0", "b1", "b2", "a1", "a2")]])
