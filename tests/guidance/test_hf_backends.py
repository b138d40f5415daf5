"""clipseg and llava end to end through from_pretrained, on tiny random models saved to a folder.

The tiny models and their offline processors are built in ``conftest.py`` (``clipseg_dir``,
``llava_dir``), saved with ``save_pretrained`` and loaded back by the backend.
"""

import pytest
import torch

from mllmsc.guidance import GUIDANCE, build_guidance
from mllmsc.types import ChannelState


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread (a shared 2-core machine), and the caller's setting back afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_clipseg_end_to_end(clipseg_dir):
    guide = GUIDANCE.build("clipseg", model=str(clipseg_dir))
    x = torch.rand(2, 3, 40, 56)
    imp = guide(x, "focus on the red circle and the blue star")
    assert imp.soft.shape == (2, 1, 40, 56) and imp.mask.shape == (2, 1, 40, 56)
    assert imp.mask.dtype == torch.bool and imp.soft.min() >= 0 and imp.soft.max() <= 1
    assert imp.phrases == ["red circle", "blue star"] and imp.used_query and imp.backend == "clipseg"
    # one map per phrase, combined by the max
    per_phrase = guide.segment(x, imp.phrases)
    assert per_phrase.shape == (2, 2, 40, 56)
    assert torch.allclose(imp.soft, per_phrase.amax(dim=1, keepdim=True), atol=1e-6)
    single = guide(x[:1], "the red circle")  # a batch of one (CLIPSeg squeezes it)
    assert single.soft.shape == (1, 1, 40, 56)
    assert torch.allclose(single.soft, per_phrase[:1, :1], atol=1e-5)
    empty = guide(x, "")  # nothing to look for: everything matters, the query is not used
    assert torch.all(empty.soft == 1) and empty.used_query is False


def test_auto_picks_clipseg_when_it_is_here(clipseg_dir):
    guide = build_guidance("auto", model=str(clipseg_dir))
    assert guide(torch.rand(1, 3, 24, 24), "the star").backend == "clipseg"
    assert guide.reason == "auto chose clipseg"


def test_llava_end_to_end_with_the_channel_in_the_prompt(clipseg_dir, llava_dir):
    from mllmsc.guidance.llava import build_prompt, describe_channel

    guide = GUIDANCE.build(
        "llava", model=str(llava_dir), clipseg_model=str(clipseg_dir), dtype="float32", max_new_tokens=6
    )
    x = torch.rand(2, 3, 36, 44)
    imp = guide(x, "what colour is the square?", ChannelState(snr_db=1.0, cbr=1 / 64))
    assert imp.soft.shape == (2, 1, 36, 44) and imp.backend == "llava" and imp.used_query
    assert len(guide.last_answers) == 2 and imp.phrases  # junk answers fall back to the intent
    assert "poor" in describe_channel(ChannelState(snr_db=1.0))
    prompt = build_prompt("the red car", ChannelState(snr_db=1.0, cbr=1 / 64))
    assert "the red car" in prompt and "only a small region can be sent well" in prompt
    assert "at most 1 short object name," in prompt
    assert "most of the image" in build_prompt("x", ChannelState(snr_db=20.0, cbr=0.5))
    # cached per (image, intent, SNR bucket, CBR bucket): same bucket, no new generation
    calls = []
    original = guide.ask
    guide.ask = lambda *a: calls.append(a) or original(*a)
    guide(x, "what colour is the square?", ChannelState(snr_db=2.0, cbr=1 / 64))
    assert calls == []
    guide(x[:1], "what colour is the square?", ChannelState(snr_db=12.0, cbr=1 / 64))
    assert len(calls) == 1


def test_llava_answers_become_phrases_and_maps(clipseg_dir, llava_dir):
    guide = GUIDANCE.build(
        "llava", model=str(llava_dir), clipseg_model=str(clipseg_dir), dtype="float32", max_new_tokens=2
    )
    guide.ask = lambda image, intent, csi: "1. The red circle\n2. the blue star (it is small)"
    imp = guide(torch.rand(1, 3, 32, 32), "what is in the picture?", None)
    assert imp.phrases == ["red circle", "blue star"]
    expected = guide.clipseg.segment(torch.rand(1, 3, 32, 32) * 0, []).shape  # empty → no maps
    assert expected == (1, 0, 32, 32)
