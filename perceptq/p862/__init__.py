"""The ITU-T P.862 / P.862.2 perceptual model (MOS-LQO for narrowband and wideband speech).

Stage modules in the order a pair flows through them: :mod:`level` (level alignment,
IRS and wideband input filters), :mod:`align` (VAD, crude and fine delay, the break-point
window), :mod:`split` (utterance splitting at delay changes), :mod:`perceptual` (framing,
Bark warping, loudness), :mod:`disturbance` (symmetric/asymmetric disturbance and their
aggregation), :mod:`mapping` (raw score to MOS-LQO); :mod:`model` runs them in order.
:mod:`config` and :mod:`tables` hold the constants and the data tables in ``data/``; every
hot loop is a numba kernel in :mod:`_kernels`. Pure computation on arrays: it may import
only :mod:`perceptq.errors` and :mod:`perceptq.result`, never files, audio reading,
printing or the CLI.
"""
