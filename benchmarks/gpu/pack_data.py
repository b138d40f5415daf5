"""Pack the codec's training photos and four Kodak images into a folder small enough to carry.

    .venv/bin/python benchmarks/gpu/pack_data.py [--train ../shared/data/train] [--kodak ../shared/data/kodak]
                                                 [--out .gpu] [--quality 90]

The device machine sees only the repository (../shared stays behind), and all that travels must fit
in 64 MiB with the repository itself. The 248 training photos are 94 MB as they lie (PNG, and
Urban100 as JPEG quality 95), so they are re-encoded here as JPEG at ``--quality`` with 4:4:4 chroma
(no chroma subsampling: it costs colour fidelity where the codec is scored on RGB PSNR). That is a
slight shift from the originals (``MANIFEST.json`` records the mean and worst PSNR of the
re-encoding), well above the 28–33 dB the codec reaches. The Kodak images the preset evaluates
on are copied unchanged: the held-out number must stay comparable with BENCHMARKS.md.

Writes ``OUT/train/*.jpg``, ``OUT/kodak/kodimNN.png`` and ``OUT/MANIFEST.json``. A folder whose
manifest already matches (same sources, same quality) is left as it is.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
# What configs/codec.toml evaluates on (its eval_images).
KODAK = ("kodim01.png", "kodim05.png", "kodim15.png", "kodim23.png")
SUFFIXES = {".png", ".jpg", ".jpeg"}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 100.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def pack(train: Path, kodak: Path, out: Path, quality: int) -> dict:
    sources = sorted(p for p in train.iterdir() if p.suffix.lower() in SUFFIXES)
    if not sources:
        raise SystemExit(f"pack_data: no images in {train}")
    missing = [n for n in KODAK if not (kodak / n).is_file()]
    if missing:
        raise SystemExit(f"pack_data: {kodak} lacks {', '.join(missing)}")
    want = {"train": str(train.resolve()), "images": len(sources), "quality": quality, "kodak": list(KODAK)}
    manifest_path = out / "MANIFEST.json"
    if manifest_path.is_file():
        old = json.loads(manifest_path.read_text(encoding="utf-8"))
        if {k: old.get(k) for k in want} == want:
            print(f"pack_data: {out} is up to date ({old['train_mib']:.1f} MiB of training JPEGs)")
            return old
    shutil.rmtree(out, ignore_errors=True)
    (out / "train").mkdir(parents=True)
    (out / "kodak").mkdir()
    scores = []
    for src in sources:
        rgb = np.asarray(Image.open(src).convert("RGB"))
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", quality=quality, subsampling=0)
        (out / "train" / f"{src.stem}.jpg").write_bytes(buf.getvalue())
        scores.append(psnr(rgb, np.asarray(Image.open(buf).convert("RGB"))))
    for name in KODAK:
        shutil.copyfile(kodak / name, out / "kodak" / name)
    manifest = {
        **want,
        "train_mib": sum(p.stat().st_size for p in (out / "train").iterdir()) / 2**20,
        "kodak_mib": sum(p.stat().st_size for p in (out / "kodak").iterdir()) / 2**20,
        "reencode_psnr_mean": float(np.mean(scores)),
        "reencode_psnr_min": float(np.min(scores)),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(
        f"pack_data: {len(sources)} photos → {out / 'train'} as JPEG q{quality} 4:4:4, "
        f"{manifest['train_mib']:.1f} MiB; re-encoding PSNR mean {manifest['reencode_psnr_mean']:.1f} dB, "
        f"worst {manifest['reencode_psnr_min']:.1f} dB; {len(KODAK)} Kodak PNGs unchanged"
    )
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, default=ROOT.parent / "shared" / "data" / "train")
    parser.add_argument("--kodak", type=Path, default=ROOT.parent / "shared" / "data" / "kodak")
    parser.add_argument("--out", type=Path, default=ROOT / ".gpu")
    parser.add_argument("--quality", type=int, default=90)
    args = parser.parse_args()
    pack(args.train, args.kodak, args.out, args.quality)


if __name__ == "__main__":
    main()
