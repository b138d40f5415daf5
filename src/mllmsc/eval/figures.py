"""Figures a person looks at: the transmission report and map renderings (matplotlib, Agg)."""

from __future__ import annotations

import io

import numpy as np
import torch

from mllmsc.data.io import PNG_OPTIONS


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


def format_cbr(cbr: float) -> str:
    """A CBR as people write it: ``1/16`` when it is one over an integer, else ``0.0417``."""
    if cbr > 0:
        inverse = round(1 / cbr)
        if inverse >= 1 and abs(1 / inverse - cbr) <= 1e-3 * cbr:
            return f"1/{inverse}"
    return f"{cbr:.4f}"


def transmission_report_png(
    x: torch.Tensor,
    soft: torch.Tensor,
    k: torch.Tensor | None,
    k_max: int,
    x_hat: torch.Tensor,
    *,
    title: str,
    captions: tuple[str, str, str, str],
) -> bytes:
    """Original | importance | symbols per cell (with a colour bar) | received; returns PNG bytes.

    A constant importance map (uniform allocation) is drawn framed and labelled, so a white panel
    does not look like a missing one; ``k = None`` (a digital link) leaves the allocation panel
    empty with its caption. Captions wrap inside their panel.

    Shapes:
        x, x_hat: ``[3, H, W]``; soft: ``[1, H, W]``; k: ``[Hc, Wc]`` or ``[1, Hc, Wc]`` int.
    """
    import textwrap

    plt = _pyplot()
    h, w = x.shape[-2:]
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.4 * h / w + 1.3))
    m = soft[0].float().cpu().numpy()
    axes[0].imshow(to_hwc(x))
    axes[1].imshow(m, cmap="gray", vmin=0, vmax=1)
    if float(m.max() - m.min()) < 1e-6:
        axes[1].text(w / 2, h / 2, "uniform: every pixel\nmatters equally", ha="center", va="center",
                     fontsize=10, color="0.35" if m.mean() > 0.5 else "0.8")  # fmt: skip
    if k is not None:
        cells = k.reshape(k.shape[-2:]).float().cpu().numpy()
        shown = axes[2].imshow(cells, cmap="viridis", vmin=0, vmax=k_max, extent=(0, w, h, 0),
                               interpolation="nearest")  # fmt: skip
        bar = fig.colorbar(shown, ax=axes[2], fraction=0.046, pad=0.02, shrink=min(1.0, 1.1 * h / w))
        bar.set_label("symbols per cell", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    else:
        axes[2].imshow(np.full((h, w, 3), 0.9))
    axes[3].imshow(to_hwc(x_hat))
    for ax, caption in zip(axes, captions, strict=True):
        ax.set_title("\n".join(textwrap.wrap(caption, 44)), fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():  # a frame around every panel, white ones included
            spine.set_edgecolor("0.6")
    fig.suptitle("\n".join(textwrap.wrap(title, 150)), fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, pil_kwargs=PNG_OPTIONS)
    plt.close(fig)
    return buffer.getvalue()


def roi_comparison_png(
    x: torch.Tensor, received: dict[str, torch.Tensor], box: tuple[int, int, int, int], *, title: str
) -> bytes:
    """The region of interest, zoomed: the original crop beside each method's crop; returns PNG bytes.

    At full size the difference between allocations is hard to see; in the ROI it is not.

    Args:
        x: the original.
        received: caption → received image, in display order.
        box: ``(x0, y0, x1, y1)`` of the ROI in pixels (end exclusive).

    Shapes:
        x and every received image: ``[3, H, W]``.
    """
    plt = _pyplot()
    x0, y0, x1, y1 = box
    crops = {"original": x, **received}
    fig, axes = plt.subplots(1, len(crops), figsize=(3.6 * len(crops), 3.6 * (y1 - y0) / (x1 - x0) + 0.8))
    for ax, (caption, image) in zip(axes, crops.items(), strict=True):
        ax.imshow(to_hwc(image[:, y0:y1, x0:x1]), interpolation="nearest")
        ax.set_title(caption, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, pil_kwargs=PNG_OPTIONS)
    plt.close(fig)
    return buffer.getvalue()
