"""Image and mask reading, atomic writing: odd formats read right, bad files are refused cleanly."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile, ImageOps

from mllmsc.atomic import atomic_write_bytes, atomic_write_text
from mllmsc.data.io import ImageError, read_image, read_mask, write_image


def _png16(a: np.ndarray) -> bytes:
    """A 16-bit RGB (``[H, W, 3]``) or RGBA (``[H, W, 4]``) PNG, which Pillow cannot write.

    Rows cycle through all five PNG filters (None, Sub, Up, Average, Paeth), so the decoder's
    unfiltering is exercised with the 6/8-byte pixel stride of 16-bit colour.
    """
    h, w, c = a.shape
    bpp = 2 * c
    rows = [np.frombuffer(a[i].astype(">u2").tobytes(), np.uint8).astype(np.int64) for i in range(h)]
    out = bytearray()
    prior = np.zeros_like(rows[0])
    for i, raw in enumerate(rows):
        kind = i % 5
        left = np.concatenate([np.zeros(bpp, np.int64), raw[:-bpp]])
        corner = np.concatenate([np.zeros(bpp, np.int64), prior[:-bpp]])
        if kind == 0:
            pred = np.zeros_like(raw)
        elif kind == 1:
            pred = left
        elif kind == 2:
            pred = prior
        elif kind == 3:
            pred = (left + prior) // 2
        else:
            p = left + prior - corner
            pa, pb, pc = abs(p - left), abs(p - prior), abs(p - corner)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prior, corner))
        out += bytes([kind]) + ((raw - pred) % 256).astype(np.uint8).tobytes()
        prior = raw

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", w, h, 16, 2 if c == 3 else 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(out)))
        + chunk(b"IEND", b"")
    )


def _random_rgb(h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _as_u8(x: torch.Tensor) -> np.ndarray:
    return (x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


# ------------------------------------------------------------------------------------- reading


def test_rgb_png_is_float_chw_in_unit_range(tmp_path: Path) -> None:
    a = _random_rgb()
    Image.fromarray(a).save(tmp_path / "a.png")
    x = read_image(tmp_path / "a.png")
    assert x.dtype == torch.float32 and x.shape == (3, 24, 32)
    assert torch.equal(x, torch.from_numpy(a).permute(2, 0, 1).float() / 255)


def test_grey_is_replicated_to_three_channels(tmp_path: Path) -> None:
    Image.new("L", (5, 4), 128).save(tmp_path / "g.png")
    x = read_image(tmp_path / "g.png")
    assert x.shape == (3, 4, 5)
    assert torch.allclose(x, torch.full_like(x, 128 / 255), atol=1e-7, rtol=0)


def test_bilevel(tmp_path: Path) -> None:
    im = Image.new("1", (6, 2), 0)
    im.putpixel((3, 1), 1)
    im.save(tmp_path / "b.png")
    x = read_image(tmp_path / "b.png")
    assert x[:, 1, 3].tolist() == [1.0, 1.0, 1.0]
    assert x.sum() == 3.0


def test_16bit_grey_png_keeps_precision(tmp_path: Path) -> None:
    Image.fromarray(np.full((3, 4), 1000, np.uint16)).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I;16")
    x = read_image(tmp_path / "g16.png")
    assert torch.allclose(x, torch.full_like(x, 1000 / 65535), atol=1e-6, rtol=0)


@pytest.mark.parametrize("channels", [3, 4])
def test_16bit_colour_png_keeps_precision(tmp_path: Path, channels: int) -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 65536, (11, 13, channels), dtype=np.uint16)
    if channels == 4:
        a[..., 3] = 65535  # opaque, so the colour comes through untouched
        a[0, 0, 3] = 0  # except one transparent pixel, which must turn white
    (tmp_path / "c16.png").write_bytes(_png16(a))
    x = read_image(tmp_path / "c16.png").double()
    expected = torch.from_numpy(a[..., :3].astype(np.float64) / 65535).permute(2, 0, 1)
    if channels == 4:
        expected[:, 0, 0] = 1.0
    # 8-bit truncation would be off by up to 255/65535 ≈ 4e-3.
    assert torch.allclose(x, expected, atol=1e-6, rtol=0)


def test_rgba_alpha_is_composited_over_white(tmp_path: Path) -> None:
    a = np.zeros((2, 3, 4), np.uint8)
    a[..., :3] = (10, 20, 30)
    a[0, :, 3] = 0  # transparent → white
    a[1, 0, 3] = 255  # opaque → the colour
    a[1, 1, 3] = 51  # 20 % → 0.2·colour + 0.8·white
    a[1, 2, 3] = 255
    Image.fromarray(a, "RGBA").save(tmp_path / "a.png")
    x = read_image(tmp_path / "a.png")
    assert torch.equal(x[:, 0], torch.ones(3, 3))
    assert torch.allclose(x[:, 1, 0], torch.tensor([10, 20, 30]) / 255)
    blend = torch.tensor([10, 20, 30]) / 255 * 0.2 + 0.8
    assert torch.allclose(x[:, 1, 1], blend, atol=1e-6)


def test_grey_with_alpha(tmp_path: Path) -> None:
    Image.new("LA", (3, 3), (0, 0)).save(tmp_path / "la.png")
    assert torch.equal(read_image(tmp_path / "la.png"), torch.ones(3, 3, 3))


def test_palette_with_transparency(tmp_path: Path) -> None:
    im = Image.new("P", (4, 4), 0)
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255])
    im.putpixel((1, 1), 1)
    im.putpixel((2, 2), 2)
    im.save(tmp_path / "p.png", transparency=1)
    x = read_image(tmp_path / "p.png")
    assert x[:, 0, 0].tolist() == [1.0, 0.0, 0.0]
    assert x[:, 1, 1].tolist() == [1.0, 1.0, 1.0]  # the transparent index
    assert x[:, 2, 2].tolist() == [0.0, 0.0, 1.0]


def test_palette_without_transparency(tmp_path: Path) -> None:
    im = Image.new("P", (2, 2), 1)
    im.putpalette([0, 0, 0, 200, 100, 50])
    im.save(tmp_path / "p.gif")
    x = read_image(tmp_path / "p.gif")
    assert torch.allclose(x[:, 0, 0], torch.tensor([200, 100, 50]) / 255)


def test_cmyk(tmp_path: Path) -> None:
    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(tmp_path / "c.tif")
    assert read_image(tmp_path / "c.tif")[:, 2, 2].tolist() == [1.0, 0.0, 0.0]
    # JPEG stores CMYK inverted (Adobe); the colour must still come out red.
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=100)
    x = read_image(tmp_path / "c.jpg")
    assert torch.allclose(x[:, 8, 8], torch.tensor([1.0, 0.0, 0.0]), atol=0.02)


def test_jpeg_and_webp(tmp_path: Path) -> None:
    Image.new("RGB", (32, 16), (200, 100, 50)).save(tmp_path / "a.jpg", quality=95)
    x = read_image(tmp_path / "a.jpg")
    assert x.shape == (3, 16, 32)
    assert torch.allclose(x, (torch.tensor([200, 100, 50]) / 255)[:, None, None], atol=0.02)
    a = _random_rgb()
    Image.fromarray(a).save(tmp_path / "a.webp", lossless=True)
    assert np.array_equal(_as_u8(read_image(tmp_path / "a.webp")), a)


def test_heif_round_trip(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    y, x = np.mgrid[0:64, 0:64]
    a = np.stack([y * 4, x * 4, (x + y) * 2], axis=-1).astype(np.uint8)  # smooth: codes well
    Image.fromarray(a).save(tmp_path / "a.heic", format="HEIF", quality=95)
    got = read_image(tmp_path / "a.heic")
    assert got.shape == (3, 64, 64)
    assert (got - torch.from_numpy(a).permute(2, 0, 1) / 255).abs().mean() < 0.02


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int) -> None:
    a = _random_rgb(3, 5)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(a).save(tmp_path / "o.png", exif=exif)
    with Image.open(tmp_path / "o.png") as im:
        expected = np.asarray(ImageOps.exif_transpose(im))
    assert np.array_equal(_as_u8(read_image(tmp_path / "o.png")), expected)


# ------------------------------------------------------------------------------------ refusing


def _assert_refused(path: Path, **kwargs: int) -> ImageError:
    with pytest.raises(ImageError) as info:
        read_image(path, **kwargs)
    assert path.name in str(info.value)
    assert "\n" not in str(info.value)
    return info.value


def test_refuses_missing_file(tmp_path: Path) -> None:
    assert "no such file" in str(_assert_refused(tmp_path / "nothing.png"))


def test_refuses_directory(tmp_path: Path) -> None:
    (tmp_path / "dir.png").mkdir()
    assert "directory" in str(_assert_refused(tmp_path / "dir.png"))


def test_refuses_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    assert "empty" in str(_assert_refused(tmp_path / "empty.png"))


def test_refuses_text_file(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("this is not an image\n")
    assert "not an image" in str(_assert_refused(tmp_path / "notes.png"))


@pytest.mark.parametrize("suffix", ["png", "jpg"])
def test_refuses_truncated_image(tmp_path: Path, suffix: str) -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    path = tmp_path / f"cut.{suffix}"
    Image.fromarray(_random_rgb(64, 64)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _assert_refused(path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_refuses_corrupt_data(tmp_path: Path) -> None:
    path = tmp_path / "bad.png"
    y, x = np.mgrid[0:64, 0:64]
    # A compressible image, so its pixel data is a Huffman-coded stream that zlib can check
    # (random pixels would be stored verbatim, and zeroed bytes would decode as other pixels).
    Image.fromarray(((x * y) % 256).astype(np.uint8)).save(path)
    data = bytearray(path.read_bytes())
    data[60:120] = bytes(60)  # inside the compressed pixel data
    path.write_bytes(bytes(data))
    _assert_refused(path)


def test_refuses_too_many_pixels_before_decoding(tmp_path: Path) -> None:
    Image.new("RGB", (64, 64)).save(tmp_path / "big.png")
    err = _assert_refused(tmp_path / "big.png", max_pixels=1000)
    assert "4096" in str(err)


@pytest.mark.parametrize("pil_limit", [3000, 1000])  # a bomb warning, then a bomb error
def test_pillow_bomb_guard_becomes_image_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pil_limit: int
) -> None:
    Image.new("RGB", (64, 64)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pil_limit)
    _assert_refused(tmp_path / "bomb.png")


def test_refuses_zero_size(tmp_path: Path) -> None:
    data = bytearray(_png16(np.zeros((2, 2, 3), np.uint16)))
    data[16:20] = struct.pack(">I", 0)  # IHDR width = 0
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    (tmp_path / "zero.png").write_bytes(bytes(data))
    _assert_refused(tmp_path / "zero.png")


def test_does_not_open_other_formats(tmp_path: Path) -> None:
    # EPS would make Pillow run Ghostscript; it is not on the list of formats we decode.
    (tmp_path / "x.eps").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n")
    _assert_refused(tmp_path / "x.eps")


# --------------------------------------------------------------------------------------- masks


def test_mask_threshold_at_128(tmp_path: Path) -> None:
    a = np.array([[0, 127, 128, 255]], np.uint8)
    Image.fromarray(a).save(tmp_path / "m.png")
    m = read_mask(tmp_path / "m.png")
    assert m.dtype == torch.bool and m.shape == (1, 1, 4)
    assert m[0, 0].tolist() == [False, False, True, True]


def test_mask_from_colour_and_alpha(tmp_path: Path) -> None:
    a = np.zeros((1, 3, 4), np.uint8)
    a[0, 0] = (255, 255, 255, 255)  # opaque white: in
    a[0, 1] = (255, 255, 255, 0)  # transparent: out (counts as black)
    a[0, 2] = (0, 0, 255, 255)  # pure blue, luma 29: out
    Image.fromarray(a, "RGBA").save(tmp_path / "m.png")
    assert read_mask(tmp_path / "m.png")[0, 0].tolist() == [True, False, False]


def test_mask_resize_is_nearest(tmp_path: Path) -> None:
    a = np.zeros((4, 4), np.uint8)
    a[:2, :2] = 255
    Image.fromarray(a).save(tmp_path / "m.png")
    m = read_mask(tmp_path / "m.png", size=(8, 6))
    assert m.shape == (1, 8, 6)
    expected = torch.zeros(8, 6, dtype=torch.bool)
    expected[:4, :3] = True
    assert torch.equal(m[0], expected)


def test_mask_errors(tmp_path: Path) -> None:
    (tmp_path / "m.png").write_text("nope")
    with pytest.raises(ImageError, match="m.png"):
        read_mask(tmp_path / "m.png")
    Image.new("L", (2, 2)).save(tmp_path / "ok.png")
    with pytest.raises(ValueError, match="size"):
        read_mask(tmp_path / "ok.png", size=(0, 4))


# ------------------------------------------------------------------------------------- writing


def test_write_png_round_trip_is_exact_to_8_bits(tmp_path: Path) -> None:
    x = torch.rand(3, 17, 23, generator=torch.Generator().manual_seed(0))
    path = tmp_path / "sub" / "dir" / "x.png"  # parents are created
    write_image(path, x)
    back = read_image(path)
    assert torch.equal(back, (x * 255).round() / 255)
    assert (back - x).abs().max() <= 0.5 / 255 + 1e-7


def test_write_clamps_and_accepts_grey(tmp_path: Path) -> None:
    x = torch.tensor([[-1.0, 0.5, 2.0]])
    write_image(tmp_path / "g.png", x)  # [H, W]
    with Image.open(tmp_path / "g.png") as im:
        assert im.mode == "L"
        assert np.asarray(im).tolist() == [[0, 128, 255]]
    write_image(tmp_path / "g1.webp", x[None])  # [1, H, W], lossless WebP
    assert _as_u8(read_image(tmp_path / "g1.webp"))[0, :, 0].tolist() == [0, 128, 255]
    write_image(tmp_path / "c.jpg", torch.full((3, 8, 8), 0.5))
    assert torch.allclose(read_image(tmp_path / "c.jpg"), torch.full((3, 8, 8), 0.5), atol=0.01)


def test_write_rejects_bad_tensors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected an image"):
        write_image(tmp_path / "a.png", torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match="NaN"):
        write_image(tmp_path / "a.png", torch.full((3, 2, 2), float("nan")))
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_existing_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"precious")

    with pytest.raises(ValueError, match="suffix"):
        write_image(tmp_path / "out.gif", torch.zeros(3, 2, 2))

    def broken_save(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        write_image(target, torch.zeros(3, 2, 2))
    assert target.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_atomic_text_and_bytes(tmp_path: Path) -> None:
    path = tmp_path / "new" / "report.json"
    atomic_write_text(path, '{"psnr": null}\n')
    assert path.read_text() == '{"psnr": null}\n'
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would create it
    os.chmod(path, 0o640)
    atomic_write_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert path.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its mode
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.json"]


def test_atomic_write_into_a_directory_path_fails_cleanly(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    with pytest.raises(OSError):
        atomic_write_bytes(tmp_path / "taken", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
