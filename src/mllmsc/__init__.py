"""mllmsc: MLLM-guided semantic communication (MLLM-SC, arXiv 2507.04621).

An image, the user's intent and the channel state go in; guidance marks what matters, an
importance-aware deep JSCC codec spends the channel symbols there, and the receiver rebuilds the
image (and can answer the user's question about it).

Entry points (each a registry: ``.available()`` lists the names, ``.build(name, **options)`` builds):

* :data:`mllmsc.methods.METHODS` — transmission methods (``ia-jscc``, ``uniform-jscc``, ``digital``,
  ``digital-jpeg``, ``digital-capacity``, ``clean``), one call each;
* :data:`mllmsc.guidance.GUIDANCE` / :func:`mllmsc.guidance.build_guidance` — importance maps;
* :data:`mllmsc.channel.CHANNELS` — AWGN, Rayleigh, Rician, OFDM-TDL (Sionna);
* :data:`mllmsc.tasks.ANSWERERS` — receiver-side question answering (``tiny-vqa``, ``llava``);
* :class:`mllmsc.pipeline.Pipeline` — guidance + method; :func:`mllmsc.eval.scoring.score` — metrics;
* :func:`mllmsc.train.run` — training from a TOML preset; the ``mllmsc`` command for all of it.

Example::

    import torch
    from mllmsc.channel import CHANNELS
    from mllmsc.guidance import build_guidance
    from mllmsc.methods import METHODS
    from mllmsc.pipeline import Pipeline

    x = torch.rand(1, 3, 256, 256)                                  # [B, 3, H, W] in [0, 1]
    pipe = Pipeline(METHODS.build("ia-jscc"), CHANNELS.build("awgn"), build_guidance("auto"))
    result = pipe(x, snr_db=10.0, cbr=1 / 16, intent="the red car")
    result.x_hat, result.symbols.total, result.latency_ms

Heavy backends (torch models, Sionna, transformers) load when first built, so ``import mllmsc``
and the names above stay cheap.
"""

__version__ = "0.1.0"
