"""What travels between the device and the edge: PNG images and maps, base64, multipart bodies.

The importance map travels as two PNGs at the resolution of the image that was sent: the soft map
as 8-bit grey (``round(255·soft)``) and the binary mask as 1-bit. PNG is lossless, so the device
gets exactly the edge's map up to 8-bit quantisation of the soft values, and the mask bit for bit
(re-thresholding a quantised soft map would move pixels at the threshold). A 512×512 map is a few
kB: maps are smooth and masks are mostly runs.

Only the standard library, Pillow and torch: the device needs nothing from the service extra.
"""

from __future__ import annotations

import base64
import io
import secrets

import numpy as np
import torch
from PIL import Image

#: The media type of every image and map on the wire.
PNG = "image/png"


def image_png(x: torch.Tensor) -> bytes:
    """An image or grey map in [0, 1] as an 8-bit PNG.

    Shapes:
        x: ``[3, H, W]`` (RGB), ``[1, H, W]`` or ``[H, W]`` (grey), float.
    """
    x = x.detach().float().cpu()
    if x.dim() == 3 and x.shape[0] == 1:
        x = x[0]
    u8 = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    array = u8.permute(1, 2, 0).numpy() if u8.dim() == 3 else u8.numpy()
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG")
    return buffer.getvalue()


def mask_png(mask: torch.Tensor) -> bytes:
    """A binary mask as a 1-bit PNG.

    Shapes:
        mask: ``[H, W]`` or ``[1, H, W]`` bool.
    """
    array = mask.detach().reshape(mask.shape[-2:]).cpu().numpy().astype(bool)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")  # mode "1": one bit a pixel
    return buffer.getvalue()


def read_map_png(data: bytes, size: tuple[int, int]) -> torch.Tensor:
    """A grey PNG of exactly ``size = (H, W)`` as float in [0, 1] (1-bit PNGs as 0 / 1).

    The size is checked from the header before decoding: a map from the edge is input too.

    Shapes:
        output: ``[H, W]`` float32.

    Raises:
        ValueError: not a PNG, another size, or broken data.
    """
    try:
        with Image.open(io.BytesIO(data), formats=("PNG",)) as im:
            if (im.height, im.width) != tuple(size):
                raise ValueError(f"map is {im.width}x{im.height}, expected {size[1]}x{size[0]}")
            im.load()
            grey = im.convert("L")
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError(f"not a readable PNG map ({exc.__class__.__name__}: {exc})") from None
    return torch.from_numpy(np.asarray(grey, dtype=np.uint8).astype(np.float32) / 255)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Raises ``ValueError`` on anything that is not strict base64."""
    return base64.b64decode(text.encode("ascii"), validate=True)


def data_url(png: bytes) -> str:
    """A PNG as a ``data:`` URL an ``<img>`` shows directly."""
    return f"data:{PNG};base64,{b64(png)}"


def downscale(x: torch.Tensor, max_side: int) -> torch.Tensor:
    """Shrink so that the longer side is at most ``max_side`` (antialiased); smaller images as is.

    Shapes:
        x: ``[B, 3, H, W]`` → ``[B, 3, h, w]`` with ``max(h, w) <= max_side``.
    """
    h, w = x.shape[-2:]
    if max(h, w) <= max_side:
        return x
    scale = max_side / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    return torch.nn.functional.interpolate(
        x, size=size, mode="bilinear", antialias=True, align_corners=False
    ).clamp(0, 1)


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body; returns it and its ``Content-Type``.

    Args:
        fields: name → text value.
        files: name → (file name, bytes, media type).
    """
    boundary = f"mllmsc-{secrets.token_hex(16)}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + str(value).encode("utf-8")
            + b"\r\n"
        )
    for name, (filename, data, media) in files.items():
        safe = filename.replace('"', "").replace("\r", "").replace("\n", "")
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{safe}"\r\n'
            f"Content-Type: {media}\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
