"""Transmission methods: one registry, one call, for every way of getting an image across.

>>> from mllmsc.methods import METHODS
>>> from mllmsc.channel import CHANNELS
>>> method = METHODS.build("ia-jscc")                          # shipped weights
>>> result = method(x, importance, CHANNELS.build("awgn"), snr_db=10.0, cbr=1 / 16,
...                 generator=torch.Generator().manual_seed(0))
>>> result.x_hat, result.symbols.total, result.latency_ms

Every method maps ``(x, importance, channel, snr_db, cbr, generator)`` to a
:class:`~mllmsc.types.TransmissionResult`: the received image, the symbol bill
(``payload + side_info == total <= budget``) and the wall time of each stage. ``mllmsc transmit``,
``mllmsc eval``, ``mllmsc demo`` and the edge service call methods only through this interface;
:func:`mllmsc.eval.scoring.score` turns a result into metrics.

================= ===========================================================================
name              what
================= ===========================================================================
uniform-jscc      IA-JSCC with uniform allocation: the Deep JSCC / ADJSCC baseline, no side info
ia-jscc           IA-JSCC with importance allocation; the level map is counted side information
deep-jscc         Deep JSCC (Bourtsoulatze 2019) + ADJSCC attention, trained here at IA-JSCC's compute
generative-MODE  uniform-jscc + the embedded diffusion decoder; MODE fast | balanced | quality
sd-latent         a local Stable Diffusion's VAE latent, DDIM from the SNR-matched step
digital           HEIF (HEVC intra) + CRC + 5G LDPC + QAM, best MCS for the SNR
digital-jpeg      JPEG 4:2:0 + CRC + 5G LDPC + QAM
digital-capacity  HEIF over an ideal capacity-achieving code (the bound of separation)
clean             no channel: the receiver gets the image itself (the ceiling of any method)
================= ===========================================================================

**Adding a method** is one module and one registration; nothing else changes::

    # src/mllmsc/methods/my_method.py
    from mllmsc.methods.base import TransmissionMethod

    class Identity(TransmissionMethod):
        name = "identity"

        def transmit(self, x, importance, channel, snr_db, cbr, *, generator=None):
            budget = symbol_budget(cbr, *x.shape[-2:])
            zero = torch.zeros(x.shape[0], dtype=torch.int64)
            return self.result(x.clone(), SymbolBill(budget, zero, zero, *x.shape[-2:]), {"total": 0.0})

    # here, beside the others:
    @METHODS.register("identity")
    def _identity(**kwargs):
        from mllmsc.methods.my_method import Identity
        return Identity(**kwargs)

Factories import their module on first use, so ``import mllmsc.methods`` stays cheap (Sionna and
the codec load only when a method is built). Every factory takes keyword arguments only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mllmsc.registry import Registry

if TYPE_CHECKING:
    from mllmsc.methods.base import TransmissionMethod

METHODS: Registry[TransmissionMethod] = Registry("method")


@METHODS.register("uniform-jscc")
def _uniform_jscc(**kwargs: Any) -> TransmissionMethod:
    """IA-JSCC, uniform allocation (``weights``: a model folder, default the shipped one)."""
    from mllmsc.methods.jscc import JSCCMethod

    return JSCCMethod(allocator="uniform", name="uniform-jscc", **kwargs)


@METHODS.register("ia-jscc")
def _ia_jscc(**kwargs: Any) -> TransmissionMethod:
    """IA-JSCC, importance allocation (``weights``; ``concentration``, ``floor``, ``n_levels``)."""
    from mllmsc.methods.jscc import JSCCMethod

    return JSCCMethod(allocator="importance", name="ia-jscc", **kwargs)


@METHODS.register("deep-jscc")
def _deep_jscc(**kwargs: Any) -> TransmissionMethod:
    """The field's CNN Deep JSCC with SNR attention (``weights``: a model folder, default the shipped one)."""
    from mllmsc.methods.jscc import JSCCMethod

    return JSCCMethod(allocator="uniform", name="deep-jscc", model="deep-jscc", **kwargs)


def _generative(mode: str):
    def factory(**kwargs: Any) -> TransmissionMethod:
        from mllmsc.methods.generative import generative_method

        return generative_method(mode, **kwargs)

    factory.__doc__ = (
        f"uniform-jscc, then the generative decoder in {mode!r} mode (``refiner``, ``steps``, ``eta``)."
    )
    return factory


for _mode in ("fast", "balanced", "quality"):
    METHODS.register(f"generative-{_mode}")(_generative(_mode))


@METHODS.register("sd-latent")
def _sd_latent(**kwargs: Any) -> TransmissionMethod:
    """Stable Diffusion latent + SNR-matched DDIM (``sd_model``: a local folder, required; ``mode``,
    ``steps``, ``prompt``, ``guidance_scale``)."""
    from mllmsc.methods.sd_latent import SDLatentMethod

    return SDLatentMethod(**kwargs)


@METHODS.register("digital")
def _digital(**kwargs: Any) -> TransmissionMethod:
    """HEIF + 5G LDPC + QAM (``target_loss``, ``cache``, ``table``)."""
    from mllmsc.methods.digital import DigitalMethod

    return DigitalMethod("heif", capacity=False, name="digital", **kwargs)


@METHODS.register("digital-jpeg")
def _digital_jpeg(**kwargs: Any) -> TransmissionMethod:
    """JPEG + 5G LDPC + QAM."""
    from mllmsc.methods.digital import DigitalMethod

    return DigitalMethod("jpeg", capacity=False, name="digital-jpeg", **kwargs)


@METHODS.register("digital-capacity")
def _digital_capacity(**kwargs: Any) -> TransmissionMethod:
    """HEIF over an ideal capacity-achieving code."""
    from mllmsc.methods.digital import DigitalMethod

    return DigitalMethod("heif", capacity=True, name="digital-capacity", **kwargs)


@METHODS.register("clean")
def _clean(**kwargs: Any) -> TransmissionMethod:
    """The image itself, no symbols spent: the ceiling a receiver-side task is measured against."""
    from mllmsc.methods.clean import CleanMethod

    kwargs.pop("shared", None)  # nothing to share
    return CleanMethod(**kwargs)


def __getattr__(name: str) -> Any:
    if name == "TransmissionMethod":
        from mllmsc.methods.base import TransmissionMethod

        return TransmissionMethod
    raise AttributeError(f"module 'mllmsc.methods' has no attribute {name!r}")


__all__ = ["METHODS", "TransmissionMethod"]
