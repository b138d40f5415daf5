"""``mllmsc train --preset FILE.toml``: train whatever the preset's ``task`` names.

Data-parallel on several processes or machines: ``torchrun --nproc-per-node N -m mllmsc train ...``
(DDP; gloo on CPU, nccl on CUDA; see :class:`mllmsc.train.loop.Distributed`).
"""

from __future__ import annotations

from pathlib import Path

import typer


def train(
    preset: Path = typer.Option(..., "--preset", help="TOML preset; its `task` key picks what to train."),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a preset key: --set lr=3e-4 (repeatable)."
    ),
    out: Path = typer.Option(Path("runs/train"), help="Folder for checkpoints, config and the CSV log."),
    resume: bool = typer.Option(False, help="Continue from the last checkpoint in --out."),
) -> None:
    """Train a model from a preset (task = "codec" or "refseg"), with atomic checkpoints and --resume.

    Under `torchrun --nproc-per-node N -m mllmsc train ...` it trains with DDP (batch split over N).
    """
    from mllmsc.train import run

    run(preset, list(overrides), out_dir=out, resume=resume)
