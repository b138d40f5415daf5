"""`mllmsc train` under `torchrun --nproc-per-node 2` (DDP over gloo): two real processes."""

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _train(out: Path, preset: str, *args: str, nproc: int) -> subprocess.CompletedProcess:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    command = [
        *launcher,
        "-m",
        "mllmsc",
        "train",
        "--preset",
        str(CONFIGS / preset),
        "--out",
        str(out),
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def _losses(out: Path) -> dict[int, float]:
    with (out / "log.csv").open(newline="") as f:
        return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(f) if r["loss"]}


def _state(out: Path) -> dict:
    latest = (out / "checkpoints" / "latest").read_text().strip()
    return json.loads((out / "checkpoints" / latest / "state.json").read_text())


def test_codec_trains_on_two_processes_and_resumes(images, tmp_path):
    data = [f"--set=data={images}", "--set=batch=4"]
    two = _train(tmp_path / "two", "codec_tiny.toml", *data, nproc=2)
    assert two.returncode == 0, two.stderr[-2000:]
    state = _state(tmp_path / "two")
    assert state["world_size"] == 2 and state["step"] == 6
    losses = _losses(tmp_path / "two")
    assert sorted(losses) == [2, 4, 6]  # one log, written once (by rank 0), not once per rank

    one = _train(tmp_path / "one", "codec_tiny.toml", *data, nproc=1)
    assert one.returncode == 0, one.stderr[-2000:]
    single = _losses(tmp_path / "one")
    # Same global batch and schedule: the curves agree in scale (data differ per rank).
    for step, loss in losses.items():
        assert math.isfinite(loss) and 0.5 < loss / single[step] < 2.0

    more = _train(tmp_path / "two", "codec_tiny.toml", *data, "--set=steps=8", "--resume", nproc=2)
    assert more.returncode == 0, more.stderr[-2000:]
    assert _state(tmp_path / "two")["step"] == 8
    assert sorted(_losses(tmp_path / "two")) == [2, 4, 6, 8]


def test_refseg_trains_on_two_processes(tmp_path):
    run = _train(tmp_path / "rs", "tiny_refseg_tiny.toml", nproc=2)
    assert run.returncode == 0, run.stderr[-2000:]
    assert _state(tmp_path / "rs")["world_size"] == 2
    assert sorted(_losses(tmp_path / "rs")) == [2, 4]


def test_a_batch_that_does_not_split_is_a_clear_error(images, tmp_path):
    run = _train(tmp_path / "odd", "codec_tiny.toml", f"--set=data={images}", "--set=batch=3", nproc=2)
    assert run.returncode != 0
    assert "mllmsc: error: batch 3 does not split over 2 processes" in run.stderr
