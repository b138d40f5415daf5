"""The save/load mixin every shipped model uses, on a toy model (and the two real ones' class setup)."""

import json
from dataclasses import dataclass

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

from mllmsc.errors import UserError
from mllmsc.pretrained import PretrainedMixin, WeightsError, read_metadata


@dataclass(frozen=True)
class ToyConfig:
    width: int = 4
    depth: int = 1


class Toy(PretrainedMixin, nn.Module):
    model_name = "toy"
    config_class = ToyConfig

    def __init__(self, config: ToyConfig) -> None:
        super().__init__()
        self.config = config
        self.layers = nn.Sequential(*(nn.Linear(config.width, config.width) for _ in range(config.depth)))
        self.register_buffer("count", torch.arange(3))  # an integer buffer stays an integer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


@pytest.fixture
def toy() -> Toy:
    torch.manual_seed(0)
    return Toy(ToyConfig(width=4, depth=2))


def test_round_trip_rebuilds_the_model_from_its_config(toy, tmp_path):
    folder = toy.save_pretrained(tmp_path / "w", metadata={"step": "12", "preset": "configs/toy.toml"})
    assert folder == tmp_path / "w"
    assert json.loads((folder / "config.json").read_text()) == {"model": "toy", "width": 4, "depth": 2}
    loaded = Toy.from_pretrained(folder)
    assert loaded.config == toy.config and Toy.config_from_folder(folder) == toy.config
    for name, t in toy.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], t)
    x = torch.randn(3, 4)
    assert torch.equal(loaded(x), toy(x))
    assert read_metadata(folder) == {"step": "12", "preset": "configs/toy.toml", "format": "pt"}


def test_fp16_storage_loads_back_in_the_modules_dtype(toy, tmp_path):
    toy.save_pretrained(tmp_path / "h", dtype=torch.float16)
    stored = load_file(str(tmp_path / "h" / "model.safetensors"))
    assert stored["layers.0.weight"].dtype == torch.float16 and stored["count"].dtype == torch.int64
    loaded = Toy.from_pretrained(tmp_path / "h")
    assert loaded.layers[0].weight.dtype == torch.float32 and loaded.count.dtype == torch.int64
    torch.testing.assert_close(loaded.layers[0].weight, toy.layers[0].weight, atol=1e-3, rtol=1e-3)
    assert not torch.equal(loaded.layers[0].weight, toy.layers[0].weight)  # it really went through fp16


def _broken(tmp_path, toy, what: str):
    folder = tmp_path / what
    toy.save_pretrained(folder)
    config = folder / "config.json"
    if what == "missing folder":
        return tmp_path / "nowhere"
    if what == "missing config":
        config.unlink()
    elif what == "missing tensors":
        (folder / "model.safetensors").unlink()
    elif what == "bad json":
        config.write_text('{"model": "toy", "width": ')
    elif what == "not an object":
        config.write_text("[1, 2]")
    elif what == "wrong model":
        config.write_text(json.dumps({"model": "ia-jscc", "width": 4, "depth": 2}))
    elif what == "no model name":
        config.write_text(json.dumps({"width": 4, "depth": 2}))
    elif what == "unknown key":
        config.write_text(json.dumps({"model": "toy", "width": 4, "depth": 2, "colour": "red"}))
    elif what == "wrong type":
        config.write_text(json.dumps({"model": "toy", "width": "four", "depth": 2}))
    elif what == "tensors do not fit":
        config.write_text(json.dumps({"model": "toy", "width": 8, "depth": 2}))
    elif what == "not safetensors":
        (folder / "model.safetensors").write_bytes(b"\x00\x01 not a safetensors file")
    return folder


@pytest.mark.parametrize(
    ("what", "message"),
    [
        ("missing folder", "does not exist"),
        ("missing config", "no config.json in"),
        ("missing tensors", "no model.safetensors in"),
        ("bad json", "is not valid JSON"),
        ("not an object", "is not a JSON object"),
        ("wrong model", "describes a 'ia-jscc' model, not 'toy'"),
        ("no model name", "describes no model name, not 'toy'"),
        ("unknown key", "unknown key 'colour'"),
        ("wrong type", "width: expected an integer"),
        ("tensors do not fit", "does not fit its config: size mismatch for layers.0.weight"),
        ("not safetensors", "is not a readable safetensors file"),
    ],
)
def test_every_bad_folder_is_one_weights_error_with_a_one_line_message(toy, tmp_path, what, message):
    folder = _broken(tmp_path, toy, what)
    with pytest.raises(WeightsError, match=message) as info:
        Toy.from_pretrained(folder)
    assert isinstance(info.value, UserError)  # the CLI prints it as one line and exits with 2
    assert "\n" not in str(info.value) and str(folder) in str(info.value)


def test_read_metadata_of_a_folder_without_tensors(tmp_path):
    with pytest.raises(WeightsError, match="no model.safetensors"):
        read_metadata(tmp_path)


def test_saving_replaces_a_folder_atomically(toy, tmp_path):
    toy.save_pretrained(tmp_path / "w", metadata={"step": "1"})
    bigger = Toy(ToyConfig(width=6))
    bigger.save_pretrained(tmp_path / "w", metadata={"step": "2"})
    assert Toy.from_pretrained(tmp_path / "w").config == ToyConfig(width=6)
    with safe_open(str(tmp_path / "w" / "model.safetensors"), framework="pt") as f:
        assert f.metadata()["step"] == "2"
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["config.json", "model.safetensors"]


def test_the_shipped_model_classes_use_the_mixin():
    from mllmsc.codec import IAJSCC, IAJSCCConfig
    from mllmsc.guidance.tiny_refseg_model import TinyRefSeg, TinyRefSegConfig

    assert issubclass(IAJSCC, PretrainedMixin) and issubclass(TinyRefSeg, PretrainedMixin)
    assert (IAJSCC.model_name, IAJSCC.config_class) == ("ia-jscc", IAJSCCConfig)
    assert (TinyRefSeg.model_name, TinyRefSeg.config_class) == ("tiny-refseg", TinyRefSegConfig)
