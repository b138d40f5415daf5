"""The ranges the system supports, in one place (the CLI, the methods and the service check them).

* SNR: from −30 to 50 dB. Below −30 dB the noise is 1000× the signal and nothing of the image
  survives any method; above 50 dB the channel is indistinguishable from none at 8-bit pixels.
  Inside the range every method is numerically safe (tested from −40 to 100 dB on every channel);
  far outside, ``10^(−snr/10)`` overflows float32 (at −400 dB) and would give NaN images.
* Image size: at most 40 million pixels (:data:`MAX_PIXELS`; a bigger file is refused from its
  header, before decoding, with exit code 2). Chosen from the memory curve of
  ``benchmarks/memory.py`` (BENCHMARKS.md, "Memory and time against image size"): with the tiled
  codec ``mllmsc transmit`` peaks at 3.1 GB RSS for 16 Mpx and grows 135–175 MB per further Mpx,
  so 40 Mpx stays under ~8 GB of this 24 GB machine (and takes ~6 min on its 2 cores). Before
  tiling 9 Mpx already took 7.8 GB.
* Query: at most 500 characters. Intents are phrases or questions; a longer text is almost
  surely a mistake (a pasted file), and the guidance models read ~24–77 tokens anyway.
"""

from __future__ import annotations

SNR_MIN_DB = -30.0
SNR_MAX_DB = 50.0
MAX_QUERY_CHARS = 500
MAX_PIXELS = 40_000_000
