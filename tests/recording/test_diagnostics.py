"""Diagnostics: each synthetic impairment fires its own hint, the others stay quiet."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt
from speech import FS, conversation, noise, rms, stretch

import perceptq
from perceptq.audio.source import ArraySource
from perceptq.recording import diagnostics, drift

REF = conversation(9.0, seed=3)
#: Hints that may accompany an impairment: where the disturbance sits follows from it.
COMPANION = {"disturbance"}


def _quiet_point(x: np.ndarray) -> int:
    """A sample in the quietest 200 ms of the middle third (a pause)."""
    e = drift.envelope(ArraySource(x, FS, name="x"))
    lo, hi = len(e) // 3, 2 * len(e) // 3
    k = lo + int(np.argmin(np.convolve(e[lo:hi], np.ones(50), "same")))
    return k * drift.block_size(FS)


def _dropouts(x: np.ndarray) -> np.ndarray:
    y = x.copy()
    loud = np.flatnonzero(np.abs(x) > 0.1)
    for t in np.random.default_rng(0).choice(loud, 6, replace=False):
        y[t : t + round(0.04 * FS)] = 0.0
    return y


def _jump(x: np.ndarray) -> np.ndarray:
    j = _quiet_point(x)
    return np.concatenate((x[:j], np.zeros(round(0.03 * FS)), x[j:]))


IMPAIRMENTS = {
    "level_difference": lambda x: 0.15 * x,
    "noise": lambda x: x + noise(x.size, 0.1 * rms(x[np.abs(x) > 0.01]), 2),
    "bandwidth": lambda x: sosfiltfilt(butter(8, 3400, fs=FS, output="sos"), x),
    "clipping": lambda x: np.clip(1.5 * x, -np.abs(x).max(), np.abs(x).max()),
    "dropouts": _dropouts,
    "delay_variation": _jump,
    "drift": lambda x: stretch(x, 1000),
}


def _fired(score: perceptq.Score) -> set[str]:
    return {k for k, v in score.diagnostics.items() if v.get("hint")}


def test_clean_pair_gives_no_hints_and_sane_figures():
    s = perceptq.score(REF, REF.copy(), sample_rate=FS)
    d = s.diagnostics
    assert _fired(s) == set()
    assert abs(d["level_difference"]["value"]) < 0.1
    assert d["noise"]["snr_db"] > 40
    assert d["bandwidth"]["reference_hz"] > 7000 and d["bandwidth"]["degraded_hz"] > 7000
    assert d["clipping"]["value"] == 0.0
    assert d["dropouts"]["count"] == 0 and d["dropouts"]["total_ms"] == 0
    assert d["delay_variation"]["range_ms"] < 1.0 and d["delay_variation"]["jumps"] == 0
    assert abs(d["drift"]["value"]) < 20


@pytest.mark.parametrize("name", sorted(IMPAIRMENTS))
def test_each_impairment_fires_its_own_hint_only(name):
    s = perceptq.score(REF, IMPAIRMENTS[name](REF), sample_rate=FS)
    fired = _fired(s)
    assert name in fired, s.diagnostics[name]
    assert fired - {name} <= COMPANION, {k: s.diagnostics[k]["hint"] for k in fired}
    hint = s.diagnostics[name]["hint"]
    assert isinstance(hint, str) and len(hint) > 20


def test_measured_figures_match_the_impairments():
    d = perceptq.score(REF, 0.1 * REF, sample_rate=FS).diagnostics
    assert d["level_difference"]["value"] == pytest.approx(-20.0, abs=0.5)
    d = perceptq.score(REF, IMPAIRMENTS["bandwidth"](REF), sample_rate=FS).diagnostics
    assert 3000 < d["bandwidth"]["degraded_hz"] < 4200
    d = perceptq.score(REF, IMPAIRMENTS["dropouts"](REF), sample_rate=FS).diagnostics
    assert 4 <= d["dropouts"]["count"] <= 6
    assert 100 <= d["dropouts"]["total_ms"] <= 6 * 45
    assert d["disturbance"]["dropout_share"] > 0.3
    d = perceptq.score(REF, _jump(REF), sample_rate=FS).diagnostics
    assert d["delay_variation"]["range_ms"] == pytest.approx(30.0, abs=1.0)
    assert d["delay_variation"]["jumps"] == 1
    d = perceptq.score(REF, stretch(REF, 1000), sample_rate=FS).diagnostics
    assert d["drift"]["value"] == pytest.approx(1000, abs=50)


def test_noise_snr_is_measured_in_the_pauses():
    level = rms(REF[np.abs(REF) > 0.01])
    snrs = []
    for k in (0.3, 0.1, 0.03):
        d = perceptq.score(REF, REF + noise(REF.size, k * level, 4), sample_rate=FS).diagnostics
        snrs.append(d["noise"]["snr_db"])
    assert snrs[0] < snrs[1] < snrs[2]
    assert snrs[2] - snrs[0] == pytest.approx(20.0, abs=4.0)


def test_lines_columns_and_hints_helpers():
    s = perceptq.score(REF, IMPAIRMENTS["noise"](REF), sample_rate=FS)
    lines = diagnostics.format_lines(s.diagnostics)
    assert len(lines) == 8
    assert any("<-" in ln and "noise" in ln for ln in lines)
    assert diagnostics.hints(s.diagnostics)[0] == s.diagnostics["noise"]["hint"]
    cols = diagnostics.columns(s.diagnostics)
    assert set(cols) >= {"diag_level_diff_db", "diag_snr_db", "diag_ref_bandwidth_hz",
                         "diag_deg_bandwidth_hz", "diag_clipping_fraction", "diag_dropouts",
                         "diag_dropout_ms", "diag_delay_range_ms"}
    assert cols["diag_snr_db"] == s.diagnostics["noise"]["snr_db"]
    assert not math.isnan(cols["diag_deg_bandwidth_hz"])


def test_clipping_fraction_counts_plateaus_not_lone_peaks():
    from perceptq.audio.source import ClipStats

    x = np.array([0.1, 0.5, 0.2, 0.5, 0.5, 0.5, 0.1, -0.5, -0.5, 0.0])
    assert ClipStats.of(iter([x])).counts == [5]  # two plateaus; the lone 0.5 does not count
    assert ClipStats.of(iter([x])).fraction() == pytest.approx(0.5)
    assert ClipStats.of(iter([REF])).fraction() == 0.0
