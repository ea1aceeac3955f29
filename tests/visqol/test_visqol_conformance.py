"""ViSQOL v3 conformance: the C++ implementation's published scores, from one table."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from perceptq.visqol import VisqolConfig, evaluate

DATA = Path(__file__).resolve().parents[2] / "reference_audio" / "visqol"
with open(DATA / "cases.csv", newline="") as fh:
    CASES = list(csv.DictReader(fh))


def _mono(name: str) -> tuple[np.ndarray, int]:
    x, fs = sf.read(DATA / name, always_2d=True)
    return x.mean(axis=1), fs


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['mode']}-{c['degraded']}")
def test_conformance(case):
    ref, fs = _mono(case["reference"])
    deg, fs_deg = _mono(case["degraded"])
    assert fs == fs_deg
    config = VisqolConfig(case["mode"], fs, unscaled_speech=case["unscaled"] == "1")
    result = evaluate(ref, deg, config)
    np.testing.assert_allclose(result.mos, float(case["expected"]), rtol=0, atol=float(case["tol"]))
    assert result.fvnsim.shape == (config.num_bands,)
    assert np.all(np.diff(result.center_freq_hz) > 0)
