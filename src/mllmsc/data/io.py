"""Reading and writing images, masks and small files, safely.

Everything the user hands us goes through here, so the rules are strict (DESIGN.md §4): a file
that is missing, empty, not an image, truncated, or too large is refused with one
:class:`ImageError` naming the file and the problem; nothing is ever unpickled; and every write is
atomic, so a failed run never leaves a half-written file or destroys the one that was there.

Reading:
    ``read_image`` → float32 RGB ``[3, H, W]`` in [0, 1]. PNG, JPEG, WebP, HEIF/HEIC (via
    pillow-heif), TIFF, BMP, GIF and PPM are accepted. 16-bit PNGs (grey, RGB and RGBA) keep their
    16-bit precision (value / 65535); other files are 8-bit (value / 255). Transparency is
    composited over **white**, the usual background of a viewer, so what is read is what a person
    sees. CMYK, palette, bilevel and YCbCr images are converted to RGB. The EXIF orientation is
    applied (a phone photo comes out upright); animated files give their first frame.

    ``read_mask`` → bool ``[1, H, W]``: grey level (ITU-R 601 luma for colour) above half the
    range, i.e. ``>= 128`` for 8-bit; transparency counts as **black** (not in the mask).

Writing:
    ``write_image`` writes through :func:`mllmsc.atomic.atomic_write`: a temporary file in the
    target's directory, fsync, then ``os.replace`` over the target.
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path
from typing import IO

import numpy as np
import torch
from PIL import Image

from mllmsc.atomic import atomic_write
from mllmsc.errors import UserError
from mllmsc.files import ImageError, check_input_file
from mllmsc.limits import MAX_PIXELS

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageError",
    "images_to_pil",
    "list_images",
    "read_image",
    "read_mask",
    "write_image",
]

StrPath = str | os.PathLike[str]

# Decoders Pillow may pick for user files. A closed list keeps exotic plugins out of reach (EPS,
# for one, runs Ghostscript on the file). HEIF is registered by pillow-heif; AVIF only exists
# when Pillow was built with libavif. (Multi-picture camera JPEGs open through "JPEG".)
_READ_FORMATS = ("PNG", "JPEG", "WEBP", "HEIF", "AVIF", "TIFF", "BMP", "GIF", "PPM")

# Suffix → (Pillow format, save options) for write_image. JPEG at quality 95 without chroma
# subsampling and lossless WebP, so a written image is as close to the tensor as the format allows.
#: zlib level 3: a third of the default level's time (60 against 180 ms for a Kodak image) for
#: ~7 % more bytes; still lossless.
PNG_OPTIONS = {"compress_level": 3}
_WRITE_FORMATS: dict[str, tuple[str, dict[str, object]]] = {
    ".png": ("PNG", PNG_OPTIONS),
    ".jpg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".jpeg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".webp": ("WEBP", {"lossless": True}),
}

_EXIF_ORIENTATION = 0x0112

#: File suffixes taken as images when a folder is listed (data sets, backgrounds, training photos):
#: the formats of ``_READ_FORMATS`` by their usual names.
IMAGE_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".webp", ".heic", ".heif", ".avif", ".tif", ".tiff", ".bmp", ".gif", ".ppm",
)  # fmt: skip


# --------------------------------------------------------------------------------------- reading


def list_images(folder: StrPath) -> list[Path]:
    """Image files (by :data:`IMAGE_SUFFIXES`) directly in ``folder``, sorted by name.

    Raises:
        UserError: ``folder`` is not a folder.
    """
    p = Path(folder)
    if not p.is_dir():
        raise UserError(f"{os.fspath(folder)}: not a folder")
    return sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)


def read_image(path: StrPath, *, max_pixels: int = MAX_PIXELS) -> torch.Tensor:
    """Read an image file as float RGB in [0, 1].

    Args:
        path: image file (PNG, JPEG, WebP, HEIF/HEIC, TIFF, BMP, GIF, PPM).
        max_pixels: refuse images with more pixels than this, judged from the header before
            anything is decoded (default :data:`mllmsc.limits.MAX_PIXELS`). Pillow's own
            ``Image.MAX_IMAGE_PIXELS`` guard also applies.

    Returns:
        The image, alpha composited over white, EXIF orientation applied.

    Shapes:
        output: ``[3, H, W]`` float32 in [0, 1].

    Raises:
        ImageError: missing file, directory, empty file, not an image, truncated or corrupt
            data, zero size, or more than ``max_pixels`` pixels.
    """
    colour, alpha = _read_pixels(path, max_pixels=max_pixels)
    rgb = _composite(colour, alpha, background=1.0)
    if rgb.shape[2] == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))


def read_mask(
    path: StrPath,
    *,
    size: tuple[int, int] | None = None,
    max_pixels: int = MAX_PIXELS,
) -> torch.Tensor:
    """Read a binary mask: white (grey ``>= 128`` of 255) is ``True``.

    Colour masks are reduced to grey with the ITU-R 601 luma weights (as Pillow's ``"L"``);
    transparent pixels count as black, so a drawing on a transparent layer works as a mask.

    Args:
        path: image file, any format :func:`read_image` accepts.
        size: ``(H, W)`` to resize to, with nearest-neighbour sampling (pixel-centre aligned);
            ``None`` keeps the file's size.
        max_pixels: as in :func:`read_image`.

    Returns:
        The mask.

    Shapes:
        output: ``[1, H, W]`` bool.

    Raises:
        ImageError: as :func:`read_image`.
        ValueError: ``size`` is not two positive integers.
    """
    if size is not None and (
        len(size) != 2
        or any(not isinstance(s, int | np.integer) or isinstance(s, bool) or s <= 0 for s in size)
    ):
        raise ValueError(f"size must be (H, W) with positive integers, got {size!r}")
    colour, alpha = _read_pixels(path, max_pixels=max_pixels)
    grey = _composite(colour, alpha, background=0.0)
    if grey.shape[2] == 3:
        grey = grey @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    else:
        grey = grey[..., 0]
    # "> half the range" is ">= 128" for 8-bit and ">= 32768" for 16-bit files.
    mask = torch.from_numpy(np.ascontiguousarray(grey > 0.5))[None]
    if size is not None and tuple(mask.shape[1:]) != (int(size[0]), int(size[1])):
        # nearest-exact samples pixel centres; plain "nearest" shifts the mask by half a pixel.
        resized = torch.nn.functional.interpolate(
            mask[None].float(), size=(int(size[0]), int(size[1])), mode="nearest-exact"
        )
        mask = resized[0] > 0.5
    return mask


def _read_pixels(path: StrPath, *, max_pixels: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Open, check and fully decode ``path``.

    Returns:
        ``(colour, alpha)``: colour float32 ``[H, W, 1]`` (grey) or ``[H, W, 3]`` (RGB) in [0, 1];
        alpha float32 ``[H, W, 1]`` in [0, 1], or ``None`` when the image has no transparency.
    """
    p = Path(path)
    check_input_file(path)
    formats = _read_formats()
    try:
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that; a warning would let a
        # decompression bomb through, so it is an error here.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p, formats=formats) as im:
                width, height = im.size
                if width <= 0 or height <= 0:
                    raise ImageError(path, f"image has zero size ({width}x{height})")
                if width * height > max_pixels:
                    raise ImageError(
                        path,
                        f"image is {width}x{height} = {width * height} pixels, more than the "
                        f"limit of {max_pixels}",
                    )
                if _is_png16_colour(im):  # before anything loads: it reads the undecoded tile
                    colour, alpha = _decode_png16_colour(p, im)
                else:
                    # load() decodes everything now, so a truncated file fails here and not
                    # later; ImageFile.LOAD_TRUNCATED_IMAGES is left False (Pillow's default).
                    im.load()
                    colour, alpha = _pixels(im)
                # After decoding: a PNG's EXIF may follow the pixel data, and reading it loads.
                orientation = _orientation(im)
    except ImageError:
        raise
    except Image.UnidentifiedImageError:
        raise ImageError(
            path, "not an image in a supported format (PNG, JPEG, WebP, HEIF, ...) or broken header"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(path, f"image too large to decode safely ({exc})") from None
    except PermissionError:
        raise ImageError(path, "permission denied") from None
    except MemoryError:
        raise ImageError(path, "not enough memory to decode this image") from None
    except Exception as exc:
        # Decoders raise a zoo of types for bad data (OSError, SyntaxError, ValueError,
        # struct.error, zlib.error, RuntimeError from libheif); to the user they all mean the
        # same thing, and the contract is one line, not a traceback.
        raise ImageError(path, f"corrupt or truncated image ({exc})") from exc
    return _apply_orientation(colour, orientation), (
        None if alpha is None else _apply_orientation(alpha, orientation)
    )


@functools.cache
def _read_formats() -> tuple[str, ...]:
    """The readable formats this Pillow has; teaches it HEIF/HEIC first, once, on the first read
    (importing pillow-heif costs time, so not at import)."""
    try:
        import pillow_heif
    except ImportError:  # a declared dependency; without it HEIF files are just "unsupported"
        pass
    else:
        pillow_heif.register_heif_opener()
    Image.init()
    return tuple(f for f in _READ_FORMATS if f in Image.OPEN)


def _orientation(im: Image.Image) -> int:
    """EXIF orientation (1-8); 1 when absent or unreadable (broken EXIF must not lose a photo)."""
    try:
        value = int(im.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:
        return 1
    return value if 1 <= value <= 8 else 1


def _apply_orientation(a: np.ndarray, orientation: int) -> np.ndarray:
    """Turn ``[H, W, C]`` pixels upright, as ``PIL.ImageOps.exif_transpose`` would."""
    if orientation == 2:
        return a[:, ::-1]
    if orientation == 3:
        return a[::-1, ::-1]
    if orientation == 4:
        return a[::-1]
    if orientation == 5:
        return a.transpose(1, 0, 2)
    if orientation == 6:
        return np.rot90(a, k=-1)
    if orientation == 7:
        return a.transpose(1, 0, 2)[::-1, ::-1]
    if orientation == 8:
        return np.rot90(a, k=1)
    return a


def _is_png16_colour(im: Image.Image) -> bool:
    """A 16-bit RGB(A) PNG, which Pillow would silently cut to 8 bits per channel."""
    if im.format != "PNG" or len(im.tile) != 1:
        return False
    rawmode = im.tile[0].args
    return isinstance(rawmode, str) and rawmode in ("RGB;16B", "RGBA;16B")


def _decode_png16_colour(p: Path, im: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Decode a 16-bit RGB(A) PNG at full precision with Pillow's own decoder, in two passes.

    Pillow has no 16-bit colour mode. Its ``*;16B`` unpacker keeps the high byte of each
    big-endian sample; the ``*;16L`` unpacker, run over the same big-endian data, keeps the low
    byte. The PNG filters are undone by the C decoder in both passes (the unpackers have the same
    48/64 bits per pixel), so ``high * 256 + low`` is the exact 16-bit value.
    """
    rawmode = im.tile[0].args
    im.load()
    high = np.asarray(im, dtype=np.uint16)
    with Image.open(p, formats=("PNG",)) as low_im:
        tile = low_im.tile[0]
        if low_im.size != im.size or tile.args != rawmode:
            raise ValueError("the file changed while it was being read")
        low_im.tile = [tile._replace(args=rawmode.replace(";16B", ";16L"))]
        low_im.load()
        low = np.asarray(low_im, dtype=np.uint16)
    values = ((high << 8) | low).astype(np.float32) / np.float32(65535)
    if values.shape[2] == 4:
        return values[..., :3], values[..., 3:]
    return values, None


def _pixels(im: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Pixels of a decoded image as ``(colour, alpha)``; see :func:`_read_pixels`."""
    mode = im.mode
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.float32)[..., None] / np.float32(65535), None
    if mode == "I":
        # 32-bit integer: how Pillow (and some TIFFs) hold 16-bit grey; read as a 16-bit range.
        return np.clip(np.asarray(im), 0, 65535).astype(np.float32)[..., None] / 65535, None
    if mode == "F":  # float TIFF: taken to be in [0, 1] already
        a = np.clip(np.nan_to_num(np.asarray(im, dtype=np.float32)), 0.0, 1.0)
        return a[..., None], None
    grey = mode in ("1", "L", "LA", "La")
    if im.has_transparency_data:
        # An alpha band, a palette with transparent entries, or a transparent colour key on an
        # L/RGB image: Pillow's convert turns each into a plain alpha band (RGBa and La are
        # premultiplied; convert undoes that too).
        a = _u8(im.convert("LA" if grey else "RGBA"))
        return a[..., :-1], a[..., -1:]
    if grey:
        return _u8(im.convert("L")), None
    # RGB as is; CMYK (Pillow undoes Adobe's inverted JPEG CMYK on decode), palette, YCbCr, LAB
    # and HSV through Pillow's conversion.
    return _u8(im if mode == "RGB" else im.convert("RGB")), None


def _u8(im: Image.Image) -> np.ndarray:
    a = np.asarray(im, dtype=np.uint8).astype(np.float32) / np.float32(255)
    return a if a.ndim == 3 else a[..., None]


def _composite(colour: np.ndarray, alpha: np.ndarray | None, *, background: float) -> np.ndarray:
    """``colour · α + background · (1 − α)``, float32 ``[H, W, C]``."""
    if alpha is None:
        return np.asarray(colour, dtype=np.float32)
    out = colour * alpha + np.float32(background) * (np.float32(1.0) - alpha)
    return np.clip(out, 0.0, 1.0, dtype=np.float32)


# --------------------------------------------------------------------------------------- writing


def write_image(path: StrPath, x: torch.Tensor) -> None:
    """Write an image atomically; the format comes from the suffix (.png, .jpg/.jpeg, .webp).

    Values are clamped to [0, 1] and rounded to 8 bits. PNG and WebP (lossless) store exactly
    those 8-bit values; JPEG uses quality 95 without chroma subsampling. The parent directory is
    created. On any failure an existing file at ``path`` is left untouched and no temporary file
    remains.

    Args:
        path: where to write.
        x: the image.

    Shapes:
        x: ``[3, H, W]`` (RGB), ``[1, H, W]`` or ``[H, W]`` (grey), any float dtype, any device.

    Raises:
        ValueError: unsupported suffix, wrong shape, empty or non-finite tensor.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in _WRITE_FORMATS:
        raise ValueError(
            f"{os.fspath(path)}: cannot write images with suffix {suffix or '(none)'!r}; "
            f"use one of {', '.join(_WRITE_FORMATS)}"
        )
    fmt, options = _WRITE_FORMATS[suffix]
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[0] not in (1, 3) or x.shape[1] == 0 or x.shape[2] == 0:
        raise ValueError(f"expected an image [3, H, W], [1, H, W] or [H, W]; got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"expected a float image in [0, 1], got dtype {x.dtype}")
    x = x.detach().cpu()
    if not torch.isfinite(x).all():
        # NaN has no pixel value; writing one anyway would hide a bug upstream.
        raise ValueError("image contains NaN or infinite values")
    u8 = (x.double().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    array = u8.permute(1, 2, 0).numpy()
    image = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)

    def save(f: IO[bytes]) -> None:
        image.save(f, format=fmt, **options)

    atomic_write(path, save)


def images_to_pil(x: torch.Tensor) -> list[Image.Image]:
    """``[B, 3, H, W]`` in [0, 1] → 8-bit RGB PIL images (what Hugging Face processors take)."""
    u8 = (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(np.ascontiguousarray(a)) for a in u8]
