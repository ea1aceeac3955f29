"""Network MOS: the ITU-T G.107 E-model and the packet captures it is fed from.

:mod:`emodel` holds the G.107 formulas, :mod:`codecs` the codec impairment table,
:mod:`transport` the packet-loss and jitter-buffer models that turn network statistics into
E-model inputs, :mod:`wideband` the G.107.1 wideband E-model; :mod:`pcap` reads and writes
captures (streaming), :mod:`rtp` finds RTP streams and their statistics (the original
per-stream API), :mod:`calls` the per-call analysis built from :mod:`sip` (SIP/SDP),
:mod:`rtcp` (SR/RR, XR VoIP metrics), :mod:`rtpstats` (Wireshark-compatible per-stream
figures, computed packet by packet) and :mod:`payload` (payload types, clock rates, which
E-model rates a codec); :mod:`g711` encodes and decodes G.711 payloads and :mod:`decode`
decodes the other codecs with PyAV (optional dependency ``perceptq[codecs]``). It imports only
:mod:`perceptq.errors` and :mod:`perceptq.result`: perceptual scoring of extracted audio is
wired by the caller (the CLI).
"""
