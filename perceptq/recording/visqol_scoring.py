"""A ViSQOL v3 comparison as a :class:`Score`: per-patch timeline, band similarity, diagnostics.

The model (:mod:`perceptq.visqol`) returns per-band and per-patch similarities; this module
adds what every perceptq score carries: a timeline (one row per reference patch, with the
MOS its own band similarities map to), a few diagnostics with hints, and the input info.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from perceptq.result import InputInfo, Score, Utterance, category_of
from perceptq.visqol import VisqolConfig, VisqolResult, evaluate, mapping
from perceptq.visqol.align import mean_square

#: Band similarity below which a band counts as lost (for the bandwidth hint).
LOST_BAND_NSIM = 0.5
#: Share of unmatched reference patches above which a hint is given.
LOST_PATCH_SHARE = 0.1
#: Level difference (dB) beyond which a hint is given; ViSQOL itself matches the levels.
LEVEL_DIFF_DB = 6.0
#: Warning of a long pair whose global alignment has a near-tie (Score.alignment_uncertain).
ALIGNMENT_UNCERTAIN = (
    "global alignment uncertain: on this long pair two delays correlate equally well within "
    "single-precision rounding, so ViSQOL's own whole-signal alignment may pick the other "
    "one and score differently (alignment_uncertain)")


def _patch_mos(band_means: NDArray[np.float64], config: VisqolConfig) -> float:
    if config.speech:
        return mapping.exponential_mos(band_means, scaled=not config.unscaled_speech)
    vnsim = float(np.mean(band_means))
    return mapping.apply_extremes(vnsim, mapping.svr_mos(band_means))


def patch_rows(res: VisqolResult, config: VisqolConfig) -> list[dict[str, Any]]:
    """One timeline row per reference patch: times, delay, similarity and its own MOS.

    ``delay_ms`` is the delay of the matched degraded patch (global alignment included).

    The MOS of a patch maps that patch's band similarities like a whole file's; the file's
    MOS maps the mean over patches, so it is not the mean of the patch MOS values.
    """
    rows = []
    delay_ms = 1000.0 * res.delay_s
    for i, p in enumerate(res.patches):
        mos = math.nan if p.lost else _patch_mos(p.stats.band_means, config)
        rows.append({
            "kind": "patch", "index": i, "start_s": p.ref_start_s, "end_s": p.ref_end_s,
            "delay_ms": math.nan if p.lost else delay_ms + 1000.0 * (p.deg_start_s - p.ref_start_s),
            "mos": mos, "category": category_of(mos) if mos == mos else "-",
            "similarity": p.stats.similarity, "lost": p.lost,
        })
    return rows


def _level_db(x: NDArray[np.float64]) -> float:
    ms = mean_square(x) if x.size else 0.0
    return 10.0 * math.log10(ms) if ms > 0 else -math.inf


def visqol_diagnostics(
    res: VisqolResult, ref: NDArray[np.float64], deg: NDArray[np.float64]
) -> dict[str, Any]:
    """Level difference, lost patches and the bandwidth the band similarities suggest."""
    diff = _level_db(deg) - _level_db(ref)
    n_lost = sum(p.lost for p in res.patches)
    n = len(res.patches)
    # the top run of bands whose similarity collapsed: content lost above some frequency
    ok = np.flatnonzero(res.fvnsim >= LOST_BAND_NSIM)
    top = int(ok[-1]) + 1 if ok.size else 0
    kept_hz = float(res.center_freq_hz[top - 1]) if 0 < top < res.fvnsim.shape[0] else math.nan
    return {
        "level_difference": {
            "value": diff, "unit": "dB",
            "hint": (f"degraded audio is {abs(diff):.1f} dB {'louder' if diff > 0 else 'quieter'}"
                     " than the reference (ViSQOL compares them after matching the levels)")
            if abs(diff) > LEVEL_DIFF_DB else None,
        },
        "lost_patches": {
            "count": n_lost, "of": n,
            "hint": (f"{n_lost} of {n} reference patches found no match in the degraded audio: "
                     "dropouts, cuts or very different content") if n and n_lost / n
            > LOST_PATCH_SHARE else None,
        },
        "band_similarity": {
            "lowest_band_hz": float(res.center_freq_hz[int(np.argmin(res.fvnsim))]),
            "lowest_value": float(np.min(res.fvnsim)), "kept_up_to_hz": kept_hz,
            "hint": (f"similarity collapses above about {kept_hz / 1000:.1f} kHz: a band-limited "
                     "(low-pass) path or a codec that drops the high band")
            if kept_hz == kept_hz else None,
        },
    }


def visqol_single(
    ref: NDArray[np.float64], deg: NDArray[np.float64], config: VisqolConfig, *,
    reference_info: InputInfo | None = None, degraded_info: InputInfo | None = None,
    warnings: tuple[str, ...] = (),
) -> Score:
    """Score a pair of mono signals at ``config.sample_rate`` with ViSQOL v3."""
    res = evaluate(ref, deg, config)
    dropped = sum(p.lost for p in res.patches)
    extra = (f"{dropped} of {len(res.patches)} reference patches found no match in the "
             "degraded audio",) if dropped else ()
    if res.alignment_uncertain:
        extra += (ALIGNMENT_UNCERTAIN,)
    starts = np.array([p.ref_start_s for p in res.patches])
    return Score(
        mos=res.mos, raw=res.vnsim, mode=config.mode, sample_rate=config.sample_rate,
        category=category_of(res.mos),
        utterances=(Utterance(0.0, ref.shape[0] / config.sample_rate, 1000.0 * res.delay_s),),
        frame_times_s=starts, frame_disturbance=np.array([1.0 - p.stats.similarity
                                                          for p in res.patches]),
        frame_asymmetric_disturbance=np.zeros(len(res.patches)),
        reference_info=reference_info, degraded_info=degraded_info,
        warnings=(*warnings, *extra), diagnostics=visqol_diagnostics(res, ref, deg),
        timeline=tuple(patch_rows(res, config)), metric="visqol",
        band_similarity=res.fvnsim, band_center_hz=res.center_freq_hz,
        alignment_uncertain=res.alignment_uncertain,
    )
