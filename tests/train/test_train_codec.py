"""The codec trainer end to end on a tiny preset and synthetic images (no ../shared needed)."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mllmsc.codec import IAJSCC, IAJSCCConfig
from mllmsc.config import ConfigError
from mllmsc.train import preset_task, run
from mllmsc.train.checkpoint import flatten_optimizer, latest_checkpoint, unflatten_optimizer
from mllmsc.train.codec import (
    CodecTrainConfig,
    evaluate_kodak_psnr,
    export_weights,
    lr_at,
    sample_conditions,
    training_device,
    weighted_mse,
)
from mllmsc.train.loop import Distributed


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine two threads can be many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TINY = Path(__file__).resolve().parents[2] / "configs" / "codec_tiny.toml"
PRESET = TINY.with_name("codec.toml")


@pytest.fixture
def images(tmp_path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        h, w = 40 + 8 * i, 48
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.stack([xx * 5, yy * 5, (xx + yy) * 2], -1) + rng.integers(0, 30, (h, w, 3))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f"im{i}.png")
    return folder


def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_tiny_run_writes_checkpoints_and_csv_then_resumes(images, tmp_path):
    out = tmp_path / "run"
    common = [f'data="{images}"', f'eval_data="{images}"', 'eval_images=["im0.png"]']
    last = run(TINY, common, out_dir=out, progress=False)
    assert last.name == "step-00000006"
    for name in (
        "config.json",
        "model.safetensors",
        "ema.safetensors",
        "optimizer.safetensors",
        "state.json",
    ):
        assert (last / name).is_file()
    assert json.loads((last / "state.json").read_text())["step"] == 6
    assert latest_checkpoint(out) == last
    rows = _rows(out / "log.csv")
    assert rows[0]["step"] == "0" and rows[0]["kodak_psnr"]  # held-out PSNR before training
    assert [r["step"] for r in rows[1:]] == ["2", "4", "6"]
    assert all(float(r["loss"]) > 0 for r in rows[1:])
    # The EMA checkpoint loads as a model.
    assert isinstance(IAJSCC.from_pretrained(last), IAJSCC)

    # Without resume, nothing is overwritten.
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        run(TINY, common, out_dir=out, progress=False)

    # Resume continues from step 6 to the new end.
    last = run(TINY, [*common, "steps=9"], out_dir=out, resume=True, progress=False)
    assert last.name == "step-00000009"
    assert [r["step"] for r in _rows(out / "log.csv")][1:] == ["2", "4", "6", "8", "9"]
    assert sorted(p.name for p in (out / "checkpoints").glob("step-*")) == ["step-00000006", "step-00000009"]

    # A different model cannot resume this run.
    with pytest.raises(ConfigError, match="another model config"):
        run(TINY, [*common, "steps=12", "model.k_max=4"], out_dir=out, resume=True, progress=False)

    exported = export_weights(last, tmp_path / "weights")
    model = IAJSCC.from_pretrained(exported)
    assert model.config.k_max == 8


def test_resume_restores_weights_and_optimizer(images, tmp_path):
    out = tmp_path / "run"
    common = [f'data="{images}"', "steps=3", "ckpt_every=3"]
    last = run(TINY, common, out_dir=out, progress=False)
    model = IAJSCC.from_pretrained(last)
    from safetensors.torch import load_file

    saved = load_file(str(last / "model.safetensors"))
    for name, t in model.state_dict().items():
        assert torch.equal(t, saved[name])
    opt = load_file(str(last / "optimizer.safetensors"))
    assert any(k.endswith("exp_avg_sq") for k in opt)


def test_a_new_run_can_start_from_shipped_weights(images, tmp_path):
    common = [f'data="{images}"', "steps=4", "ckpt_every=4"]
    last = run(TINY, common, out_dir=tmp_path / "first", progress=False)
    shipped = export_weights(last, tmp_path / "weights", fp16=False)
    # a fresh folder (a new session's checkout) continues from the committed weights and their step
    last = run(TINY, [*common, "steps=6", f'init="{shipped}"'], out_dir=tmp_path / "second", progress=False)
    assert json.loads((last / "state.json").read_text())["step"] == 6
    assert [r["step"] for r in _rows(tmp_path / "second" / "log.csv")][-1] == "6"
    with pytest.raises(ConfigError, match="another model config"):
        run(TINY, [*common, "model.k_max=4", f'init="{shipped}"'], out_dir=tmp_path / "third", progress=False)


def test_optimizer_flatten_round_trip():
    model = IAJSCC(IAJSCCConfig(channels=(4,), k_max=2, res_blocks=0, hf_blocks=0, film_hidden=2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    opt.step()
    tensors, meta = flatten_optimizer(opt)
    json.dumps(meta)  # JSON-able
    restored = unflatten_optimizer(tensors, json.loads(json.dumps(meta)))
    opt2 = torch.optim.Adam(model.parameters(), lr=1e-3)
    opt2.load_state_dict(restored)
    a, b = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert a.keys() == b.keys()
    for i in a:
        for name in a[i]:
            assert torch.equal(torch.as_tensor(a[i][name]), torch.as_tensor(b[i][name]))


def test_presets_parse_and_unknown_task(tmp_path):
    assert preset_task(PRESET) == "codec" and preset_task(TINY) == "codec"
    from mllmsc.config import load_preset

    cfg = load_preset(CodecTrainConfig, PRESET)
    assert cfg.model.cell == 16 and cfg.model.k_max == 192
    bad = tmp_path / "bad.toml"
    bad.write_text('task = "nonsense"\n')
    with pytest.raises(ConfigError, match="unknown training task"):
        run(bad, [], out_dir=tmp_path / "x")
    (tmp_path / "none.toml").write_text("steps = 3\n")
    with pytest.raises(ConfigError, match="no 'task'"):
        run(tmp_path / "none.toml", [], out_dir=tmp_path / "x")
    with pytest.raises(ConfigError, match="unknown key"):
        run(TINY, ["nonsense=1"], out_dir=tmp_path / "x")


def test_conditions_and_loss():
    cfg = CodecTrainConfig(
        model=IAJSCCConfig(channels=(4, 4), k_max=8),
        crop_sizes=(32,),
        crop_steps=(0,),
        cbr_min=0.05,
        cbr_max=0.2,
    )
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        m, k, snr = sample_conditions(cfg, 8, 32, g)
        assert m.shape == (8, 1, 32, 32) and k.shape == (8, 1, 8, 8)
        assert (k >= 0).all() and (k <= 8).all() and (k.flatten(1).sum(1) > 0).all()
        assert (snr >= 0).all() and (snr <= 20).all()
    x = torch.rand(2, 3, 8, 8)
    ones = torch.ones(2, 1, 8, 8)
    assert torch.allclose(weighted_mse(x * 0, x, ones, 2.0), x.square().mean(dim=1).flatten(1).mean(1).mean())
    assert lr_at(cfg, 0) < lr_at(cfg, cfg.warmup) and lr_at(cfg, cfg.steps) == pytest.approx(cfg.lr_min)


def test_evaluate_psnr_helper(images):
    torch.manual_seed(0)
    model = IAJSCC(IAJSCCConfig(channels=(4, 4), k_max=8, res_blocks=1, hf_blocks=1, film_hidden=4))
    a = evaluate_kodak_psnr(model, images, snr_db=10, cbr=1 / 16)
    b = evaluate_kodak_psnr(model, images, snr_db=10, cbr=1 / 16)
    assert a == b and 0 < a < 60
    assert model.training  # restored


def test_device_option_is_checked_and_resolved(monkeypatch):
    for bad in ("gpu", "cuda:x", "cpu:0", "cuda:", ""):
        with pytest.raises(ConfigError, match="device"):
            CodecTrainConfig(device=bad)
    single = Distributed()  # no WORLD_SIZE here: one process
    assert training_device(CodecTrainConfig(device="cpu"), single) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert training_device(CodecTrainConfig(device="auto"), single) == torch.device("cpu")
    with pytest.raises(ConfigError, match="no CUDA device"):
        training_device(CodecTrainConfig(device="cuda:0"), single)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_tiny_run_trains_on_cuda(images, tmp_path):
    common = [f'data="{images}"', f'eval_data="{images}"', 'eval_images=["im0.png"]', 'device="cuda"']
    last = run(TINY, common, out_dir=tmp_path / "run", progress=False)
    assert (last / "ema.safetensors").is_file()
    rows = _rows(tmp_path / "run" / "log.csv")
    assert all(np.isfinite(float(r["loss"])) for r in rows if r["loss"])


def test_thread_tuner_keeps_the_faster_setting():
    from mllmsc.train.loop import ThreadTuner

    tuner = ThreadTuner(2, every=20, trial=4)
    assert tuner.current == 2
    for _ in range(200):  # one thread is twice as fast (a busy machine): the tuner moves to it
        tuner.update(0.5 if tuner.current == 1 else 1.0)
    assert tuner.best == 1
    for _ in range(200):  # the machine is free again: back to two threads
        tuner.update(0.3 if tuner.current == 2 else 0.5)
    assert tuner.best == 2
    fixed = ThreadTuner(2, enabled=False)
    for _ in range(50):
        fixed.update(1.0)
    assert fixed.current == 2


def test_divergence_rolls_back_and_halves_the_learning_rate(images, tmp_path, monkeypatch):
    import mllmsc.train.codec as trainer

    calls = {"n": 0}
    real = trainer.weighted_mse

    def spiking(*args, **kwargs):  # steps 9 and 10 blow up once
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * 1000 if calls["n"] in (9, 10) else loss

    monkeypatch.setattr(trainer, "weighted_mse", spiking)
    out = tmp_path / "run"
    overrides = [f'data="{images}"', "steps=12", "ckpt_every=4", "warmup=1", "diverge_factor=4.0"]
    last = run(TINY, overrides, out_dir=out, progress=False)
    state = json.loads((last / "state.json").read_text())
    assert last.name == "step-00000012" and state["lr_scale"] == 0.5
    steps = [int(r["step"]) for r in _rows(out / "log.csv")]
    assert steps == sorted(set(steps)) and steps[-1] == 12
    assert calls["n"] == 14  # 12 steps + the 2 that were rolled back


def test_a_fresh_run_starts_from_the_klt_of_its_training_patches(images, tmp_path):
    """Before step 0 the linear code is fitted to the data: the mean patch is the data's (not the
    DCT start's flat 0.5) and the basis stays orthonormal."""
    sets = [f'data="{images}"', "steps=1", "ckpt_every=1"]
    last = run(TINY, sets, out_dir=tmp_path / "run", progress=False)
    model = IAJSCC.from_pretrained(last)
    mean = model.transform.mean
    assert not torch.allclose(mean, torch.full_like(mean, 0.5), atol=1e-2)
    basis = model.transform.analysis.detach().flatten(1)
    assert torch.allclose(basis @ basis.T, torch.eye(basis.shape[0]), atol=5e-3)
