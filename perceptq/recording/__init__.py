"""Real recordings around the model: the three ways of scoring a pair and what they report.

:mod:`scoring` scores a pair in one piece, window by window (:mod:`longcall`, for long
calls) or occurrence by occurrence (:mod:`locate`, a reference played inside a longer
recording), each adding clock drift (:mod:`drift`), the per-utterance timeline
(:mod:`timeline`) and the diagnostics with their hints (:mod:`diagnostics`). It imports the
models (:mod:`perceptq.p862`), the sources of :mod:`perceptq.audio`, and the shared
:mod:`perceptq.result` / :mod:`perceptq.errors`; never the CLI, batch or report.
"""
