"""The one training loop, on both real tasks (tiny presets) and on the toy task its docstring shows.

Runs go through ``mllmsc.train.run`` as ``mllmsc train`` does; codec data are a temp folder of
synthetic PNGs, refseg scenes are procedural, so no ../shared is needed.
"""

import csv
import json
import math
import os
import signal
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from mllmsc.config import ConfigError, load_preset
from mllmsc.pretrained import PretrainedMixin, read_metadata
from mllmsc.train import TASKS, export_weights, run, task_class
from mllmsc.train.loop import lr_at
from mllmsc.train.trainer import TrainConfig, Trainer, TrainTask

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PRESETS = {
    "codec": CONFIGS / "codec_tiny.toml",
    "refseg": CONFIGS / "tiny_refseg_tiny.toml",
    "vqa": CONFIGS / "tiny_vqa_tiny.toml",
    "deep-jscc": CONFIGS / "deep_jscc_tiny.toml",
    "generative": CONFIGS / "generative_tiny.toml",
}
OTHER_MODEL = {
    "codec": "model.k_max=4",
    "refseg": "model.embed=16",
    "vqa": "model.hidden=8",
    "deep-jscc": "model.width=8",
    "generative": "model.fold=2",
}
WITH_PHOTOS = ("codec", "deep-jscc", "generative")  # the tasks that read a folder of photos


def _sets(task: str, images: Path, *more: str) -> list[str]:
    data = (
        [f'data="{images}"', f'eval_data="{images}"', 'eval_images=["im0.png"]']
        if task in ("codec", "deep-jscc", "generative")
        else []
    )
    return [*data, *more]


def _rows(out: Path) -> list[dict]:
    with (out / "log.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def _state(checkpoint: Path) -> dict:
    return json.loads((checkpoint / "state.json").read_text())


def _patch_loss(monkeypatch, task: str, effect) -> list[int]:
    """Replace the task's loss by ``effect(call number, loss)``; returns the list of calls."""
    cls = task_class(task)
    real = cls.loss
    calls: list[int] = []

    def loss(self, net, batch):
        calls.append(len(calls) + 1)
        value, scalars = real(self, net, batch)
        return effect(len(calls), value), scalars

    monkeypatch.setattr(cls, "loss", loss)
    return calls


@pytest.mark.parametrize("task", ["codec", "refseg", "vqa", "deep-jscc", "generative"])
def test_a_stopped_run_resumes_with_its_step_count_and_log(task, images, tmp_path, monkeypatch):
    out = tmp_path / "run"
    sets = _sets(task, images, "log_every=2", "ckpt_every=0", "ckpt_minutes=1000")

    def interrupt(call: int, loss: torch.Tensor) -> torch.Tensor:
        if call == 3:  # Ctrl-C during step 3: the loop finishes the step, checkpoints and stops
            os.kill(os.getpid(), signal.SIGINT)
        return loss

    calls = _patch_loss(monkeypatch, task, interrupt)
    torch.set_num_threads(3)  # the preset's threads = 1 must not stick
    last = run(PRESETS[task], [*sets, "steps=100"], out_dir=out, progress=False)
    assert torch.get_num_threads() == 3
    assert last.name == "step-00000003" and _state(last)["step"] == 3 and len(calls) == 3
    rows = _rows(out)
    metric = task_class(task).metric
    assert [r["step"] for r in rows] == ["0", "2"]
    assert rows[0][metric] and not rows[0]["loss"]  # evaluated before the first step
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["task"] == task and saved["steps"] == 100

    with pytest.raises(ConfigError, match="already holds checkpoints"):
        run(PRESETS[task], sets, out_dir=out, progress=False)

    last = run(PRESETS[task], [*sets, "steps=6"], out_dir=out, resume=True, progress=False)
    assert last.name == "step-00000006" and len(calls) == 6  # steps 4, 5 and 6 only
    rows = _rows(out)
    assert [r["step"] for r in rows] == ["0", "2", "4", "6"]
    assert rows[-1][metric] and all(float(r["loss"]) > 0 for r in rows[1:])  # evaluated at the end
    assert sorted(p.name for p in (out / "checkpoints").glob("step-*")) == ["step-00000003", "step-00000006"]
    state = _state(last)
    assert state["hours"] > _state(out / "checkpoints" / "step-00000003")["hours"] > 0

    with pytest.raises(ConfigError, match="another model config"):
        run(PRESETS[task], [*sets, "steps=8", OTHER_MODEL[task]], out_dir=out, resume=True, progress=False)


@pytest.mark.parametrize("task", ["codec", "refseg"])
def test_divergence_rolls_back_to_the_last_checkpoint_and_halves_the_learning_rate(
    task, images, tmp_path, monkeypatch
):
    calls = _patch_loss(monkeypatch, task, lambda call, loss: loss * 1000 if call in (9, 10) else loss)
    out = tmp_path / "run"
    sets = ["steps=12", "ckpt_every=4", "log_every=2", "warmup=1", "diverge_factor=4.0"]
    last = run(PRESETS[task], _sets(task, images, *sets), out_dir=out, progress=False)
    assert last.name == "step-00000012" and _state(last)["lr_scale"] == 0.5
    assert len(calls) == 14  # 12 steps + steps 9 and 10 again after the rollback to step 8
    rows = [r for r in _rows(out) if r["loss"]]
    assert [int(r["step"]) for r in rows] == [2, 4, 6, 8, 10, 12]  # the diverged window never logged
    losses = [float(r["loss"]) for r in rows]
    assert max(losses) < 10 * min(losses)
    assert float(rows[-1]["lr"]) < float(rows[3]["lr"])


@pytest.mark.parametrize("task", ["codec", "refseg"])
def test_non_finite_steps_are_skipped(task, images, tmp_path, monkeypatch):
    calls = _patch_loss(monkeypatch, task, lambda call, loss: loss * math.nan if call == 3 else loss)
    out = tmp_path / "run"
    last = run(PRESETS[task], _sets(task, images, "steps=4", "ckpt_every=4"), out_dir=out, progress=False)
    assert last.name == "step-00000004" and len(calls) == 5
    assert all(math.isfinite(float(r["loss"])) for r in _rows(out) if r["loss"])
    for name in ("model.safetensors", "ema.safetensors"):
        assert all(
            torch.isfinite(t).all() for t in load_file(str(last / name)).values() if t.is_floating_point()
        )


@pytest.mark.parametrize("task", ["codec", "refseg", "vqa", "deep-jscc", "generative"])
def test_exported_weights_load_and_init_continues_their_step_and_hours(task, images, tmp_path):
    cls = task_class(task)
    last = run(
        PRESETS[task], _sets(task, images, "steps=4", "ckpt_every=4"), out_dir=tmp_path / "a", progress=False
    )
    shipped = export_weights(last, tmp_path / "weights")
    meta = read_metadata(shipped)
    assert (meta["weights"], meta["step"], meta["preset"]) == ("ema", "4", cls.preset)
    model = cls.model_class.from_pretrained(shipped)
    ema = load_file(str(last / "ema.safetensors"))
    stored = load_file(str(shipped / "model.safetensors"))
    for name, tensor in model.state_dict().items():
        assert stored[name].dtype == (cls.export_dtype or tensor.dtype)
        torch.testing.assert_close(tensor, ema[name], atol=2e-3, rtol=2e-3)  # fp16 for the codec
    # as the committed weights say: 4 steps, 1.5 hours
    model.save_pretrained(shipped, dtype=cls.export_dtype, metadata={**meta, "train_hours": "1.500"})

    sets = _sets(task, images, "steps=6", "warmup=4", "ckpt_every=2", "log_every=2", f'init="{shipped}"')
    last = run(PRESETS[task], sets, out_dir=tmp_path / "b", progress=False)
    assert last.name == "step-00000006"
    assert 1.5 < _state(last)["hours"] < 1.6
    rows = [r for r in _rows(tmp_path / "b") if r["loss"]]
    assert rows[0]["step"] == "6"  # no evaluation at "step 0": the run started at step 4
    # the fresh optimizer re-warms: the 2nd step after init runs at 2/4 of the schedule's rate
    cfg = replace(load_preset(cls.config_class, PRESETS[task]), steps=6, warmup=4)
    assert float(rows[0]["lr"]) == pytest.approx(0.5 * lr_at(cfg, 5), rel=2e-3)
    with pytest.raises(ConfigError, match="another model config"):
        run(PRESETS[task], [*sets, OTHER_MODEL[task]], out_dir=tmp_path / "c", progress=False)


def test_lr_schedule_from_an_origin():
    cfg = TrainConfig(steps=110, lr=1e-3, lr_min=1e-5, warmup=10)
    assert lr_at(cfg, 10, origin=10) == pytest.approx(cfg.lr / cfg.warmup)  # a fresh warm-up
    assert lr_at(cfg, 20, origin=10) == pytest.approx(cfg.lr)  # the cosine's top, 10 steps on
    assert lr_at(cfg, 110, origin=10) == pytest.approx(cfg.lr_min)
    assert lr_at(cfg, 20, origin=10) > lr_at(cfg, 20)  # the global schedule is past its top


def test_restart_schedule_starts_a_fresh_cosine_at_the_weights_step_and_resumes_it(images, tmp_path):
    last = run(PRESETS["codec"], _sets("codec", images, "steps=4", "ckpt_every=4"), out_dir=tmp_path / "a",
               progress=False)  # fmt: skip
    shipped = export_weights(last, tmp_path / "weights")
    sets = _sets("codec", images, "warmup=2", "ckpt_every=2", "log_every=1", f'init="{shipped}"',
                 "restart_schedule=true")  # fmt: skip
    last = run(PRESETS["codec"], [*sets, "steps=6"], out_dir=tmp_path / "b", progress=False)
    assert _state(last)["schedule_origin"] == 4
    cfg = replace(load_preset(task_class("codec").config_class, PRESETS["codec"]), steps=6, warmup=2)
    lrs = {int(r["step"]): float(r["lr"]) for r in _rows(tmp_path / "b") if r["loss"]}
    assert lrs[5] == pytest.approx(lr_at(cfg, 4, origin=4), rel=2e-3)  # half the peak: warming up
    assert lrs[6] == pytest.approx(lr_at(cfg, 5, origin=4), rel=2e-3)
    # A resume keeps the origin its checkpoint recorded.
    run(PRESETS["codec"], [*sets, "steps=8"], out_dir=tmp_path / "b", resume=True, progress=False)
    lrs = {int(r["step"]): float(r["lr"]) for r in _rows(tmp_path / "b") if r["loss"]}
    assert lrs[8] == pytest.approx(lr_at(replace(cfg, steps=8), 7, origin=4), rel=2e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("task", ["codec", "refseg"])
def test_a_tiny_run_trains_on_cuda_and_resumes_there(task, images, tmp_path):
    out = tmp_path / "run"
    sets = _sets(task, images, 'device="cuda"', "steps=4", "ckpt_every=2")
    run(PRESETS[task], sets, out_dir=out, progress=False)
    last = run(PRESETS[task], [*sets, "steps=6"], out_dir=out, resume=True, progress=False)
    assert last.name == "step-00000006"
    rows = _rows(out)
    assert all(math.isfinite(float(r["loss"])) for r in rows if r["loss"])
    assert rows[-1][task_class(task).metric]


# ---- the toy task of the trainer's docstring: a new task is one module and one registration ----


@dataclass(frozen=True)
class ToyNetConfig:
    width: int = 8


class ToyNet(PretrainedMixin, nn.Module):
    model_name = "toy"
    config_class = ToyNetConfig

    def __init__(self, config: ToyNetConfig) -> None:
        super().__init__()
        self.config = config
        self.proj = nn.Linear(config.width, config.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


@dataclass(frozen=True)
class ToyConfig(TrainConfig):
    task: str = "toy"
    model: ToyNetConfig = field(default_factory=ToyNetConfig)


class ToyTask(TrainTask[ToyConfig]):
    name, config_class, model_class, preset = "toy", ToyConfig, ToyNet, "configs/toy.toml"

    def batches(self, step, attempt):
        g = torch.Generator().manual_seed(self.cfg.seed + 1_000_003 * attempt + step)
        while True:
            yield torch.rand(self.local_batch, self.cfg.model.width, generator=g).to(self.device)

    def loss(self, net, x):
        return F.mse_loss(net(x), x), {}


@pytest.fixture
def toy_preset(tmp_path, monkeypatch) -> Path:
    monkeypatch.setitem(TASKS._factories, "toy", lambda: ToyTask)  # the one registration
    preset = tmp_path / "toy.toml"
    lines = ['task = "toy"', "steps = 40", "batch = 8", "lr = 0.05", "warmup = 2", "log_every = 10"]
    lines += ["threads = 1", "adaptive_threads = false", 'device = "cpu"', "[model]", "width = 4"]
    preset.write_text("\n".join(lines) + "\n")
    return preset


def test_a_new_task_trains_exports_and_loads(toy_preset, tmp_path):
    last = run(toy_preset, [], out_dir=tmp_path / "run", progress=False)
    assert last.name == "step-00000040"
    rows = _rows(tmp_path / "run")
    assert list(rows[0]) == ["step", "hours", "loss", "lr", "threads"]  # no metric, no extra scalars
    assert float(rows[-1]["loss"]) < 0.5 * float(rows[0]["loss"])  # it learns the identity
    model = ToyNet.from_pretrained(export_weights(last, tmp_path / "weights"))
    assert (
        model.config == ToyNetConfig(width=4)
        and read_metadata(tmp_path / "weights")["preset"] == "configs/toy.toml"
    )


def test_a_loss_that_stays_non_finite_stops_the_run_and_gives_the_threads_back(
    toy_preset, tmp_path, monkeypatch
):
    monkeypatch.setattr(ToyTask, "loss", lambda self, net, x: (net(x).sum() * math.nan, {}))
    torch.set_num_threads(3)
    with pytest.raises(FloatingPointError, match="non-finite"):
        run(toy_preset, [], out_dir=tmp_path / "run", progress=False)
    assert torch.get_num_threads() == 3


def test_max_minutes_stops_with_a_checkpoint(toy_preset, tmp_path):
    last = run(toy_preset, ["max_minutes=1e-9"], out_dir=tmp_path / "run", progress=False)
    assert last.name == "step-00000001"


def test_a_trainer_takes_a_task_object_and_checks_the_device(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="device"):
        ToyConfig(device="gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="no CUDA device"):
        Trainer(ToyTask(ToyConfig(device="cuda", steps=1)), tmp_path / "run", progress=False).fit()
    last = Trainer(ToyTask(ToyConfig(steps=2, threads=1)), tmp_path / "run", progress=False).fit()
    assert last is not None and last.name == "step-00000002"  # "auto" without CUDA: the CPU
