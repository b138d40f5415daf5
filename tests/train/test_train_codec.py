"""The codec task's own pieces (conditions, loss, evaluation, KLT start, device); the loop's behaviour
(resume, rollback, init, export) is tested for every task in test_trainer.py."""

import json
from pathlib import Path

import pytest
import torch

from mllmsc.codec import IAJSCC, IAJSCCConfig
from mllmsc.config import ConfigError
from mllmsc.train import preset_task, run
from mllmsc.train.checkpoint import flatten_optimizer, unflatten_optimizer
from mllmsc.train.codec import (
    CodecTask,
    CodecTrainConfig,
    evaluate_kodak_psnr,
    sample_conditions,
    weighted_mse,
)
from mllmsc.train.loop import Distributed, lr_at, training_device

TINY = Path(__file__).resolve().parents[2] / "configs" / "codec_tiny.toml"
PRESET = TINY.with_name("codec.toml")


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
    with pytest.raises(ConfigError, match="task = 'codec'"):
        CodecTrainConfig(task="refseg")


def test_a_missing_data_folder_is_a_one_line_user_error(tmp_path):
    from mllmsc.errors import UserError

    with pytest.raises(UserError, match="not a folder"):
        run(TINY, [f'data="{tmp_path / "nowhere"}"'], out_dir=tmp_path / "run", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no images"):
        run(TINY, [f'data="{tmp_path / "empty"}"'], out_dir=tmp_path / "run2", progress=False)


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
    assert training_device("cpu", single) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert training_device("auto", single) == torch.device("cpu")
    with pytest.raises(ConfigError, match="no CUDA device"):
        training_device("cuda:0", single)


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


def test_batches_and_loss_on_the_task(images):
    task = CodecTask(CodecTrainConfig(model=IAJSCCConfig(channels=(4, 4), k_max=8), data=str(images)))
    x, importance, k, snr = next(task.batches(0, 0))
    assert x.shape == (16, 3, 96, 96) and importance.shape == (16, 1, 96, 96) and k.shape == (16, 1, 24, 24)
    # the same step and attempt draw the same batch; another rollback attempt draws another
    assert torch.equal(next(task.batches(0, 0))[0], x) and not torch.equal(next(task.batches(0, 1))[0], x)
    small = CodecTask(
        CodecTrainConfig(model=IAJSCCConfig(channels=(4, 4), k_max=8), data=str(images), batch=2)
    )
    batch = next(small.batches(5, 0))
    loss, scalars = small.loss(IAJSCC(small.cfg.model), batch)
    assert loss.dim() == 0 and loss > 0 and set(scalars) == {"psnr"}


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
