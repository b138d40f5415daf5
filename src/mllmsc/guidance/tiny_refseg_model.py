"""TinyRefSeg: the embedded text-conditioned segmenter behind ``--guidance tiny-refseg``.

A ~1 M-parameter model small enough to train on two CPU cores and to run in ~10 ms::

    query ─► words ─► embedding ─► BiGRU ─► word features [B, L, D] ─┬─► sentence vector s [B, D]
                                                                    │
    image ─► resize to S×S ─► + (x, y) ─► stem /2 ─► /2 ─► /4 ─► /8 ┼─► FiLM(s) at every scale
                                                            │       │
                                      pixels at S/8 [B, (S/8)², D] ─┴─► joint self-attention over
                                                            │         pixels + words (×2 layers)
                                     U-Net decoder with skips, FiLM(s) ─► logits [B, 1, S/2, S/2]

The logits stay at half the working resolution because convolutions at full resolution would
cost most of the compute; a bilinear upsampling of the *logits* (not of a thresholded mask) puts
the boundary between pixels, and the model is trained against area-averaged (soft) masks at that
resolution so it learns where inside a pixel the edge lies.

*Why this shape.* FiLM lets the sentence pick colours and shapes channel-wise ("the red ...");
the (x, y) channels let it pick places ("top left"); the joint attention at 1/8 scale, where an
object covers a few cells, lets a pixel look at other objects and at single words, which relations
("the star left of the blue circle") and questions need. Words are split on non-letters and
lower-cased; a word outside the vocabulary the model was trained with becomes ``<unk>`` (the
query still works when the words it needs are known).

The vocabulary travels in ``config.json``; weights in ``model.safetensors`` (as the codec).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from mllmsc.config import ConfigError
from mllmsc.pretrained import PretrainedMixin

MODEL_NAME = "tiny-refseg"
PAD, UNK = "<pad>", "<unk>"
_WORD = re.compile(r"[a-z]+")


def tokenize(text: str) -> list[str]:
    """Lower-cased words of ``text`` (digits and punctuation dropped): ``"What colour?"`` → 2 words."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class TinyRefSegConfig:
    """Hyper-parameters of :class:`TinyRefSeg`; saved as ``config.json`` beside the weights.

    Attributes:
        vocab: the known words; index 0 is ``<pad>``, 1 is ``<unk>``.
        image_size: the model's working resolution ``S`` (a multiple of 8).
        widths: channels at 1/2, 1/4 and 1/8 of ``S`` (the last is the attention width ``D``).
        stem: channels of the stride-2 stem that reads the image.
        embed: word-embedding size.
        attn_layers, heads: the joint pixel + word transformer at 1/8 scale.
        max_words: longer queries are cut (keeps attention cost bounded).
    """

    vocab: tuple[str, ...] = (PAD, UNK)
    image_size: int = 128
    widths: tuple[int, int, int] = (24, 48, 96)
    stem: int = 16
    embed: int = 64
    attn_layers: int = 2
    heads: int = 4
    max_words: int = 24

    def __post_init__(self) -> None:
        if self.image_size < 16 or self.image_size % 8:
            raise ConfigError(f"image_size must be a multiple of 8 and >= 16, got {self.image_size}")
        if len(self.vocab) < 2 or self.vocab[:2] != (PAD, UNK):
            raise ConfigError("vocab must start with '<pad>', '<unk>'")
        if len(self.widths) != 3 or min(self.widths) < 1:
            raise ConfigError(f"widths must be 3 positive channel counts, got {self.widths}")
        if self.widths[2] % self.heads:
            raise ConfigError(f"widths[2]={self.widths[2]} must be divisible by heads={self.heads}")


class FiLM(torch.nn.Module):
    """Per-channel scale and shift from the sentence vector: ``x · (1 + γ(s)) + β(s)``."""

    def __init__(self, dim: int, channels: int) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(dim, 2 * channels)
        torch.nn.init.zeros_(self.proj.weight)  # starts as the identity
        torch.nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.proj(s)[:, :, None, None].chunk(2, dim=1)
        return x * (1 + gamma) + beta


class ConvBlock(torch.nn.Module):
    """``convs`` × (conv3×3 → GroupNorm → GELU), the first with ``stride``; FiLM before the last GELU."""

    def __init__(self, cin: int, cout: int, dim: int, stride: int = 1, convs: int = 2) -> None:
        super().__init__()
        self.convs = torch.nn.ModuleList(
            torch.nn.Conv2d(cin if i == 0 else cout, cout, 3, stride if i == 0 else 1, 1)
            for i in range(convs)
        )
        self.norms = torch.nn.ModuleList(torch.nn.GroupNorm(min(8, cout), cout) for _ in range(convs))
        self.film = FiLM(dim, cout)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        last = len(self.convs) - 1
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            x = norm(conv(x))
            x = F.gelu(self.film(x, s) if i == last else x)
        return x


def _coords(b: int, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """``[B, 2, H, W]`` pixel-centre coordinates in [-1, 1] (x then y)."""
    ys = torch.linspace(-1, 1, h, device=like.device, dtype=like.dtype)
    xs = torch.linspace(-1, 1, w, device=like.device, dtype=like.dtype)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=0)
    return grid[None].expand(b, -1, -1, -1)


class TinyRefSeg(PretrainedMixin, torch.nn.Module):
    """Text-conditioned segmenter (see the module docstring).

    ``model(x, texts)``: ``x [B, 3, H, W]`` in [0, 1] (any size: resized to ``S×S``), ``texts`` a
    list of ``B`` strings → logits ``[B, 1, S/2, S/2]`` (``sigmoid`` > 0.5 is the referred region).
    Saved and loaded with ``save_pretrained`` / ``from_pretrained`` (:mod:`mllmsc.pretrained`).
    """

    model_name = MODEL_NAME
    config_class = TinyRefSegConfig

    def __init__(self, config: TinyRefSegConfig) -> None:
        super().__init__()
        self.config = config
        w1, w2, d = config.widths
        c0 = config.stem
        self.index = {word: i for i, word in enumerate(config.vocab)}
        self.embedding = torch.nn.Embedding(len(config.vocab), config.embed, padding_idx=0)
        self.gru = torch.nn.GRU(config.embed, d // 2, batch_first=True, bidirectional=True)
        self.sentence = torch.nn.Sequential(torch.nn.Linear(2 * d, d), torch.nn.GELU(), torch.nn.Linear(d, d))
        self.stem = torch.nn.Sequential(torch.nn.Conv2d(5, c0, 3, 2, 1), torch.nn.GELU())  # S/2
        self.enc1 = ConvBlock(c0, w1, d)  # S/2
        self.enc2 = ConvBlock(w1, w2, d, stride=2)  # S/4
        self.enc3 = ConvBlock(w2, d, d, stride=2)  # S/8
        n = config.image_size // 8
        self.pixel_pos = torch.nn.Parameter(torch.zeros(1, n * n, d))
        self.kind = torch.nn.Parameter(torch.zeros(2, d))  # pixel / word type embedding
        layer = torch.nn.TransformerEncoderLayer(
            d, config.heads, 2 * d, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.attention = torch.nn.TransformerEncoder(layer, config.attn_layers, enable_nested_tensor=False)
        self.dec2 = ConvBlock(d + w2, w2, d, convs=1)  # S/4
        self.dec1 = ConvBlock(w2 + w1, w1, d, convs=1)  # S/2
        self.head = torch.nn.Conv2d(w1, 1, 1)

    def with_words(self, words: list[str] | tuple[str, ...]) -> TinyRefSeg:
        """A copy that also knows ``words`` (those not in its vocabulary are appended).

        The new words' embeddings start as ``<unk>``'s, so the copy reads every text exactly as
        this model does until training teaches it the new words. Returns ``self`` when nothing
        is new.
        """
        new = [w for w in dict.fromkeys(words) if w not in self.index]
        if not new:
            return self
        config = replace(self.config, vocab=(*self.config.vocab, *new))
        model = type(self)(config)
        state = self.state_dict()
        unk = state["embedding.weight"][self.index[UNK]]
        state["embedding.weight"] = torch.cat([state["embedding.weight"], unk.expand(len(new), -1)])
        model.load_state_dict(state)
        return model.train(self.training)

    # ------------------------------------------------------------------------------------ text

    def encode_words(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Word ids ``[B, L]`` (0-padded, at least one id per text) and a pad mask ``[B, L]``."""
        unk = self.index[UNK]
        ids = [
            [self.index.get(t, unk) for t in tokenize(text)][: self.config.max_words] or [unk]
            for text in texts
        ]
        length = max(len(i) for i in ids)
        device = self.embedding.weight.device
        tensor = torch.zeros(len(ids), length, dtype=torch.long, device=device)
        for row, seq in enumerate(ids):
            tensor[row, : len(seq)] = torch.tensor(seq, device=device)
        return tensor, tensor == 0

    def encode_text(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(word features ``[B, L, D]``, pad mask ``[B, L]``, sentence vector ``[B, D]``)."""
        ids, pad = self.encode_words(texts)
        lengths = (~pad).sum(1)
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            self.embedding(ids), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        out, last = self.gru(packed)
        words, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
        keep = (~pad).unsqueeze(-1).to(words.dtype)
        mean = (words * keep).sum(1) / keep.sum(1)
        final = torch.cat([last[0], last[1]], dim=1)  # forward and backward final states
        return words, pad, self.sentence(torch.cat([mean, final], dim=1))

    # ----------------------------------------------------------------------------------- image

    def forward(self, x: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """Logits ``[B, 1, S/2, S/2]`` of the region each text refers to in its image."""
        return self.features(x, texts)[0]

    def features(self, x: torch.Tensor, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The logits and what a head built on the grounding reads (TinyVQA does).

        Shapes:
            x: ``[B, 3, H, W]`` → logits ``[B, 1, S/2, S/2]``, decoder features ``[B, widths[0],
            S/2, S/2]`` (what the logits are read from), sentence vector ``[B, widths[2]]``.
        """
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected images [B, 3, H, W], got {tuple(x.shape)}")
        if len(texts) != x.shape[0]:
            raise ValueError(f"{x.shape[0]} images but {len(texts)} texts")
        s_px = self.config.image_size
        if x.shape[-2:] != (s_px, s_px):
            x = F.interpolate(x, size=(s_px, s_px), mode="bilinear", align_corners=False, antialias=True)
        b = x.shape[0]
        words, pad, s = self.encode_text(texts)
        f1 = self.enc1(self.stem(torch.cat([x * 2 - 1, _coords(b, s_px, s_px, x)], dim=1)), s)
        f2 = self.enc2(f1, s)
        f3 = self.enc3(f2, s)
        _, d, h, w = f3.shape
        pixels = f3.flatten(2).transpose(1, 2) + self.pixel_pos + self.kind[0]
        tokens = torch.cat([pixels, words + self.kind[1]], dim=1)
        mask = torch.cat([pad.new_zeros(b, h * w), pad], dim=1)
        f3 = self.attention(tokens, src_key_padding_mask=mask)[:, : h * w].transpose(1, 2).reshape(b, d, h, w)
        up = lambda t, ref: F.interpolate(t, size=ref.shape[-2:], mode="bilinear", align_corners=False)  # noqa: E731
        g2 = self.dec2(torch.cat([up(f3, f2), f2], dim=1), s)
        g1 = self.dec1(torch.cat([up(g2, f1), f1], dim=1), s)
        return self.head(g1), g1, s


__all__ = ["TinyRefSeg", "TinyRefSegConfig", "tokenize"]
