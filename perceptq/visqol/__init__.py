"""ViSQOL v3 (Virtual Speech Quality Objective Listener), a second model beside P.862.

Stages, one module each, in the order ``model.evaluate`` calls them:

- ``config``       mode, rate and the constants that follow from them
- ``align``        Hilbert-envelope cross-correlation alignment (global and per patch)
- ``long_align``   the global alignment of long pairs, every lag, in bounded memory
- ``spectrogram``  ERB gammatone filterbank, band RMS per 80 ms frame, dB floors
- ``patches``      reference patch starts (all, or voice-active in speech mode)
- ``nsim``         neurogram similarity of a patch pair
- ``selection``    dynamic-programming patch matching and fine realignment
- ``mapping``      SVR (audio) or exponential (speech) similarity-to-MOS mapping
- ``_kernels``     the numba kernels behind the spectrogram, NSIM and DP stages

References
----------
M. Chinen, F. S. C. Lim, J. Skoglund, N. Gureev, F. O'Gorman and A. Hines, "ViSQOL v3: An
Open Source Production Ready Objective Speech and Audio Metric", QoMEX 2020.
"""

from perceptq.visqol.config import MODE_RATES, VisqolConfig, resolve_mode
from perceptq.visqol.model import VisqolResult, evaluate

__all__ = ["MODE_RATES", "VisqolConfig", "VisqolResult", "evaluate", "resolve_mode"]
