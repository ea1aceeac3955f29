"""Network MOS: the ITU-T G.107 E-model (narrowband) from network and terminal statistics.

``R = Ro − Is − Id − Ie,eff + A`` and ``MOS-CQE = f(R)`` (G.107 Annex B). The output is a
*conversational, estimated* MOS (MOS-CQE), which is not the listening-quality MOS-LQO of
:func:`perceptq.score`; show them side by side, never mix them.

Everything here is a pure function of a frozen :class:`EModelInput`, whose defaults are
G.107 Table 3 (read from ``perceptq/data/emodel_defaults.csv``). Codec parameters (Ie,
Bpl) are in :mod:`perceptq.network.codecs`; :func:`perceptq.network.transport.rate_network`
maps packet-network statistics (loss, burst ratio, delay, jitter, codec) onto these
inputs, which is common practice, not part of G.107. The public names of both modules
stay importable from this one.

References
----------
ITU-T G.107 (06/2015), The E-model: a computational model for use in transmission planning.
ITU-T G.113 Appendix I (equipment impairment factors Ie and packet-loss robustness Bpl).

Examples
--------
>>> from perceptq import emodel
>>> res = emodel.evaluate(emodel.EModelInput())
>>> round(res.r, 1), round(res.mos, 2), res.category
(93.2, 4.41, 'Good')
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from importlib import resources
from typing import Any

from perceptq.errors import PerceptqError
from perceptq.result import category_of


class EModelError(PerceptqError, ValueError):
    """Bad E-model input: unknown codec, missing Bpl, value out of range."""


class MissingBplError(EModelError):
    """A call with packet loss on a codec whose Bpl is unknown (``codec``: its name)."""

    def __init__(self, codec: str | None) -> None:
        self.codec = codec
        super().__init__(
            f"codec {codec or '?'} has no packet-loss robustness Bpl in the codec table; "
            "give Bpl (bpl=...) to rate a call with packet loss"
        )


def read_table(name: str) -> list[dict[str, str]]:
    """Rows of a CSV table in ``perceptq/data`` (E-model defaults, codec parameters)."""
    text = resources.files("perceptq.network").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@lru_cache(maxsize=1)
def _defaults() -> dict[str, float]:
    return {row["symbol"]: float(row["default"]) for row in read_table("emodel_defaults.csv")}


def _d(symbol: str) -> Any:
    return field(default=_defaults()[symbol])


@dataclass(frozen=True, slots=True)
class EModelInput:
    """Inputs of the E-model; defaults are G.107 Table 3 (all delays 0, no loss).

    Loudness ratings and noise in dB (dBm0p / dBmp / dB(A)), delays in ms, ``ppl`` in
    percent. ``t`` = mean one-way delay of the echo path, ``tr`` = round-trip delay in a
    4-wire loop, ``ta`` = absolute one-way delay; for VoIP use t = ta = mouth-to-ear delay
    and tr = 2·t (see :func:`rate_network`). ``mt``/``st`` are the minimum perceivable
    delay and the delay sensitivity of G.107 (06/2015).
    """

    slr: float = _d("SLR")
    rlr: float = _d("RLR")
    stmr: float = _d("STMR")
    lstr: float = _d("LSTR")
    ds: float = _d("Ds")
    telr: float = _d("TELR")
    wepl: float = _d("WEPL")
    t: float = _d("T")
    tr: float = _d("Tr")
    ta: float = _d("Ta")
    qdu: float = _d("qdu")
    ie: float = _d("Ie")
    bpl: float = _d("Bpl")
    ppl: float = _d("Ppl")
    burst_r: float = _d("BurstR")
    nc: float = _d("Nc")
    nfor: float = _d("Nfor")
    ps: float = _d("Ps")
    pr: float = _d("Pr")
    a: float = _d("A")
    mt: float = _d("mT")
    st: float = _d("sT")

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not math.isfinite(value):
                raise EModelError(f"E-model input {f.name}={value!r} must be a finite number")
        for name in ("t", "tr", "ta"):
            if getattr(self, name) < 0:
                raise EModelError(f"E-model delay {name}={getattr(self, name)!r} must be >= 0 ms")
        if not 0 <= self.ppl <= 100:
            raise EModelError(f"E-model ppl={self.ppl!r} must be a percentage in 0 … 100")
        if self.burst_r < 1:
            raise EModelError(f"E-model burst_r={self.burst_r!r} must be >= 1 (1 = random loss)")
        if self.bpl <= 0 or self.qdu <= 0 or self.mt <= 0 or self.st <= 0:
            raise EModelError("E-model bpl, qdu, mt and st must be positive")


def _lg(x: float) -> float:
    return math.log10(x)


# --- Ro: basic signal-to-noise ratio (G.107 §7.2) --------------------------------------


def noise_sum(p: EModelInput) -> float:
    """Total noise No (dBm0p) from circuit, send-room, receive-room noise and noise floor."""
    olr = p.slr + p.rlr
    nos = p.ps - p.slr - p.ds - 100 + 0.004 * (p.ps - olr - p.ds - 14) ** 2
    pre = p.pr + 10 * _lg(1 + 10 ** ((10 - p.lstr) / 10))
    nor = p.rlr - 121 + pre + 0.008 * (pre - 35) ** 2
    nfo = p.nfor + p.rlr
    return 10 * _lg(10 ** (p.nc / 10) + 10 ** (nos / 10) + 10 ** (nor / 10) + 10 ** (nfo / 10))


def basic_snr(p: EModelInput) -> float:
    """Ro = 15 − 1.5·(SLR + No)."""
    return 15 - 1.5 * (p.slr + noise_sum(p))


# --- Is: simultaneous impairments (§7.3) ----------------------------------------------


def stmr_o(p: EModelInput) -> float:
    """Sidetone masking rating including the echo path, STMRo (dB)."""
    return -10 * _lg(10 ** (-p.stmr / 10) + math.exp(-p.t / 4) * 10 ** (-p.telr / 10))


def simultaneous_impairments(p: EModelInput) -> dict[str, float]:
    """Is and its parts Iolr (loudness), Ist (sidetone), Iq (quantisation)."""
    no = noise_sum(p)
    xolr = p.slr + p.rlr + 0.2 * (64 + no - p.rlr)
    iolr = 20 * ((1 + (xolr / 8) ** 8) ** (1 / 8) - xolr / 8)
    s = stmr_o(p)
    ist = (
        12 * (1 + ((s - 13) / 6) ** 8) ** (1 / 8)
        - 28 * (1 + ((s + 1) / 19.4) ** 35) ** (1 / 35)
        - 13 * (1 + ((s - 3) / 33) ** 13) ** (1 / 13)
        + 29
    )
    q = 37 - 15 * _lg(p.qdu)
    g = 1.07 + 0.258 * q + 0.0602 * q**2
    y = (basic_snr(p) - 100) / 15 + 46 / 8.4 - g / 9
    z = 46 / 30 - g / 40
    iq = 15 * _lg(1 + 10**y + 10**z)
    return {"is": iolr + ist + iq, "iolr": iolr, "ist": ist, "iq": iq}


# --- Id: delay impairments (§7.4) ----------------------------------------------------------


def talker_echo_impairment(p: EModelInput) -> float:
    """Idte, with the special cases STMR < 9 dB, STMR > 20 dB and T < 1 ms.

    For T < 1 ms the echo acts as sidetone and Idte = 0 (this takes precedence over the
    STMR > 20 dB correction, whose sidetone part Ist is already in Is).
    """
    if p.t < 1:
        return 0.0
    no = noise_sum(p)
    roe = -1.5 * (no - p.rlr)
    terv = p.telr - 40 * _lg((1 + p.t / 10) / (1 + p.t / 150)) + 6 * math.exp(-0.3 * p.t**2)
    ist = simultaneous_impairments(p)["ist"]
    if p.stmr < 9:
        terv += ist / 2  # TERVs
    re = 80 + 2.5 * (terv - 14)
    idte = ((roe - re) / 2 + math.sqrt((roe - re) ** 2 / 4 + 100) - 1) * (1 - math.exp(-p.t))
    if p.stmr > 20:
        idte = math.sqrt(idte**2 + ist**2)
    return idte


def listener_echo_impairment(p: EModelInput) -> float:
    """Idle from the weighted echo path loss and the round-trip delay Tr."""
    ro = basic_snr(p)
    rle = 10.5 * (p.wepl + 7) * (p.tr + 1) ** -0.25
    return (ro - rle) / 2 + math.sqrt((ro - rle) ** 2 / 4 + 169)


def absolute_delay_impairment(ta: float, mt: float = 100.0, st: float = 1.0) -> float:
    """Idd: 0 up to mT ms, then 25·{(1+X^6sT)^(1/6sT) − 3·(1+(X/3)^6sT)^(1/6sT) + 2}."""
    if ta <= mt:
        return 0.0
    x = _lg(ta / mt) / _lg(2)
    k = 6 * st
    return 25 * ((1 + x**k) ** (1 / k) - 3 * (1 + (x / 3) ** k) ** (1 / k) + 2)


def delay_impairments(p: EModelInput) -> dict[str, float]:
    """Id = Idte + Idle + Idd, with the parts."""
    idte = talker_echo_impairment(p)
    idle = listener_echo_impairment(p)
    idd = absolute_delay_impairment(p.ta, p.mt, p.st)
    return {"id": idte + idle + idd, "idte": idte, "idle": idle, "idd": idd}


# --- Ie,eff and R → MOS ---------------------------------------------------------------------


def effective_equipment_impairment(ie: float, bpl: float, ppl: float, burst_r: float) -> float:
    """Ie,eff = Ie + (95 − Ie)·Ppl / (Ppl/BurstR + Bpl), Ppl in percent (eq. 7-29)."""
    if ppl <= 0:
        return float(ie)
    return ie + (95 - ie) * ppl / (ppl / burst_r + bpl)


def r_to_mos(r: float) -> float:
    """MOS-CQE of a rating R (G.107 Annex B), clamped to [1, 4.5]."""
    if not math.isfinite(r):
        return math.nan
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    mos = 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6
    return min(max(mos, 1.0), 4.5)  # the polynomial dips below 1 for 0 < R < 6.5


@dataclass(frozen=True, slots=True)
class EModelResult:
    """E-model rating R, MOS-CQE and what cost the points.

    The ``r_loss_*`` breakdown sums with R to 100: ``r_loss_delay`` = Id,
    ``r_loss_codec`` = Ie (equipment/codec), ``r_loss_packet`` = Ie,eff − Ie (packet loss
    incl. late discards), ``r_loss_other`` = (100 − Ro) + Is − A (noise, loudness,
    sidetone, quantisation, minus the advantage factor).
    """

    r: float
    mos: float
    category: str
    ro: float
    is_: float
    id: float
    ie_eff: float
    a: float
    parts: dict[str, float]
    inputs: EModelInput
    network: dict[str, Any] = field(default_factory=dict)
    #: Why the rating may be less trustworthy than usual (e.g. unverified codec values).
    warnings: tuple[str, ...] = ()

    @property
    def r_loss_delay(self) -> float:
        """R points lost to delay (talker echo, listener echo, absolute delay)."""
        return self.id

    @property
    def r_loss_codec(self) -> float:
        """R points lost to the codec/equipment without packet loss (Ie)."""
        return self.inputs.ie

    @property
    def r_loss_packet(self) -> float:
        """R points lost to packet loss (Ie,eff − Ie)."""
        return self.ie_eff - self.inputs.ie

    @property
    def r_loss_other(self) -> float:
        """R points lost to everything else: 100 − Ro + Is − A."""
        return 100 - self.ro + self.is_ - self.a

    def breakdown(self) -> dict[str, float]:
        """The four ``r_loss_*`` values by column name."""
        return {
            "r_loss_delay": self.r_loss_delay,
            "r_loss_codec": self.r_loss_codec,
            "r_loss_packet": self.r_loss_packet,
            "r_loss_other": self.r_loss_other,
        }

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (R, MOS, category, breakdown, parts, inputs)."""
        return {
            "r": self.r,
            "mos": self.mos,
            "category": self.category,
            **self.breakdown(),
            "ro": self.ro,
            "is": self.is_,
            "id": self.id,
            "ie_eff": self.ie_eff,
            "a": self.a,
            "parts": dict(self.parts),
            "inputs": asdict(self.inputs),
            "network": dict(self.network),
            "warnings": list(self.warnings),
        }


def evaluate(
    p: EModelInput, *, network: dict[str, Any] | None = None, warnings: tuple[str, ...] = ()
) -> EModelResult:
    """Compute R = Ro − Is − Id − Ie,eff + A and MOS-CQE for the inputs ``p``."""
    ro = basic_snr(p)
    is_parts = simultaneous_impairments(p)
    id_parts = delay_impairments(p)
    ie_eff = effective_equipment_impairment(p.ie, p.bpl, p.ppl, p.burst_r)
    r = ro - is_parts["is"] - id_parts["id"] - ie_eff + p.a
    mos = r_to_mos(r)
    parts = {"no": noise_sum(p), **is_parts, **id_parts}
    del parts["is"], parts["id"]
    return EModelResult(
        r=r,
        mos=mos,
        category=category_of(mos),
        ro=ro,
        is_=is_parts["is"],
        id=id_parts["id"],
        ie_eff=ie_eff,
        a=p.a,
        parts=parts,
        inputs=p,
        network=dict(network or {}),
        warnings=tuple(warnings),
    )
