"""`mllmsc train` on one process against `torchrun --nproc-per-node 2` (DDP, gloo): loss curves.

    .venv/bin/python benchmarks/ddp.py                  # codec preset, smaller model, 300 steps each
    .venv/bin/python benchmarks/ddp.py --steps 50 --no-write

Both runs use the same preset, global batch and learning-rate schedule (DDP gives each of the two
processes half the batch); the data differ (each rank draws its own crops), so the curves should
agree in shape and level, not step for step. Writes the ``<!-- ddp -->`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import replace_section  # noqa: E402

# A smaller codec than the shipped one, so both runs take minutes on 2 cores.
SETTINGS = [
    "model.channels=[32,64,64,64]", "model.k_max=96", "batch=8", "crop_sizes=[64]", "crop_steps=[0]",
    "eval_images=[]", "warmup=50", "log_every=25", "ckpt_minutes=1000", "diverge_factor=0",
    "adaptive_threads=false",
]  # fmt: skip


def run(out: Path, nproc: int, steps: int, data: Path) -> float:
    sets = [f"--set={s}" for s in [*SETTINGS, f"steps={steps}", f"data={data}", "threads=2"]]
    preset = str(ROOT / "configs" / "codec.toml")
    train = ["-m", "mllmsc", "train", "--preset", preset, "--out", str(out), *sets]
    if nproc > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
        command += train
    else:
        command = [sys.executable, *train]
    start = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": str(2 // nproc)})
    return time.perf_counter() - start


def losses(out: Path) -> dict[int, float]:
    with (out / "log.csv").open(newline="") as f:
        return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(f) if r["loss"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "train")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one_s = run(Path(tmp) / "one", 1, args.steps, args.data)
        two_s = run(Path(tmp) / "two", 2, args.steps, args.data)
        one, two = losses(Path(tmp) / "one"), losses(Path(tmp) / "two")
    steps = sorted(set(one) & set(two))
    shown = [s for s in steps if s % max(25, (args.steps // 6) // 25 * 25) == 0 or s == steps[-1]]
    table = ["| step | " + " | ".join(str(s) for s in shown) + " |", "|---|" + "---|" * len(shown)]
    table.append("| 1 process | " + " | ".join(f"{one[s]:.4f}" for s in shown) + " |")
    table.append("| torchrun, 2 processes | " + " | ".join(f"{two[s]:.4f}" for s in shown) + " |")
    late = [s for s in steps if s > steps[-1] // 2]
    ratio = sum(two[s] for s in late) / sum(one[s] for s in late)
    markdown = "\n".join(
        [
            "## Training under torchrun (DDP, gloo)",
            "",
            f"`python benchmarks/ddp.py --steps {args.steps}`: the codec preset with a smaller model "
            "(channels 32–64, k_max 96), global batch 8 of 64-px crops, same schedule; "
            "`mllmsc train` in one process (2 threads) against `torchrun --standalone --nproc-per-node 2 "
            "-m mllmsc train` (1 thread each, 4 items per rank, gradients averaged by DDP). Logged loss "
            "(importance-weighted MSE, mean over the last 25 steps and over ranks):",
            "",
            *table,
            "",
            f"Second half of the run, mean loss 2 processes / 1 process = {ratio:.3f}. Wall time: "
            f"{one_s / 60:.1f} min (1 process, 2 threads) and {two_s / 60:.1f} min (2 processes, 1 thread "
            "each) on this 2-core CPU, process start-up included.",
        ]
    )
    print(markdown)
    if not args.no_write:
        replace_section("ddp", markdown)


if __name__ == "__main__":
    main()
