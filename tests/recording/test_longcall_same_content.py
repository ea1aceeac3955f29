"""Long calls: windows with the same content score the same (issue 11, item 3).

The issue's case: a 152 s reference made of 5 identical cycles of the shipped clean files
(each followed by 1 s of silence), degraded through mu-law at 8 kHz, 80 ms late, with
steady pink noise; window 3 (39.39-56.35 s) scored 2.17 while windows 5 and 7, with the
same content, scored 2.65 and 2.64, and the stretch scored alone 2.64.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
import soundfile as sf
import soxr
from corpus import add_noise, g711_roundtrip
from scipy import signal
from speech import FS, sentence

import perceptq

ORDER = ("arctic_a0001", "arctic_a0007", "arctic_a0009", "arctic_a0001_a0009",
         "arctic_a0007_a0009")  # fmt: skip
CYCLES, GAP_S, DELAY_MS, NB = 5, 1.0, 80, 8000


def cycle() -> np.ndarray:
    parts = []
    for name in ORDER:
        parts += [sentence(f"{name}.wav"), np.zeros(round(GAP_S * FS))]
    return np.concatenate(parts)


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    """Steady pink noise (Kellet's 3-pole approximation of 1/f)."""
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1, -2.494956002, 2.017265875, -0.522189400]
    return signal.lfilter(b, a, rng.standard_normal(n))


def degrade(ref16: np.ndarray, seed: int, ppm: float = 0.0, snr_db: float = 20.0) -> np.ndarray:
    """mu-law at 8 kHz, DELAY_MS late, a clock ``ppm`` fast, steady pink noise."""
    x = g711_roundtrip(soxr.resample(ref16, FS, NB, quality="VHQ"), NB, "ulaw")
    x = np.concatenate([np.zeros(DELAY_MS * NB // 1000), x])
    if ppm:
        x = soxr.resample(x, NB, NB * (1 + ppm * 1e-6), quality="VHQ")
    return add_noise(x, pink(x.shape[0], np.random.default_rng(seed)), NB, snr_db)


def same_content(windows, period_s: float, tol_s: float = 0.05) -> list[list[dict]]:
    """Groups of windows that hold the same content: starts a whole number of cycles apart
    and lengths equal (within ``tol_s``)."""
    groups: list[list[dict]] = []
    for w in windows:
        for g in groups:
            shift = (w["start_s"] - g[0]["start_s"]) / period_s
            length = (w["end_s"] - w["start_s"]) - (g[0]["end_s"] - g[0]["start_s"])
            if abs(shift - round(shift)) * period_s <= tol_s and abs(length) <= tol_s:
                g.append(w)
                break
        else:
            groups.append([w])
    return [g for g in groups if len(g) > 1]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cycles")
    ref = np.tile(cycle(), CYCLES)
    sf.write(d / "ref.wav", ref, FS)
    for seed in (1, 2):
        sf.write(d / f"deg{seed}.wav", degrade(ref, seed), NB)
    return d, ref


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_issue_case_windows_with_the_same_content_score_the_same(files, seed):
    d, ref = files
    s = perceptq.score(d / "ref.wav", d / f"deg{seed}.wav")
    assert ref.shape[0] / FS == pytest.approx(151.7, abs=0.1) and s.mode == "nb"
    period = cycle().shape[0] / FS
    # the issue's cut points: window 3 is 39.39-56.35 s, windows 5 and 7 the same content
    w3 = s.windows[3]
    assert (w3["start_s"], w3["end_s"]) == pytest.approx((39.39, 56.35), abs=0.01)
    groups = same_content(s.windows, period)
    assert any({3, 5, 7} <= {w["index"] for w in g} for g in groups)
    for g in groups:
        mos = [w["mos"] for w in g]
        assert max(mos) - min(mos) <= 0.1, [(w["index"], round(w["mos"], 3)) for w in g]
    # ... and the same stretch cut out and scored alone agrees with its window
    deg, _ = sf.read(d / f"deg{seed}.wav")
    a, b = round(w3["start_s"] * NB), round(w3["end_s"] * NB)
    ref8 = soxr.resample(ref, FS, NB, quality="VHQ")
    lag = DELAY_MS * NB // 1000
    alone = perceptq.score(ref8[a:b], deg[a + lag : b + lag], sample_rate=NB)
    assert alone.mos == pytest.approx(w3["mos"], abs=0.1)
    # every utterance of a window scores like the one at the same place in the other cycles
    by_place = defaultdict(list)
    for row in s.timeline:
        if row.get("kind") == "utterance":
            by_place[round(row["start_s"] % period, 1)].append(row["mos"])
    for place, values in by_place.items():
        if len(values) > 2:
            assert max(values) - min(values) <= 0.5, (place, values)


@pytest.mark.slow
def test_drifting_clock_and_other_window_length_keep_same_content_windows_equal(files):
    _, ref = files
    deg = degrade(ref, seed=3, ppm=300.0)
    s = perceptq.score(soxr.resample(ref, FS, NB, quality="VHQ"), deg, sample_rate=NB,
                       window_s=8.0)  # fmt: skip
    assert s.drift_ppm == pytest.approx(300.0, abs=20)
    groups = same_content(s.windows, cycle().shape[0] / FS)
    assert groups
    for g in groups:
        mos = [w["mos"] for w in g]
        assert max(mos) - min(mos) <= 0.1, [(w["index"], round(w["mos"], 3)) for w in g]
