"""Deterministic VoIP time-warp corpus built in memory from reference_audio/clean.

Recorded VoIP calls go through an adaptive jitter buffer that stretches and shrinks time:
delay jumps inside speech and in pauses, pauses played longer or shorter, dropouts after
which the delay has changed. Such pairs make the reference split utterances, the code path
where the reference's break-point window differs from the standard's text (design note
§9.2, perceptq.p862.align.effective_window). Each pair is 8-15 s long: sentences of the
shipped speech with 0.02-1.2 s pauses, 0.2-3 s (8 kHz) or 0.2-5 s (16 kHz) of leading and
trailing silence (so that utterance pieces fall on both sides of the 3.1 s / 6.2 s lengths
at which the reference's window gets overwritten), one family of time warps, a bulk delay
and, for most pairs, a codec or noise, stored as dithered 16-bit samples (no exact digital
silence: see the README on digital silence). Used by tests/p862/test_voip_fidelity.py and
benchmarks/fidelity.py. Every pair is a pure function of its index and rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import corpus
import numpy as np

Array = corpus.Array
#: Pairs per rate (8 kHz scored nb, 16 kHz scored wb).
PAIRS_PER_RATE = 160
RATES = {8000: "nb", 16000: "wb"}
FAMILIES = ("jump_speech", "jump_pause", "multi_jump", "jb_pauses", "dropout_jump", "jb_mixed")
IMPAIRMENTS = ("none", "g711u", "g711a", "white", "apcm4", "g711u+white", "none", "g711a")
SENTENCES = ("arctic_a0001", "arctic_a0007", "arctic_a0009")
#: Leading and trailing silence (s) per rate. The reference's window is overwritten once an
#: utterance piece (edge silence included) passes 3.1 s at 8 kHz, 6.2 s at 16 kHz; the
#: shipped sentences make utterances of at most about 3 s, so 16 kHz needs longer edges
#: for its pairs to fall on both sides of that limit.
EDGE_SILENCE_S = {8000: (0.2, 3.0), 16000: (0.2, 5.0)}


@dataclass(frozen=True)
class Pair:
    """One pair of the corpus: ``name`` = "voip<index>@<rate>/<family>+<impairment>"."""

    name: str
    family: str
    rate: int
    mode: str
    ref: Array = field(repr=False)
    deg: Array = field(repr=False)

    @property
    def modes(self) -> tuple[str, ...]:
        """The one mode the pair is scored in (as corpus.Pair.modes)."""
        return (self.mode,)


@dataclass(frozen=True)
class Scored:
    """Reference and perceptq MOS-LQO of one pair, and perceptq's flag."""

    name: str
    mode: str
    ref: float
    ours: float
    unstable: bool

    @property
    def delta(self) -> float:
        return abs(self.ours - self.ref)


@dataclass
class Talk:
    """A reference signal with where its speech and pauses are (samples)."""

    x: Array
    speech: list[tuple[int, int]]
    pauses: list[tuple[int, int]]


def _trim(x: Array, fs: int) -> Array:
    """The sentence without its leading and trailing silence (20 ms frames 40 dB down)."""
    n = round(0.02 * fs)
    frames = x[: len(x) // n * n].reshape(-1, n)
    power = np.mean(frames**2, axis=1)
    active = np.flatnonzero(power >= power.max() * 1e-4)
    return x[active[0] * n : (active[-1] + 1) * n]


def talk(clean: dict[str, Array], fs: int, rng: np.random.Generator) -> Talk:
    """Edge silence (EDGE_SILENCE_S), sentences with pauses until at least 8-11 s in all,
    edge silence: 8-15 s. Two pauses in five are 20-100 ms (inside a talk spurt), the
    others 0.3-1.2 s."""
    edge = EDGE_SILENCE_S[fs]
    lead = round(rng.uniform(*edge) * fs)
    trail = round(rng.uniform(*edge) * fs)
    target = round(rng.uniform(8.0, 11.0) * fs)
    pieces = [np.zeros(lead)]
    speech, pauses = [], []
    n = lead
    while True:
        s = _trim(clean[SENTENCES[int(rng.integers(len(SENTENCES)))]], fs)
        pieces.append(s)
        speech.append((n, n + len(s)))
        n += len(s)
        if n + trail >= target:
            break
        short = rng.random() < 0.4
        gap = round((rng.uniform(0.02, 0.1) if short else rng.uniform(0.3, 1.2)) * fs)
        pieces.append(np.zeros(gap))
        pauses.append((n, n + gap))
        n += gap
    pieces.append(np.zeros(trail))
    return Talk(np.concatenate(pieces), speech, pauses)


def _ms(rng: np.random.Generator, lo: float, hi: float, fs: int) -> int:
    """A signed random number of samples, |value| between lo and hi ms."""
    return int((1 if rng.random() < 0.5 else -1) * round(rng.uniform(lo, hi) * fs / 1000))


def _in_speech(t: Talk, rng: np.random.Generator) -> int:
    a, b = t.speech[int(rng.integers(len(t.speech)))]
    return int(rng.integers(a + (b - a) // 5, b - (b - a) // 5))


def _in_pause(t: Talk, rng: np.random.Generator) -> int:
    if not t.pauses:
        return _in_speech(t, rng)
    a, b = t.pauses[int(rng.integers(len(t.pauses)))]
    return (a + b) // 2


def edits_for(family: str, t: Talk, fs: int, rng: np.random.Generator) -> list[tuple]:
    """Time warps as (position, change, dropout) in reference samples: ``change`` > 0
    inserts silence, < 0 deletes samples; ``dropout`` samples after the position are
    zeroed first."""
    if family == "jump_speech":
        return [(_in_speech(t, rng), _ms(rng, 20, 200, fs), 0)]
    if family == "jump_pause":
        return [(_in_pause(t, rng), _ms(rng, 20, 300, fs), 0)]
    if family == "multi_jump":
        where = (_in_speech, _in_pause)
        return [(where[int(rng.integers(2))](t, rng), _ms(rng, 20, 160, fs), 0)
                for _ in range(int(rng.integers(2, 5)))]
    if family in ("jb_pauses", "jb_mixed"):
        out = []
        for a, b in t.pauses:
            change = _ms(rng, 10, 150, fs)
            out.append(((a + b) // 2, max(change, -(b - a) + round(0.1 * fs)), 0))
        if family == "jb_mixed" or not out:
            out.append((_in_speech(t, rng), _ms(rng, 20, 120, fs), 0))
        return out
    if family == "dropout_jump":
        return [(_in_speech(t, rng), _ms(rng, 20, 120, fs), round(rng.uniform(40, 200) * fs / 1000))
                for _ in range(int(rng.integers(1, 4)))]
    raise ValueError(family)


def warp(x: Array, edits: list[tuple]) -> Array:
    """Apply the edits, last position first."""
    y = x.copy()
    for pos, change, dropout in sorted(edits, key=lambda e: -e[0]):
        y[pos : pos + dropout] = 0.0
        if change > 0:
            y = np.concatenate([y[:pos], np.zeros(change), y[pos:]])
        else:
            y = np.concatenate([y[:pos], y[pos - change :]])
    return y


def impair(x: Array, kind: str, fs: int, rng: np.random.Generator) -> Array:
    """Codec and/or noise of the degraded path."""
    for step in kind.split("+"):
        if step in ("g711u", "g711a"):
            x = corpus.g711_roundtrip(x, fs, "ulaw" if step == "g711u" else "alaw")
        elif step == "white":
            x = corpus.add_noise(x, corpus.white_noise(len(x), rng), fs, rng.uniform(25, 40))
        elif step == "apcm4":
            x = corpus.block_adaptive_quantise(x, fs, 4)
    return x


def _pcm16(ref: Array, deg: Array, rng: np.random.Generator) -> tuple[Array, Array]:
    """Both scaled by one factor to peak 0.9 and rounded to 16-bit steps with triangular
    dither of one step, as recorded audio is: its silence is never exact digital zero."""
    g = 0.9 * 32767 / max(np.max(np.abs(ref)), np.max(np.abs(deg)))

    def pcm(x: Array) -> Array:
        return np.round(x * g + rng.random(x.shape[0]) - rng.random(x.shape[0])) / 32767

    return pcm(ref), pcm(deg)


def make_pair(index: int, fs: int, clean: dict[str, Array]) -> Pair:
    """Pair ``index`` at rate ``fs`` (a pure function of both)."""
    rng = np.random.default_rng(corpus.seed_for("voip", index, fs))
    family = FAMILIES[index % len(FAMILIES)]
    kind = IMPAIRMENTS[(index // len(FAMILIES)) % len(IMPAIRMENTS)]
    t = talk(clean, fs, rng)
    deg = warp(t.x, edits_for(family, t, fs, rng))
    bulk = round(rng.uniform(-0.1, 0.25) * fs)
    ref = t.x
    if bulk >= 0:
        deg = np.concatenate([np.zeros(bulk), deg])
    else:
        ref = np.concatenate([np.zeros(-bulk), ref])
    deg = impair(deg, kind, fs, rng)
    ref, deg = _pcm16(ref, deg, rng)
    return Pair(f"voip{index:03d}@{fs // 1000}k/{family}+{kind}", family, fs, RATES[fs], ref, deg)


def build(n: int = PAIRS_PER_RATE, rates=tuple(RATES)) -> list[Pair]:
    """``n`` pairs at each rate."""
    out = []
    for fs in rates:
        clean = corpus.load_clean(fs)
        out += [make_pair(i, fs, clean) for i in range(n)]
    return out


def perceptq_scores(pairs: list[Pair], alignment: str = "reference"
                    ) -> dict[str, tuple[float, bool]]:
    """perceptq's (MOS-LQO, reference_unstable) per pair name, scored as ``pesq()`` does."""
    from perceptq.audio import preprocess
    from perceptq.audio.io import load
    from perceptq.p862 import model

    out = {}
    for p in pairs:
        x = preprocess.condition(load(p.ref, p.rate, role="reference"), p.rate)
        y = preprocess.condition(load(p.deg, p.rate, role="degraded"), p.rate)
        res = model.evaluate(x, y, p.rate, p.mode, alignment=alignment)
        out[p.name] = (res.mos, res.reference_unstable)
    return out


def statistics(deltas: list[float]) -> dict[str, float]:
    """count, share within 0.005, median / p95 / p99 / max of |delta|."""
    d = np.asarray(deltas)
    if d.size == 0:
        return {"count": 0}
    return {"count": int(d.size), "within_0.005": float(np.mean(d <= 0.005)),
            "median": float(np.median(d)), "p95": float(np.percentile(d, 95)),
            "p99": float(np.percentile(d, 99)), "max": float(d.max())}
