"""benchmarks/generative_tradeoff.py: the rule that sets the modes' sampler and perception, and a run."""

import importlib.util
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(sampler, p, psnr, niqe, snr=0.0):
    return {"snr_db": snr, "cbr": 1 / 96, "sampler": sampler, "perception": p, "psnr": psnr, "niqe": niqe}


def test_each_mode_gets_its_most_natural_setting_within_its_psnr_budget():
    bench = _load("generative_tradeoff")
    rows = [_row("fast", 0.0, 20.0, 6.0)]
    for p in bench.PERCEPTIONS:  # PSNR falls with p; NIQE is best at p = 0.3, not at the largest p
        for label, offset in (("ddim4", 0.0), ("ddim16", -0.1), ("ddpm16", 0.2)):
            rows.append(_row(label, p, 20.0 - 2.0 * p, 5.0 + abs(p - 0.3) + offset))
    chosen = bench.choose(rows)
    assert chosen["balanced"][:2] == ("ddim4", 0.3)  # loss 0.6 dB <= 0.75
    assert chosen["quality"][:2] == ("ddim16", 0.3)  # the lower NIQE of its two candidates
    # a budget no p meets but p = 0 within it: the posterior mean
    tight = [
        r if r["sampler"] == "fast" else {**r, "psnr": r["psnr"] - 0.7 * (r["perception"] > 0)} for r in rows
    ]
    assert bench.choose(tight)["balanced"][:2] == ("ddim4", 0.0)
    # a second condition where p = 0.3 costs too much moves balanced to a smaller p
    rows += [_row("fast", 0.0, 20.0, 6.0, snr=12.0)]
    rows += [_row("ddim4", p, 20.0 - 3.0 * p, 5.0, snr=12.0) for p in bench.PERCEPTIONS]
    assert chosen != bench.choose(rows) and bench.choose(rows)["balanced"][1] <= 0.2


def test_the_tradeoff_script_runs_on_the_tiny_refiner(tmp_path, tiny_refiner_dir, capsys):
    bench = _load("generative_tradeoff")
    data = tmp_path / "photos"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (100, 120, 3), dtype=np.uint8)).save(data / f"p{i}.png")
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(data / "small.png")  # too small
    argv = ["--weights", str(tiny_refiner_dir), "--data", str(data), "--crop", "96", "--images", "3",
            "--snrs", "10", "--cbrs", "48", "--no-write"]  # fmt: skip
    bench.main(argv)
    assert torch.is_grad_enabled()  # main() leaves the process as it found it
    out = capsys.readouterr().out
    assert "| fast | — |" in out and "| ddpm16 | 1 |" in out and "`balanced` = ddim4 at p =" in out
