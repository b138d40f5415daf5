"""tiny-refseg's model and backend on tiny random models saved to a folder (no shipped weights needed)."""

import json

import pytest
import torch

from mllmsc.config import ConfigError
from mllmsc.errors import UserError
from mllmsc.guidance import GUIDANCE, build_guidance
from mllmsc.guidance.tiny_refseg_model import TinyRefSeg, TinyRefSegConfig, tokenize
from mllmsc.pretrained import WeightsError

VOCAB = ("<pad>", "<unk>", "the", "red", "blue", "star", "circle", "left", "of", "what", "colour", "is")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    torch.manual_seed(0)
    model = TinyRefSeg(
        TinyRefSegConfig(vocab=VOCAB, image_size=32, widths=(4, 8, 8), stem=4, embed=8, heads=2)
    )
    path = tmp_path_factory.mktemp("tiny-refseg")
    model.save_pretrained(path)
    return path


def test_tokenize_lowercases_and_drops_punctuation_and_digits():
    assert tokenize("What COLOUR is the ring? (2nd)") == ["what", "colour", "is", "the", "ring", "nd"]
    assert tokenize("  ") == []


def test_config_rejects_bad_sizes_and_vocab():
    with pytest.raises(ConfigError, match="multiple of 8"):
        TinyRefSegConfig(image_size=60)
    with pytest.raises(ConfigError, match="vocab must start"):
        TinyRefSegConfig(vocab=("a", "b"))
    with pytest.raises(ConfigError, match="divisible by heads"):
        TinyRefSegConfig(widths=(4, 8, 10), heads=4)


def test_logits_shape_any_image_size_and_the_text_matters(tiny_dir):
    model = TinyRefSeg.from_pretrained(tiny_dir).eval()
    x = torch.rand(2, 3, 50, 70)
    with torch.no_grad():
        out = model(x, ["the red star", "the red star"])
        other = model(x, ["the blue circle", "what colour is the star"])
    assert out.shape == (2, 1, 16, 16)  # half the 32-px working size
    assert not torch.allclose(out, other)  # FiLM and attention read the query
    with pytest.raises(ValueError, match="2 images but 1 texts"):
        model(x, ["one"])


def test_unknown_words_and_empty_queries_become_unk(tiny_dir):
    model = TinyRefSeg.from_pretrained(tiny_dir)
    ids, pad = model.encode_words(["the zebra", "", "red"])
    unk, the, red = VOCAB.index("<unk>"), VOCAB.index("the"), VOCAB.index("red")
    assert ids.tolist() == [[the, unk], [unk, 0], [red, 0]]
    assert pad.tolist() == [[False, False], [False, True], [False, True]]


def test_padding_does_not_change_a_query(tiny_dir):
    model = TinyRefSeg.from_pretrained(tiny_dir).eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        alone = model(x, ["red"])
        padded = model(x.expand(2, -1, -1, -1), ["red", "what colour is the red star left of the circle"])
    torch.testing.assert_close(alone[0], padded[0], atol=1e-5, rtol=1e-5)


def test_save_load_round_trip_and_bad_folders(tiny_dir, tmp_path):
    model = TinyRefSeg.from_pretrained(tiny_dir)
    assert model.config.vocab == VOCAB
    assert json.loads((tiny_dir / "config.json").read_text())["model"] == "tiny-refseg"
    with pytest.raises(WeightsError, match="no config.json"):
        TinyRefSeg.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model": "ia-jscc"}))
    with pytest.raises(WeightsError, match="describes a 'ia-jscc' model, not 'tiny-refseg'"):
        TinyRefSeg.from_pretrained(tmp_path)
    config = json.loads((tiny_dir / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "embed": 16}))
    with pytest.raises(WeightsError, match="no model.safetensors"):
        TinyRefSeg.from_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes((tiny_dir / "model.safetensors").read_bytes())
    with pytest.raises(UserError, match="does not fit its config"):
        TinyRefSeg.from_pretrained(tmp_path)


def test_backend_gives_an_image_sized_map_and_uses_the_query(tiny_dir):
    guide = GUIDANCE.build("tiny-refseg", model=str(tiny_dir))
    imp = guide(torch.rand(1, 3, 40, 56), "the red star")
    assert imp.soft.shape == (1, 1, 40, 56) and imp.mask.dtype == torch.bool
    assert imp.used_query and imp.backend == "tiny-refseg" and imp.phrases == ["the red star"]
    blank = guide(torch.rand(1, 3, 40, 56), "  ")
    assert not blank.used_query and bool(blank.mask.all())  # no query: everything matters


def test_grounds_only_queries_about_its_world(tiny_dir):
    guide = GUIDANCE.build("tiny-refseg", model=str(tiny_dir))
    assert guide.grounds("the red star") and guide.grounds("what is on the LEFT?")
    assert not guide.grounds("the dog on the sofa") and not guide.grounds("") and not guide.grounds(None)


def test_auto_routes_queries_outside_tiny_refsegs_world_to_saliency(tiny_dir, tmp_path, monkeypatch):
    import mllmsc.guidance.refseg as refseg

    monkeypatch.setattr(refseg, "default_weights_dir", lambda: tiny_dir)
    # A random model's map is vague, which auto would send to saliency: only the words are tested here.
    monkeypatch.setattr(refseg, "MAX_VAGUENESS", float("inf"))
    guide = build_guidance("auto", model=str(tmp_path / "no-clipseg-here"))
    x = torch.rand(1, 3, 32, 32)
    assert guide(x, "the blue circle").backend == "tiny-refseg"
    fallback = guide(x, "the dog on the sofa")
    assert fallback.backend == "saliency" and fallback.used_query is False
    assert "tiny-refseg" in guide.reason and "go to saliency" in guide.reason


def test_with_words_appends_unknown_words_that_read_as_unk_until_trained(tiny_dir):
    model = TinyRefSeg.from_pretrained(tiny_dir).eval()
    grown = model.with_words(["red", "violet", "disc", "violet"])
    assert grown.config.vocab == (*VOCAB, "violet", "disc")
    assert model.with_words(["red", "star"]) is model  # nothing new
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        # a new word is <unk> to the old model and starts as <unk>'s embedding in the new one
        torch.testing.assert_close(
            grown(x, ["the violet disc", "red star"]), model(x, ["the violet disc", "red star"])
        )
    ids, _ = grown.encode_words(["violet disc"])
    assert ids.tolist() == [[len(VOCAB), len(VOCAB) + 1]]
