"""Source codecs: the best quality that fits, never over budget."""

import numpy as np
import pytest
from skimage import data, transform

from mllmsc.baselines.source import EncodeCache, best_fit, from_pixels, get_codec, to_pixels
from mllmsc.errors import UserError


@pytest.fixture(scope="module")
def pixels():
    small = transform.resize(data.astronaut(), (64, 64), anti_aliasing=True)
    return (small * 255).round().astype(np.uint8)


def test_jpeg_best_fit_is_the_best_that_fits(pixels):
    codec = get_codec("jpeg")
    sizes = {q: 8 * len(codec.encode(pixels, q)) for q in codec.qualities}
    cache = EncodeCache()
    rng = np.random.default_rng(0)
    for budget in rng.integers(sizes[1] - 200, sizes[100] + 200, 40):
        file = best_fit(codec, pixels, int(budget), cache=cache)
        truth = max((q for q in codec.qualities if sizes[q] <= budget), default=None)
        if truth is None:
            assert file is None
        else:
            assert file.quality == truth and file.bits <= budget


def test_heif_best_fit(pixels):
    codec = get_codec("heif")
    cache = EncodeCache()
    for budget in (8 * 900, 8 * 1500, 8 * 3000):
        file = best_fit(codec, pixels, budget, cache=cache)
        assert file is not None and file.bits <= budget
        if file.quality < 100:
            assert 8 * len(cache.encode(codec, pixels, file.quality + 1)) > budget
        decoded = codec.decode(file.data)
        assert decoded.shape == pixels.shape
    assert best_fit(codec, pixels, 8 * 100) is None  # smaller than any HEIF file


def test_cache_narrows_the_next_search(pixels):
    codec = get_codec("jpeg")
    cache = EncodeCache()
    best_fit(codec, pixels, 8 * 2000, cache=cache)
    made = len(cache.known_bits(codec, pixels))
    best_fit(codec, pixels, 8 * 2000 + 8, cache=cache)
    assert len(cache.known_bits(codec, pixels)) - made <= 2


def test_pixels_round_trip(pixels):
    assert np.array_equal(to_pixels(from_pixels(pixels)), pixels)


def test_unknown_codec():
    with pytest.raises(UserError, match="png"):
        get_codec("png")
