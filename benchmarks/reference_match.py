"""Separation of ``diagnostics["reference_match"]``: matching pairs against wrong references.

Matching pairs: the fidelity corpus (tests/corpus.py, 8 and 16 kHz), the shipped pairs of
reference_audio/pairs.csv, and harsher pairs made here (AMR-NB 4.75 kbit/s and Opus
2.5 kbit/s through PyAV when it is installed, 20 % random and burst loss, clipping, 5 dB
SNR of white, pink and babble noise, delay jumps, combinations). Non-matching pairs: each
degraded signal scored against every clean sentence it does not contain (pairs whose
degraded signal holds babble made of the other sentences, and the long pairs, which hold
every sentence, are left out). Prints the lowest matching and highest non-matching values.

    python benchmarks/reference_match.py          # a few minutes on two cores
"""

from __future__ import annotations

import csv
import sys
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import corpus  # noqa: E402
import lowrate  # noqa: E402

import perceptq  # noqa: E402
from perceptq.recording.match import MIN_MATCH  # noqa: E402


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    """Pink noise (Kellet's 3-pole approximation of 1/f)."""
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1, -2.494956002, 2.017265875, -0.522189400]
    return signal.lfilter(b, a, rng.standard_normal(n))


def _codec(x: np.ndarray, fs: int, name: str, bitrate: int) -> np.ndarray | None:
    try:
        import av

        av.Codec(lowrate.CODECS[name][0], "w")
    except Exception:
        return None
    return lowrate.roundtrip(x, fs, name, bitrate)


def harsh_pairs(fs: int) -> list[tuple[str, str, np.ndarray, np.ndarray, int]]:
    out = []
    clean = corpus.load_clean(fs)
    for stem, x in clean.items():
        rng = np.random.default_rng(corpus.seed_for(stem, fs, "harsh"))
        others = tuple(v for k, v in clean.items() if not corpus.shares_talker(k, stem))
        ctx = corpus.Context(fs, rng, others)
        amr = _codec(x, fs, "amrnb", 4750)
        c = {
            "loss20": corpus.step_loss(20)(x, x.copy(), ctx)[1],
            "burst20": corpus.step_loss(20, mean_burst=4.0)(x, x.copy(), ctx)[1],
            "clip0.5": corpus.clip(x, 0.5),
            "white5": corpus.step_white(5)(x, x.copy(), ctx)[1],
            "babble5": corpus.step_babble(5)(x, x.copy(), ctx)[1],
            "pink5": corpus.add_noise(x, pink(len(x), rng), fs, 5),
            "g711u+white5": corpus.add_noise(
                corpus.g711_roundtrip(x, fs, "ulaw"), corpus.white_noise(len(x), rng), fs, 5
            ),
            "jump150+loss20": corpus.step_loss(20)(x, corpus.delay_jump(x, fs, 150), ctx)[1],
            "lowpass1500+white5": corpus.add_noise(
                corpus.lowpass(x, fs, 1500), corpus.white_noise(len(x), rng), fs, 5
            ),
        }
        if amr is not None:
            c["amrnb4.75"] = amr
            c["amrnb4.75+loss5"] = corpus.step_loss(5)(x, amr, ctx)[1]
            c["jump-200+amrnb4.75"] = _codec(corpus.delay_jump(x, fs, -200), fs, "amrnb", 4750)
        opus = _codec(x, fs, "opus", 2500)
        if opus is not None:
            c["opus2.5"] = opus
        out += [(f"{stem}@{fs // 1000}k/{k}", stem, x, y, fs) for k, y in c.items()]
    return out


def main() -> None:
    warnings.simplefilter("ignore")
    items = [(p.name, p.stem, p.ref, p.deg, p.rate) for p in corpus.build_corpus()]
    for fs in corpus.RATES:
        items += harsh_pairs(fs)
    audio = ROOT / "reference_audio"
    with open(audio / "pairs.csv", newline="") as f:
        for row in csv.DictReader(f):
            ref, fs = sf.read(audio / row["reference"])
            deg, _ = sf.read(audio / row["degraded"])
            items.append((f"shipped/{row['degraded']}", Path(row["reference"]).stem, ref, deg, fs))
    clean = {fs: corpus.load_clean(fs) for fs in corpus.RATES}
    match, wrong = [], []
    for name, stem, ref, deg, fs in items:
        s = perceptq.score(ref, deg, sample_rate=fs)
        match.append((s.diagnostics["reference_match"]["value"], name))
        if stem.startswith("long") or "babble" in name or "noise_snr10" in name:
            continue
        for other in (k for k in clean[fs] if not corpus.shares_talker(k, stem)):
            s = perceptq.score(clean[fs][other], deg, sample_rate=fs)
            wrong.append((s.diagnostics["reference_match"]["value"], f"{name} vs {other}"))
    match.sort()
    wrong.sort()
    print(f"matching pairs: {len(match)}, lowest:")
    for v, n in match[:5]:
        print(f"  {v:.3f}  {n}")
    print(f"wrong-reference pairs: {len(wrong)}, highest:")
    for v, n in wrong[-5:]:
        print(f"  {v:.3f}  {n}")
    quiet = sum(v >= MIN_MATCH for v, _ in match)
    named = sum(v < MIN_MATCH for v, _ in wrong)
    print(
        f"threshold {MIN_MATCH}: {quiet}/{len(match)} matching pairs quiet, "
        f"{named}/{len(wrong)} wrong references named"
    )


if __name__ == "__main__":
    main()
