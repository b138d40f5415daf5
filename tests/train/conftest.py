"""Fixtures of the training tests: one intra-op thread, and a few synthetic training photos."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine two threads can be many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> Path:
    """Three smooth PNGs with noise (40–56 × 48 px): a training folder that needs no ../shared."""
    folder = tmp_path_factory.mktemp("train") / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        h, w = 40 + 8 * i, 48
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.stack([xx * 5, yy * 5, (xx + yy) * 2], -1) + rng.integers(0, 30, (h, w, 3))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f"im{i}.png")
    return folder
