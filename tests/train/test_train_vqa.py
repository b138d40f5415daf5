"""The vqa task's own pieces (question picking, the degraded scene stream, the grounding start);
the loop's behaviour (resume, init, export) is tested for every task in test_trainer.py."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mllmsc.config import ConfigError, load_preset
from mllmsc.data.scenes import generate_scene
from mllmsc.guidance.tiny_refseg_model import TinyRefSeg
from mllmsc.tasks.answers import ALL_ANSWERS
from mllmsc.train.vqa import QuestionStream, VQATask, VQATrainConfig, evaluate_accuracy, pick_questions

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny_vqa_tiny.toml"


@pytest.fixture
def cfg() -> VQATrainConfig:
    cfg = load_preset(VQATrainConfig, TINY)
    return replace(cfg, model=VQATask(cfg).model_config())


def test_questions_are_balanced_over_kinds():
    scene = generate_scene(3, 7, size=64, n_expressions=1000)
    kinds = {e.subtype for e in scene.expressions if e.type == "question"}
    picked = pick_questions(scene, len(kinds), np.random.default_rng(0))
    assert {q.subtype for q in picked} == kinds  # one of each kind before a second of any
    assert all(q.type == "question" for q in pick_questions(scene, 100, np.random.default_rng(0)))


def test_stream_samples_carry_image_question_mask_and_answer(cfg):
    stream = QuestionStream(replace(cfg, p_channel=0.0), [], start=0)
    samples = [s for _, s in zip(range(12), iter(stream), strict=False)]
    size = cfg.model.grounding.image_size
    for x, question, soft, answer in samples:
        assert x.shape == (3, size, size) and soft.shape == (1, size // 2, size // 2)
        assert isinstance(question, str) and question.endswith("?") or question.startswith("count")
        assert 0 <= int(answer) < len(ALL_ANSWERS) and soft.sum() > 0


def test_degraded_scenes_differ_from_clean_ones_and_follow_the_seed(cfg):
    clean = next(iter(QuestionStream(replace(cfg, p_channel=0.0), [], start=5)))[0]
    noisy = [next(iter(QuestionStream(replace(cfg, p_channel=1.0), [], start=5)))[0] for _ in range(2)]
    assert torch.equal(noisy[0], noisy[1])  # scene i is degraded the same way every time
    assert not torch.equal(clean, noisy[0]) and noisy[0].min() >= 0 and noisy[0].max() <= 1


def test_a_fresh_run_starts_its_grounding_from_the_refseg_weights(cfg, tmp_path):
    torch.manual_seed(0)
    grounder = TinyRefSeg(cfg.model.grounding)
    grounder.save_pretrained(tmp_path / "refseg")
    task = VQATask(replace(cfg, grounding_init=str(tmp_path / "refseg")))
    model_cfg = task.model_config()
    assert model_cfg.grounding == grounder.config
    model = task.model_class(model_cfg)
    task.setup(model)
    for name, tensor in grounder.state_dict().items():
        assert torch.equal(model.grounder.state_dict()[name], tensor)
    groups = task.optimizer(model).param_groups
    assert [g["lr_scale"] for g in groups] == [1.0, cfg.grounder_lr_scale]


def test_accuracy_is_a_fraction_per_kind(cfg):
    task = VQATask(cfg)
    model = task.model_class(cfg.model)
    task.cfg = replace(cfg, val_scenes=3)
    assert task.load_eval()
    scores = task.evaluate(model)
    assert 0 <= scores["val_acc"] <= 1 and set(scores) - {"val_acc"} <= {"colour", "count", "shape", "where"}
    mean, per_kind = evaluate_accuracy(model, task._val)
    assert mean == pytest.approx(sum(per_kind.values()) / len(per_kind))


def test_bad_presets_are_config_errors():
    with pytest.raises(ConfigError, match="task = 'vqa'"):
        VQATrainConfig(task="refseg")
    with pytest.raises(ConfigError, match="p_channel"):
        VQATrainConfig(p_channel=1.5)
