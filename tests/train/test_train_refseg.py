"""The refseg task's own pieces (targets, loss, vocabulary, the scene stream's worker); the loop's
behaviour (resume, rollback, init, export) is tested for every task in test_trainer.py."""

from pathlib import Path

import numpy as np
import pytest
import torch

from mllmsc.config import ConfigError
from mllmsc.data.scenes import generate_scene
from mllmsc.guidance.tiny_refseg_model import TinyRefSeg
from mllmsc.train.checkpoint import latest_checkpoint
from mllmsc.train.refseg import RefSegTask, RefSegTrainConfig, build_vocab, refseg_loss, scene_samples

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny_refseg_tiny.toml"


def test_soft_targets_are_block_means_of_the_scene_masks():
    scene = generate_scene(3, 0, size=64)
    samples = scene_samples(scene, 32, per_scene=100, rng=np.random.default_rng(0))
    assert len(samples) == len(scene.expressions)
    texts = [e.text for e in scene.expressions]
    for x, text, soft in samples:
        assert x.shape == (3, 32, 32) and soft.shape == (1, 16, 16)
        mask = scene.expressions[texts.index(text)].mask
        assert float(soft.sum()) * 16 == pytest.approx(mask.sum())  # each target pixel covers 4×4
        assert float(soft.max()) <= 1 and float(soft.min()) >= 0


def test_loss_prefers_the_right_mask():
    truth = torch.zeros(2, 1, 8, 8)
    truth[:, :, 2:5, 2:5] = 1
    right, wrong = 8 * (2 * truth - 1), -8 * (2 * truth - 1)
    assert refseg_loss(right, truth, 1.0) < 0.01 < 1.0 < refseg_loss(wrong, truth, 1.0)


def test_vocab_holds_every_word_the_generator_says():
    cfg = RefSegTrainConfig(vocab_scenes=20)
    vocab = build_vocab(cfg)
    assert vocab[:2] == ("<pad>", "<unk>")
    for word in ("red", "heart", "how", "many", "colour", "left", "corner", "focus"):
        assert word in vocab


def test_bad_presets_are_config_errors():
    with pytest.raises(ConfigError, match="task = 'refseg'"):
        RefSegTrainConfig(task="codec")
    with pytest.raises(ConfigError, match="multiple of model.image_size"):
        RefSegTrainConfig(scene_size=100)


def test_the_vocabulary_is_built_for_a_fresh_run_and_taken_from_weights_otherwise():
    from mllmsc.guidance.tiny_refseg_model import TinyRefSegConfig

    task = RefSegTask(RefSegTrainConfig(vocab_scenes=5))
    fresh = task.model_config()
    assert "red" in fresh.vocab and fresh.vocab[:2] == ("<pad>", "<unk>")
    other_words = TinyRefSegConfig(vocab=("<pad>", "<unk>", "zebra"))
    assert task.same_model(other_words)  # the vocabulary travels with the weights
    assert not task.same_model(TinyRefSegConfig(vocab=("<pad>", "<unk>"), embed=16))


def test_a_tiny_model_learns_one_batch():
    torch.manual_seed(0)
    cfg = RefSegTrainConfig(vocab_scenes=5)
    from mllmsc.guidance.tiny_refseg_model import TinyRefSegConfig

    model = TinyRefSeg(
        TinyRefSegConfig(vocab=build_vocab(cfg), image_size=32, widths=(8, 8, 16), stem=8, embed=8)
    )
    scene = generate_scene(5, 1, size=64)
    batch = scene_samples(scene, 32, per_scene=4, rng=np.random.default_rng(0))
    x = torch.stack([b[0] for b in batch])
    texts = [b[1] for b in batch]
    soft = torch.stack([b[2] for b in batch])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = refseg_loss(model(x, texts), soft, 1.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.6 * losses[0]


def test_sigterm_to_the_process_group_checkpoints_before_exit(tmp_path):
    """Ctrl-C or a kill reaches the data worker too; the trainer must still save and exit cleanly."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    sets = ["--set=workers=1", "--set=steps=100000", "--set=ckpt_every=0", "--set=ckpt_minutes=1000"]
    command = [sys.executable, "-m", "mllmsc", "train", "--preset", str(TINY), "--out", str(out), *sets]
    proc = subprocess.Popen(command, start_new_session=True, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "log.csv").is_file() or len((out / "log.csv").read_text().splitlines()) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "training did not start"
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err[-2000:]
    assert latest_checkpoint(out) is not None


def test_an_init_run_with_varied_scenes_learns_the_new_words_on_top_of_the_old_ones(tmp_path):
    from mllmsc.train import export_weights, run

    first = run(TINY, ["steps=2"], out_dir=tmp_path / "a", progress=False)
    export_weights(first, tmp_path / "weights")
    old = TinyRefSeg.from_pretrained(tmp_path / "weights").config.vocab
    assert "disc" not in old
    last = run(
        TINY,
        [f"init={tmp_path / 'weights'}", "varied_fraction=0.5", "steps=4"],
        out_dir=tmp_path / "b",
        progress=False,
    )
    export_weights(last, tmp_path / "grown")
    grown = TinyRefSeg.from_pretrained(tmp_path / "grown").config.vocab
    assert grown[: len(old)] == old  # the trained words keep their ids
    assert {"disc", "violet", "upper", "hey"} <= set(grown)


def test_varied_fraction_must_be_a_share():
    with pytest.raises(ConfigError, match="varied_fraction"):
        RefSegTrainConfig(varied_fraction=1.5)
