import numpy as np
import pytest
import torch
from PIL import Image

from mllmsc.errors import UserError
from mllmsc.guidance import GUIDANCE
from mllmsc.types import ChannelState


def test_registry_lists_the_given_backends():
    assert {"uniform", "mask", "box"} <= set(GUIDANCE.available())


def test_uniform_is_all_ones_and_ignores_the_intent():
    imp = GUIDANCE.build("uniform")(torch.rand(2, 3, 8, 12), "the red car", ChannelState(3.0))
    assert imp.soft.shape == (2, 1, 8, 12) and torch.all(imp.soft == 1) and torch.all(imp.mask)
    assert imp.used_query is False and imp.backend == "uniform" and imp.latency_ms >= 0


def test_mask_png_is_resized_to_the_image(tmp_path):
    grid = np.zeros((4, 6), np.uint8)
    grid[1:3, 0:3] = 255
    Image.fromarray(grid).save(tmp_path / "m.png")
    imp = GUIDANCE.build("mask", mask=str(tmp_path / "m.png"))(torch.rand(1, 3, 8, 12))
    expected = torch.zeros(8, 12, dtype=torch.bool)
    expected[2:6, 0:6] = True
    assert torch.equal(imp.mask[0, 0], expected)


def test_box_marks_the_rectangle_and_refuses_bad_boxes():
    imp = GUIDANCE.build("box", box=(2, 1, 5, 3))(torch.rand(1, 3, 6, 8))
    assert imp.mask.sum() == 3 * 2 and imp.mask[0, 0, 1, 2] and not imp.mask[0, 0, 3, 2]
    with pytest.raises(UserError):
        GUIDANCE.build("box", box=(5, 1, 2, 3))
    with pytest.raises(UserError):
        GUIDANCE.build("box", box=(20, 20, 30, 30))(torch.rand(1, 3, 6, 8))
    with pytest.raises(UserError):
        GUIDANCE.build("mask")


def test_bad_image_shape_is_refused():
    with pytest.raises(ValueError):
        GUIDANCE.build("uniform")(torch.rand(3, 8, 8))
