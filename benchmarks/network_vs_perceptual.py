"""Network MOS (G.107 E-model, MOS-CQE) vs perceptual MOS (MOS-LQO) for G.711 under loss.

For each clean recording in reference_audio/clean/ and each condition (0, 1, 3, 5, 10 %
random or bursty loss), a G.711 µ-law call is packetised (20 ms), packets are dropped,
the call is written as a pcap and read back with ``perceptq.network.rtp`` (measured loss, burst
ratio, E-model MOS), the audio is extracted (lost packets as silence, and repeated) and
scored against the reference with ``perceptq.score`` (narrowband). Averages over the
recordings are printed as a table.

Bursty loss places bursts of geometric length (mean 3 packets) at random until the target
number of packets is lost. The E-model columns use the codec table's G.711 rows: with PLC
(Bpl 25.1) and without (Bpl 4.3); jitter is zero, so the mouth-to-ear delay is 40 ms.

Usage::

    python benchmarks/network_vs_perceptual.py            # print the table
    python benchmarks/network_vs_perceptual.py --write-capture call.pcap
        # write a demo call (3 % bursty loss, jittered arrivals) for `perceptq rtp`
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from perceptq import score
from perceptq.network import calls, rtp
from perceptq.network import transport as emodel_network

ROOT = Path(__file__).resolve().parent.parent
CLEAN = ROOT / "reference_audio" / "clean"
LOSSES = (0, 1, 3, 5, 10)
MEAN_BURST = 3.0


def load_8k(path: Path) -> np.ndarray:
    x, fs = sf.read(path, dtype="float64")
    x = x if x.ndim == 1 else x.mean(axis=1)
    return soxr.resample(x, fs, 8000) if fs != 8000 else x


def loss_mask(n: int, percent: float, bursty: bool, rng: np.random.Generator) -> np.ndarray:
    """Exactly round(percent·n/100) lost packets, never the first or last one."""
    target = round(percent * n / 100)
    lost = np.zeros(n, dtype=bool)
    if not bursty:
        lost[rng.choice(np.arange(1, n - 1), size=target, replace=False)] = True
        return lost
    while lost.sum() < target:
        length = min(int(rng.geometric(1 / MEAN_BURST)), target - int(lost.sum()))
        start = int(rng.integers(1, n - 1 - length))
        if not lost[start - 1 : start + length + 1].any():  # keep bursts apart
            lost[start : start + length] = True
    return lost


def run_condition(audio: np.ndarray, ref: Path, lost: np.ndarray, tmp: Path) -> dict:
    packets = [p for p, gone in zip(rtp.g711_call(audio), lost, strict=True) if not gone]
    cap = rtp.write_capture(tmp / "call.pcap", packets)
    report = calls.analyse_calls(cap, keep_packets=True)
    (stream,) = report.streams
    key = (stream.ssrc, stream.src, stream.dst)
    out = {
        "loss": stream.loss_pct,
        "burst": stream.burst_ratio,
        "cqe_plc": stream.mos,
        "cqe_noplc": emodel_network.rate_network(
            "g711-noplc", loss_pattern=lost, packet_ms=stream.packet_ms
        ).mos,
    }
    for conceal, name in ((False, "lqo_silence"), (True, "lqo_repeat")):
        wav = rtp.extract_audio(report, tmp / name, conceal=conceal)[key]
        out[name] = score(ref, wav, mode="nb").mos
    return out


def table(files: list[Path], seed: int) -> str:
    rng = np.random.default_rng(seed)
    audios = [load_8k(f) for f in files]
    header = (
        f"{'condition':<10} {'loss %':>7} {'BurstR':>7} {'MOS-CQE':>8} {'MOS-CQE':>8} "
        f"{'MOS-LQO':>8} {'MOS-LQO':>8}\n"
        f"{'':<10} {'meas.':>7} {'meas.':>7} {'PLC':>8} {'no PLC':>8} "
        f"{'silence':>8} {'repeat':>8}"
    )
    lines = [header, "-" * 62]
    with tempfile.TemporaryDirectory() as tmp:
        for bursty in (False, True):
            for percent in LOSSES:
                if bursty and percent == 0:
                    continue
                rows = []
                for audio, ref in zip(audios, files, strict=True):
                    lost = loss_mask(len(audio) // 160, percent, bursty, rng)
                    rows.append(run_condition(audio, ref, lost, Path(tmp)))
                mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
                label = f"{percent}% {'bursty' if bursty else 'random'}"
                lines.append(
                    f"{label:<10} {mean['loss']:7.2f} {mean['burst']:7.2f} {mean['cqe_plc']:8.2f} "
                    f"{mean['cqe_noplc']:8.2f} {mean['lqo_silence']:8.2f} {mean['lqo_repeat']:8.2f}"
                )
    return "\n".join(lines)


def write_demo(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    audio = load_8k(CLEAN / "arctic_a0001_a0009.wav")
    packets = rtp.g711_call(audio, seq0=65000, ts0=123456)
    lost = loss_mask(len(packets), 3, True, rng)
    late = rng.exponential(0.005, len(packets))  # jittered arrival times
    kept = [
        rtp.RtpPacket(
            p.time + 0.04 + d,
            p.src,
            p.dst,
            p.seq,
            p.timestamp,
            p.ssrc,
            p.payload_type,
            p.marker,
            p.payload,
        )
        for p, d, gone in zip(packets, late, lost, strict=True)
        if not gone
    ]
    kept.sort(key=lambda p: p.time)
    path.parent.mkdir(parents=True, exist_ok=True)
    rtp.write_capture(path, kept)
    print(
        f"wrote {path}: {len(kept)} of {len(packets)} packets, reference {CLEAN.name}/"
        "arctic_a0001_a0009.wav"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--write-capture", type=Path, help="write a demo call and exit")
    args = parser.parse_args()
    if args.write_capture:
        write_demo(args.write_capture, args.seed)
        return 0
    files = sorted(CLEAN.glob("*.wav"))
    if not files:
        print(f"no reference audio in {CLEAN}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    print(f"G.711 µ-law, 20 ms packets, mean over {len(files)} recordings ({CLEAN})")
    print(table(files, args.seed))
    print(f"({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
