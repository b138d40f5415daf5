"""``mllmsc env``: versions, threads and which optional models and weights are present locally."""

from __future__ import annotations

import importlib.metadata
import platform

# Hugging Face models mllmsc can use when they are in the local cache (never downloaded here).
OPTIONAL_MODELS = {
    "clipseg (guidance)": "CIDAS/clipseg-rd64-refined",
    "llava (guidance)": "llava-hf/llava-1.5-7b-hf",
    "stable diffusion (decoder)": "stabilityai/stable-diffusion-2-1-base",
}
PACKAGES = (
    "torch",
    "sionna-no-rt",
    "transformers",
    "diffusers",
    "torchmetrics",
    "pillow-heif",
    "numpy",
)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _in_hf_cache(repo_id: str) -> bool:
    """Whether ``repo_id`` has a config in the local HF cache; an offline lookup, no network."""
    from huggingface_hub import try_to_load_from_cache

    for filename in ("config.json", "model_index.json"):
        found = try_to_load_from_cache(repo_id, filename)
        if isinstance(found, str):
            return True
    return False


def env() -> None:
    """Show versions, CPU threads, and which optional models and shipped weights are present."""
    import torch
    from rich.console import Console
    from rich.table import Table

    from mllmsc.weights import shipped_weights

    table = Table(title="mllmsc environment", show_header=False)
    table.add_row("python", platform.python_version())
    for package in PACKAGES:
        table.add_row(package, _version(package))
    table.add_row("torch threads", str(torch.get_num_threads()))
    table.add_row("cuda", "available" if torch.cuda.is_available() else "not available")
    for label, repo_id in OPTIONAL_MODELS.items():
        table.add_row(label, f"{repo_id}: {'present' if _in_hf_cache(repo_id) else 'absent'}")
    table.add_row("lpips", "present" if _lpips_present() else "absent (LPIPS reported as null)")
    dists_missing = _dists_missing()
    table.add_row(
        "dists", "present" if dists_missing is None else f"absent: {dists_missing} (DISTS reported as null)"
    )
    names = shipped_weights()
    table.add_row("shipped weights", ", ".join(names) if names else "none yet")
    Console().print(table)


def _lpips_present() -> bool:
    from mllmsc.eval.metrics import lpips_available

    return lpips_available()


def _dists_missing() -> str | None:
    from mllmsc.eval.metrics import dists_unavailable_reason

    return dists_unavailable_reason()
