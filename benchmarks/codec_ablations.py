"""Short ablation runs of the IA-JSCC codec: one idea per run, equal steps, the same seed.

    .venv/bin/python benchmarks/codec_ablations.py                      # every idea not yet measured
    .venv/bin/python benchmarks/codec_ablations.py --ideas control,crop160 --steps 1000
    .venv/bin/python benchmarks/codec_ablations.py --from-csv            # tabulate what is measured

Each idea is ``mllmsc train --preset configs/codec.toml`` continued from the shipped weights
(``init=src/mllmsc/weights/ia-jscc`` with ``restart_schedule``: a fresh warm-up and cosine from the
preset's ``lr`` to ``lr_min`` over the run) for ``--steps`` more steps with a few preset keys
changed, one thread per run and
``--parallel`` runs at once, so every run gets the same share of the 2 cores. An idea that changes
the model's shape cannot start from the shipped weights; those need runs from scratch and are not in
this table. ``control`` changes nothing: its gain is what the extra steps alone buy.

Each run's EMA weights are then scored as the issue's target reads: uniform allocation, all 24
Kodak images, AWGN 10 dB, CBR 1/16 (``evaluate_kodak_psnr``, noise seeded per image); and the ROI
result the quality push must keep: a centred box of 10 % of the image as the importance map,
importance against uniform allocation at 10 dB, ROI PSNR gain and whole-image loss. Runs live in
``runs/codec-ablations/IDEA`` (a killed run resumes); results in
``benchmarks/results/codec_ablations.csv`` and the ``codec-ablations`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import replace_section  # noqa: E402
from kodak import centred_box  # noqa: E402

from mllmsc.eval.refseg import write_csv  # noqa: E402
from mllmsc.train.checkpoint import latest_checkpoint  # noqa: E402

SHIPPED = ROOT / "src" / "mllmsc" / "weights" / "ia-jscc"
KODAK = ROOT.parent / "shared" / "data" / "kodak"
RUNS = ROOT / "runs" / "codec-ablations"
CSV = ROOT / "benchmarks" / "results" / "codec_ablations.csv"
MLLMSC = str(Path(sys.executable).with_name("mllmsc"))

#: idea → (what it tests, preset overrides). Every idea keeps the model's shape (see the docstring).
IDEAS: dict[str, tuple[str, list[str]]] = {
    "control": ("the preset as shipped, more steps", []),
    "crop160": (
        "160-px crops, batch 6 (the same pixels a step): more context across cell borders",
        ["crop_sizes=[160]", "batch=6"],
    ),
    "uniform0.8": (
        "uniform allocation in 80 % of the batches (preset: 40 %), the allocation the target reads",
        ["p_uniform=0.8"],
    ),
    "lr1e-3": ("peak learning rate 1e-3 (preset: 5e-4)", ["lr=1e-3"]),
    "importance1": (
        "importance weight 1 in the loss (preset: 2): the ROI's error counts as the background's",
        ["importance_weight=1.0"],
    ),
    "transform-lr": (
        "the KLT basis learns at the full rate (preset: 0.05 ×): lets the linear code move",
        ["transform_lr_scale=1.0"],
    ),
}


def train(idea: str, steps: int, start_step: int, runs: Path) -> float:
    """Run (or resume) one idea's training in ``runs/idea``; returns its wall minutes in this call."""
    out = runs / idea
    sets = [
        f"init={SHIPPED}", "restart_schedule=true", f"steps={start_step + steps}", "threads=1",
        "adaptive_threads=false",
        "eval_minutes=100000", "ckpt_minutes=5", *IDEAS[idea][1],
    ]  # fmt: skip
    argv = [MLLMSC, "train", "--preset", str(ROOT / "configs" / "codec.toml"), "--out", str(out)]
    for s in sets:
        argv += ["--set", s]
    if latest_checkpoint(out) is not None:
        argv.append("--resume")
    start = time.perf_counter()
    with (runs / f"{idea}.log").open("a") as log:
        done = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{idea}: mllmsc train exited {done.returncode}; see {runs / idea}.log")
    return (time.perf_counter() - start) / 60


@torch.inference_mode()
def measure(weights: Path) -> tuple[float, float, float]:
    """(uniform Kodak PSNR, ROI PSNR gain, whole-image PSNR loss) at AWGN 10 dB, CBR 1/16."""
    from mllmsc.channel import CHANNELS
    from mllmsc.codec import IAJSCC
    from mllmsc.eval.scoring import score
    from mllmsc.guidance import GUIDANCE
    from mllmsc.methods import METHODS
    from mllmsc.train.codec import evaluate_kodak_psnr, load_eval_images

    codec = IAJSCC.from_pretrained(weights).eval()
    images = load_eval_images(KODAK, None)
    psnr = evaluate_kodak_psnr(codec, images, 10.0, 1 / 16)
    channel = CHANNELS.build("awgn")
    uniform, guided = METHODS.build("uniform-jscc", codec=codec), METHODS.build("ia-jscc", codec=codec)
    roi_gain, loss = [], []
    for i, x in enumerate(images):
        importance = GUIDANCE.build("box", box=centred_box(*x.shape[-2:], 0.10))(x)
        scores = [
            score(x, m(x, importance, channel, 10.0, 1 / 16, generator=torch.Generator().manual_seed(i)),
                  importance.mask, extra=())[0]
            for m in (uniform, guided)
        ]  # fmt: skip
        roi_gain.append(scores[1]["roi_psnr"] - scores[0]["roi_psnr"])
        loss.append(scores[0]["psnr"] - scores[1]["psnr"])
    return psnr, statistics.fmean(roi_gain), statistics.fmean(loss)


def markdown(rows: list[dict[str, str]]) -> str:
    lines = [
        "## IA-JSCC ablations: one idea a run",
        "",
        "`python benchmarks/codec_ablations.py` — each idea continues the shipped weights "
        "(`init=`, `restart_schedule`: a fresh warm-up and cosine from `lr` to `lr_min`) for the same "
        "number of steps with a "
        "few keys of `configs/codec.toml` changed, one thread a run, two runs at once on the 2 cores, "
        "seed 0. Scored on all 24 Kodak images, AWGN 10 dB, CBR 1/16, uniform allocation (the "
        "target: ≥ 30.5 dB), and with a centred 10 % box as the importance map: ROI PSNR gain of "
        "importance over uniform allocation (keep ≥ +3 dB) and the whole-image PSNR it costs "
        "(keep ≤ 1.5 dB). Ideas that change the model's shape need runs from scratch and are not here.",
        "",
        "| idea | what it tests | steps | minutes | Kodak PSNR (dB) | Δ vs shipped | ROI gain (dB) "
        "| PSNR loss (dB) | kept |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    shipped = next((float(r["psnr"]) for r in rows if r["idea"] == "shipped"), None)
    control = next((float(r["psnr"]) for r in rows if r["idea"] == "control"), None)
    for r in rows:
        psnr = float(r["psnr"])
        delta = "" if shipped is None else f"{psnr - shipped:+.2f}"
        if r["idea"] in ("shipped", "control") or control is None:
            kept = "(reference)"
        else:  # an idea earns its place by beating the same steps spent on the preset as it is
            roi_ok = float(r["roi_gain_db"]) >= 3.0 and float(r["psnr_loss_db"]) <= 1.5
            kept = "yes" if psnr > control + 0.02 and roi_ok else "no"
        lines.append(
            f"| `{r['idea']}` | {r['what']} | {r['steps']} | {r['minutes']} | {psnr:.2f} | {delta} "
            f"| {float(r['roi_gain_db']):+.2f} | {float(r['psnr_loss_db']):.2f} | {kept} |"
        )
    return "\n".join(lines)


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ideas", default=",".join(IDEAS), help="comma-separated, from: " + ", ".join(IDEAS))
    parser.add_argument("--steps", type=int, default=1500, help="steps each run adds to the shipped weights")
    parser.add_argument("--parallel", type=int, default=2, help="runs at once (one thread each)")
    parser.add_argument("--from-csv", action="store_true", help="run nothing: tabulate the CSV")
    parser.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    parser.add_argument("--csv", type=Path, default=CSV)
    parser.add_argument("--runs", type=Path, default=RUNS, help="where the runs live")
    args = parser.parse_args()
    rows = read_rows(args.csv)
    if not args.from_csv:
        from mllmsc.train.loop import weights_provenance

        ideas = [i for i in args.ideas.split(",") if i]
        unknown = sorted(set(ideas) - set(IDEAS))
        if unknown:
            raise SystemExit(f"unknown idea {unknown[0]!r}; ideas: {', '.join(IDEAS)}")
        if not KODAK.is_dir():
            raise SystemExit(f"needs the Kodak images in {KODAK}")
        args.runs.mkdir(parents=True, exist_ok=True)
        start_step, _ = weights_provenance(SHIPPED)
        done = {r["idea"] for r in rows}
        if "shipped" not in done:
            psnr, gain, loss = measure(SHIPPED)
            rows.append({"idea": "shipped", "what": "the shipped weights, no further steps", "overrides": "",
                         "steps": "0", "minutes": "0", "psnr": f"{psnr:.3f}", "roi_gain_db": f"{gain:.3f}",
                         "psnr_loss_db": f"{loss:.3f}"})  # fmt: skip
            write_csv(args.csv, rows)
        todo = [i for i in ideas if i not in done]
        with ThreadPoolExecutor(args.parallel) as pool:
            spent = pool.map(lambda i: train(i, args.steps, start_step, args.runs), todo)
            minutes = dict(zip(todo, spent, strict=True))
        from mllmsc.train import export_weights

        for idea in todo:
            folder = args.runs / idea / "ema"
            export_weights(latest_checkpoint(args.runs / idea), folder)
            psnr, gain, loss = measure(folder)
            rows.append({
                "idea": idea, "what": IDEAS[idea][0], "overrides": " ".join(IDEAS[idea][1]),
                "steps": str(args.steps), "minutes": f"{minutes[idea]:.0f}", "psnr": f"{psnr:.3f}",
                "roi_gain_db": f"{gain:.3f}", "psnr_loss_db": f"{loss:.3f}",
            })  # fmt: skip
            print(rows[-1], flush=True)
            write_csv(args.csv, rows)
    text = markdown(rows)
    print(text)
    if not args.no_write:
        replace_section("codec-ablations", text)


if __name__ == "__main__":
    main()
