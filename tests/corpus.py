"""Deterministic corpus of degraded speech pairs built in memory from reference_audio/clean.

Used by the fidelity tests (tests/test_fidelity.py), the fidelity report
(benchmarks/fidelity.py) and the script that writes the shipped degraded files
(reference_audio/make_degraded.py). Every degradation is a pure function of its inputs and
an explicit ``numpy.random.Generator``; the corpus seeds one generator per pair from the
pair's name, so adding a condition never changes the others.

A condition maps ``(ref, deg, ctx)`` to a new ``(ref, deg)``: most only touch the degraded
signal; a negative delay instead puts leading silence in front of the reference.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import re
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from numpy.typing import NDArray
from scipy import signal

from perceptq.network import g711

ROOT = Path(__file__).resolve().parent.parent
CLEAN_DIR = ROOT / "reference_audio" / "clean"
RATES = (8000, 16000)
FRAME_S = 0.020  # packet / frame duration for loss patterns
SEED = 20240862

Array = NDArray[np.float64]


# ---------------------------------------------------------------- clean speech


def load_clean(rate: int = 16000, directory: Path = CLEAN_DIR) -> dict[str, Array]:
    """Read every clean reference (sorted by stem), resampled to ``rate`` when needed."""
    out: dict[str, Array] = {}
    for path in sorted(directory.glob("*.wav")):
        x, fs = sf.read(str(path), dtype="float64")
        out[path.stem] = resample(x, fs, rate)
    if not out:
        raise FileNotFoundError(f"{directory}: no clean reference WAV files")
    return out


def resample(x: Array, rate_in: int, rate_out: int) -> Array:
    """High-quality resampling (identity at equal rates)."""
    if rate_in == rate_out:
        return np.asarray(x, dtype=np.float64)
    return np.asarray(soxr.resample(x, rate_in, rate_out, quality="VHQ"), dtype=np.float64)


def long_signal(clean: dict[str, Array], seconds: float, fs: int, pause_s: float = 0.4) -> Array:
    """The single-utterance clean files in turn, with ``pause_s`` of silence after each,
    repeated and cut to ``seconds`` (for long-signal pairs)."""
    stems = sorted(k for k in clean if k.count("_") == 1)
    pause = np.zeros(round(pause_s * fs))
    pieces: list[Array] = []
    n, target, i = 0, round(seconds * fs), 0
    while n < target:
        pieces += [clean[stems[i % len(stems)]], pause]
        n += len(pieces[-2]) + len(pause)
        i += 1
    return np.concatenate(pieces)[:target]


# ---------------------------------------------------------------- degradations


def _fit(y: Array, n: int) -> Array:
    """Trim or zero-pad ``y`` to exactly ``n`` samples."""
    return y[:n] if len(y) >= n else np.concatenate([y, np.zeros(n - len(y))])


def g711_roundtrip(x: Array, fs: int, law: str) -> Array:
    """Encode and decode with G.711 µ-law (``"ulaw"``) or A-law (``"alaw"``) at 8 kHz.

    Wider-band input is resampled to 8 kHz and back, as a narrowband telephone path is.
    """
    y = resample(x, fs, 8000)
    y = g711.decode(g711.encode(y, law), law)
    return _fit(resample(y, 8000, fs), len(x))


def quantise(x: Array, bits: int) -> Array:
    """Uniform mid-tread quantisation of the [-1, 1] range to ``bits`` bits."""
    step = 2.0 / 2**bits
    return np.clip(np.round(x / step) * step, -1.0, 1.0 - step)


def block_adaptive_quantise(x: Array, fs: int, bits: int, block_s: float = FRAME_S) -> Array:
    """Block-adaptive PCM: each block is scaled by its peak and quantised to ``bits`` bits.

    A crude low-bit-rate speech coder (``bits`` × fs bit/s plus a scale per block).
    """
    n = max(1, round(block_s * fs))
    levels = 2 ** (bits - 1) - 1
    out = np.empty_like(x)
    for start in range(0, len(x), n):
        blk = x[start : start + n]
        peak = float(np.max(np.abs(blk))) if blk.size else 0.0
        if peak == 0.0:
            out[start : start + n] = 0.0
            continue
        # quantise the scale too (8 steps per octave) so the side information is coarse
        peak = 2.0 ** (math.ceil(math.log2(peak) * 8) / 8)
        out[start : start + n] = np.round(blk / peak * levels) / levels * peak
    return out


def lowpass(x: Array, fs: int, cutoff_hz: float, order: int = 8) -> Array:
    """Causal Butterworth low-pass filter."""
    sos = signal.butter(order, cutoff_hz, btype="lowpass", fs=fs, output="sos")
    return signal.sosfilt(sos, x)


def bandpass(x: Array, fs: int, low_hz: float, high_hz: float, order: int = 4) -> Array:
    """Causal Butterworth band-pass filter (``high_hz`` at or above Nyquist: high-pass)."""
    if high_hz >= fs / 2:
        sos = signal.butter(order, low_hz, btype="highpass", fs=fs, output="sos")
    else:
        sos = signal.butter(order, (low_hz, high_hz), btype="bandpass", fs=fs, output="sos")
    return signal.sosfilt(sos, x)


def active_power(x: Array, fs: int, floor_db: float = 40.0) -> float:
    """Mean power over the 20 ms frames within ``floor_db`` of the loudest frame."""
    n = round(FRAME_S * fs)
    frames = x[: len(x) // n * n].reshape(-1, n)
    power = np.mean(frames**2, axis=1)
    active = power[power >= power.max() * 10 ** (-floor_db / 10)]
    return float(np.mean(active))


def white_noise(n: int, rng: np.random.Generator) -> Array:
    """Gaussian white noise of unit variance."""
    return rng.standard_normal(n)


def babble(others: Sequence[Array], n: int, rng: np.random.Generator) -> Array:
    """Sum of other talkers' speech, each tiled to ``n`` samples from a random offset."""
    if not others:
        raise ValueError("babble needs at least one other talker")
    out = np.zeros(n)
    for talker in others:
        reps = -(-(n + len(talker)) // len(talker))
        start = int(rng.integers(len(talker)))
        out += np.tile(talker, reps)[start : start + n]
    return out


def add_noise(x: Array, noise: Array, fs: int, snr_db: float) -> Array:
    """Add ``noise`` scaled so that active speech power / noise power is ``snr_db``."""
    noise = _fit(noise, len(x))
    scale = math.sqrt(active_power(x, fs) / (np.mean(noise**2) * 10 ** (snr_db / 10)))
    return x + scale * noise


def loss_pattern(
    n_frames: int, loss_rate: float, rng: np.random.Generator, mean_burst: float = 1.0
) -> NDArray[np.bool_]:
    """Lost-frame mask from a two-state (Gilbert) model; ``mean_burst=1`` is random loss.

    The stationary loss probability is ``loss_rate`` and lost runs last ``mean_burst``
    frames on average.
    """
    q = 1.0 / mean_burst  # P(lost -> received)
    p = loss_rate * q / (1.0 - loss_rate)  # P(received -> lost)
    u = rng.random(n_frames)
    lost = np.zeros(n_frames, dtype=bool)
    state = False
    for i in range(n_frames):
        state = u[i] >= q if state else u[i] < p
        lost[i] = state
    return lost


def frame_loss(
    x: Array, fs: int, loss_rate: float, rng: np.random.Generator, mean_burst: float = 1.0
) -> Array:
    """Zero whole 20 ms frames chosen by :func:`loss_pattern` (no concealment)."""
    n = round(FRAME_S * fs)
    lost = loss_pattern(-(-len(x) // n), loss_rate, rng, mean_burst)
    mask = np.repeat(~lost, n)[: len(x)]
    return x * mask


def clip(x: Array, fraction: float) -> Array:
    """Hard-clip at ``fraction`` of the signal's peak."""
    limit = fraction * float(np.max(np.abs(x)))
    return np.clip(x, -limit, limit)


def gain(x: Array, db: float) -> Array:
    """Scale by ``db`` decibels."""
    return x * 10 ** (db / 20)


def quietest_point(x: Array, fs: int, lo: float = 0.3, hi: float = 0.7) -> int:
    """Sample index at the centre of the quietest 100 ms between ``lo`` and ``hi`` of the file.

    Used to place a delay jump in a pause when there is one.
    """
    n = round(0.1 * fs)
    hop = n // 4
    starts = np.arange(int(lo * len(x)), int(hi * len(x)) - n, hop)
    energy = np.array([np.sum(x[s : s + n] ** 2) for s in starts])
    return int(starts[int(np.argmin(energy))] + n // 2)


def delay_jump(x: Array, fs: int, jump_ms: float, lo: float = 0.3, hi: float = 0.7) -> Array:
    """Change the delay by ``jump_ms`` at the quietest point between ``lo`` and ``hi`` of the
    file: insert silence (>0) or drop samples (<0)."""
    at = quietest_point(x, fs, lo, hi)
    k = round(abs(jump_ms) * fs / 1000)
    if jump_ms >= 0:
        return np.concatenate([x[:at], np.zeros(k), x[at:]])
    return np.concatenate([x[: at - k // 2], x[at - k // 2 + k :]])


def delay_pair(ref: Array, deg: Array, fs: int, delay_ms: float) -> tuple[Array, Array]:
    """Constant delay: the degraded plays ``delay_ms`` later (negative: earlier).

    Positive delays put leading silence in front of the degraded signal, negative ones in
    front of the reference, so no speech is cut off.
    """
    pad = np.zeros(round(abs(delay_ms) * fs / 1000))
    if delay_ms >= 0:
        return ref, np.concatenate([pad, deg])
    return np.concatenate([pad, ref]), deg


# ---------------------------------------------------------------- conditions


@dataclass(frozen=True)
class Context:
    """What a condition may use besides the pair: rate, generator, other talkers."""

    fs: int
    rng: np.random.Generator
    others: tuple[Array, ...] = ()


Step = Callable[[Array, Array, Context], tuple[Array, Array]]


def on_deg(fn: Callable[[Array, Context], Array]) -> Step:
    """Lift a degraded-only transform to a pair step."""
    return lambda ref, deg, ctx: (ref, fn(deg, ctx))


def step_g711(law: str) -> Step:
    return on_deg(lambda d, c: g711_roundtrip(d, c.fs, law))


def step_quant(bits: int) -> Step:
    return on_deg(lambda d, c: quantise(d, bits))


def step_apcm(bits: int) -> Step:
    return on_deg(lambda d, c: block_adaptive_quantise(d, c.fs, bits))


def step_lowpass(hz: float) -> Step:
    return on_deg(lambda d, c: lowpass(d, c.fs, hz))


def step_bandpass(lo: float, hi: float) -> Step:
    return on_deg(lambda d, c: bandpass(d, c.fs, lo, hi))


def step_white(snr_db: float) -> Step:
    return on_deg(lambda d, c: add_noise(d, white_noise(len(d), c.rng), c.fs, snr_db))


def step_babble(snr_db: float) -> Step:
    return on_deg(lambda d, c: add_noise(d, babble(c.others, len(d), c.rng), c.fs, snr_db))


def step_loss(pct: float, mean_burst: float = 1.0) -> Step:
    return on_deg(lambda d, c: frame_loss(d, c.fs, pct / 100, c.rng, mean_burst))


def step_clip(fraction: float) -> Step:
    return on_deg(lambda d, c: clip(d, fraction))


def step_gain(db: float) -> Step:
    """Level change of the degraded relative to the reference, kept inside [-1, 1]:
    positive changes attenuate the reference instead of amplifying the degraded."""
    if db >= 0:
        return lambda ref, deg, ctx: (gain(ref, -db), deg)
    return on_deg(lambda d, c: gain(d, db))


def step_delay(ms: float) -> Step:
    return lambda ref, deg, ctx: delay_pair(ref, deg, ctx.fs, ms)


def step_jump(ms: float) -> Step:
    return on_deg(lambda d, c: delay_jump(d, c.fs, ms))


def step_jitter(ms: float) -> Step:
    """Two delay jumps: +``ms`` in the first half, back by ``ms`` in the second."""
    return on_deg(
        lambda d, c: delay_jump(delay_jump(d, c.fs, ms, 0.15, 0.45), c.fs, -ms, 0.55, 0.85)
    )


def step_truncate(ms: float) -> Step:
    """The degraded recording stops ``ms`` before the end."""
    return on_deg(lambda d, c: d[: len(d) - round(ms * c.fs / 1000)])


@dataclass(frozen=True)
class Condition:
    """A named chain of steps applied in order."""

    name: str
    steps: tuple[Step, ...] = field(repr=False)

    def apply(self, ref: Array, deg: Array, ctx: Context) -> tuple[Array, Array]:
        for step in self.steps:
            ref, deg = step(ref, deg, ctx)
        return ref, deg


def condition_family(name: str) -> str:
    """Family of a condition name: each step's name without its trailing parameter."""
    return "+".join(re.sub(r"[-\d._]+$", "", step) or step for step in name.split("+"))


def _pick(rng: np.random.Generator, values: Sequence):
    return values[int(rng.integers(len(values)))]


def conditions_for(fs: int, rng: np.random.Generator) -> list[Condition]:
    """The condition list of one clean file at rate ``fs``; parameters drawn from ``rng``."""
    c: list[Condition] = []

    def add(name: str, *steps: Step) -> None:
        c.append(Condition(name, steps))

    nyq_cut = 3400 if fs == 8000 else _pick(rng, (3400, 5000, 7000))
    add("g711u", step_g711("ulaw"))
    add("g711a", step_g711("alaw"))
    bits = _pick(rng, (6, 7, 8, 9))
    add(f"quant{bits}", step_quant(bits))
    bits = _pick(rng, (3, 4))
    add(f"apcm{bits}", step_apcm(bits))
    hz = _pick(rng, (1500, 2000, 2500))
    add(f"lowpass{hz}", step_lowpass(hz))
    add(f"lowpass{nyq_cut}", step_lowpass(nyq_cut))
    lo, hi = _pick(rng, ((300, 3400), (500, 2500), (200, 3000)))
    add(f"bandpass{lo}-{hi}", step_bandpass(lo, hi))
    snrs = rng.permutation([5, 10, 15, 20, 30, 40])
    add(f"white{snrs[0]}", step_white(snrs[0]))
    add(f"white{snrs[1]}", step_white(snrs[1]))
    snr = _pick(rng, (5, 10, 20, 30))
    add(f"babble{snr}", step_babble(snr))
    pct = _pick(rng, (2, 5, 10, 20))
    add(f"loss{pct}", step_loss(pct))
    pct = _pick(rng, (5, 10, 15))
    add(f"burst{pct}", step_loss(pct, mean_burst=4.0))
    frac = _pick(rng, (0.1, 0.2, 0.4))
    add(f"clip{frac}", step_clip(frac))
    # level changes, delays and delay jumps: alone they leave the score at the top, so
    # each also comes with a mild coding or noise impairment
    ms = int(_pick(rng, (1, -1)) * rng.integers(20, 501))
    add(f"delay{ms}", step_delay(ms))
    add("gain_down20+g711a", step_gain(-20.0), step_g711("alaw"))
    snr = _pick(rng, (20, 30))
    add(f"gain_up20+white{snr}", step_gain(20.0), step_white(snr))
    ms = int(rng.integers(20, 501))
    add(f"delay{ms}+g711u", step_delay(ms), step_g711("ulaw"))
    ms = -int(rng.integers(20, 501))
    bits = _pick(rng, (7, 8))
    add(f"delay{ms}+quant{bits}", step_delay(ms), step_quant(bits))
    ms = int(_pick(rng, (1, -1)) * rng.integers(40, 301))
    add(f"jump{ms}+apcm4", step_jump(ms), step_apcm(4))
    # combinations
    add("g711u+loss5", step_g711("ulaw"), step_loss(5))
    snr = _pick(rng, (20, 30))
    add(f"g711a+white{snr}", step_g711("alaw"), step_white(snr))
    snr = _pick(rng, (10, 20))
    add(f"bandpass300-3400+babble{snr}", step_bandpass(300, 3400), step_babble(snr))
    add("apcm4+burst5", step_apcm(4), step_loss(5, mean_burst=3.0))
    ms = int(rng.integers(-500, 501))
    add(f"delay{ms}+g711u+white30", step_delay(ms), step_g711("ulaw"), step_white(30))
    add("gain_up12+clip0.5", step_gain(12.0), step_clip(0.5))
    ms = int(_pick(rng, (1, -1)) * rng.integers(40, 201))
    add(f"jump{ms}+g711a+loss2", step_jump(ms), step_g711("alaw"), step_loss(2))
    ms = int(rng.integers(40, 201))
    add(f"jitter{ms}+g711u", step_jitter(ms), step_g711("ulaw"))
    ms = int(rng.integers(100, 401))
    snr = _pick(rng, (20, 30))
    add(f"truncate{ms}+white{snr}", step_truncate(ms), step_white(snr))
    ms = int(rng.integers(50, 251))
    add(f"jump{ms}", step_jump(ms))
    return c


# ---------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class Pair:
    """One reference/degraded pair of the corpus."""

    name: str  # "<stem>@<rate>/<condition>"
    stem: str
    condition: str
    rate: int
    ref: Array = field(repr=False)
    deg: Array = field(repr=False)

    @property
    def modes(self) -> tuple[str, ...]:
        """Modes the pair is scored in: nb at 8 kHz; wb and nb at 16 kHz."""
        return ("nb",) if self.rate == 8000 else ("wb", "nb")


def seed_for(*parts: object) -> list[int]:
    """Entropy for a generator that depends only on ``parts`` (and the corpus seed)."""
    return [SEED, *(zlib.crc32(str(p).encode()) for p in parts)]


def build_corpus(rates: Iterable[int] = RATES, directory: Path = CLEAN_DIR) -> list[Pair]:
    """Every clean file × every condition at each rate, deterministic for a given input."""
    pairs: list[Pair] = []
    for fs in rates:
        clean = load_clean(fs, directory)
        for stem, x in clean.items():
            others = tuple(v for k, v in clean.items() if not shares_talker(k, stem))
            plan = conditions_for(fs, np.random.default_rng(seed_for(stem, fs)))
            for cond in plan:
                ctx = Context(fs, np.random.default_rng(seed_for(stem, fs, cond.name)), others)
                ref, deg = cond.apply(x, x.copy(), ctx)
                name = f"{stem}@{fs // 1000}k/{cond.name}"
                pairs.append(Pair(name, stem, cond.name, fs, ref, deg))
        pairs += _long_pairs(clean, fs)
    return pairs


#: Long pairs (seconds, condition): no fixed limit on duration or utterance count, but
#: fewer than the reference's maximum of 50 utterances so that it scores them.
LONG_CASES = ((30, "g711u+white30+loss2"), (45, "apcm4+burst5"))


def _long_pairs(clean: dict[str, Array], fs: int) -> list[Pair]:
    steps = {
        "g711u+white30+loss2": (step_g711("ulaw"), step_white(30), step_loss(2)),
        "apcm4+burst5": (step_apcm(4), step_loss(5, mean_burst=3.0)),
    }
    out = []
    for seconds, cond_name in LONG_CASES:
        x = long_signal(clean, seconds, fs)
        stem = f"long{seconds}s"
        ctx = Context(fs, np.random.default_rng(seed_for(stem, fs, cond_name)), ())
        ref, deg = Condition(cond_name, steps[cond_name]).apply(x, x.copy(), ctx)
        out.append(Pair(f"{stem}@{fs // 1000}k/{cond_name}", stem, cond_name, fs, ref, deg))
    return out


def shares_talker(a: str, b: str) -> bool:
    """Whether two clean stems (arctic_aNNNN[_aMMMM]) contain a common utterance."""
    return bool(set(a.split("_")[1:]) & set(b.split("_")[1:]))


# ---------------------------------------------------------------- scoring and statistics


@dataclass(frozen=True)
class Scored:
    """Reference and perceptq MOS-LQO of one pair in one mode (``ours`` None on error)."""

    name: str
    mode: str
    ref: float
    ours: float | None
    error: str = ""

    @property
    def delta(self) -> float:
        return math.inf if self.ours is None else abs(self.ours - self.ref)


def _reference_one(job: tuple[int, Array, Array, str]) -> float:
    from pesq import pesq as ref_pesq  # test-only dependency

    fs, ref, deg, mode = job
    return float(ref_pesq(fs, ref, deg, mode))


def reference_scores(
    pairs: Sequence[Pair], workers: int | None = None
) -> dict[tuple[str, str], float]:
    """MOS-LQO of the ITU reference implementation (the ``pesq`` package) per (name, mode).

    Runs in ``workers`` fresh processes (default: one per CPU, at most 4); 1 runs inline.
    """
    keys = [(p.name, mode) for p in pairs for mode in p.modes]
    jobs = [(p.rate, p.ref, p.deg, mode) for p in pairs for mode in p.modes]
    workers = workers or min(4, os.cpu_count() or 1)
    if workers <= 1:
        return dict(zip(keys, map(_reference_one, jobs), strict=True))
    ctx = multiprocessing.get_context("spawn")  # no fork of a possibly threaded test process
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        return dict(zip(keys, pool.map(_reference_one, jobs, chunksize=8), strict=True))


def perceptq_scores(pairs: Sequence[Pair]) -> dict[tuple[str, str], float | str]:
    """perceptq's MOS-LQO per (name, mode); an error becomes its one-line message."""
    import perceptq

    out: dict[tuple[str, str], float | str] = {}
    for p in pairs:
        for mode in p.modes:
            try:
                out[(p.name, mode)] = float(perceptq.pesq(p.rate, p.ref, p.deg, mode))
            except Exception as exc:  # reported per pair by the caller
                out[(p.name, mode)] = f"{type(exc).__name__}: {exc}"
    return out


def combine(
    ref: dict[tuple[str, str], float], ours: dict[tuple[str, str], float | str]
) -> list[Scored]:
    """Join the two score tables into :class:`Scored` rows (reference order)."""
    rows = []
    for key, r in ref.items():
        o = ours.get(key, "missing")
        if isinstance(o, str):
            rows.append(Scored(key[0], key[1], r, None, o))
        else:
            rows.append(Scored(key[0], key[1], r, o))
    return rows


def statistics(rows: Sequence[Scored]) -> dict[str, float]:
    """count, share within 0.02, median/p95/max |Δ| and Pearson r of the scored rows."""
    ok = [r for r in rows if r.ours is not None]
    if not ok:
        return {"count": len(rows), "errors": len(rows)}
    d = np.array([r.delta for r in ok])
    a = np.array([r.ref for r in ok])
    b = np.array([r.ours for r in ok])
    r_val = float(np.corrcoef(a, b)[0, 1]) if len(ok) > 1 and np.std(b) > 0 else float("nan")
    return {
        "count": len(rows),
        "errors": len(rows) - len(ok),
        "within_0.02": float(np.mean(d <= 0.02)),
        "median": float(np.median(d)),
        "p95": float(np.percentile(d, 95)),
        "max": float(d.max()),
        "pearson_r": r_val,
    }


def worst(rows: Sequence[Scored], n: int = 15) -> str:
    """The ``n`` rows with the largest |Δ| (errors first), one per line."""
    lines = []
    for r in sorted(rows, key=lambda r: -r.delta)[:n]:
        ours = f"{r.ours:.4f}" if r.ours is not None else r.error
        lines.append(f"  {r.name} [{r.mode}]  ref={r.ref:.4f}  ours={ours}  |d|={r.delta:.4f}")
    return "\n".join(lines)
