"""SIP calls and their SDP media in a capture (RFC 3261, RFC 4566).

:class:`SipTracker` is fed the UDP datagrams and TCP segments of a capture one at a time.
It reads SIP messages that are whole in one datagram or segment (a TCP message split over
segments is counted in ``incomplete`` and skipped), and keeps per Call-ID: From, To, the
User-Agent (or Server) of each side, start (first INVITE) and end (BYE or CANCEL), the final
response to the INVITE, and each SDP's connection address, media port, payload types
(``a=rtpmap`` names and clock rates), ``a=ptime`` and ``a=rtcp``. ``media_at(endpoint)``
says which call and SDP announced an ``ip:port``: how RTP streams are grouped into calls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_METHODS = (
    b"INVITE ",
    b"ACK ",
    b"BYE ",
    b"CANCEL ",
    b"OPTIONS ",
    b"REGISTER ",
    b"PRACK ",
    b"UPDATE ",
    b"INFO ",
    b"NOTIFY ",
    b"SUBSCRIBE ",
    b"REFER ",
    b"MESSAGE ",
    b"PUBLISH ",
)
_COMPACT = {
    "i": "call-id",
    "f": "from",
    "t": "to",
    "c": "content-type",
    "l": "content-length",
    "m": "contact",
    "v": "via",
}
_REQUEST = re.compile(r"^([A-Z]+) (\S+) SIP/2\.0$")
_STATUS = re.compile(r"^SIP/2\.0 (\d{3})(?: (.*))?$")


def looks_like_sip(data: bytes) -> bool:
    """True when a datagram starts like a SIP request or response."""
    return data.startswith(b"SIP/2.0 ") or data.startswith(_METHODS)


@dataclass
class Media:
    """One audio media description of an SDP: where it receives and what it accepts."""

    address: str
    port: int
    payload_types: list[int]
    rtpmap: dict[int, tuple[str, int]]
    ptime_ms: float | None = None
    rtcp_port: int | None = None
    direction: str = "sendrecv"
    proto: str = "RTP/AVP"
    fmtp: dict[int, str] = field(default_factory=dict)

    def endpoint(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


def parse_sdp(text: str) -> list[Media]:
    """Audio media of an SDP body (session-level ``c=`` applies unless a media has its own)."""
    session_addr = ""
    media: list[Media] = []
    for raw in text.splitlines():
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        cur = media[-1] if media else None
        if kind == "c":
            parts = value.split()
            addr = parts[2].split("/")[0] if len(parts) >= 3 else ""
            if cur is None:
                session_addr = addr
            else:
                cur.address = addr
        elif kind == "m":
            parts = value.split()
            if len(parts) < 4 or parts[0] != "audio":
                media.append(Media("", 0, [], {}, direction="ignored"))
                continue
            pts = [int(p) for p in parts[3:] if p.isdigit()]
            port = int(parts[1].split("/")[0])
            media.append(Media(session_addr, port, pts, {}, proto=parts[2]))
        elif kind == "a" and cur is not None:
            name, _, arg = value.partition(":")
            if name == "rtpmap":
                pt_s, _, enc = arg.partition(" ")
                enc_name, _, rest = enc.strip().partition("/")
                clock = rest.split("/")[0]
                if pt_s.isdigit() and clock.isdigit():
                    cur.rtpmap[int(pt_s)] = (enc_name, int(clock))
            elif name == "fmtp":
                pt_s, _, params = arg.partition(" ")
                if pt_s.isdigit():
                    cur.fmtp[int(pt_s)] = params.strip()
            elif name == "ptime" and arg.strip().replace(".", "", 1).isdigit():
                cur.ptime_ms = float(arg)
            elif name == "rtcp" and arg.split()[0].isdigit():
                cur.rtcp_port = int(arg.split()[0])
            elif name in ("sendrecv", "sendonly", "recvonly", "inactive"):
                cur.direction = name
    return [m for m in media if m.direction != "ignored" and m.port]


@dataclass
class SipCall:
    """What the SIP signalling says about one call (times in capture seconds)."""

    call_id: str
    from_: str = ""
    to: str = ""
    caller: str = ""  # ip:port that sent the first INVITE
    caller_ua: str = ""
    callee_ua: str = ""
    start: float | None = None
    end: float | None = None
    status: int | None = None  # final response to the INVITE
    offer: Media | None = None
    answer: Media | None = None
    media: list[tuple[str, Media]] = field(default_factory=list)  # (side, media)

    def negotiated(self) -> tuple[int, str, int, float | None] | None:
        """(payload type, name, clock rate, ptime) the answer chose, else the offer's first."""
        sdp = self.answer or self.offer
        if sdp is None:
            return None
        for pt in sdp.payload_types:
            offered = self.offer.rtpmap.get(pt) if self.offer else None
            name, clock = sdp.rtpmap.get(pt) or offered or ("", 0)
            if name.lower() in ("telephone-event", "cn"):
                continue
            ptime = sdp.ptime_ms or (self.offer.ptime_ms if self.offer else None)
            return pt, name, clock, ptime
        return None


def _headers(head: str) -> tuple[str, dict[str, str]]:
    lines = head.replace("\r\n", "\n").split("\n")
    out: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key = name.strip().lower()
        key = _COMPACT.get(key, key)
        out.setdefault(key, value.strip())
    return lines[0].strip(), out


def _display(value: str) -> str:
    """A From/To header without its parameters: ``"Name" <sip:user@host>``."""
    return value.split(">")[0] + ">" if ">" in value else value.split(";")[0]


class SipTracker:
    """Calls and SDP media endpoints from the SIP messages of a capture."""

    def __init__(self) -> None:
        self.calls: dict[str, SipCall] = {}
        self.messages = 0
        self.incomplete = 0
        self._media: dict[str, tuple[str, str, Media]] = {}

    def feed(self, time: float, src: str, dst: str, data: bytes, *, tcp: bool = False) -> bool:
        """Read one datagram or segment; True if it was a SIP message."""
        if not looks_like_sip(data):
            return False
        text = data.decode("utf-8", "replace")
        sep = "\r\n\r\n" if "\r\n\r\n" in text else "\n\n"
        head, _, body = text.partition(sep)
        first, hdr = _headers(head)
        length = hdr.get("content-length", "")
        if length.isdigit() and len(body.encode("utf-8", "replace")) < int(length):
            self.incomplete += 1
            return True
        call_id = hdr.get("call-id")
        if not call_id:
            return True
        self.messages += 1
        call = self.calls.setdefault(call_id, SipCall(call_id))
        req, status = _REQUEST.match(first), _STATUS.match(first)
        cseq_method = hdr.get("cseq", "").split()[-1:] or [""]
        if req and req.group(1) == "INVITE" and call.start is None:
            call.start, call.caller = time, src
            call.from_, call.to = _display(hdr.get("from", "")), _display(hdr.get("to", ""))
        from_caller = src == call.caller if call.caller else bool(req)
        ua = hdr.get("user-agent") or hdr.get("server") or ""
        if ua and from_caller and not call.caller_ua:
            call.caller_ua = ua
        elif ua and not from_caller and not call.callee_ua:
            call.callee_ua = ua
        if req and req.group(1) in ("BYE", "CANCEL") and call.end is None:
            call.end = time
        if status and cseq_method[0] == "INVITE" and int(status.group(1)) >= 200:
            code = int(status.group(1))
            if call.status is None or not 200 <= call.status < 300:
                call.status = code  # the last final answer, unless the call was answered
        if body.strip() and ("sdp" in hdr.get("content-type", "") or body.startswith("v=0")):
            side = "caller" if from_caller else "callee"
            for media in parse_sdp(body):
                call.media.append((side, media))
                if side == "caller" and call.offer is None:
                    call.offer = media
                elif side == "callee":
                    call.answer = media
                self._media[media.endpoint()] = (call_id, side, media)
                rtcp = Media(media.address, media.rtcp_port or media.port + 1, [], {})
                self._media["rtcp " + rtcp.endpoint()] = (call_id, side, media)
        return True

    def media_at(self, endpoint: str) -> tuple[str, str, Media] | None:
        """(Call-ID, side, SDP media) of the latest SDP that announced ``endpoint``, if any.

        ``side`` is ``caller`` (the SDP came from the party that sent the INVITE) or
        ``callee``."""
        return self._media.get(endpoint)

    def rtcp_at(self, endpoint: str) -> tuple[str, str, Media] | None:
        """(Call-ID, side, SDP media) whose RTCP port (``a=rtcp``, else RTP + 1) is ``endpoint``."""
        return self._media.get("rtcp " + endpoint)
