"""IA-JSCC on large images: tiled encoder/refiner against the whole-image computation.

The tiny random codec has zero-initialised heads (its encoder residual and refiner output are
zero), so the tests randomise those layers first: otherwise tiling could not change anything.
"""

import pytest
import torch

from mllmsc.channel import CHANNELS
from mllmsc.codec import IAJSCC, allocator_for, symbol_budget
from mllmsc.codec.layers import SNRAttention
from mllmsc.codec.tiling import tiles

H, W = 96, 128  # 6 × 8 cells of 16 px


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def codec(tiny_codec_dir) -> IAJSCC:
    model = IAJSCC.from_pretrained(tiny_codec_dir).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for head in (model.encoder.hf_head[-1], model.encoder.lf_head, model.decoder.tail):
            head.weight.copy_(0.05 * torch.randn(head.weight.shape, generator=g))
        for film in (*model.encoder.films, *model.decoder.films):
            film.net[-1].weight.copy_(0.1 * torch.randn(film.net[-1].weight.shape, generator=g))
    return model


def _image() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing="ij")
    smooth = torch.stack([xx, yy, 0.5 + 0.3 * torch.sin(6 * xx) * torch.cos(4 * yy)])
    return (smooth + 0.05 * torch.randn(3, H, W, generator=g)).clamp(0, 1)[None]


def _send(codec: IAJSCC, tile: int | None, importance: bool = True):
    x = _image()
    m = torch.zeros(1, 1, H, W)
    m[..., 20:70, 30:90] = 1.0
    allocator = allocator_for(codec, "importance" if importance else "uniform")
    allocation = allocator.allocate(m, symbol_budget(1 / 16, H, W))
    codec.tile_cells = tile
    with torch.inference_mode():
        z, mask, gain = codec.encode(x, allocation.k, 10.0, importance=m if importance else None)
        out = CHANNELS.build("awgn")(z, 10.0, generator=torch.Generator().manual_seed(0))
        x_hat = codec.receive(out, allocation.k, 10.0, gain=gain, size=(H, W))
    return z, mask, gain, x_hat, allocation


def test_tiles_partition_the_grid() -> None:
    seen = torch.zeros(7, 10, dtype=torch.int)
    for tile in tiles((7, 10), 3, 2):
        r0, r1, c0, c1 = tile.inner
        seen[r0:r1, c0:c1] += 1
        o0, o1, p0, p1 = tile.outer
        assert (
            o0 == max(r0 - 2, 0) and o1 == min(r1 + 2, 7) and p0 == max(c0 - 2, 0) and p1 == min(c1 + 2, 10)
        )
    assert bool((seen == 1).all())


def test_image_within_one_tile_is_bit_identical(codec: IAJSCC) -> None:
    untiled = _send(codec, None)
    same = _send(codec, 8)  # 6 × 8 cells: not larger than the tile, so the whole-image path
    for a, b in zip(untiled[:4], same[:4], strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("importance", [True, False])
def test_tiled_matches_untiled(codec: IAJSCC, importance: bool) -> None:
    z0, mask0, gain0, x0, alloc0 = _send(codec, None, importance)
    z1, mask1, gain1, x1, alloc1 = _send(codec, 3, importance)  # 2 × 3 tiles of 3 × 3 cells
    assert z1.shape == z0.shape and x1.shape == x0.shape == (1, 3, H, W)
    assert torch.equal(mask1, mask0) and torch.equal(alloc1.k, alloc0.k)
    bill0, bill1 = alloc0.bill, alloc1.bill  # the symbol budget and bill do not depend on tiling
    assert bill1.budget == bill0.budget
    assert torch.equal(torch.as_tensor(bill1.payload), torch.as_tensor(bill0.payload))
    assert int(mask1.sum()) == int(mask0.sum()) == int(alloc0.k.sum())
    # SNR attention pools over the tile (with its halo) instead of the image: a small change.
    assert torch.allclose(gain1, gain0, rtol=1e-2)
    assert float((z1 - z0).abs().norm() / z0.abs().norm()) < 0.05
    assert float((x1 - x0).abs().max()) < 0.05
    mse = float((x1 - x0).square().mean())
    assert 10 * torch.log10(torch.tensor(1 / mse)) > 40  # dB between the tiled and untiled output


def test_tiling_is_exact_without_global_pooling(codec: IAJSCC, monkeypatch: pytest.MonkeyPatch) -> None:
    """The halos cover the receptive fields: only SNR attention's global mean differs."""
    monkeypatch.setattr(SNRAttention, "forward", lambda self, x, snr_db: x)
    z0, _, gain0, x0, _ = _send(codec, None)
    z1, _, gain1, x1, _ = _send(codec, 2)
    assert torch.allclose(z1, z0, atol=1e-5) and torch.equal(gain1, gain0)
    assert torch.allclose(x1, x0, atol=1e-5)
