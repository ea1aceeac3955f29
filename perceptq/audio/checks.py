"""Input sanity checks: refuse a reference without speech, and say when a score is less
trustworthy than usual (the entries of ``Score.warnings``).

None of this changes the score; it only inspects the signals. The speech-activity measure
here is deliberately simple (20 ms frame levels after removing DC and hum below 100 Hz):
it is used for the checks only, never by the model.

Warnings produced (each starts with the input's name):

- the file was truncated (header longer than the data);
- samples beyond ±1.0 full scale; a clipped reference;
- channels that differ and were averaged to mono;
- a silent degraded signal; active-speech levels more than 20 dB apart;
- less than 1 s of active speech in the reference;
- a degraded signal much longer than the reference;
- reference speech left outside every aligned utterance (not scored).

The "resampled" warning is made by :func:`perceptq.api.score`, where resampling happens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from perceptq.audio import filters
from perceptq.audio.io import MAX_ABS_SAMPLE
from perceptq.audio.quantile import percentile
from perceptq.errors import InvalidAudioError, NoSpeechError

#: Frame length of the activity measure, seconds.
FRAME_S = 0.020
#: Frames quieter than this (dB re full scale, after DC removal) count as digital silence.
SILENCE_DB = -100.0
#: A reference whose frame levels vary less than this (dB, 98th minus 10th percentile)
#: is steady (tone, hum, stationary noise) rather than speech.
STEADY_SPREAD_DB = 6.0
#: Active frames are within this many dB of the loudest frame...
ACTIVE_RANGE_DB = 35.0
#: ...and at least this many dB above the noise floor (10th percentile).
ACTIVE_ABOVE_FLOOR_DB = 6.0
#: Channels differ (a warning) when the energy of their deviations from their mean is
#: within this many dB of their energy. Copies of one signal through a lossy stereo codec
#: (Vorbis, Opus, MP3 joint stereo) stay 30 dB or more below; different talkers or a
#: channel 3 dB quieter than the other are above.
CHANNELS_DIFFER_DB = -20.0
#: A reference without level variation whose samples all lie within this of zero (-60
#: dBFS; A-law's idle value is ±8/32768) is silent, not a DC offset.
QUIET_PEAK = 1e-3
#: Less active speech than this in the reference gives a warning, seconds.
MIN_ACTIVE_SPEECH_S = 1.0
#: Active-speech level difference that gives a warning, dB.
MAX_LEVEL_DIFF_DB = 20.0
#: Fraction of samples sitting at the peak (in runs) above which a reference is clipped.
CLIPPED_FRACTION = 1e-3
#: Degraded longer than this multiple of the reference (and 1 s more) gives a warning.
MAX_LENGTH_RATIO = 2.0
#: Unscored reference speech that gives a warning: seconds, and fraction of active speech.
MAX_UNSCORED_S, MAX_UNSCORED_FRACTION = 0.5, 0.2


@dataclass(frozen=True)
class Activity:
    """Frame levels of one signal and which frames are active speech."""

    levels_db: NDArray[np.float64]
    active: NDArray[np.bool_]
    frame_s: float
    mean: float = 0.0

    @property
    def peak_db(self) -> float:
        """Loudest frame level (dB re full scale); -inf for an empty signal."""
        return float(self.levels_db.max()) if self.levels_db.size else -np.inf

    @property
    def active_s(self) -> float:
        """Seconds of active speech."""
        return float(np.count_nonzero(self.active)) * self.frame_s

    @property
    def active_level_db(self) -> float:
        """Mean power of the active frames (all frames if none is active), dB re full scale."""
        lv = self.levels_db[self.active] if self.active.any() else self.levels_db
        if lv.size == 0:
            return -np.inf
        return float(10 * np.log10(np.mean(10 ** (lv / 10))))

    @property
    def spread_db(self) -> float:
        """98th minus 10th percentile of the frame levels, dB."""
        if self.levels_db.size == 0:
            return 0.0
        hi, lo = percentile(self.levels_db, 98), percentile(self.levels_db, 10)
        return float(hi - lo)


def activity(x: NDArray[np.float64], fs: int) -> Activity:
    """Frame levels (dB re full scale) of mono ``x`` after removing DC and content < 100 Hz."""
    return activity_of_blocks(lambda: iter((np.asarray(x, dtype=np.float64),)), fs)


def activity_of_blocks(blocks: Callable[[], Iterator[NDArray[np.float64]]], fs: int) -> Activity:
    """:func:`activity` of a signal given as consecutive mono blocks; ``blocks()`` is
    called twice (the mean, then the levels), so memory stays bounded for long signals."""
    return activities([blocks], fs)[0]


def activities(signals: Sequence[Callable[[], Iterator[NDArray[np.float64]]]], fs: int
               ) -> list[Activity]:
    """:func:`activity_of_blocks` of one or two signals; two are filtered side by side
    (one kernel pass over both, the same numbers as one at a time)."""
    means = []
    for blocks in signals:
        total, n_total = 0.0, 0
        for b in blocks():
            total += float(np.sum(b))
            n_total += b.shape[0]
        means.append(total / max(n_total, 1))
    sos = filters.butter_sos("dc_hum", fs)
    n = max(1, round(FRAME_S * fs))
    states = [np.zeros((sos.shape[0], 2)) for _ in range(2)]
    offsets = (*means, 0.0)[:2]
    carry = [np.zeros(0) for _ in signals]
    parts: list[list[NDArray[np.float64]]] = [[] for _ in signals]
    streams = [blocks() for blocks in signals]
    while True:
        bs = [next(stream, None) for stream in streams]
        if all(b is None for b in bs):
            break
        x, y = (np.zeros(0) if b is None else b for b in (*bs, None)[:2])
        *filtered, states[0], states[1] = filters.sosfilt_pair(sos, x, y, *states,
                                                               offsets=offsets)
        for i, (b, f) in enumerate(zip(bs, filtered[: len(bs)], strict=True)):
            if b is None:
                continue
            f = np.concatenate((carry[i], f)) if carry[i].size else f
            m = f.shape[0] // n
            with np.errstate(over="ignore"):  # samples near 1e300: an error follows (far beyond)
                parts[i].append(np.mean(f[: m * n].reshape(m, n) ** 2, axis=1))
            carry[i] = f[m * n:]
    with np.errstate(over="ignore", invalid="ignore"):
        return [_activity_of_power(p, n, fs, mean)
                for p, mean in zip(parts, means, strict=True)]


def _activity_of_power(parts: list[NDArray[np.float64]], n: int, fs: int, mean: float
                       ) -> Activity:
    power = np.concatenate(parts) if parts else np.zeros(0)
    levels = 10 * np.log10(np.maximum(power, 1e-30))
    if levels.size:
        floor = percentile(levels, 10)
        threshold = max(levels.max() - ACTIVE_RANGE_DB, floor + ACTIVE_ABOVE_FLOOR_DB, SILENCE_DB)
        active = levels > threshold
    else:
        active = np.zeros(0, dtype=bool)
    return Activity(levels, active, n / fs, mean)


def require_speech(ref: NDArray[np.float64], fs: int, name: str) -> Activity:
    """Return the reference's :class:`Activity`, or raise :class:`NoSpeechError` when it is
    silent, a constant (DC) value, or a steady signal (tone, hum, stationary noise)."""
    x = np.asarray(ref)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return _require_speech(activity(ref, fs), lambda: ref[: 4 * fs], fs, name, peak=peak)


def _require_speech(
    act: Activity, excerpt: Callable[[], NDArray[np.float64]], fs: int, name: str, *,
    peak: float,
) -> Activity:  # fmt: skip
    """``peak``: the largest magnitude of the reference's samples as read (before any
    resampling), which decides "silent" so that no derived level can call zeros noise."""
    hint = "the reference must be the clean speech recording the degraded signal came from"
    if peak == 0 or act.peak_db < SILENCE_DB:
        if peak == 0:
            what = "it is silent (all samples zero)"
        elif peak <= QUIET_PEAK:
            what = (f"it is silent (every sample within ±{peak:.2g} of zero: digital "
                    "silence or a codec's idle pattern)")  # fmt: skip
        else:
            what = "it is a constant (DC) value with no signal on top"
        raise NoSpeechError(f"{name}: no speech in the reference: {what}; {hint}")
    if act.spread_db < STEADY_SPREAD_DB:
        raise NoSpeechError(
            f"{name}: no speech in the reference: its level is steady within "
            f"{act.spread_db:.1f} dB ({_steady_kind(excerpt(), fs)}), while speech has "
            f"syllables and pauses; {hint}"
        )
    return act


def _steady_kind(x: NDArray[np.float64], fs: int) -> str:
    """Describe a steady signal: a tone at f Hz, or noise."""
    from scipy import signal  # only for the error message of a steady reference

    f, p = signal.welch(x - np.mean(x), fs=fs, nperseg=min(4096, x.shape[0]))
    if p.sum() <= 0:
        return "a steady signal"
    k = int(np.argmax(p))
    near = slice(max(0, k - 3), k + 4)
    if p[near].sum() >= 0.8 * p.sum():
        return f"a tone at {np.sum(f[near] * p[near]) / p[near].sum():.0f} Hz"
    return "steady noise"


def _peak_runs_fraction(x: NDArray[np.float64], peak: float) -> float:
    """Fraction of samples in runs of >= 3 consecutive samples at (within 0.1 % of) the peak."""
    return _peak_runs(iter((x,)), peak) / max(1, x.shape[0])


def _peak_runs(blocks: Iterator[NDArray[np.float64]], peak: float) -> int:
    """Samples that end a run of >= 3 consecutive samples at (within 0.1 % of) ``peak``,
    over consecutive blocks of magnitudes (or of samples, (n,) or (n, channels))."""
    from perceptq.audio._kernels import _runs_of_three_kernel

    count, run = 0, 0
    for b in blocks:
        two_d = np.ascontiguousarray(b.reshape(b.shape[0], -1), dtype=np.float64)
        found, run = _runs_of_three_kernel(two_d, 0.999 * peak, run)
        count += found
    return count


def _beyond_full_scale(name: str, peak: float, count: int) -> str:
    return (
        f"{name}: samples exceed ±1.0 full scale (peak {peak:.3g}, {count} sample(s)); "
        "accepted as is since the model normalises level, but a fixed-point copy would clip"
    )


def _sample_warnings(src, *, is_reference: bool, mixdown_note: bool = True) -> list[str]:
    """Warnings from a source's original samples (:class:`perceptq.audio.source.Source`):
    reading notes, samples beyond full scale, a clipped reference, differing channels."""
    out = list(src.notes)
    stats = src.clip
    peak = stats.peak
    if not peak <= MAX_ABS_SAMPLE:
        raise InvalidAudioError(
            f"{src.name}: samples reach {peak:.3g}, far beyond full scale (±1.0, limit "
            f"±{MAX_ABS_SAMPLE:g}); the file is corrupt or the samples are mis-scaled"
        )
    if peak > 1.0:
        out.append(_beyond_full_scale(src.name, peak, stats.beyond))
    if is_reference and peak > 0:
        frac = _peak_runs(src.original_blocks(), peak) / max(1, stats.n_samples)
        if frac > CLIPPED_FRACTION:
            out.append(
                f"{src.name}: the reference looks clipped ({100 * frac:.2f}% of samples sit "
                f"at its peak ±{peak:.3g}); the score assumes an undistorted reference"
            )
    if mixdown_note and src.channels > 1 and stats.channel_difference_db > CHANNELS_DIFFER_DB:
        out.append(
            f"{src.name}: its {src.channels} channels differ and were averaged to mono; "
            "score each channel separately if they hold different talkers"
        )
    return out


@dataclass(frozen=True)
class Checked:
    """What :func:`input_warnings` found: the warnings, and the reference's activity
    (reused by :func:`result_warnings`)."""

    warnings: list[str]
    reference_activity: Activity


def input_warnings(ref, deg, *, located: bool = False) -> Checked:
    """The input checks of every scoring path, on two model-rate sources
    (:class:`perceptq.audio.source.Source`, whole or streamed; memory stays bounded).

    ``located``: the degraded recording holds the reference several times, so its length
    is expected to differ.

    Raises
    ------
    InvalidAudioError
        If an input's samples reach beyond ±``io.MAX_ABS_SAMPLE``.
    NoSpeechError
        If the reference is silent, constant, or a steady tone or noise.
    """
    ref_act, deg_act = activities([ref.blocks, deg.blocks], ref.fs)
    _require_speech(ref_act, lambda: ref.read(0, 4 * ref.fs), ref.fs, ref.name,
                    peak=ref.clip.peak)
    out = _sample_warnings(ref, is_reference=True)
    out += _sample_warnings(deg, is_reference=False)
    out += _pair_warnings(ref.name, deg.name, ref_act, deg_act)
    if not located:
        out += _length_warnings(deg.name, ref.n, deg.n, ref.fs)
    return Checked(out, ref_act)


def audio_warnings(ref, deg) -> list[str]:
    """:func:`input_warnings` for models that score any audio (ViSQOL), on two whole
    model-rate sources: the same sample and length warnings, without requiring speech in the
    reference and without the note on averaged channels (the model is defined on their mean).

    Raises
    ------
    InvalidAudioError
        If an input's samples reach beyond ±``io.MAX_ABS_SAMPLE``.
    """
    out = _sample_warnings(ref, is_reference=True, mixdown_note=False)
    out += _sample_warnings(deg, is_reference=False, mixdown_note=False)
    if not np.any(deg.x):
        out.append(f"{deg.name}: the degraded signal is silent (all samples zero)")
    out += _length_warnings(deg.name, ref.n, deg.n, ref.fs)
    return out


def _pair_warnings(ref_name: str, deg_name: str, ref_act: Activity, deg_act: Activity
                   ) -> list[str]:
    out = []
    if deg_act.peak_db < SILENCE_DB:
        out.append(f"{deg_name}: the degraded signal is silent (all samples zero): "
                   "nothing of the reference speech comes through")
    else:
        diff = deg_act.active_level_db - ref_act.active_level_db
        if abs(diff) > MAX_LEVEL_DIFF_DB:
            out.append(
                f"{deg_name}: active speech level is {abs(diff):.1f} dB "
                f"{'above' if diff > 0 else 'below'} the reference's "
                f"({deg_act.active_level_db:.1f} vs {ref_act.active_level_db:.1f} dBFS); "
                "level mismatches beyond 20 dB make the score less reliable"
            )
    if ref_act.active_s < MIN_ACTIVE_SPEECH_S:
        out.append(
            f"{ref_name}: only {ref_act.active_s:.2f} s of active speech in the reference;"
            f" scores on less than {MIN_ACTIVE_SPEECH_S:g} s of speech are unreliable"
        )
    return out


def _length_warnings(deg_name: str, n_ref: int, n_deg: int, fs: int) -> list[str]:
    if n_deg > MAX_LENGTH_RATIO * n_ref + fs:
        return [
            f"{deg_name}: lasts {n_deg / fs:.1f} s, {n_deg / n_ref:.1f}× the reference "
            f"({n_ref / fs:.1f} s); only the part aligned to the reference is scored"
        ]
    return []


def result_warnings(
    utterances: Sequence, ref: NDArray[np.float64] | None, fs: int, *, name: str = "reference",
    act: Activity | None = None,
) -> list[str]:
    """Warnings about the alignment: reference speech outside every aligned utterance.

    ``utterances`` are :class:`perceptq.result.Utterance` (``start_s``/``end_s`` in
    reference time); ``act``, the reference's activity when already measured.
    """
    act = act if act is not None else activity(ref, fs)
    if not act.active.any():
        return []
    t = (np.flatnonzero(act.active) + 0.5) * act.frame_s
    covered = np.zeros(t.shape[0], dtype=bool)
    for u in utterances:
        covered |= (t >= u.start_s) & (t <= u.end_s)
    unscored = float(np.count_nonzero(~covered)) * act.frame_s
    if unscored > MAX_UNSCORED_S and unscored > MAX_UNSCORED_FRACTION * act.active_s:
        return [
            f"{name}: {unscored:.2f} s of the {act.active_s:.2f} s of reference speech lie "
            f"outside the {len(utterances)} aligned utterance(s) and were not scored "
            "(is the degraded signal cut short or missing speech?)"
        ]
    return []
