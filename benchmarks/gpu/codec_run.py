"""The stages of ``benchmarks/gpu/run.sh``: environment, timed codec training, export and summary.

    python benchmarks/gpu/codec_run.py env [--need-cuda]
    python benchmarks/gpu/codec_run.py train --mode gpu|cpu-tiny --work DIR --minutes M [key=value ...]
    python benchmarks/gpu/codec_run.py finish --mode gpu|cpu-tiny --work DIR --out DIR [--stages name=rc ...]

run.sh runs each stage as its own process, so a stage that dies (a CUDA fault, a timeout) loses
nothing the others wrote: ``finish`` exports whatever checkpoint the training left and always
writes ``summary.json``.

Both modes continue the shipped IA-JSCC (``init`` = src/mllmsc/weights/ia-jscc, trained 8,000 steps
on 2 CPU cores with ``configs/codec.toml``) with that same preset; they differ in device, batch,
crop, data and length only, so the CPU rehearsal walks the GPU run's code path:

- ``gpu``: CUDA, batch 64 of 128-px crops, from ``.gpu/`` (``prepare.sh`` packs it), for
  ``--minutes`` or 8,000 more steps, whichever comes first.
- ``cpu-tiny``: the CPU, batch 2 of 32-px crops, 4 steps, on a few generated images (seconds; the
  test ``tests/benchmarks/test_gpu_script.py`` runs it).
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PRESET = ROOT / "configs" / "codec.toml"
INIT = ROOT / "src" / "mllmsc" / "weights" / "ia-jscc"
PACKED = ROOT / ".gpu"  # what prepare.sh packs (../shared does not travel to the device machine)

# Why these settings on one H200: the model is small (2.2 M parameters), so a step of the CPU
# preset's batch 16 × 96 px leaves the GPU nearly idle and the step time is launch overhead plus
# the crops, maps and allocations the task draws on the CPU (about 50 ms for 64 × 128 px on this
# 2-core machine). Batch 64 of 128-px crops gives each step ~7× the pixels of the CPU preset for a
# small rise in step time; 128 px is also the crop the preset's default curriculum moves to. Larger
# batches would make the CPU side of each step longer still (it is single-threaded per item).
# threads=4: intra-op threads for that CPU side (the tuner measures 1 against 4 and keeps the
# faster). An evaluation every minute gives a learning curve; a checkpoint every 2 minutes bounds
# what a crash can lose.
GPU_SETS = [
    'device="cuda"', "batch=64", "crop_sizes=[128]", "crop_steps=[0]", "threads=4",
    "eval_minutes=1.0", "ckpt_minutes=2.0", "log_every=50",
]  # fmt: skip
GPU_EXTRA_STEPS = 8000  # the cosine schedule runs on to the shipped step + this (a 2nd run's worth)

CPU_TINY_SETS = [
    'device="cpu"', "batch=2", "crop_sizes=[32]", "crop_steps=[0]", "threads=1", "adaptive_threads=false",
    "eval_minutes=1000.0", "ckpt_every=2", "log_every=2", "diverge_factor=0.0",
    'eval_images=["eval0.png", "eval1.png"]',
]  # fmt: skip
CPU_TINY_EXTRA_STEPS = 4


def _quote(path: Path) -> str:
    return json.dumps(str(path))  # a TOML basic string, as `--set key=value` parses it


def make_images(folder: Path) -> tuple[Path, Path]:
    """A few smooth, noisy PNGs: training (64×80) and evaluation (64×96) folders for the CPU run."""
    import numpy as np
    from PIL import Image

    train, held_out = folder / "train", folder / "eval"
    train.mkdir(parents=True, exist_ok=True)
    held_out.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for path, (h, w) in [*((train / f"im{i}.png", (64, 80)) for i in range(4)),
                         *((held_out / f"eval{i}.png", (64, 96)) for i in range(2))]:  # fmt: skip
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.stack([xx * 3, yy * 3, (xx + yy) * 2], -1) + rng.integers(0, 40, (h, w, 3))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
    return train, held_out


# ---- env ----


def cmd_env(args: argparse.Namespace) -> int:
    import torch

    print(f"python {platform.python_version()} ({sys.executable}), torch {torch.__version__}")
    print(f"torch.version.cuda {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
    cuda = torch.cuda.is_available()
    print(f"cuda available: {cuda}, devices: {torch.cuda.device_count() if cuda else 0}")
    if cuda:
        p = torch.cuda.get_device_properties(0)
        print(
            f"device 0: {p.name}, capability {p.major}.{p.minor}, {p.total_memory / 2**30:.1f} GiB, "
            f"{p.multi_processor_count} SMs"
        )
        # A convolution forward and backward: cuDNN loads and runs (the codec is all convolutions).
        conv = torch.nn.Conv2d(3, 8, 3, padding=1).cuda()
        conv(torch.randn(2, 3, 32, 32, device="cuda")).square().mean().backward()
        torch.cuda.synchronize()
        print("cuda conv forward/backward: ok")
    import mllmsc.channel  # noqa: F401  (imports sionna, a carried wheel: an import error shows here)
    import mllmsc.train.codec  # noqa: F401

    print("imports (mllmsc.channel with sionna, mllmsc.train.codec): ok")
    if args.need_cuda and not cuda:
        print("env: CUDA is needed for this mode and torch sees none", file=sys.stderr)
        return 1
    return 0


# ---- train ----


def cmd_train(args: argparse.Namespace) -> int:
    import torch

    from mllmsc.train import run
    from mllmsc.train.loop import weights_provenance

    work: Path = args.work
    start_step, start_hours = weights_provenance(INIT)
    if args.mode == "gpu":
        data, held_out = PACKED / "train", PACKED / "kodak"
        if not data.is_dir() or not held_out.is_dir():
            print(f"train: {PACKED} has no train/ and kodak/: run benchmarks/gpu/prepare.sh and carry .gpu")
            return 2
        sets, extra = [*GPU_SETS, f"data={_quote(data)}", f"eval_data={_quote(held_out)}"], GPU_EXTRA_STEPS
        torch.backends.cudnn.benchmark = True  # fixed crop size: let cuDNN pick its fastest kernels
    else:
        data, held_out = make_images(work / "data")
        sets = [*CPU_TINY_SETS, f"data={_quote(data)}", f"eval_data={_quote(held_out)}"]
        extra = CPU_TINY_EXTRA_STEPS
    sets += [f"init={_quote(INIT)}", f"steps={start_step + extra}", f"max_minutes={args.minutes}", *args.sets]
    record: dict[str, Any] = {"mode": args.mode, "start_step": start_step, "start_hours": start_hours}
    record["overrides"] = sets
    stage_file = work / "train_stage.json"
    stage_file.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")  # before it can die
    print(f"train: {PRESET.relative_to(ROOT)} from step {start_step} with " + " ".join(sets))
    start = time.perf_counter()
    try:
        last = run(PRESET, sets, out_dir=work / "train", progress=True)
        record["last_checkpoint"] = str(last) if last else None
        return 0
    finally:
        record["wall_s"] = time.perf_counter() - start
        if torch.cuda.is_available():
            record["cuda_max_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
        stage_file.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(f"train: {record['wall_s']:.1f} s")


# ---- finish ----


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _kodak_psnr(folder: Path, cfg: dict[str, Any], device: str) -> float:
    from mllmsc.codec import IAJSCC
    from mllmsc.train.codec import evaluate_kodak_psnr

    model = IAJSCC.from_pretrained(folder).to(device)
    snr, cbr, names = cfg["eval_snr_db"], cfg["eval_cbr"], tuple(cfg["eval_images"])
    return evaluate_kodak_psnr(model, Path(cfg["eval_data"]), snr, cbr, names=names)


def _progress(
    rows: list[dict[str, str]], state: dict[str, Any], start_step: int, start_hours: float
) -> dict[str, Any]:
    """Steps, hours and throughput, and the evaluations in log.csv.

    The step and hours are the exported checkpoint's (``state``) where there is one: the run's
    last checkpoint can be a few steps past log.csv's last row. Hours count the training steps only.
    """
    if state:
        steps, hours = int(state["step"]), float(state["hours"])
    elif rows:
        steps, hours = int(rows[-1]["step"]), float(rows[-1]["hours"])
    else:
        return {}
    step_seconds = (hours - start_hours) * 3600
    curve = [[int(r["step"]), float(r["hours"]), float(r["kodak_psnr"])] for r in rows if r.get("kodak_psnr")]
    return {
        "steps": steps,
        "hours": round(hours, 4),
        "steps_run": steps - start_step,
        "step_seconds": round(step_seconds, 1),
        "steps_per_s": round((steps - start_step) / step_seconds, 3) if step_seconds > 0 else None,
        "kodak_psnr_log": curve[-1][2] if curve else None,
        "curve": curve,  # [step, hours, kodak_psnr] of each evaluation in log.csv
    }


def cmd_finish(args: argparse.Namespace) -> int:
    work, out = args.work, args.out
    train = work / "train"
    stage = _read_json(work / "train_stage.json")
    cfg = _read_json(train / "train_config.json")
    stages = {name: int(rc) for name, rc in (s.split("=", 1) for s in args.stages)}
    summary: dict[str, Any] = {"mode": args.mode, "stages": stages}
    errors: list[str] = []
    state: dict[str, Any] = {}  # the exported checkpoint's state.json

    def attempt(what: str, fn) -> Any:  # one failure must not lose the other outputs
        try:
            return fn()
        except Exception as err:  # recorded in summary.json, and printed
            traceback.print_exc()
            errors.append(f"{what}: {type(err).__name__}: {err}")
            return None

    for name in ("log.csv", "train_config.json"):
        if (train / name).is_file():
            shutil.copyfile(train / name, out / name)

    def export() -> Path | None:
        from mllmsc.train import export_weights
        from mllmsc.train.checkpoint import latest_checkpoint

        last = latest_checkpoint(train)
        if last is None:
            raise FileNotFoundError(f"no checkpoint in {train}")
        folder = export_weights(last, work / "weights")
        (out / "weights").mkdir(exist_ok=True)
        for name in ("config.json", "model.safetensors"):
            shutil.copyfile(folder / name, out / "weights" / name)
        summary["checkpoint"] = last.name
        state.update(_read_json(last / "state.json"))
        return folder

    weights = attempt("export", export)

    def environment() -> None:
        import torch

        summary["torch"] = torch.__version__
        summary["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None

    attempt("environment", environment)
    rows: list[dict[str, str]] = []
    if (train / "log.csv").is_file():
        with (train / "log.csv").open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    start_step, start_hours = int(stage.get("start_step", 0)), float(stage.get("start_hours", 0.0))
    summary.update(start_step=start_step, start_hours=start_hours)
    summary.update(attempt("log", lambda: _progress(rows, state, start_step, start_hours)) or {})
    wall = stage.get("wall_s")
    summary["train_wall_s"] = round(wall, 1) if wall else None
    if "cuda_max_memory_gib" in stage:
        summary["cuda_max_memory_gib"] = round(stage["cuda_max_memory_gib"], 2)
    if wall and summary.get("steps_run"):
        summary["wall_steps_per_s"] = round(summary["steps_run"] / wall, 3)
    if cfg:
        summary.update(batch=cfg["batch"], crop=cfg["crop_sizes"][-1], device=cfg["device"])
        if summary.get("steps_per_s"):
            summary["images_per_s"] = round(summary["steps_per_s"] * cfg["batch"], 1)
        summary["eval"] = {k: cfg[k] for k in ("eval_data", "eval_images", "eval_snr_db", "eval_cbr")}
        import torch

        device = "cuda" if args.mode == "gpu" and torch.cuda.is_available() else "cpu"
        if device == "cpu":
            torch.set_num_threads(1)  # small images: a second thread only fights for the cores
        summary["kodak_psnr_init"] = attempt("eval init", lambda: _kodak_psnr(INIT, cfg, device))
        if weights is not None:
            summary["kodak_psnr"] = attempt("eval final", lambda: _kodak_psnr(weights, cfg, device))
    tests = out / "pytest.log"
    if tests.is_file():
        lines = [ln for ln in tests.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
        summary["tests"] = lines[-1] if lines else ""
    summary["errors"] = errors
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    shown = {k: v for k, v in summary.items() if k not in ("curve", "eval")}
    print("summary: " + json.dumps(shown))
    return 1 if errors else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="stage", required=True)
    env = sub.add_parser("env", help="torch, CUDA and GPU facts; a cuDNN convolution; the carried imports")
    env.add_argument("--need-cuda", action="store_true", help="exit 1 when torch sees no GPU")
    train = sub.add_parser("train", help="continue the shipped codec for --minutes")
    train.add_argument("--mode", choices=("gpu", "cpu-tiny"), required=True)
    train.add_argument("--work", type=Path, required=True)
    train.add_argument("--minutes", type=float, required=True)
    train.add_argument("sets", nargs="*", metavar="key=value", help="more preset overrides (last wins)")
    finish = sub.add_parser("finish", help="export the EMA weights, copy the outputs, write summary.json")
    finish.add_argument("--mode", choices=("gpu", "cpu-tiny"), required=True)
    finish.add_argument("--work", type=Path, required=True)
    finish.add_argument("--out", type=Path, required=True)
    finish.add_argument("--stages", nargs="*", default=[], metavar="name=rc")
    args = parser.parse_args()
    return {"env": cmd_env, "train": cmd_train, "finish": cmd_finish}[args.stage](args)


if __name__ == "__main__":
    sys.exit(main())
