"""TinyVQA: the embedded receiver-side answerer of scene questions, grounded by tiny-refseg.

A question about a scene needs the object(s) it names, then one attribute of them. TinyVQA reuses
the text-conditioned segmenter (:class:`~mllmsc.guidance.tiny_refseg_model.TinyRefSeg`, initialised
from its shipped weights) to find them, and answers from what lies under the mask::

    question ─► TinyRefSeg(x̂, question) ─► mask logits [B,1,S/2,S/2], decoder features g [B,C,S/2,S/2],
                                            sentence vector s [B,D]
    p = sigmoid(logits) ─► mask-pooled g (mean and max), mask-pooled colour of x̂, mass, centroid,
                           spread, share of the mask in each cell of the 3×3 grid, connected
                           components of p > 0.5 (one-hot), silhouette features: a small CNN
                           on p cropped around the mask's centroid (±2.5 spreads, 24×24) ─┐
    s ────────────────────────────────────────────────────────────────────────────────┴─► MLP ─► [B, A]

The answer classes are :data:`~mllmsc.tasks.answers.ALL_ANSWERS` (colours, shapes, counts 1–6,
places on the 3×3 grid); the question's kind (:func:`~mllmsc.tasks.answers.question_kind`) masks
the classes of the other kinds, so a colour question can only get a colour. *Why pooled
features*: colour is the mean colour under the mask, a place is the centroid, a count is close to
the number of blobs (objects of a group may touch, which the learned head corrects with the mass),
a shape is the silhouette of the mask; reading these under the grounding mask gives the head
exactly what each kind needs, so it stays small and trains in CPU minutes on top of the grounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mllmsc.config import ConfigError
from mllmsc.guidance.tiny_refseg_model import TinyRefSeg, TinyRefSegConfig
from mllmsc.pretrained import PretrainedMixin
from mllmsc.tasks.answers import ALL_ANSWERS, VOCABULARY, question_kind


@dataclass(frozen=True)
class TinyVQAConfig:
    """Hyper-parameters of :class:`TinyVQA` (``config.json`` beside the weights).

    Attributes:
        grounding: the segmenter's config (its vocabulary included).
        answers: the answer classes, in order.
        hidden: width of the answer MLP.
        max_components: blob counts above this share one feature bucket.
    """

    grounding: TinyRefSegConfig = field(default_factory=TinyRefSegConfig)
    answers: tuple[str, ...] = ALL_ANSWERS
    hidden: int = 192
    max_components: int = 7

    def __post_init__(self) -> None:
        if len(set(self.answers)) != len(self.answers) or not self.answers:
            raise ConfigError("answers must be distinct and non-empty")
        if self.hidden < 1 or self.max_components < 1:
            raise ConfigError("hidden and max_components must be positive")


def count_components(mask: torch.Tensor, limit: int) -> torch.Tensor:
    """Connected components (8-neighbourhood) of each binary mask, capped at ``limit``.

    Shapes:
        mask: ``[B, 1, H, W]`` bool → ``[B]`` int64.
    """
    from scipy import ndimage

    structure = np.ones((3, 3), dtype=bool)
    counts = [min(ndimage.label(m[0].cpu().numpy(), structure)[1], limit) for m in mask]
    return torch.tensor(counts, dtype=torch.int64, device=mask.device)


class TinyVQA(PretrainedMixin, nn.Module):
    """Answer scene questions about an image (see the module docstring).

    ``model(x, questions)``: ``x [B, 3, H, W]`` in [0, 1], ``questions`` a list of ``B`` strings →
    ``(answer logits [B, A], mask logits [B, 1, S/2, S/2])``; the logits of answers outside a
    question's kind are ``-inf``.
    """

    model_name = "tiny-vqa"
    config_class = TinyVQAConfig

    def __init__(self, config: TinyVQAConfig) -> None:
        super().__init__()
        self.config = config
        self.grounder = TinyRefSeg(config.grounding)
        w1, _, d = config.grounding.widths
        # Silhouette of the mask, cropped around it: the outline says the shape.
        self.silhouette = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.GELU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.GELU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1), nn.GELU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )  # fmt: skip
        # Learned features are normalised; the measured ones (colour, place, counts) keep their scale.
        self.norm = nn.LayerNorm(2 * w1 + d)
        features = 2 * w1 + d + 32 + 3 + 5 + 9 + (config.max_components + 1)
        self.head = nn.Sequential(
            nn.Linear(features, config.hidden),
            nn.GELU(),
            nn.Linear(config.hidden, config.hidden),
            nn.GELU(),
            nn.Linear(config.hidden, len(config.answers)),
        )
        index = {a: i for i, a in enumerate(config.answers)}
        allowed = torch.zeros(len(VOCABULARY) + 1, len(config.answers), dtype=torch.bool)
        for k, kind in enumerate(VOCABULARY):
            allowed[k, [index[a] for a in VOCABULARY[kind] if a in index]] = True
        allowed[-1] = True  # a question of unknown kind may get any answer
        self.kinds = {kind: k for k, kind in enumerate(VOCABULARY)}
        self.register_buffer("allowed", allowed, persistent=False)

    def kind_rows(self, questions: list[str]) -> torch.Tensor:
        """Row of :attr:`allowed` per question (its kind, or the last row when unknown). ``[B]``."""
        rows = [self.kinds.get(question_kind(q), len(self.kinds)) for q in questions]
        return torch.tensor(rows, dtype=torch.long, device=self.allowed.device)

    def forward(self, x: torch.Tensor, questions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Answer logits ``[B, A]`` (other kinds at ``-inf``) and grounding logits ``[B, 1, S/2, S/2]``."""
        logits, g, s = self.grounder.features(x, questions)
        p = torch.sigmoid(logits)
        size = logits.shape[-2:]
        small = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        mass = p.flatten(1).sum(1).clamp_min(1e-3)
        weights = p / mass.view(-1, 1, 1, 1)
        pooled = (g * weights).flatten(2).sum(2)
        peak = (g * p).flatten(2).amax(2)
        colour = (small * weights).flatten(2).sum(2)
        ys = torch.linspace(0, 1, size[0], device=x.device).view(1, 1, -1, 1)
        xs = torch.linspace(0, 1, size[1], device=x.device).view(1, 1, 1, -1)
        cy, cx = (weights * ys).flatten(1).sum(1), (weights * xs).flatten(1).sum(1)
        sy = ((weights * (ys - cy.view(-1, 1, 1, 1)) ** 2).flatten(1).sum(1) + 1e-6).sqrt()
        sx = ((weights * (xs - cx.view(-1, 1, 1, 1)) ** 2).flatten(1).sum(1) + 1e-6).sqrt()
        geometry = torch.stack([torch.log(mass / size.numel()), cx, cy, sx, sy], dim=1)
        # share of the mask in each cell of the 3×3 grid (≈ sums to 1): a place is read off linearly
        grid = F.adaptive_avg_pool2d(weights, 3).flatten(1) * (size.numel() / 9)
        blobs = count_components(p.detach() > 0.5, self.config.max_components)
        blobs = F.one_hot(blobs, self.config.max_components + 1).to(x.dtype)
        silhouette = self.silhouette(_crop(p, cx, cy, sx, sy, 24))
        learned = self.norm(torch.cat([pooled, peak, s], dim=1))
        answer = self.head(torch.cat([learned, silhouette, colour, geometry, grid, blobs], dim=1))
        allowed = self.allowed[self.kind_rows(questions)]
        return answer.masked_fill(~allowed, float("-inf")), logits

    @torch.inference_mode()
    def answer(self, x: torch.Tensor, questions: list[str]) -> list[tuple[str, float]]:
        """The most likely answer and its probability, per question.

        Shapes:
            x: ``[B, 3, H, W]`` in [0, 1]; ``len(questions) == B``.
        """
        logits, _ = self(x, questions)
        prob = torch.softmax(logits, dim=1)
        best = prob.argmax(dim=1)
        return [(self.config.answers[int(i)], float(prob[j, i])) for j, i in enumerate(best)]


def _crop(
    p: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor, sx: torch.Tensor, sy: torch.Tensor, side: int
) -> torch.Tensor:
    """``p`` resampled on a square window centred on (cx, cy) spanning ±2.5 of the larger spread.

    Shapes:
        p: ``[B, 1, H, W]``; cx, cy, sx, sy: ``[B]`` in [0, 1] image units → ``[B, 1, side, side]``.
    """
    half = 2.5 * torch.maximum(sx, sy).clamp_min(0.02)  # in [0, 1] units; grid units are twice that
    theta = torch.zeros(p.shape[0], 2, 3, dtype=p.dtype, device=p.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 2 * half
    theta[:, 0, 2], theta[:, 1, 2] = 2 * cx - 1, 2 * cy - 1
    grid = F.affine_grid(theta, [p.shape[0], 1, side, side], align_corners=False)
    return F.grid_sample(p, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
