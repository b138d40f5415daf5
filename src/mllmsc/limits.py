"""The ranges the system supports, in one place (the CLI, the methods and the service check them).

* SNR: from −30 to 50 dB. Below −30 dB the noise is 1000× the signal and nothing of the image
  survives any method; above 50 dB the channel is indistinguishable from none at 8-bit pixels.
  Inside the range every method is numerically safe (tested from −40 to 100 dB on every channel);
  far outside, ``10^(−snr/10)`` overflows float32 (at −400 dB) and would give NaN images.
* Query: at most 500 characters. Intents are phrases or questions; a longer text is almost
  surely a mistake (a pasted file), and the guidance models read ~24–77 tokens anyway.
"""

from __future__ import annotations

SNR_MIN_DB = -30.0
SNR_MAX_DB = 50.0
MAX_QUERY_CHARS = 500
