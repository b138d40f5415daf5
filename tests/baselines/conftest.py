"""Fixtures of the baseline tests: a small real image and a made-up BLER table."""

import numpy as np
import pytest
import torch
from skimage import data, transform

from mllmsc.baselines.mcs import MCS_TABLE, BlerTable


@pytest.fixture(scope="session")
def astronaut():
    """scikit-image's astronaut at 128×128, ``[3, H, W]`` float32 in [0, 1] on 8-bit levels."""
    small = transform.resize(data.astronaut(), (128, 128), anti_aliasing=True)
    pixels = (small * 255).round() / 255
    return torch.from_numpy(pixels.transpose(2, 0, 1).copy()).to(torch.float32)


@pytest.fixture(scope="session")
def flat_table():
    """``flat_table(bler)``: a BLER table claiming ``bler`` for every MCS and SNR (forces a choice)."""

    def make(bler: float) -> BlerTable:
        snr = np.arange(-10.0, 41.0, 1.0).tolist()
        model = {"snr_db": snr, "bler": {m.name: [bler] * len(snr) for m in MCS_TABLE}}
        return BlerTable({"mcs": [{"name": m.name} for m in MCS_TABLE], "models": {"awgn": model}})

    return make


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: the LDPC decoder's many small ops run ~10x slower when two threads fight
    over busy cores, and a CPU test suite should not assume idle ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
