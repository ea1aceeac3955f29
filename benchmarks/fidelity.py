"""Fidelity report: perceptq vs the ITU reference implementation on the test corpora.

Builds the same deterministic corpora as tests/p862/test_fidelity.py (tests/corpus.py) and
tests/p862/test_voip_fidelity.py (tests/voip_corpus.py), scores every pair with both and
prints the |Δ| distribution per mode as Markdown tables, then the worst pairs. Usage:
``python benchmarks/fidelity.py [--worst N] [--skip-main] [--skip-voip]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import corpus
import numpy as np
import voip_corpus


def voip_report(worst: int) -> None:
    """|Δ| per mode on the VoIP time-warp corpus, unflagged pairs, and the flagged ones."""
    t0 = time.perf_counter()
    pairs = voip_corpus.build()
    ref = corpus.reference_scores(pairs)
    scored = {a: voip_corpus.perceptq_scores(pairs, a) for a in ("reference", "stable")}
    print(f"\nVoIP time-warp corpus: {len(pairs)} pairs, scored in "
          f"{time.perf_counter() - t0:.1f} s\n")
    print("| mode | alignment | pairs | flagged | within 0.005 | median |d| | p95 |d| "
          "| p99 |d| | max |d| |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for mode in ("nb", "wb"):
        mine = [p for p in pairs if p.mode == mode]
        for alignment, ours in scored.items():
            kept = [abs(ours[p.name][0] - ref[(p.name, mode)]) for p in mine
                    if not ours[p.name][1]]
            s = voip_corpus.statistics(kept)
            print(f"| {mode} | {alignment} | {len(mine)} | {len(mine) - len(kept)} | "
                  f"{s['within_0.005']:.1%} | {s['median']:.4f} | {s['p95']:.4f} | "
                  f"{s['p99']:.4f} | {s['max']:.4f} |")
    ours = scored["reference"]
    for mode in ("nb", "wb"):
        mine = [p for p in pairs if p.mode == mode]
        flagged = [f"{abs(ours[p.name][0] - ref[(p.name, mode)]):.3f}" for p in mine
                   if ours[p.name][1]]
        print(f"\n{mode}: flagged pairs, |d|: {', '.join(flagged) or 'none'}")
        rows = sorted(((abs(ours[p.name][0] - ref[(p.name, mode)]), p.name) for p in mine
                       if not ours[p.name][1]), reverse=True)[:worst]
        print(f"worst unflagged {mode} pairs:")
        for d, name in rows:
            print(f"  {name}  |d|={d:.4f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worst", type=int, default=10, help="worst pairs to list per mode")
    parser.add_argument("--skip-main", action="store_true", help="only the VoIP corpus")
    parser.add_argument("--skip-voip", action="store_true", help="only the main corpus")
    args = parser.parse_args(argv)
    if not args.skip_main:
        main_report(args.worst)
    if not args.skip_voip:
        voip_report(args.worst)
    return 0


def main_report(worst: int) -> None:
    """|Δ| per mode on the main corpus."""
    t0 = time.perf_counter()
    pairs = corpus.build_corpus()
    t1 = time.perf_counter()
    ref = corpus.reference_scores(pairs)
    t2 = time.perf_counter()
    ours = corpus.perceptq_scores(pairs)
    t3 = time.perf_counter()
    rows = corpus.combine(ref, ours)
    print(
        f"corpus: {len(pairs)} pairs ({sum(p.rate == 8000 for p in pairs)} at 8 kHz, "
        f"{sum(p.rate == 16000 for p in pairs)} at 16 kHz) built in {t1 - t0:.1f} s; "
        f"reference scored in {t2 - t1:.1f} s, perceptq in {t3 - t2:.1f} s "
        "(perceptq time includes numba compilation or cache loading)\n"
    )
    print("| mode | pairs | errors | within 0.02 | median |d| | p95 |d| | p99 |d| | max |d| "
          "| Pearson r |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for mode in ("nb", "wb"):
        s = corpus.statistics([r for r in rows if r.mode == mode])
        if s["errors"] == s["count"]:
            print(f"| {mode} | {s['count']} | {s['errors']} | - | - | - | - | - | - |")
            continue
        d = [r.delta for r in rows if r.mode == mode and r.ours is not None]
        print(
            f"| {mode} | {s['count']} | {s['errors']} | {s['within_0.02']:.1%} | "
            f"{s['median']:.4f} | {s['p95']:.4f} | {np.percentile(d, 99):.4f} | "
            f"{s['max']:.4f} | {s['pearson_r']:.5f} |"
        )
    for mode in ("nb", "wb"):
        print(f"\nworst {mode} pairs:")
        print(corpus.worst([r for r in rows if r.mode == mode], worst))


if __name__ == "__main__":
    raise SystemExit(main())
