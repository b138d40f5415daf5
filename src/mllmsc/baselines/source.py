"""Source codecs of the separation baseline: HEIF (HEVC intra, the BPG equivalent) and JPEG.

Both code 8-bit RGB with 4:2:0 chroma. HEIF uses pillow-heif's x265 encoder with ``tune=psnr``
(libheif's default tune, ``ssim``, costs about 0.3 dB of PSNR at the same size, DESIGN.md §6);
JPEG uses Pillow/libjpeg with its standard quantisation tables and image-optimised Huffman tables
(``optimize=True``: at 0.2 bit/pixel the standard Huffman tables cost ~2 dB, and the reference
numbers of DESIGN.md §6 are met only with optimised ones).

The size counted is the whole file, container and headers included: that is what the receiver
needs to decode it (a HEIF header is ~0.4 kB, which matters for small images at low CBR).

:func:`best_fit` finds the highest quality whose file fits a bit budget by a bracketing search on
the quality (interpolated on log size, bisection as fallback), assuming the size grows with the
quality (true for both encoders up to a few bytes of noise, so the result can be one step short of
the best, never over budget). x265 maps the quality to an integer QP, so neighbouring qualities
can give the same file and one QP step is ~10–15 % of size: a budget 12 % larger may buy nothing.
Encodes are kept in an :class:`EncodeCache`, so repeated searches on one image (several SNRs, or a
search that revisits a quality) encode each quality once.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from mllmsc.errors import UserError

__all__ = [
    "CODECS",
    "EncodeCache",
    "Encoded",
    "HeifCodec",
    "JpegCodec",
    "SourceCodec",
    "best_fit",
    "from_pixels",
    "get_codec",
    "to_pixels",
]


@dataclass(frozen=True)
class Encoded:
    """One coded file.

    Attributes:
        codec: ``"heif"`` or ``"jpeg"``.
        quality: the encoder quality used.
        data: the file's bytes.
    """

    codec: str
    quality: int
    data: bytes

    @property
    def bits(self) -> int:
        return 8 * len(self.data)


class SourceCodec:
    """An image file format with a quality knob.

    Shapes:
        encode: pixels ``[H, W, 3]`` uint8 → bytes; decode: bytes → ``[H, W, 3]`` uint8.
    """

    name = ""
    qualities: range = range(0)

    def encode(self, pixels: np.ndarray, quality: int) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> np.ndarray:
        raise NotImplementedError


class HeifCodec(SourceCodec):
    """HEIF/HEVC intra through pillow-heif (x265, ``tune=psnr``, 4:2:0), qualities 0–100."""

    name = "heif"
    qualities = range(0, 101)

    def encode(self, pixels: np.ndarray, quality: int) -> bytes:
        import pillow_heif

        h, w, _ = pixels.shape
        heif = pillow_heif.from_bytes(mode="RGB", size=(w, h), data=np.ascontiguousarray(pixels).tobytes())
        buf = io.BytesIO()
        heif.save(buf, quality=int(quality), enc_params={"tune": "psnr", "chroma": "420"})
        return buf.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        import pillow_heif

        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
        return np.asarray(heif.to_pillow().convert("RGB"))


class JpegCodec(SourceCodec):
    """Baseline JPEG through Pillow, 4:2:0, optimised Huffman tables, qualities 1–100."""

    name = "jpeg"
    qualities = range(1, 101)

    def encode(self, pixels: np.ndarray, quality: int) -> bytes:
        buf = io.BytesIO()
        # optimize: Huffman tables fitted to the image, worth ~2 dB at 0.2 bit/pixel (DESIGN.md §6).
        Image.fromarray(pixels, "RGB").save(buf, "JPEG", quality=int(quality), subsampling=2, optimize=True)
        return buf.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as im:
            return np.asarray(im.convert("RGB"))


CODECS: dict[str, type[SourceCodec]] = {"heif": HeifCodec, "jpeg": JpegCodec}


def get_codec(name: str) -> SourceCodec:
    """The codec called ``name`` (``"heif"`` or ``"jpeg"``)."""
    try:
        return CODECS[name]()
    except KeyError:
        raise UserError(f"unknown source codec {name!r}; choose one of: {', '.join(CODECS)}") from None


def to_pixels(x: torch.Tensor) -> np.ndarray:
    """Image in [0, 1] → 8-bit pixels (rounded, clipped).

    Shapes:
        x: ``[3, H, W]`` float → ``[H, W, 3]`` uint8.
    """
    a = (x.detach().to("cpu", torch.float64).clamp(0, 1) * 255).round().to(torch.uint8)
    return np.ascontiguousarray(a.permute(1, 2, 0).numpy())


def from_pixels(pixels: np.ndarray) -> torch.Tensor:
    """8-bit pixels → float image in [0, 1].

    Shapes:
        pixels: ``[H, W, 3]`` uint8 → ``[3, H, W]`` float32.
    """
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))).to(torch.float32) / 255


class EncodeCache:
    """Encoded files per (image, codec, quality), for the last ``max_images`` images seen.

    Images are keyed by a hash of their pixels, so the same picture sent at several SNRs or CBRs
    (a sweep) reuses its encodes, and the sizes already known narrow the next search. Not
    thread-safe; give each worker its own.
    """

    def __init__(self, max_images: int = 4) -> None:
        self.max_images = max_images
        self._files: OrderedDict[str, dict[tuple[str, int], bytes]] = OrderedDict()

    def _entry(self, pixels: np.ndarray) -> dict[tuple[str, int], bytes]:
        key = hashlib.sha1(pixels.tobytes() + str(pixels.shape).encode()).hexdigest()
        files = self._files.pop(key, None) or {}
        self._files[key] = files  # most recently used last
        while len(self._files) > self.max_images:
            self._files.popitem(last=False)
        return files

    def encode(self, codec: SourceCodec, pixels: np.ndarray, quality: int) -> bytes:
        """The file of ``pixels`` at ``quality`` (encoded now unless already known)."""
        files = self._entry(pixels)
        if (codec.name, quality) not in files:
            files[(codec.name, quality)] = codec.encode(pixels, quality)
        return files[(codec.name, quality)]

    def known_bits(self, codec: SourceCodec, pixels: np.ndarray) -> dict[int, int]:
        """Quality → file bits of the encodes of ``pixels`` with ``codec`` already made."""
        return {q: 8 * len(d) for (name, q), d in self._entry(pixels).items() if name == codec.name}


def best_fit(
    codec: SourceCodec, pixels: np.ndarray, max_bits: int, *, cache: EncodeCache | None = None
) -> Encoded | None:
    """The highest-quality file of ``codec`` whose size is at most ``max_bits`` bits.

    A bracketing search on the quality: ``lo`` fits, ``hi`` does not, and the next quality tried is
    interpolated on log(size) between them (the size of both codecs grows roughly exponentially
    with the quality), falling back to bisection when that does not halve the bracket. The
    bracket starts from the encodes already in ``cache``, so a second budget for the same image
    usually costs one or two encodes. HEIF (x265, preset slow) takes seconds per encode, which
    is why this is not a plain bisection.

    Args:
        codec: the source codec.
        pixels: the image, ``[H, W, 3]`` uint8.
        max_bits: the bit budget for the whole file.
        cache: where encodes are kept (a fresh one for this call when None).

    Returns:
        The file, or ``None`` when even the lowest quality does not fit.
    """
    cache = cache or EncodeCache(max_images=1)
    q_min, q_max = codec.qualities[0], codec.qualities[-1]
    if max_bits <= 0:
        return None

    def bits(q: int) -> int:
        return 8 * len(cache.encode(codec, pixels, q))

    known = cache.known_bits(codec, pixels)
    too_big = [q for q, b in known.items() if b > max_bits]
    hi = min(too_big) if too_big else q_max + 1  # q_max + 1: "above every quality"
    fitting = [q for q, b in known.items() if b <= max_bits and q < hi]
    lo = max(fitting) if fitting else None
    if lo is None:
        # Nothing known fits: try the middle of what is left, then go down from there.
        probe = (q_min + min(hi, q_max + 1) - 1) // 2 if hi > q_min else q_min
        while lo is None:
            if bits(probe) <= max_bits:
                lo = probe
            else:
                hi = probe
                if probe == q_min:
                    return None
                probe = _interpolate(q_min, None, hi, bits(hi), max_bits, lower=True)
    halve = False
    while hi - lo > 1:
        if halve or hi > q_max:
            probe = (lo + hi) // 2 if hi <= q_max else min(q_max, lo + max(1, (q_max - lo + 1) // 2))
        else:
            probe = _interpolate(lo, bits(lo), hi, bits(hi), max_bits)
        width = hi - lo
        if bits(probe) <= max_bits:
            lo = probe
        else:
            hi = probe
        halve = (hi - lo) * 2 > width  # a poor guess: bisect next time
    return Encoded(codec.name, lo, cache.encode(codec, pixels, lo))


def _interpolate(
    lo: int, lo_bits: int | None, hi: int, hi_bits: int, target: int, *, lower: bool = False
) -> int:
    """Quality in (lo, hi) where log(bits) reaches ``target``, on the line through the two ends.

    ``lower=True``: only ``hi`` is known (too big); step down assuming the size halves every
    12 quality steps (about x265's 6 QP per halving), at least one step.
    """
    if lower or lo_bits is None:
        step = max(1, round(12 * math.log2(hi_bits / max(target, 1))))
        return max(lo, hi - step)
    frac = math.log(target / lo_bits) / math.log(hi_bits / lo_bits) if hi_bits > lo_bits else 0.5
    return min(hi - 1, max(lo + 1, lo + math.floor(frac * (hi - lo))))
