"""Write reference_audio/degraded/<condition>/<stem>.wav and pairs.csv from clean/.

Deterministic: the same clean files always give byte-identical outputs. The degradations
are the ones the fidelity corpus uses (tests/corpus.py, built on perceptq.network.g711, numpy,
scipy and soxr). Run from anywhere: ``python reference_audio/make_degraded.py [OUT_DIR]``
(default: this folder).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import corpus  # noqa: E402  (the shared degradation functions live with the tests)

RATE = 16000

#: condition folder -> (description for the README, chain of corpus steps)
CONDITIONS: dict[str, tuple[str, tuple[corpus.Step, ...]]] = {
    "g711u": ("G.711 µ-law round trip at 8 kHz", (corpus.step_g711("ulaw"),)),
    "g711a": ("G.711 A-law round trip at 8 kHz", (corpus.step_g711("alaw"),)),
    "lowbitrate": ("4-bit block-adaptive PCM, 20 ms blocks", (corpus.step_apcm(4),)),
    "noise_snr10": ("babble of the other talkers at 10 dB SNR", (corpus.step_babble(10),)),
    "packetloss5": ("5 % random loss of 20 ms frames, zeroed", (corpus.step_loss(5),)),
    "burstloss10": (
        "10 % bursty loss of 20 ms frames (mean burst 4 frames), zeroed",
        (corpus.step_loss(10, mean_burst=4.0),),
    ),
    "clipping": ("hard clipping at 20 % of the peak", (corpus.step_clip(0.2),)),
}


def speaker_of(stem: str) -> str:
    """Talker label of a clean stem (see README.md)."""
    talkers = {"a0001": "m1", "a0007": "m2", "a0009": "f1"}
    return "+".join(talkers.get(part, part) for part in stem.split("_")[1:])


def main(out_dir: Path = HERE) -> int:
    """Write ``out_dir/degraded/...`` and ``out_dir/pairs.csv`` from this folder's clean/."""
    clean = corpus.load_clean(RATE, HERE / "clean")
    rows = []
    for name, (_, steps) in CONDITIONS.items():
        folder = out_dir / "degraded" / name
        folder.mkdir(parents=True, exist_ok=True)
        for stem, x in clean.items():
            others = tuple(v for k, v in clean.items() if not corpus.shares_talker(k, stem))
            rng = np.random.default_rng(corpus.seed_for("shipped", stem, name))
            _, deg = corpus.Condition(name, steps).apply(
                x, x.copy(), corpus.Context(RATE, rng, others)
            )
            sf.write(str(folder / f"{stem}.wav"), np.clip(deg, -1.0, 32767 / 32768), RATE, "PCM_16")
            rows.append(
                {
                    "reference": f"clean/{stem}.wav",
                    "degraded": f"degraded/{name}/{stem}.wav",
                    "condition": name,
                    "speaker": speaker_of(stem),
                }
            )
    with open(out_dir / "pairs.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["reference", "degraded", "condition", "speaker"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} degraded files and pairs.csv")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE))
