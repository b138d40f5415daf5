"""Figures a person looks at: the transmission report and map renderings (matplotlib, Agg)."""

from __future__ import annotations

import io

import numpy as np
import torch


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def to_hwc(x: torch.Tensor) -> np.ndarray:
    """``[3, H, W]`` or ``[1, 3, H, W]`` float in [0, 1] → ``[H, W, 3]`` numpy for plotting."""
    x = x.detach().float().cpu()
    if x.dim() == 4:
        x = x[0]
    return x.clamp(0, 1).permute(1, 2, 0).numpy()


def allocation_image(k: torch.Tensor, k_max: int, size: tuple[int, int]) -> torch.Tensor:
    """Symbols per cell as a colour image at image size (viridis: 0 dark, ``k_max`` yellow).

    Shapes:
        k: ``[1, Hc, Wc]`` or ``[Hc, Wc]`` → ``[3, H, W]`` float in [0, 1], ``(H, W) = size``.
    """
    from matplotlib import colormaps

    k = k.reshape(k.shape[-2:]).float().cpu() / max(k_max, 1)
    hc, wc = k.shape
    cell = max(-(-size[0] // hc), -(-size[1] // wc))  # whole cells covering the image
    up = k.repeat_interleave(cell, 0).repeat_interleave(cell, 1)[: size[0], : size[1]]
    rgb = colormaps["viridis"](up.clamp(0, 1).numpy())[..., :3]
    return torch.from_numpy(rgb).permute(2, 0, 1).float()


def overlay_image(x: torch.Tensor, soft: torch.Tensor, alpha: float = 0.55) -> torch.Tensor:
    """The image with the importance map laid over it in red.

    Shapes:
        x: ``[3, H, W]``, soft: ``[1, H, W]`` → ``[3, H, W]``.
    """
    red = torch.tensor([1.0, 0.1, 0.1]).view(3, 1, 1)
    weight = alpha * soft.float().clamp(0, 1)
    return (1 - weight) * x.float() + weight * red


def transmission_report_png(
    x: torch.Tensor,
    soft: torch.Tensor,
    allocation_rgb: torch.Tensor,
    x_hat: torch.Tensor,
    *,
    title: str,
    captions: tuple[str, str, str, str],
) -> bytes:
    """Original | importance | allocation | received, with the numbers; returns PNG bytes.

    Shapes:
        x, allocation_rgb, x_hat: ``[3, H, W]``; soft: ``[1, H, W]``.
    """
    plt = _pyplot()
    h, w = x.shape[-2:]
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.4 * h / w + 0.9))
    panels = [to_hwc(x), soft[0].float().cpu().numpy(), to_hwc(allocation_rgb), to_hwc(x_hat)]
    for ax, image, caption in zip(axes, panels, captions, strict=True):
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
        ax.set_title(caption, fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()
