"""``mllmsc scenes``: synthetic AR scenes with referring expressions, masks and answers."""

from __future__ import annotations

from pathlib import Path

import typer

from mllmsc.errors import UserError


def scenes(
    out: Path = typer.Option(..., "--out", help="Folder for images/, masks/ and scenes.jsonl."),
    n: int = typer.Option(100, "--n", help="Number of scenes."),
    seed: int = typer.Option(0, "--seed", help="Seed: scene i of seed s is always the same."),
    backgrounds: Path | None = typer.Option(
        None, "--backgrounds", help="Folder of photos to crop backgrounds from (default: procedural)."
    ),
    size: int = typer.Option(256, "--size", help="Side of the square images in pixels."),
    expressions: int = typer.Option(8, "--expressions", help="Most expressions per scene."),
    style: str = typer.Option(
        "standard",
        "--style",
        help="standard, varied (the training augmentation) or heldout (renderings and wordings "
        "tiny-refseg never trained on); the content, masks and answers are the same in every style.",
    ),
) -> None:
    """Generate N scenes (shapes over photos or textures) with unambiguous expressions and masks."""
    if not 32 <= size <= 4096:
        raise UserError(f"--size must be between 32 and 4096 pixels, got {size}")
    if n < 1 or n > 1_000_000:
        raise UserError(f"--n must be between 1 and 1000000, got {n}")
    if expressions < 1:
        raise UserError(f"--expressions must be at least 1, got {expressions}")
    from mllmsc.cli.evaluate import SCENE_STYLES

    if style not in SCENE_STYLES:
        raise UserError(f"--style must be one of {', '.join(SCENE_STYLES)}, got {style!r}")
    from rich.console import Console

    from mllmsc.data.scenes import write_scenes

    path = write_scenes(
        out, n, seed, size=size, backgrounds=backgrounds, n_expressions=expressions, style=style
    )
    Console().print(
        f"wrote {n} scenes ({size}×{size}, seed {seed}, {style} style) to {out}: images/, masks/, {path.name}"
    )
