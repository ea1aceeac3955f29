"""Long-call benchmark: time and peak memory of ``perceptq.score`` on 1, 10 and 60 minute
16 kHz pairs (files on disk, scored window by window).

Pairs: the clean sentences of reference_audio/ in random order with 0.4-1.5 s pauses; the
degraded file is the reference recorded 120 ms late by a device whose clock runs 150 ppm
fast, with white noise 45 dB below the speech. Both are written in one-minute blocks, so
building an hour-long pair needs little memory. Each pair is scored in a fresh
subprocess (numba cache warm); reported: wall time of ``score``, import + warm-up time,
and the subprocess's peak RSS (``ru_maxrss``), which includes the Python interpreter,
numpy/numba and the JIT-compiled kernels.

Usage: ``python benchmarks/longcall.py [--minutes 1 10 60] [--keep DIR]``.
Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from speech import FS, SENTENCES, sentence  # noqa: E402

DELAY_S = 0.120
DRIFT_PPM = 150.0
NOISE_RMS = 0.0015

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import perceptq
from perceptq.p862 import model
model.warm_up()
t1 = time.perf_counter()
s = perceptq.score(sys.argv[1], sys.argv[2])
t2 = time.perf_counter()
print(json.dumps({"warm_s": t1 - t0, "score_s": t2 - t1, "mos": s.mos,
                  "windows": len(s.windows), "utterances": len(s.utterances),
                  "drift_ppm": s.drift_ppm,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_pair(folder: Path, minutes: float, seed: int = 0) -> tuple[Path, Path]:
    """Write ref.wav and deg.wav of ``minutes`` minutes into ``folder``, block by block."""
    rng = np.random.default_rng(seed)
    ref_path, deg_path = folder / f"ref_{minutes:g}min.wav", folder / f"deg_{minutes:g}min.wav"
    total = round(minutes * 60 * FS)
    stream = soxr.ResampleStream(FS, FS * (1 + DRIFT_PPM * 1e-6), 1, dtype="float64",
                                 quality="VHQ")
    with sf.SoundFile(ref_path, "w", FS, 1, "PCM_16") as fr, \
            sf.SoundFile(deg_path, "w", FS, 1, "PCM_16") as fd:
        fd.write(np.zeros(round(DELAY_S * FS)))
        n = 0
        while n < total:
            parts, m = [], 0
            while m < 60 * FS:
                x = sentence(SENTENCES[int(rng.integers(len(SENTENCES)))])
                parts += [x, np.zeros(round(rng.uniform(0.4, 1.5) * FS))]
                m += x.shape[0] + parts[-1].shape[0]
            block = np.concatenate(parts)[: total - n]
            n += block.shape[0]
            fr.write(block)
            y = stream.resample_chunk(block, last=n >= total)
            fd.write(np.clip(y + NOISE_RMS * rng.standard_normal(y.shape[0]), -1, 1))
    return ref_path, deg_path


def measure(ref: Path, deg: Path) -> dict:
    """Score one pair in a fresh subprocess; return its JSON report."""
    out = subprocess.run([sys.executable, "-c", CHILD, str(ref), str(deg)], check=True,
                         capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 60])
    ap.add_argument("--keep", type=Path, help="write the pairs here and keep them")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"{'minutes':>7}  {'score s':>8}  {'s per min':>9}  {'peak MiB':>8}  "
              f"{'windows':>7}  {'MOS':>5}  {'drift ppm':>9}")
        for minutes in args.minutes:
            r = measure(*write_pair(folder, minutes))
            print(f"{minutes:>7g}  {r['score_s']:>8.1f}  {r['score_s'] / minutes:>9.2f}  "
                  f"{r['peak_mib']:>8.0f}  {r['windows']:>7}  {r['mos']:>5.2f}  "
                  f"{r['drift_ppm']:>+9.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
