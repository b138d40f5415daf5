"""Random crops from an image folder, decoded once into RAM (uint8) so a step never waits on disk.

Shapes:
    a batch: ``[B, 3, S, S]`` float32 in [0, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mllmsc.data.io import list_images
from mllmsc.errors import UserError


def read_rgb(path: str | Path) -> np.ndarray:
    """An image file as ``[H, W, 3]`` uint8 RGB (PIL; alpha and grey are converted)."""
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def read_folder(folder: str | Path) -> list[np.ndarray]:
    """Every image directly in ``folder`` as ``[H, W, 3]`` uint8 RGB, sorted by file name.

    Raises:
        UserError: ``folder`` is not a folder or holds no images.
    """
    paths = list_images(folder)
    if not paths:
        raise UserError(f"{folder}: no images in this folder")
    return [read_rgb(p) for p in paths]


class CropSampler:
    """Uniformly random images, random ``size × size`` crops, random horizontal flips.

    Args:
        images: decoded ``[H, W, 3]`` uint8 arrays (see :meth:`from_folder`).
        generator: the only source of randomness (reproducible batches).

    Images smaller than the crop are upscaled (bilinear) to fit; this is rare with the training set.
    """

    def __init__(self, images: list[np.ndarray], generator: torch.Generator) -> None:
        if not images:
            raise ValueError("no training images")
        self.images = [torch.from_numpy(im).permute(2, 0, 1) for im in images]  # [3, H, W] uint8
        self.generator = generator

    @classmethod
    def from_folder(cls, folder: str | Path, generator: torch.Generator) -> CropSampler:
        """Every image directly in ``folder`` (:func:`mllmsc.data.io.list_images`), decoded now.

        Raises:
            UserError: ``folder`` is not a folder or holds no images (a training preset's
                ``data`` pointing nowhere is a one-line error, not a traceback).
        """
        return cls(read_folder(folder), generator)

    def _randint(self, high: int) -> int:
        return int(torch.randint(high, (1,), generator=self.generator))

    def sample(self, batch: int, size: int) -> torch.Tensor:
        """A batch of crops.

        Shapes:
            → ``[batch, 3, size, size]`` float32 in [0, 1].
        """
        out = torch.empty(batch, 3, size, size, dtype=torch.uint8)
        for b in range(batch):
            img = self.images[self._randint(len(self.images))]
            _, h, w = img.shape
            if h < size or w < size:
                scale = size / min(h, w)
                img = (
                    F.interpolate(
                        img[None].float(), scale_factor=scale, mode="bilinear", align_corners=False
                    )[0]
                    .round()
                    .clamp(0, 255)
                    .to(torch.uint8)
                )
                _, h, w = img.shape
                h, w = max(h, size), max(w, size)
                img = F.pad(img[None].float(), (0, w - img.shape[2], 0, h - img.shape[1]), mode="replicate")[
                    0
                ].to(torch.uint8)
            top, left = self._randint(h - size + 1), self._randint(w - size + 1)
            crop = img[:, top : top + size, left : left + size]
            if self._randint(2):
                crop = crop.flip(-1)
            out[b] = crop
        return out.float().div_(255.0)


class PhotoData:
    """For a training task whose preset names a ``data`` folder of photos: :meth:`images`, decoded
    once on first use and shared by everything that samples them (a KLT fit, the batches).
    """

    _images: list[np.ndarray] | None = None

    def images(self) -> list[np.ndarray]:
        """The photos of ``self.cfg.data`` as ``[3, H, W]`` uint8 arrays.

        Raises:
            UserError: the folder is missing or holds no readable image (the message names ``data``).
        """
        if self._images is None:
            from mllmsc.errors import UserError
            from mllmsc.train.loop import resolve_path

            try:
                self._images = read_folder(resolve_path(self.cfg.data))
            except UserError as err:
                raise UserError(f"data: {err}") from None
        return self._images
