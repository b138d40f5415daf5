"""Figures people read: CBRs as fractions, the transmission report's panels."""

import io

import pytest
import torch
from PIL import Image

from mllmsc.eval.figures import format_cbr, transmission_report_png


@pytest.mark.parametrize(
    ("cbr", "text"), [(1 / 16, "1/16"), (0.0625, "1/16"), (1 / 96, "1/96"), (1.0, "1/1"), (0.3, "0.3000")]
)
def test_cbrs_read_as_people_write_them(cbr, text):
    assert format_cbr(cbr) == text


@pytest.mark.parametrize("k", [torch.randint(0, 9, (3, 4)), None])
def test_the_report_has_four_panels_whatever_the_allocation(k):
    x = torch.rand(3, 48, 64)
    png = transmission_report_png(
        x, torch.ones(1, 48, 64), k, 8, x, title="t " * 200, captions=("a", "b " * 60, "c", "d")
    )
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size[0] > 4 * 64
