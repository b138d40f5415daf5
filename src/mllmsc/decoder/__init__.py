"""Receiver-side decoders: what the receiver does with the JSCC output, and how much compute it spends.

>>> from mllmsc.decoder import DECODERS, ReceiverContext
>>> decoder = DECODERS.build("generative", mode="balanced")        # shipped refiner weights
>>> out = decoder(x_hat, ReceiverContext(snr_db=snr, cbr=cbr, importance=m, prompt="the red car"),
...               generator=torch.Generator().manual_seed(0))
>>> out.x, out.steps, out.latency_ms, out.report()

========== ==================================================================== ==================
name       what                                                                 needs
========== ==================================================================== ==================
fast       the JSCC decoder's output as it is (IA-JSCC's SNR-adaptive decoder)  nothing
generative the embedded conditional diffusion refiner; ``mode`` fast | balanced  shipped weights
           | quality (:mod:`mllmsc.decoder.generative`)
========== ==================================================================== ==================

The JSCC link (:mod:`mllmsc.methods`) decodes the symbols; a decoder here refines or generates
from that image, conditioned on the SNR, the CBR, the importance map and (for text-conditioned
models) the user's intent. ``fast`` never runs a diffusion step.

The Stable Diffusion path (:mod:`mllmsc.decoder.stable_diffusion`, method ``sd-latent``) is not a
decoder of this registry: it sends the SD VAE latent instead of JSCC symbols, so it is a whole link
(:mod:`mllmsc.methods.sd_latent`), whose receiver denoises from the step the SNR matches.
"""

from __future__ import annotations

from mllmsc.decoder.base import MODES, Decoded, Decoder, ReceiverContext
from mllmsc.registry import Registry

DECODERS: Registry[Decoder] = Registry("decoder")
DECODERS.register_lazy("fast", "mllmsc.decoder.base:FastDecoder")
DECODERS.register_lazy("generative", "mllmsc.decoder.generative:GenerativeDecoder")

__all__ = ["DECODERS", "MODES", "Decoded", "Decoder", "ReceiverContext"]
