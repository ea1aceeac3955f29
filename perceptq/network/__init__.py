"""Network MOS: the ITU-T G.107 E-model and the packet captures it is fed from.

:mod:`emodel` holds the G.107 formulas, :mod:`codecs` the codec impairment table,
:mod:`transport` the packet-loss and jitter-buffer models that turn network statistics into
E-model inputs; :mod:`pcap` reads and writes captures, :mod:`rtp` finds RTP streams and
their statistics, and :mod:`g711` encodes and decodes G.711 payloads. It imports only
:mod:`perceptq.errors` and :mod:`perceptq.result`: perceptual scoring of extracted audio is
wired by the caller (the CLI).
"""
