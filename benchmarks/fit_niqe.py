"""Fit the NIQE pristine model on the project's training photos and write it as shipped weights.

    .venv/bin/python benchmarks/fit_niqe.py [--data ../shared/data/train] [--out src/mllmsc/weights/niqe]

NIQE (Mittal, Soundararajan & Bovik, IEEE SPL 2013) compares an image's patch statistics with a
multivariate Gaussian fitted on pristine photos. The authors fitted theirs on 125 pristine photos of
their own collection; this fits ours, the same way (:func:`mllmsc.eval.niqe.fit`: 96×96 patches at
two scales, the patches sharper than 0.75 of each photo's sharpest, MATLAB ``rgb2gray`` luminance of
the 8-bit image), on every photo in ``--data``: the project's 248 training photos (CBSD68, Sun &
Hays, Urban100). Kodak is the test set and is never used. The model is ``config.json`` +
``model.safetensors`` (mean [36] and covariance [36, 36], float64), with its provenance in the
safetensors header; absolute NIQE values therefore differ from published ones.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import time
from pathlib import Path

from mllmsc import __version__
from mllmsc.data.io import list_images, read_image
from mllmsc.eval.niqe import NiqeConfig, fit, grey

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT.parent / "shared" / "data" / "train"
OUT = ROOT / "src" / "mllmsc" / "weights" / "niqe"


def _describe(folder: Path, count: int) -> str:
    """Where the photos came from, for the model's header."""
    if folder.resolve() == TRAIN.resolve():
        where = f"../shared/data/train: {count} photos (CBSD68 68, Sun & Hays 80, Urban100 100 at JPEG q95)"
    else:
        where = f"{folder.name}/: {count} photos"
    return where + "; the original NIQE model used 125 pristine photos of the authors' own set"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=TRAIN, help="folder of pristine photos")
    parser.add_argument("--out", type=Path, default=OUT, help="model folder to write")
    args = parser.parse_args()

    paths = list_images(args.data)
    if not paths:
        raise SystemExit(f"no images in {args.data}")
    digest = hashlib.sha256()
    for path in paths:  # the exact photos, in order, so the model can be traced to them
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())

    start = time.perf_counter()
    config = NiqeConfig()
    model = fit(
        (grey(read_image(p)) for p in paths),
        config,
        metadata={
            "metric": "NIQE, Mittal, Soundararajan & Bovik, IEEE Signal Processing Letters 20(3), 2013",
            "data": _describe(args.data, len(paths)),
            "data_sha256": digest.hexdigest(),
            "grey": "MATLAB rgb2gray of the 8-bit RGB image (BT.601 luminance), rounded to 8 bit",
            "selection": f"patches with mean local sigma > {config.sharpness} of the photo's sharpest",
            "script": "benchmarks/fit_niqe.py",
            "mllmsc": __version__,
            "date": datetime.date.today().isoformat(),
        },
    )
    model.save(args.out)
    m = model.metadata
    print(
        f"fitted on {m['photos']} photos: {m['patches_used']} of {m['patches']} patches "
        f"({m['patches_sharp']} sharp) in {time.perf_counter() - start:.0f} s → {args.out}"
    )


if __name__ == "__main__":
    main()
