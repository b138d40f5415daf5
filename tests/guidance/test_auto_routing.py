"""``auto`` without CLIPSeg: tiny-refseg answers only scene queries it can read and answer crisply.

The words decide first (every content word in the model's own vocabulary), then the model's answer
(a crisp region, not a vague smear): "the red star" reads as a scene query on any image, and only
the answer tells scikit-image's astronaut from a generated scene.
"""

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from mllmsc.data.scenes import generate_scene
from mllmsc.eval.metrics import iou
from mllmsc.guidance import GUIDANCE, build_guidance
from mllmsc.guidance.refseg import FUNCTION_WORDS, MAX_VAGUENESS, vagueness
from mllmsc.guidance.tiny_refseg_model import TinyRefSeg, TinyRefSegConfig


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def auto(tmp_path_factory):
    """``auto`` on a machine without CLIPSeg: the shipped tiny-refseg."""
    guide = build_guidance("auto", model=str(tmp_path_factory.mktemp("x") / "no-clipseg-here"))
    assert guide.backend.name == "tiny-refseg"
    return guide


@pytest.fixture(scope="module")
def astronaut():
    image = Image.fromarray(data.astronaut()).resize((128, 96), Image.BICUBIC)
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float()[None] / 255


@pytest.fixture(scope="module")
def scene():
    return generate_scene(0, 0, size=256)  # procedural background: no ../shared needed


def _tensor(scene):
    return torch.from_numpy(scene.image).permute(2, 0, 1).float()[None] / 255


def test_a_scene_query_on_a_photo_goes_to_saliency_and_the_note_says_why(auto, astronaut):
    assert auto.backend.grounds("the red star")  # the words alone read as a scene query
    imp = auto(astronaut, "the red star")
    assert imp.backend == "saliency" and imp.used_query is False
    assert "went to saliency" in auto.reason and "vague" in auto.reason and "tiny-refseg" in auto.reason
    # what came back is saliency's map of the photo, not tiny-refseg's guess
    torch.testing.assert_close(imp.soft, GUIDANCE.build("saliency")(astronaut).soft)
    _, _, _, vague = auto.backend.answer(astronaut, "the red star")
    assert float(vague[0]) > MAX_VAGUENESS


def test_a_scene_query_on_a_scene_still_goes_to_tiny_refseg(auto, scene):
    expression = scene.expressions[0]
    imp = auto(_tensor(scene), expression.text)
    assert imp.backend == "tiny-refseg" and imp.used_query is True
    assert "went to tiny-refseg" in auto.reason
    assert float(iou(imp.mask, torch.from_numpy(expression.mask)[None, None])[0]) > 0.5


def test_one_vague_item_sends_the_whole_batch_to_saliency(auto, scene, astronaut):
    query = "can you send the yellow cross clearly?"  # scene 0 has one; the astronaut has none
    assert auto(_tensor(scene), query).backend == "tiny-refseg"
    x = torch.cat([_tensor(scene), torch.nn.functional.interpolate(astronaut, size=(256, 256))])
    assert auto(x, query).backend == "saliency"  # one backend per map
    # on the photo the model marks nothing or a vague smear; the reason names which
    assert "found no region" in auto.reason or "map is vague" in auto.reason


@pytest.mark.parametrize(
    ("intent", "why"),
    [
        ("the astronaut's face", "does not know 'astronaut', 'face'"),
        ("what is this?", "the query names nothing"),
        ("   ", "there is no query"),
    ],
)
def test_words_outside_its_world_go_to_saliency(auto, scene, intent, why):
    imp = auto(_tensor(scene), intent)
    assert imp.backend == "saliency" and imp.used_query is False
    assert why in auto.reason and "go to saliency" in auto.reason


def test_the_known_words_are_the_models_own_vocabulary(tmp_path):
    # A model whose vocabulary knows dogs grounds "the dog": nothing is read from the scene generator.
    vocab = ("<pad>", "<unk>", "dog", "dogs", "sofa")
    TinyRefSeg(
        TinyRefSegConfig(vocab=vocab, image_size=32, widths=(4, 8, 8), stem=4, embed=8, heads=2)
    ).save_pretrained(tmp_path)
    guide = GUIDANCE.build("tiny-refseg", model=str(tmp_path))
    assert guide.vocabulary == {"dog", "dogs", "sofa"}
    assert guide.grounds("where are the dogs on the sofa?")  # function words need not be in it
    assert not guide.grounds("the red star") and guide.unknown_words("the red star, the red") == [
        "red",
        "star",
    ]
    assert not guide.grounds("is it there?")  # only function words: names nothing
    assert "behind" not in FUNCTION_WORDS and not guide.grounds("the dog behind the sofa")  # a relation


def test_vagueness_is_the_uncertain_rim_per_marked_pixel():
    crisp = torch.zeros(1, 1, 20, 20)
    crisp[..., 5:15, 5:15] = 1.0
    crisp[..., 4, 5:15] = 0.5  # a one-pixel rim along one side: 10 uncertain, 110 marked
    smear = torch.full((1, 1, 20, 20), 0.3)
    smear[..., 9:11, 9:11] = 0.6
    out = vagueness(torch.cat([crisp, smear, torch.zeros(1, 1, 20, 20), torch.ones(1, 1, 20, 20)]))
    assert out[0].item() == pytest.approx(10 / 110)
    assert out[1].item() == pytest.approx(400 / 4)
    assert out[2].item() == float("inf") and out[3].item() == 0.0
