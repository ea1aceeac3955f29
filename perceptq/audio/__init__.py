"""Input audio: reading, validating, converting and streaming what the user gives us.

:mod:`io` reads and validates files and arrays (one clear error naming the file for every
bad input), :mod:`preprocess` mixes to mono and resamples to the model's rate,
:mod:`source` streams long inputs block by block with bounded memory, and :mod:`checks`
measures speech activity and produces the input warnings; :mod:`filters` and
:mod:`reductions` are the kernel-backed filtering and reductions (numpy's and scipy's values
to the bit) of the checks, drift and diagnostics. The only wing that touches audio
files; it imports nothing from perceptq but :mod:`perceptq.errors`.
"""
