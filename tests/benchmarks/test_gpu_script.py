"""benchmarks/gpu/run.sh, the one device call of a session lent a GPU, rehearsed on the CPU.

``--cpu-tiny`` walks the GPU run's stages (wheels, environment, CUDA tests, training on from the
shipped weights, export, summary) with generated images, so it needs neither ../shared, nor the
carried wheels, nor a network.
"""

import csv
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

from mllmsc.codec import IAJSCC
from mllmsc.pretrained import read_metadata

ROOT = Path(__file__).resolve().parents[2]
GPU = ROOT / "benchmarks" / "gpu"
SHIPPED = ROOT / "src" / "mllmsc" / "weights" / "ia-jscc"
# What the device tool brings back: at most 8 files, at most 2 folders down.
OUTPUTS = [
    "env.txt", "log.csv", "pytest.log", "run.log", "summary.json", "train_config.json",
    "weights/config.json", "weights/model.safetensors",
]  # fmt: skip


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "OUT": str(tmp_path / "out"),
        "WORK": str(tmp_path / "work"),
        "PYTHON": sys.executable,
        "WHL_DIR": str(tmp_path / "no-wheels"),  # the packages are installed here
    }


def test_the_cpu_rehearsal_runs_every_stage_and_writes_what_the_gpu_run_brings_back(tmp_path):
    proc = subprocess.run(
        ["bash", str(GPU / "run.sh"), "--cpu-tiny"],
        env=_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    out = tmp_path / "out"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == OUTPUTS

    # the exported EMA weights: the shipped model, 4 steps further on
    model = IAJSCC.from_pretrained(out / "weights")
    assert model.config == IAJSCC.from_pretrained(SHIPPED).config
    start = int(read_metadata(SHIPPED)["step"])
    assert read_metadata(out / "weights")["step"] == str(start + 4)

    with (out / "log.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [start + 2, start + 4]
    assert all(math.isfinite(float(r["loss"])) for r in rows)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["stages"] == {"install": 0, "env": 0, "tests": 0, "train": 0}
    assert summary["errors"] == []
    assert (summary["steps"], summary["steps_run"], summary["batch"]) == (start + 4, 4, 2)
    assert summary["hours"] > summary["start_hours"] > 0
    assert summary["steps_per_s"] > 0
    assert 15 < summary["kodak_psnr"] < 60 and 15 < summary["kodak_psnr_init"] < 60
    assert summary["curve"][-1][0] == start + 4  # the evaluation at the last step, as log.csv has it
    assert re.search(r"\b2 (passed|skipped)\b", summary["tests"])  # the CUDA tests, skipped without a GPU
    assert json.loads((out / "train_config.json").read_text())["init"].endswith("ia-jscc")


def test_finish_writes_a_summary_when_the_training_left_nothing(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "work").mkdir()
    folders = ["--work", str(tmp_path / "work"), "--out", str(tmp_path / "out")]
    command = [sys.executable, str(GPU / "codec_run.py"), "finish", "--mode", "gpu", *folders]
    proc = subprocess.run(
        [*command, "--stages", "install=0", "train=1"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 1
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["stages"] == {"install": 0, "train": 1}
    assert summary["errors"] and summary["errors"][0].startswith("export: FileNotFoundError")
    assert "steps" not in summary and "kodak_psnr" not in summary
