"""Per-stream RTP statistics computed packet by packet, in bounded memory.

:class:`StreamAccumulator` takes the packets of one RTP stream (one SSRC, source and
destination) in arrival order and keeps two sets of figures:

**Wireshark's RTP stream analysis** (``ui/tap-rtp-analysis.c`` as in Debian 12's
tshark 4.0; what ``tshark -z rtp,streams`` prints), reproduced from its conventions and
checked against tshark in ``tests/network/test_tshark.py``:

* every packet counts (duplicates too); expected = last sequence number seen − first + 1
  plus 65536 per wrap, lost = expected − packets (RFC 3550 A.3: may be negative);
* a packet is "in time sequence" unless its timestamp lies before the stream's first;
  only those update delta (arrival − arrival of the previous such packet) and the RFC 3550
  jitter J = J + (|D| − J)/16, D in ms from the timestamp step divided by
  ``clock_rate // 1000``; payload types without a known clock rate and telephone events
  (RFC 4733) leave J alone;
* max/mean delta and max/mean jitter leave out the first packet, marker-bit packets,
  comfort noise (PT 13 and 19) and the packet after it, and packets out of time sequence;
  the means are Wireshark's running averages (divided by the number of packets before the
  current one, so skipped packets still count in the divisor).

**perceptq's own receiver figures** (unchanged since the first version of ``perceptq
rtp``): duplicates are dropped (a byte map of the extended sequence numbers seen),
expected = highest − lowest + 1, lost = expected − unique packets, the loss pattern feeds
the Gilbert burst ratio, and ``jitter_ms`` is the mean of the RFC 3550 J over the unique
packets in arrival order (each against the previous one), the E-model's jitter input.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from perceptq.network.pcap import RtpPacket

_CN = (13, 19)


@dataclass(frozen=True, slots=True)
class WiresharkFigures:
    """What Wireshark's RTP stream analysis reports for a stream (ms, packets)."""

    packets: int
    expected: int
    lost: int
    max_delta_ms: float
    mean_delta_ms: float
    jitter_mean_ms: float
    jitter_max_ms: float
    jitter_final_ms: float
    clock_rate: int


class StreamAccumulator:
    """Statistics of one RTP stream fed packet by packet (see the module docstring).

    ``clock_of(pt)`` gives the RTP clock rate of a payload type, 0 when unknown and for
    telephone events (no jitter from those packets). With ``keep_packets`` the packets are
    kept for decoding; otherwise memory holds one byte per sequence number and counters.
    """

    def __init__(self, ssrc: int, src: str, dst: str, *, keep_packets: bool = False) -> None:
        self.ssrc, self.src, self.dst = ssrc, src, dst
        self.packets: list[RtpPacket] | None = [] if keep_packets else None
        self.total = 0
        self.pts: Counter[int] = Counter()
        self.dscp: Counter[int] = Counter()
        self.first_time = self.last_time = math.nan
        # Wireshark state (times in ms)
        self._start_seq = self._stop_seq = 0
        self._first_ts = 0
        self._cycles, self._under = 0, False
        self._time = 0.0
        self._seq_ts = 0
        self._pt = -1
        self._delta = self._jitter = 0.0
        self._max_delta = self._mean_delta = 0.0
        self._max_jitter = self._mean_jitter = 0.0
        self._clock = 0
        # extended numbers (each relative to the previous arrival)
        self._ext_seq = self._ext_ts = 0
        # perceptq state
        self._seen = bytearray()
        self._base = 0
        self.unique = 0
        self.reordered = 0
        self._max_seq = -(1 << 62)
        self._min_seq = 1 << 62
        self._prev_t = 0.0
        self._prev_ts = self._last_seq = 0
        self._pj = self._pj_sum = self._pj_max = 0.0
        self._pj_n = 0
        self._steps: Counter[int] = Counter()
        self._forward = 0  # arrivals whose sequence number steps forward by 1 … 100
        self._prev_seq_raw = -1

    # --- one packet ---------------------------------------------------------------------

    def add(
        self,
        time_s: float,
        seq: int,
        ts: int,
        pt: int,
        marker: bool,
        dscp: int,
        clock: int,
        payload: bytes = b"",
    ) -> None:
        """Add the next packet to arrive (time in seconds, ``clock`` from ``clock_of``)."""
        now = 1000.0 * time_s
        if self.total == 0:
            self._first(now, seq, ts, pt, marker)
        else:
            self._wireshark(now, seq, ts, pt, marker, clock)
        self.total += 1
        self.pts[pt] += 1
        self.dscp[dscp] += 1
        if self.total == 1:
            self.first_time = time_s
        self.last_time = time_s
        if self._prev_seq_raw >= 0 and 1 <= (seq - self._prev_seq_raw) % 65536 <= 100:
            self._forward += 1
        self._prev_seq_raw = seq
        self._own(time_s, self._ext_seq, self._ext_ts, clock)
        if self.packets is not None:
            self.packets.append(
                RtpPacket(time_s, self.src, self.dst, seq, ts, self.ssrc, pt, marker, payload)
            )

    def _first(self, now: float, seq: int, ts: int, pt: int, marker: bool) -> None:
        self._start_seq = self._stop_seq = seq
        self._ext_seq, self._ext_ts = seq, ts
        self._time, self._seq_ts, self._pt = now, ts, pt
        self._first_ts = ts
        self._base = seq - 32768

    def _wireshark(self, now: float, seq: int, ts: int, pt: int, marker: bool, clock: int) -> None:
        self._ext_ts += ((ts - self._ext_ts) + 0x80000000) % 0x100000000 - 0x80000000
        self._ext_seq += ((seq - self._ext_seq) + 0x8000) % 0x10000 - 0x8000
        ext_ts = self._ext_ts
        in_order = ext_ts >= self._first_ts  # not before the stream's first timestamp
        if (
            in_order
            and not self._under
            and (seq < self._start_seq or (seq == 0 and self._stop_seq == 65535))
        ):
            self._cycles, self._under = self._cycles + 1, True
        elif in_order and self._under and seq > self._start_seq:
            self._under = False
        follows_cn = self._pt in _CN
        self._pt = pt
        diff = 0.0
        if in_order:
            self._delta = now - self._time
            if clock:
                self._clock = clock
                expected = self._time + (ext_ts - self._seq_ts) / (clock // 1000 or 1)
                diff = abs(now - expected)
                self._jitter = (15 * self._jitter + diff) / 16
                self._seq_ts = ext_ts
        regular = in_order and not marker and pt not in _CN and not follows_cn
        if regular:
            n = self.total  # packets before this one
            if self._delta > self._max_delta:
                self._max_delta = self._delta
            self._mean_delta = (self._mean_delta * (n - 1) + self._delta) / n
            if clock:
                if self._jitter > self._max_jitter:
                    self._max_jitter = self._jitter
                self._mean_jitter = (self._mean_jitter * (n - 1) + self._jitter) / n
        if in_order:
            self._time = now
        self._stop_seq = seq

    def _own(self, time_s: float, ext_seq: int, ext_ts: int, clock: int) -> None:
        i = ext_seq - self._base
        if i < 0:  # far before the first packet: grow the map at the front
            grow = max(-i, len(self._seen))
            self._seen[:0] = bytes(grow)
            self._base -= grow
            i += grow
        if i >= len(self._seen):
            self._seen.extend(bytes(max(i + 1 - len(self._seen), len(self._seen), 65536)))
        if self._seen[i]:
            return  # duplicate
        self._seen[i] = 1
        self.unique += 1
        if ext_seq < self._max_seq:
            self.reordered += 1
        else:
            self._max_seq = ext_seq
        if ext_seq < self._min_seq:
            self._min_seq = ext_seq
        if self.unique > 1 and clock:
            d = (time_s - self._prev_t) * clock - (ext_ts - self._prev_ts)
            pj = self._pj + ((d if d >= 0 else -d) - self._pj) / 16
            self._pj = pj
            self._pj_sum += pj
            if pj > self._pj_max:
                self._pj_max = pj
            self._pj_n += 1
        if self.unique > 1 and ext_seq - self._last_seq == 1 and ext_ts > self._prev_ts:
            self._steps[ext_ts - self._prev_ts] += 1
        self._prev_t, self._prev_ts, self._last_seq = time_s, ext_ts, ext_seq

    # --- results ------------------------------------------------------------------------

    def wireshark(self) -> WiresharkFigures:
        """The figures of ``tshark -z rtp,streams`` for this stream."""
        expected = self._stop_seq + self._cycles * 65536 - self._start_seq + 1
        return WiresharkFigures(
            packets=self.total,
            expected=expected,
            lost=expected - self.total,
            max_delta_ms=self._max_delta,
            mean_delta_ms=self._mean_delta,
            jitter_mean_ms=self._mean_jitter if self._clock else math.nan,
            jitter_max_ms=self._max_jitter if self._clock else math.nan,
            jitter_final_ms=self._jitter if self._clock else math.nan,
            clock_rate=self._clock,
        )

    def lost_mask(self) -> NDArray[np.bool_]:
        """Loss indicator over the sequence numbers from the lowest to the highest seen."""
        lo, hi = self._min_seq - self._base, self._max_seq - self._base
        return np.frombuffer(bytes(self._seen[lo : hi + 1]), dtype=np.uint8) == 0

    def own_jitter_ms(self, clock: int) -> tuple[float, float]:
        """perceptq's jitter: (mean, max) of the running RFC 3550 J, ms; NaN without clock."""
        if not clock or not self._pj_n:
            return (math.nan, math.nan) if not clock else (0.0, 0.0)
        return 1000 * self._pj_sum / self._pj_n / clock, 1000 * self._pj_max / clock

    def timestamp_step(self) -> int | None:
        """Median timestamp step between consecutive sequence numbers (packet size)."""
        if not self._steps:
            return None
        total, acc = sum(self._steps.values()), 0
        for step in sorted(self._steps):
            acc += self._steps[step]
            if 2 * acc >= total:
                return step
        return None

    def looks_like_rtp(self) -> bool:
        """Heuristic: one dominant payload type, sequence numbers mostly stepping forward."""
        if self.total < 2:
            return False
        if self.pts.most_common(1)[0][1] < 0.9 * self.total:
            return False
        return self._forward >= 0.8 * (self.total - 1)

    def main_payload_type(self, is_event: set[int]) -> int:
        """Most common payload type other than comfort noise and telephone events."""
        for pt, _ in self.pts.most_common():
            if pt not in _CN and pt not in is_event:
                return pt
        return self.pts.most_common(1)[0][0]
