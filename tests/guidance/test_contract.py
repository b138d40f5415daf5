"""The contract every registered guidance backend keeps, run over ``GUIDANCE.available()``.

Backends that need weights run offline: clipseg and llava on the tiny random models of
``conftest.py`` (saved and loaded through ``from_pretrained``), tiny-refseg on its shipped weights,
``auto`` on whatever it finds (the test session hides the user's Hugging Face cache). A new
backend that needs arguments must be given them in :func:`_arguments`, or this test says so.
"""

import pytest
import torch

from mllmsc.errors import UserError
from mllmsc.guidance import GUIDANCE
from mllmsc.types import ChannelState

NAMES = GUIDANCE.available()
#: What ``auto`` may route to.
AUTO_TARGETS = {"clipseg", "tiny-refseg", "saliency"}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _arguments(name: str, request) -> dict:
    if name in ("clipseg", "llava"):
        clipseg = str(request.getfixturevalue("clipseg_dir"))
        if name == "clipseg":
            return {"model": clipseg}
        llava = str(request.getfixturevalue("llava_dir"))
        return {"model": llava, "clipseg_model": clipseg, "dtype": "float32", "max_new_tokens": 4}
    if name == "mask":
        mask = torch.zeros(1, 1, 36, 52, dtype=torch.bool)
        mask[..., 8:24, 10:40] = True
        return {"mask": mask}
    if name == "box":
        return {"box": (10, 8, 40, 24)}
    return {}


@pytest.fixture(scope="module")
def built():
    return {}


@pytest.fixture
def guide(request, built):
    name = request.param
    if name not in built:
        try:
            built[name] = GUIDANCE.build(name, **_arguments(name, request))
        except UserError as exc:
            pytest.fail(f"guidance {name!r} cannot be built offline with the test's arguments: {exc}")
    return built[name]


@pytest.fixture(scope="module")
def x():
    return torch.rand(2, 3, 36, 52, generator=torch.Generator().manual_seed(0))


def _check_backend(guide, imp, name):
    if name == "auto":
        assert imp.backend in AUTO_TARGETS and imp.backend in guide.reason
    else:
        assert imp.backend == name


@pytest.mark.parametrize("guide", NAMES, indirect=True)
def test_importance_map_contract(guide, x, request):
    name = request.node.callspec.params["guide"]
    imp = guide(x, "focus on the red circle")
    assert imp.soft.shape == (2, 1, 36, 52) and imp.soft.dtype == torch.float32
    assert imp.mask.shape == (2, 1, 36, 52) and imp.mask.dtype == torch.bool
    assert float(imp.soft.min()) >= 0 and float(imp.soft.max()) <= 1
    assert torch.equal(imp.mask, imp.soft >= guide.threshold)  # no channel state: plain threshold
    assert isinstance(imp.used_query, bool) and all(isinstance(p, str) for p in imp.phrases)
    assert imp.latency_ms > 0
    _check_backend(guide, imp, name)
    again = guide(x, "focus on the red circle")
    assert torch.equal(imp.soft, again.soft) and imp.backend == again.backend  # deterministic


@pytest.mark.parametrize("guide", NAMES, indirect=True)
def test_no_intent_means_the_query_is_not_used(guide, x, request):
    imp = guide(x, None)
    assert imp.used_query is False  # (llava may still name targets it sees in the image)
    _check_backend(guide, imp, request.node.callspec.params["guide"])


@pytest.mark.parametrize("guide", NAMES, indirect=True)
def test_a_worse_channel_never_widens_the_mask(guide, x):
    intent = "the red circle"
    plain = guide(x, intent).mask
    areas = []
    for snr_db in (20.0, 10.0, 4.0, 0.0, -5.0):
        mask = guide(x, intent, ChannelState(snr_db=snr_db, cbr=1 / 64)).mask
        if not hasattr(guide, "last_answers"):  # llava may name other targets as the channel changes
            assert torch.all(plain | ~mask), "the channel state added pixels to the mask"
        areas.append(int(mask.sum()))
    assert areas == sorted(areas, reverse=True) and areas[0] <= int(plain.sum())


@pytest.mark.parametrize("guide", NAMES, indirect=True)
def test_bad_images_are_refused(guide):
    for bad in (torch.rand(3, 16, 16), torch.rand(1, 1, 16, 16), torch.rand(0, 3, 16, 16)):
        with pytest.raises(ValueError, match="x "):
            guide(bad, "the red circle")
