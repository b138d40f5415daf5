"""The work behind each endpoint, as plain functions run on a worker thread (see :mod:`.gate`).

They take checked arguments, return JSON-able dicts with a ``latency_ms`` per stage, and raise
:class:`~mllmsc.service.errors.ServiceError` (4xx) for input they cannot use. None of them knows
about HTTP beyond that: ``/v1/transmit`` goes through :func:`mllmsc.eval.transmission.transmit_image`
exactly as ``mllmsc transmit`` does, so the page's numbers are the command's numbers.
"""

from __future__ import annotations

import functools
import io
import os
import tempfile
import time
import warnings
from dataclasses import dataclass

import torch

from mllmsc.errors import UserError
from mllmsc.latency import StageClock
from mllmsc.service import wire
from mllmsc.service.errors import ServiceError
from mllmsc.service.limits import Limits
from mllmsc.service.models import Models
from mllmsc.types import ChannelState

#: Bundled photos the page offers (scikit-image's own files: no download).
SAMPLES = ("astronaut", "coffee", "chelsea", "rocket")

# The decoders a user upload may reach (as mllmsc.data.io: EPS and friends stay out of reach).
_FORMATS = ("PNG", "JPEG", "WEBP", "HEIF", "AVIF", "TIFF", "BMP", "GIF", "PPM")
_MAX_SCENE_ID = 2**31 - 1


# ---------------------------------------------------------------------------------------- inputs


@functools.cache
def _formats() -> tuple[str, ...]:
    from PIL import Image

    try:
        import pillow_heif
    except ImportError:
        pass
    else:
        pillow_heif.register_heif_opener()
    Image.init()
    return tuple(f for f in _FORMATS if f in Image.OPEN)


def decode_upload(data: bytes, max_pixels: int) -> torch.Tensor:
    """An uploaded image file as float RGB in [0, 1], refused before decoding when too large.

    The header is read first (Pillow opens lazily): not an image → 415; more than ``max_pixels``
    (or a size Pillow itself calls a decompression bomb) → 413, and nothing is decoded. Then
    :func:`mllmsc.data.io.read_image` decodes it with the CLI's rules (alpha over white, EXIF
    orientation, 16-bit PNG); a truncated or corrupt file → 422.

    Shapes:
        output: ``[1, 3, H, W]`` float32.
    """
    from PIL import Image

    from mllmsc.data.io import ImageError, read_image

    if not data:
        raise ServiceError(422, "empty_image", "the image file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=_formats()) as im:
                width, height = im.size
    except Image.UnidentifiedImageError:
        raise ServiceError(
            415, "not_an_image", "not an image in a supported format (PNG, JPEG, WebP, HEIF, ...)"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ServiceError(
            413, "too_many_pixels", "the image declares a size too large to decode safely"
        ) from None
    except Exception as exc:  # a header so broken that Pillow fails inside its parser
        raise ServiceError(422, "bad_image", f"unreadable image header ({exc.__class__.__name__})") from None
    if width * height > max_pixels:
        raise ServiceError(
            413, "too_many_pixels",
            f"the image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}",
        )  # fmt: skip
    if width < 1 or height < 1:
        raise ServiceError(422, "bad_image", f"the image has zero size ({width}x{height})")
    # read_image takes a path; the upload is at most max_request_bytes, written once and removed.
    fd, path = tempfile.mkstemp(prefix="mllmsc-upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return read_image(path, max_pixels=max_pixels)[None]
    except ImageError as exc:
        raise ServiceError(422, "bad_image", exc.reason) from None
    finally:
        os.unlink(path)


def check_intent(intent: str, limits: Limits) -> str:
    intent = intent.strip()
    if len(intent) > limits.max_intent_chars:
        raise ServiceError(
            422,
            "intent_too_long",
            f"the intent is {len(intent)} characters; the limit is {limits.max_intent_chars}",
        )
    return intent


def check_channel(name: str) -> None:
    from mllmsc.channel import CHANNELS

    try:
        CHANNELS.require(name)
    except UserError as exc:
        raise ServiceError(422, "unknown_channel", str(exc)) from None


def check_decoder(decoder: str, mode: str) -> str | None:
    """The generative decoder's mode a request asks for (``None``: the JSCC decoder), or 422."""
    from mllmsc.decoder import DECODERS, MODES

    if decoder not in DECODERS.available():
        raise ServiceError(
            422, "unknown_decoder", f"no decoder {decoder!r}; there are {', '.join(DECODERS.available())}"
        )
    if mode not in MODES:
        raise ServiceError(422, "unknown_decoder", f"no decoder mode {mode!r}; there are {', '.join(MODES)}")
    return mode if decoder == "generative" else None


def guidance_of(models: Models, name: str):
    """The built backend, or 422 when this edge cannot serve it (unknown name, missing weights)."""
    try:
        return models.guidance(name)
    except UserError as exc:
        raise ServiceError(422, "guidance_unavailable", str(exc)) from None


@functools.cache
def sample_image(name: str) -> torch.Tensor:
    """Bundled photo ``name`` (:data:`SAMPLES`). Shapes: ``[1, 3, H, W]`` float32."""
    from skimage import data

    if name not in SAMPLES:
        raise ServiceError(404, "unknown_sample", f"no sample {name!r}; there are {', '.join(SAMPLES)}")
    return torch.from_numpy(getattr(data, name)()).permute(2, 0, 1).float()[None] / 255


@functools.cache
def sample_png(name: str, max_side: int) -> bytes:
    return wire.image_png(wire.downscale(sample_image(name), max_side)[0])


def _scene(seed: int, index: int):
    from mllmsc.data.scenes import generate_scene

    if not (0 <= seed <= _MAX_SCENE_ID and 0 <= index <= _MAX_SCENE_ID):
        raise ServiceError(422, "bad_scene", f"scene seed and index must lie in [0, {_MAX_SCENE_ID}]")
    return generate_scene(seed, index)


# ------------------------------------------------------------------------------------------ jobs


def importance_job(
    models: Models, limits: Limits, data: bytes, intent: str, csi: ChannelState, guidance: str
) -> dict:
    """``POST /v1/importance``: the map of the uploaded image, as PNGs at its own resolution."""
    clock = StageClock()
    x = decode_upload(data, limits.max_pixels)
    clock.lap("decode")
    backend = guidance_of(models, guidance)
    clock.lap("load")
    with torch.inference_mode():
        imp = backend(x, intent or None, csi)
    clock.lap("guidance")
    soft_png, mask_png = wire.image_png(imp.soft[0]), wire.mask_png(imp.mask[0])
    clock.lap("encode")
    return {
        "backend": imp.backend,
        "phrases": list(imp.phrases),
        "used_query": bool(imp.used_query),
        "height": int(x.shape[-2]),
        "width": int(x.shape[-1]),
        "roi_fraction": float(imp.mask.float().mean()),
        "map": {"encoding": "png", "soft": wire.b64(soft_png), "mask": wire.b64(mask_png)},
        "latency_ms": {k: round(v, 3) for k, v in clock.laps.items()},
    }


@dataclass(frozen=True)
class Source:
    """What ``/v1/transmit`` sends: an upload, a bundled sample or a generated scene (one of them)."""

    upload: bytes | None = None
    filename: str = "upload"
    sample: str | None = None
    scene: tuple[int, int] | None = None


def transmit_job(
    models: Models,
    limits: Limits,
    source: Source,
    *,
    intent: str,
    guidance: str,
    channel: str,
    snr_db: float,
    cbr: float,
    seed: int,
    mode: str | None = None,
) -> dict:
    """``POST /v1/transmit``: the whole link, guided (IA-JSCC + ``guidance``) and uniform, side by side.

    Both runs use the same codec, channel seed and evaluation region (a scene's ground-truth target
    when the intent is one of its expressions, else the guidance mask), so their numbers compare.
    On a scene the receiver's tiny-vqa answers the intent from each received image. ``mode``
    (``fast``, ``balanced``, ``quality``) refines both received images with the generative decoder
    in that mode, and each report gains its ``decoder`` block; ``None`` keeps the JSCC decoder's
    image.
    """
    from mllmsc.eval.figures import allocation_image
    from mllmsc.eval.transmission import transmit_image
    from mllmsc.guidance import UniformGuidance

    clock = StageClock()
    truth, answerer, scene_info = None, None, None
    if source.upload is not None:
        x, name = decode_upload(source.upload, limits.max_pixels), source.filename
    elif source.sample is not None:
        x, name = sample_image(source.sample), source.sample
    else:
        seed_s, index = source.scene
        scene = _scene(seed_s, index)
        x, name = (
            torch.from_numpy(scene.image).permute(2, 0, 1).float()[None] / 255,
            f"scene {index} of seed {seed_s}",
        )
        match = next((e for e in scene.expressions if e.text.lower() == intent.lower()), None)
        if match is not None:
            truth = torch.from_numpy(match.mask)[None, None]
        answerer = models.answerer() if intent else None
        scene_info = {"seed": seed_s, "index": index, "truth": None if match is None else match.answer}
    original_size = tuple(x.shape[-2:])
    x = wire.downscale(x, limits.transmit_max_side)
    if truth is not None and tuple(truth.shape[-2:]) != tuple(x.shape[-2:]):
        truth = torch.nn.functional.interpolate(truth.float(), size=x.shape[-2:], mode="nearest-exact") > 0.5
    clock.lap("decode")
    backend = guidance_of(models, guidance)
    uniform, guided = models.methods()
    if mode is not None:
        from mllmsc.methods.generative import DecodedMethod

        decoder = models.generative_decoder(mode)
        uniform = DecodedMethod(uniform, decoder, name=uniform.name, prompt=intent)
        guided = DecodedMethod(guided, decoder, name=guided.name, prompt=intent)
    clock.lap("load")
    common = dict(channel=channel, snr_db=snr_db, cbr=cbr, query=intent, seed=seed, image_name=name)
    try:
        with torch.inference_mode():
            g_result, g_report = transmit_image(
                x, method=guided, guidance=backend, roi=truth, answerer=answerer, **common
            )
            roi = truth if truth is not None else g_result.importance.mask
            u_result, u_report = transmit_image(
                x, method=uniform, guidance=UniformGuidance(), roi=roi, answerer=answerer, **common
            )
    except UserError as exc:  # e.g. a budget too small for the side information
        raise ServiceError(422, "cannot_transmit", str(exc)) from None
    clock.lap("link")
    size = tuple(x.shape[-2:])
    allocation = g_result.allocation
    if allocation is not None:
        alloc_image = allocation_image(allocation.k[0], allocation.k_max, size)
    else:
        alloc_image = torch.full((3, *size), 0.5)
    images = {
        "original": x[0],
        "importance": g_result.importance.soft[0],
        "allocation": alloc_image,
        "uniform": u_result.x_hat[0],
        "guided": g_result.x_hat[0],
    }
    out = {
        "image": name,
        "height": int(size[0]),
        "width": int(size[1]),
        "resized_from": list(original_size) if original_size != size else None,
        "images": {k: wire.data_url(wire.image_png(v)) for k, v in images.items()},
        "reports": {"uniform": u_report, "guided": g_report},
    }
    if scene_info is not None:
        out["scene"] = scene_info
    clock.lap("render")
    out["latency_ms"] = {k: round(v, 3) for k, v in clock.laps.items()}
    return out


def scene_job(seed: int, index: int) -> dict:
    """``GET /v1/scene``: a generated AR scene and what can be asked about it (questions first)."""
    start = time.perf_counter()
    scene = _scene(seed, index)
    image = torch.from_numpy(scene.image).permute(2, 0, 1).float() / 255
    order = sorted(scene.expressions, key=lambda e: e.type != "question")
    return {
        "seed": seed,
        "index": index,
        "image": wire.data_url(wire.image_png(image)),
        "expressions": [{"type": e.type, "text": e.text, "answer": e.answer} for e in order],
        "latency_ms": {"total": round(1000 * (time.perf_counter() - start), 3)},
    }
