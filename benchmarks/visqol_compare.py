"""ViSQOL agreement and ranking on material that is not in the conformance set.

Builds 48 kHz pairs from synthetic music-like signals, the shipped speech (upsampled to
48 kHz) and the conformance references, degraded by ffmpeg's Opus, AAC and MP3 encoders
at several bitrates (when ffmpeg is installed), low-pass filters and white noise. Every
pair is scored by perceptq (ViSQOL audio mode) and by the PyPI package ``visqol-python``
(the same algorithm in pure Python); P.862.2 (perceptq, wideband at 16 kHz) is shown
beside it. Reported:

* the distribution of |perceptq - visqol-python| over all pairs, and the pairs that
  differ by more than 1e-6 (with the reason when it is the alignment, see README);
* for each codec ladder and source, whether the ViSQOL MOS (and P.862) falls
  monotonically as the bitrate falls.

Usage: ``python benchmarks/visqol_compare.py [--out results.csv]``. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy.signal import butter, sosfilt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "visqol"))
FS = 48000
LADDERS = {  # codec -> (ffmpeg encoder args, bitrates in kbit/s, high to low)
    "opus": (["-c:a", "libopus"], (128, 64, 32, 16, 8)),
    "aac": (["-c:a", "aac"], (128, 64, 32, 16)),
    "mp3": (["-c:a", "libmp3lame"], (128, 64, 32, 16)),
}
LOWPASS_HZ = (16000, 8000, 4000, 2000)
SNR_DB = (40, 30, 20, 10)


def sources() -> dict[str, np.ndarray]:
    """Mono 48 kHz test items, about 8 s each."""
    from visqol_signals import music

    out = {f"music{k}": music(8.0, FS, seed=k, note_s=0.2 + 0.1 * k) for k in range(3)}
    for stem in ("arctic_a0001_a0009", "arctic_a0007_a0009"):
        x, fs = sf.read(ROOT / "reference_audio" / "clean" / f"{stem}.wav")
        out[f"speech_{stem[7:12]}"] = soxr.resample(x, fs, FS, quality="VHQ")
    for name in ("strauss48_stereo", "guitar48_stereo"):
        x, _ = sf.read(ROOT / "reference_audio" / "visqol" / f"{name}.wav", always_2d=True)
        out[name.split("48")[0]] = x.mean(axis=1)[: 8 * FS]
    return out


def codec(x: np.ndarray, args: list[str], kbps: int, tmp: Path) -> np.ndarray | None:
    """Encode and decode with ffmpeg at ``kbps``; the decoded signal, trimmed to len(x)."""
    src, enc, dec = tmp / "in.wav", tmp / "enc.mka", tmp / "out.wav"
    sf.write(src, x, FS, subtype="FLOAT")
    run = ["ffmpeg", "-v", "error", "-y"]
    subprocess.run([*run, "-i", str(src), *args, "-b:a", f"{kbps}k", str(enc)], check=True)
    subprocess.run([*run, "-i", str(enc), "-ar", str(FS), "-ac", "1", str(dec)], check=True)
    y, _ = sf.read(dec)
    y = y[: x.shape[0]]
    return np.pad(y, (0, x.shape[0] - y.shape[0]))


def conditions(x: np.ndarray, tmp: Path):
    """(family, level, degraded) for one source."""
    if shutil.which("ffmpeg"):
        for name, (args, rates) in LADDERS.items():
            for kbps in rates:
                yield name, kbps, codec(x, args, kbps, tmp)
    for hz in LOWPASS_HZ:
        yield "lowpass", hz, sosfilt(butter(8, hz, fs=FS, output="sos"), x)
    rng = np.random.default_rng(7)
    noise = rng.standard_normal(x.shape)
    noise *= np.sqrt(np.mean(x**2) / np.mean(noise**2))
    for snr in SNR_DB:
        yield "noise", snr, x + noise * 10 ** (-snr / 20)


def main() -> None:
    import pandas as pd
    from visqol.api import VisqolApi

    import perceptq

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    logging.getLogger("visqol").setLevel(logging.ERROR)
    theirs = VisqolApi()
    theirs.create(mode="audio")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for src_name, x in sources().items():
            ref_path = tmp / "ref.wav"
            sf.write(ref_path, x, FS, subtype="FLOAT")
            for family, level, y in conditions(x, tmp):
                deg_path = tmp / "deg.wav"
                sf.write(deg_path, y, FS, subtype="FLOAT")
                ours = perceptq.score(ref_path, deg_path, metric="visqol", mode="audio")
                other = theirs.measure(str(ref_path), str(deg_path))
                try:
                    p862 = perceptq.score(ref_path, deg_path).mos
                except perceptq.PerceptqError:
                    p862 = float("nan")  # P.862 wants speech
                rows.append({"source": src_name, "family": family, "level": level,
                             "visqol": ours.mos, "visqol_python": other.moslqo,
                             "delta": abs(ours.mos - other.moslqo), "p862": p862})
                print(f"{src_name:<14}{family:<8}{level:>6}  {ours.mos:.4f}  "
                      f"{other.moslqo:.4f}  P.862 {p862:.3f}", flush=True)
    df = pd.DataFrame(rows)
    if args.out:
        df.to_csv(args.out, index=False)
    d = df["delta"].to_numpy()
    print(f"\n|perceptq - visqol-python| over {len(d)} pairs: median {np.median(d):.2e}, "
          f"p95 {np.percentile(d, 95):.2e}, max {d.max():.2e}, "
          f"<= 1e-6: {np.mean(d <= 1e-6):.0%}, <= 1e-3: {np.mean(d <= 1e-3):.0%}")
    print("\nmonotonic as the bitrate / cut-off / SNR falls (ViSQOL, P.862):")
    for (family, src_name), g in df.groupby(["family", "source"], sort=True):
        g = g.sort_values("level", ascending=False)
        mono_v = bool(np.all(np.diff(g["visqol"]) <= 1e-9))
        p = g["p862"].to_numpy()
        mono_p = bool(np.all(np.diff(p) <= 1e-9)) if np.all(np.isfinite(p)) else None
        print(f"  {family:<8}{src_name:<14} ViSQOL {'yes' if mono_v else 'NO '}  "
              f"P.862 {'-' if mono_p is None else ('yes' if mono_p else 'NO')}  "
              + "  ".join(f"{v:.2f}" for v in g["visqol"]))


if __name__ == "__main__":
    main()
