"""The ViSQOL v3 model: two mono signals at one rate in, a :class:`VisqolResult` out.

Stages, in order (google/visqol ``CalculateSimilarity``): global alignment, level
matching, gammatone spectrograms, reference patches, DP patch matching, fine
realignment, per-band aggregation, mapping to MOS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from perceptq.errors import InvalidAudioError
from perceptq.visqol import mapping
from perceptq.visqol.align import BOUNDED_ABOVE, ShiftedSignal, envelope_peak, mean_square
from perceptq.visqol.config import VisqolConfig
from perceptq.visqol.patches import extract_patches, image_patch_starts, vad_patch_starts
from perceptq.visqol.selection import PatchMatch, match_patches, realign
from perceptq.visqol.spectrogram import (
    filterbank_for,
    gammatone_spectrogram,
    prepare_for_comparison,
)

#: Sound pressure reference (Pa) of the level matching; only the ratio matters.
SPL_REFERENCE = 2e-5


@dataclass(frozen=True, slots=True)
class VisqolResult:
    """Outcome of one ViSQOL comparison (fields as in ViSQOL's ``similarity_result.proto``).

    Attributes
    ----------
    mos : float
        MOS-LQO in [1, 5], higher is better.
    vnsim : float
        Mean of ``fvnsim`` (0-1, 1 = identical).
    fvnsim, fvnsim10, fstdnsim, fvdegenergy : ndarray of shape (n_bands,)
        Per band, lowest first: mean NSIM over patches, mean of the worst 10 % of patches,
        pooled standard deviation over frames, mean degraded level (dB above the floor).
    center_freq_hz : ndarray of shape (n_bands,)
        Gammatone centre frequencies, ascending.
    patches : tuple of PatchMatch
        Matched patch pairs in reference order, with times in seconds.
    delay_s : float
        Delay of the degraded signal found by the global alignment (positive: late).
    alignment_uncertain : bool
        Long pairs (above ``align.BOUNDED_ABOVE`` samples): the bounded-memory global
        alignment found a near-tie, within single-precision rounding, between lags that
        align differently, so the whole-signal method (ViSQOL's) might have chosen
        another lag and scored differently.
    """

    mos: float
    vnsim: float
    fvnsim: NDArray[np.float64]
    fvnsim10: NDArray[np.float64]
    fstdnsim: NDArray[np.float64]
    fvdegenergy: NDArray[np.float64]
    center_freq_hz: NDArray[np.float64]
    patches: tuple[PatchMatch, ...]
    delay_s: float
    alignment_uncertain: bool = False


def level_gain(ref_ms: float, deg_ms: float) -> float:
    """Factor bringing a signal of mean square ``deg_ms`` to the RMS level of ``ref_ms``
    (1 for a silent signal, 0 against a silent reference)."""
    ref_rms, deg_rms = math.sqrt(ref_ms), math.sqrt(deg_ms)
    if deg_rms == 0.0 or ref_rms == 0.0:
        return 0.0 if ref_rms == 0.0 else 1.0
    ref_spl = 20.0 * math.log10(ref_rms / SPL_REFERENCE)
    deg_spl = 20.0 * math.log10(deg_rms / SPL_REFERENCE)
    return 10.0 ** ((ref_spl - deg_spl) / 20.0)


def match_level(ref: NDArray[np.float64], deg: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return ``deg`` scaled to the RMS level of ``ref`` (a new array; silence stays silence)."""
    return deg * level_gain(mean_square(ref), mean_square(deg))


def band_quantile_means(band_means: NDArray[np.float64], quantile: float) -> NDArray[np.float64]:
    """Per band, the mean of the lowest ``quantile`` share of patches (at least one)."""
    k = max(1, int(band_means.shape[0] * quantile))
    return np.sort(band_means, axis=0)[:k].mean(axis=0)


def pooled_std(matches: list[PatchMatch], frame_s: float) -> NDArray[np.float64]:
    """Per-band standard deviation over all frames, pooled from the patch means and stds."""
    means = np.array([m.stats.band_means for m in matches])
    stds = np.array([m.stats.band_stds for m in matches])
    counts = np.array([math.ceil((m.ref_end_s - m.ref_start_s) / frame_s) for m in matches])
    total = int(counts.sum())
    if total <= 1:
        return np.zeros(means.shape[1])
    grand = means.mean(axis=0)
    contrib = ((counts - 1)[:, None] * stds * stds + counts[:, None] * means * means).sum(axis=0)
    var = (contrib - grand * grand * total) / (total - 1)
    return np.sqrt(np.maximum(var, 0.0))


def evaluate(
    ref: NDArray[np.float64], deg: NDArray[np.float64], config: VisqolConfig
) -> VisqolResult:
    """Compare two mono float64 signals sampled at ``config.sample_rate``.

    Raises
    ------
    InvalidAudioError
        A silent reference, a signal too short for one patch, no active reference patch
        (speech mode), or a degraded signal in which no reference patch can be placed.
    """
    if not np.any(ref):
        raise InvalidAudioError("the reference is silent (all samples zero): nothing to compare")
    search = envelope_peak(ref, deg)
    shifted = ShiftedSignal(deg, search.aligned)
    shifted.gain = level_gain(mean_square(ref), shifted.mean_square())
    # Long pairs: the shifted, level-matched degraded signal is made piece by piece where
    # it is read (spectrogram, realignment), never held whole.
    deg = shifted if max(ref.shape[0], deg.shape[0]) > BOUNDED_ABOVE else shifted[:]
    ref_spec = gammatone_spectrogram(ref, config)
    deg_spec = gammatone_spectrogram(deg, config)
    ref_db, deg_db = prepare_for_comparison(ref_spec, deg_spec)
    if config.speech:
        starts = vad_patch_starts(ref, ref_db.shape[1], config.patch_size, config.hop)
    else:
        starts = image_patch_starts(ref_db.shape[1], config.patch_size)
    if starts.size == 0:
        raise InvalidAudioError("no voice activity in the reference: no patch to compare")
    ref_patches = extract_patches(ref_db, starts, config.patch_size)
    del ref_db  # the patches hold what is needed of it (long inputs: one spectrogram less)
    matches = match_patches(ref_patches, starts, deg_db, config)
    if config.realign:
        matches = realign(matches, ref, deg, ref_spec, deg_spec, config)
    band_means = np.array([m.stats.band_means for m in matches])
    fvnsim = band_means.mean(axis=0)
    vnsim = float(np.sum(fvnsim)) / fvnsim.shape[0]
    if config.speech:
        mos = mapping.exponential_mos(fvnsim, scaled=not config.unscaled_speech)
    else:
        mos = mapping.svr_mos(fvnsim)
    return VisqolResult(
        mos=mapping.apply_extremes(vnsim, mos),
        vnsim=vnsim,
        fvnsim=fvnsim,
        fvnsim10=band_quantile_means(band_means, 0.10),
        fstdnsim=pooled_std(matches, config.frame_duration_s),
        fvdegenergy=np.array([m.stats.band_deg_energy for m in matches]).mean(axis=0),
        center_freq_hz=np.array(filterbank_for(config).center_hz),
        patches=tuple(matches),
        delay_s=-search.aligned / float(config.sample_rate),
        alignment_uncertain=search.uncertain,
    )
