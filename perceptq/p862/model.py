"""The perceptual pipeline, stage by stage, on signals already at the model rate.

level and input filter -> time alignment -> perceptual model -> disturbance ->
aggregation -> raw score and MOS-LQO.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from perceptq.errors import InvalidAudioError, NoSpeechError
from perceptq.p862 import align, disturbance, level, mapping, perceptual, split
from perceptq.p862.config import BAD_FRAME_THRESHOLD, SEARCH_BLOCKS, config_for
from perceptq.p862.tables import bark_table
from perceptq.result import Score, Utterance, category_of


@dataclass(frozen=True)
class ModelOutput:
    """Everything the model computed for one pair (model-rate units)."""

    mode: str
    fs: int
    d: float
    a: float
    raw: float
    mos: float
    utterances: tuple[Utterance, ...]
    frame_times_s: NDArray[np.float64]
    frame_disturbance: NDArray[np.float64]
    frame_asymmetric_disturbance: NDArray[np.float64]
    n_bad_intervals: int
    crude_delay: int
    alignment: str = "reference"
    reference_unstable: bool = False

    def to_score(self, **extra) -> Score:
        """Wrap as the public :class:`Score`."""
        return Score(
            mos=self.mos,
            raw=self.raw,
            mode=self.mode,
            sample_rate=self.fs,
            category=category_of(self.mos),
            utterances=self.utterances,
            frame_times_s=self.frame_times_s,
            frame_disturbance=self.frame_disturbance,
            frame_asymmetric_disturbance=self.frame_asymmetric_disturbance,
            disturbance_d=self.d,
            disturbance_a=self.a,
            alignment=self.alignment,
            reference_unstable=self.reference_unstable,
            **extra,
        )


def evaluate(
    ref: NDArray[np.float64],
    deg: NDArray[np.float64],
    fs: int,
    mode: str,
    *,
    ref_name: str = "reference",
    deg_name: str = "degraded",
    alignment: str = "reference",
) -> ModelOutput:
    """Run the model on mono float signals at the model rate ``fs`` (8000 or 16000).

    ``alignment``: the break-point window of utterance splitting, ``"reference"`` as the ITU
    reference uses it or ``"stable"`` (intact Hann window); see :mod:`perceptq.p862.split`.
    """
    split.check_alignment(alignment)
    cfg = config_for(fs)
    bark = bark_table(fs)
    for x, name in ((ref, ref_name), (deg, deg_name)):
        if x.shape[0] < fs // 4:
            raise InvalidAudioError(
                f"{name}: audio is too short ({x.shape[0] / fs:.3f} s); at least 0.25 s is needed"
            )
    n_ref, n_deg = ref.shape[0], deg.shape[0]
    max_padded = max(n_ref, n_deg) + 2 * cfg.sb

    # Level normalisation and listening-device filter.
    nb = mode == "nb"  # the IRS filter reuses the level stage's spectrum
    ref_buf, ref_spec = level.normalise_level(level.padded_buffer(ref, cfg), n_ref, max_padded,
                                              cfg, keep_spectrum=nb)
    deg_buf, deg_spec = level.normalise_level(level.padded_buffer(deg, cfg), n_deg, max_padded,
                                              cfg, keep_spectrum=nb)
    ref_buf, deg_buf = level.input_filters(ref_buf, n_ref, deg_buf, n_deg, cfg, mode,
                                           (ref_spec, deg_spec))

    # Time alignment.
    ref_sig, deg_sig = align.analyse_pair(ref_buf, n_ref, deg_buf, n_deg, cfg)
    crude = align.crude_delay(ref_sig, deg_sig, cfg)
    utt = align.find_utterances(ref_sig, deg_sig, cfg, crude)
    if len(utt) == 0:
        raise NoSpeechError(
            f"{ref_name}: no speech found in the reference (no utterance of at least 200 ms "
            "that overlaps the degraded signal)"
        )
    unstable = split.split_utterances(ref_sig, deg_sig, utt, cfg, alignment)

    # Perceptual model on the filtered signals, both extended to the longer length.
    size = max_padded + cfg.pad
    ref_model = np.zeros(size)
    ref_model[: ref_buf.shape[0]] = ref_buf
    deg_model = np.zeros(size)
    deg_model[: deg_buf.shape[0]] = deg_buf
    start_frame, stop_frame = perceptual.frame_range(ref_model, max_padded, cfg)
    if stop_frame < start_frame:
        raise NoSpeechError(f"{ref_name}: reference has no audible frames")
    frames = np.arange(stop_frame + 1)
    ref_starts = cfg.sb + frames * cfg.hop
    delays = np.asarray(utt.delay, dtype=np.int64)
    deg_starts = ref_starts + delays[disturbance.utterance_of(ref_starts, utt, cfg)]
    valid = (deg_starts > 0) & (deg_starts + cfg.nf < size)
    ppd_ref = perceptual.pitch_power_density(ref_model, ref_starts, np.ones(frames.size, bool),
                                             bark, cfg)
    ppd_deg = perceptual.pitch_power_density(deg_model, np.where(valid, deg_starts, 0), valid,
                                             bark, cfg)
    n_total = (max_padded - 2 * cfg.sb + cfg.pad) // cfg.hop - 1
    ppd_ref = perceptual.compensate_frequency_response(ppd_ref, ppd_deg, n_total, bark)

    # Disturbance per frame, repeated frames, bad-interval re-alignment.
    fd, fa, ref_power = disturbance.frame_disturbance(ppd_ref, ppd_deg, bark, cfg)
    any_bad = bool(np.any(fd > BAD_FRAME_THRESHOLD))
    disturbance.skip_repeated_frames(fd, fa, utt, stop_frame, cfg)
    n_bad = 0
    if any_bad:
        state = disturbance.FrameModel(ppd_ref, ref_model, deg_model, max_padded, stop_frame)
        n_bad = disturbance.realign_bad_intervals(fd, fa, state, utt, bark, cfg)
    fd, fa = disturbance.weight_frames(fd, fa, ref_power)

    # Aggregation and mapping.
    tw = disturbance.time_weights(start_frame, stop_frame, max_padded, cfg)
    d = disturbance.aggregate(fd, start_frame, stop_frame, tw)
    a = disturbance.aggregate(fa, start_frame, stop_frame, tw)
    raw = mapping.raw_score(d, a)
    block_s = cfg.ds / fs
    utterances = tuple(
        Utterance(
            start_s=(s - SEARCH_BLOCKS) * block_s,
            end_s=(e - SEARCH_BLOCKS) * block_s,
            delay_ms=1000.0 * dl / fs,
        )
        for s, e, dl in zip(utt.start, utt.end, utt.delay, strict=False)
    )
    sel = slice(start_frame, stop_frame + 1)
    return ModelOutput(
        mode=mode,
        fs=fs,
        d=d,
        a=a,
        raw=raw,
        mos=mapping.mos_lqo(raw, mode),
        utterances=utterances,
        frame_times_s=frames[sel] * cfg.hop / fs,
        frame_disturbance=fd[sel],
        frame_asymmetric_disturbance=fa[sel],
        n_bad_intervals=n_bad,
        crude_delay=crude,
        alignment=alignment,
        reference_unstable=unstable,
    )


def alignment_warnings(reference_unstable: bool) -> list[str]:
    """The warning of a pair whose reference score depends on rounding (none otherwise)."""
    return [split.UNSTABLE_WARNING] if reference_unstable else []


def warm_up() -> None:
    """Compile (or load from the disk cache) every numba kernel once, on a tiny signal."""
    rng = np.random.default_rng(0)
    for fs, mode in ((8000, "nb"), (16000, "wb")):
        t = np.arange(fs) / fs
        x = np.sin(2 * np.pi * 440 * t) * (rng.random(fs) > 0.0)
        x = np.concatenate((np.zeros(fs // 2), x * np.hanning(fs), np.zeros(fs // 2)))
        with contextlib.suppress(NoSpeechError):
            evaluate(x, x + 0.01 * rng.standard_normal(x.shape[0]), fs, mode)
    warm_up_tail()


def warm_up_tail() -> None:
    """Compile (or load from the disk cache) the kernels the model needs last, through their
    stage functions on tiny inputs: the frame disturbance, the aggregation and the
    break-point window's double-precision correlations (long utterances only, so a tiny
    signal does not reach them). On the first run ever the scoring process runs this while
    its helper compiles the model's kernels from the first one on
    (:mod:`perceptq.recording.compile_ahead`): the two share the compiling."""
    cfg, bark = config_for(8000), bark_table(8000)
    ppd = np.ones((2, bark.n_bands))
    fd, _, _ = disturbance.frame_disturbance(ppd, ppd, bark, cfg)
    disturbance.aggregate(fd, 0, 1, np.ones(2))
    align.envelope_xcorr(align.Pieces.of([(np.ones(2), np.ones(2))]))
