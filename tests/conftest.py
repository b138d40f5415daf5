"""Shared fixtures. Tests run offline and never need ../shared."""

import os

import pytest
import torch

# Code under test must never reach for a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def gen():
    """A fresh seeded generator: every random draw in a test comes from it."""
    return torch.Generator().manual_seed(1234)


def unit_power_symbols(batch: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """Complex Gaussian symbols ``[batch, n]`` with average power exactly 1 per item."""
    from mllmsc.channel import power_normalize

    return power_normalize(torch.randn(batch, n, dtype=torch.complex64, generator=generator))
