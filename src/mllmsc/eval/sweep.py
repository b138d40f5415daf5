"""SNR × CBR × channel × method sweeps over an image folder: results.csv, summary.csv, plots.

    images × methods × channels × SNRs × CBRs ──► one row each (seeded from --seed and the row)
        ──► results.csv (appended and flushed per row: a killed sweep resumes where it stopped)
        ──► summary.csv (mean and 95 % t-interval per method × channel × SNR × CBR; ``n`` rows,
            ``roi_n`` of them with a non-empty ROI) ──► plots

Methods: any name in :data:`mllmsc.methods.METHODS` (``uniform-jscc``, ``ia-jscc``, ``digital``,
``digital-jpeg``, ``digital-capacity``, ...), called through their one interface; a method that
reads an importance map gets the image's ROI mask (``--roi-masks``). Metrics come from
:func:`mllmsc.eval.scoring.score`: PSNR, MS-SSIM and ROI / background PSNR always, the optional
``vif``, ``niqe``, ``lpips``, ``dists`` when ``SweepSpec.metrics`` asks (``--metrics``: VIF and NIQE
add ~0.5 s per 768×512 row on one core, about doubling a JSCC row), else their cells are empty, as
are the cells of a metric that cannot be computed (LPIPS / DISTS without weights, NIQE of an image
under 96 px). Each row's seed depends only on the sweep seed and the row's settings, so the order of
rows and the number of workers never change a result.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from mllmsc.atomic import atomic_write_text
from mllmsc.errors import UserError
from mllmsc.eval.grid import finite as _finite
from mllmsc.eval.grid import map_rows, mean_ci95, read_rows, row_seed, run_rows, save_figure
from mllmsc.eval.grid import num as _num

RESULT_COLUMNS = [
    "image", "method", "channel", "snr_db", "cbr", "seed", "psnr", "ms_ssim", "roi_psnr",
    "background_psnr", "vif", "niqe", "lpips", "dists", "symbols", "side_info", "lost", "time_ms",
]  # fmt: skip
METRICS = ("psnr", "ms_ssim", "roi_psnr", "background_psnr", "vif", "niqe", "lpips", "dists")
SUMMARY_COLUMNS = [
    "method", "channel", "snr_db", "cbr", "psnr", "psnr_ci95", "ms_ssim", "ms_ssim_ci95", "roi_psnr",
    "roi_psnr_ci95", "background_psnr", "background_psnr_ci95", "vif", "vif_ci95", "niqe", "niqe_ci95",
    "lpips", "lpips_ci95", "dists", "dists_ci95", "lost", "n", "roi_n",
]  # fmt: skip


@dataclass(frozen=True)
class Row:
    """One setting of the grid for one image."""

    image: str
    method: str
    channel: str
    snr_db: float
    cbr: float

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """Identity in results.csv (numbers as written there)."""
        return (self.image, self.method, self.channel, _num(self.snr_db), _num(self.cbr))

    def seed(self, base: int, *, common: bool = False) -> int:
        """A 63-bit seed from the sweep seed and this row alone; ``common``: without the method,
        so every method of a setting draws the same noise and fade (paired comparisons)."""
        return row_seed(base, (self.key[0], *self.key[2:]) if common else self.key)


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep.

    Attributes:
        data: folder of images (evaluated in name order).
        methods, channels, snrs, cbrs: the grid.
        roi_masks: folder of ROI masks named like the images (``.png``; white = ROI), used for
            ROI/background PSNR and as the importance map of ``ia-jscc``; ``None``: no ROI.
        seed: base seed of every row.
        weights: IA-JSCC folder; ``None``: the shipped weights.
        models: other model folders by the name the methods ask :class:`~mllmsc.methods.base.Shared`
            for: ``("generative-refiner", folder)`` for the ``generative-*`` methods,
            ``("sd-latent", folder)`` (a local Stable Diffusion) for ``sd-latent``.
        common_seeds: seed each row without its method, so the methods of a setting meet the same
            channel draw (one fade per image on ``rayleigh``): their differences are then the
            methods', not the draws'. Off by default (the committed tables were run without it).
        metrics: the optional metrics to compute per row (names in
            :data:`mllmsc.eval.scoring.OPTIONAL`); the rows computed by this run get them, rows
            resumed from an earlier run keep what they have.
    """

    data: Path
    methods: tuple[str, ...]
    channels: tuple[str, ...]
    snrs: tuple[float, ...]
    cbrs: tuple[float, ...]
    roi_masks: Path | None = None
    seed: int = 0
    weights: Path | None = None
    metrics: tuple[str, ...] = ()
    models: tuple[tuple[str, Path], ...] = ()
    common_seeds: bool = False
    images: tuple[Path, ...] = field(default=(), compare=False)

    def shared(self):
        """A :class:`~mllmsc.methods.base.Shared` holding this sweep's model folders."""
        from mllmsc.methods.base import Shared

        return Shared(weights={"ia-jscc": self.weights, **dict(self.models)})

    def validated(self) -> SweepSpec:
        """Check names and folders; returns a copy with the image list filled in."""
        from mllmsc.channel import CHANNELS
        from mllmsc.data.io import IMAGE_SUFFIXES, list_images
        from mllmsc.eval.scoring import OPTIONAL
        from mllmsc.methods import METHODS

        unknown = [m for m in self.metrics if m not in OPTIONAL]
        if unknown:
            raise UserError(f"unknown metric {unknown[0]!r}; optional metrics: {', '.join(OPTIONAL)}")

        shared = self.shared()
        # Built once here, so a bad name or missing weights fail before any row runs.
        built = [METHODS.build(method, shared=shared) for method in self.methods]
        for channel in self.channels:
            CHANNELS.get(channel)
        if not self.data.is_dir():
            raise UserError(f"--data {self.data} is not a folder")
        images = tuple(list_images(self.data))
        if not images:
            raise UserError(f"--data {self.data} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        for method in built:
            if method.needs_importance and self.roi_masks is None:
                raise UserError(f"method {method.name} needs --roi-masks (its importance map is the mask)")
        if self.roi_masks is not None:
            missing = [p.name for p in images if not (self.roi_masks / f"{p.stem}.png").is_file()]
            if missing:
                raise UserError(
                    f"--roi-masks {self.roi_masks} has no mask for {missing[0]} "
                    f"(want {Path(missing[0]).stem}.png)"
                )
        return SweepSpec(**{**self.__dict__, "images": images})

    def rows(self) -> Iterator[Row]:
        for image in self.images:
            for method in self.methods:
                for channel in self.channels:
                    for snr in self.snrs:
                        for cbr in self.cbrs:
                            yield Row(image.name, method, channel, snr, cbr)


class _Runner:
    """Per-process state: the built methods, channels and the current image, built on first use."""

    def __init__(self, spec: SweepSpec) -> None:
        self.spec = spec
        self._shared = spec.shared()
        self._methods: dict[str, object] = {}
        self._channels: dict[str, object] = {}
        self._images: dict[str, tuple[torch.Tensor, torch.Tensor | None]] = {}

    def image(self, name: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        if name not in self._images:
            from mllmsc.data.io import read_image, read_mask

            self._images.clear()  # rows come grouped by image: keep one
            x = read_image(self.spec.data / name)[None]
            mask = None
            if self.spec.roi_masks is not None:
                mask = read_mask(self.spec.roi_masks / f"{Path(name).stem}.png", size=tuple(x.shape[-2:]))
                mask = mask[None]
            self._images[name] = (x, mask)
        return self._images[name]

    def channel(self, name: str):
        if name not in self._channels:
            from mllmsc.channel import CHANNELS

            self._channels[name] = CHANNELS.build(name)
        return self._channels[name]

    def method(self, name: str):
        """The method ``name``, built once per process; the run's methods share models and caches."""
        if name not in self._methods:
            from mllmsc.methods import METHODS

            self._methods[name] = METHODS.build(name, shared=self._shared)
        return self._methods[name]

    def __call__(self, row: Row) -> dict[str, str]:
        from mllmsc.eval.scoring import score
        from mllmsc.guidance import GUIDANCE

        x, mask = self.image(row.image)
        method = self.method(row.method)
        importance = None
        if method.needs_importance:
            importance = GUIDANCE.build("mask", mask=mask[0])(x, None)
        seed = row.seed(self.spec.seed, common=self.spec.common_seeds)
        generator = torch.Generator().manual_seed(seed)
        result = method(x, importance, self.channel(row.channel), row.snr_db, row.cbr, generator=generator)
        metrics = score(x, result, mask, extra=self.spec.metrics)[0]
        return {
            "image": row.image, "method": row.method, "channel": row.channel,
            "snr_db": _num(row.snr_db), "cbr": _num(row.cbr), "seed": str(seed),
            **{m: _finite(metrics[m]) for m in METRICS},
            "symbols": str(int(result.symbols.total[0])), "side_info": str(int(result.symbols.side_info[0])),
            "lost": str(int(result.lost[0])), "time_ms": f"{result.latency_ms['total']:.1f}",
        }  # fmt: skip


def read_results(path: Path) -> list[dict[str, str]]:
    """Complete rows of a results.csv (a line cut by a kill is dropped)."""
    return read_rows(path, RESULT_COLUMNS, what="sweep")


def run_sweep(
    spec: SweepSpec,
    out: Path,
    *,
    workers: int = 1,
    ray: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, str]]:
    """Run every row not yet in ``out/results.csv``; returns all rows (old and new), in grid order.

    Args:
        spec: the grid.
        out: output folder; results.csv there is resumed.
        workers: local processes (1: in this process); with ``ray``, the number of Ray actors
            (1: one per CPU of the cluster).
        ray: run the rows as Ray tasks: ``"auto"`` (the cluster this machine belongs to),
            ``"local"`` (a private Ray on this machine with ``workers`` CPUs) or an address
            (``host:port``, ``ray://host:10001``). See :func:`_map_ray`.
        progress: called with (done, total) after each row.
    """
    spec = spec.validated()
    out.mkdir(parents=True, exist_ok=True)
    return run_rows(
        out / "results.csv",
        RESULT_COLUMNS,
        RESULT_COLUMNS[:5],  # image, method, channel, snr_db, cbr: Row.key
        list(spec.rows()),
        lambda todo: _map_ray(spec, todo, workers, ray) if ray else _map(spec, todo, workers),
        what="sweep",
        progress=progress,
    )


def _map(spec: SweepSpec, rows: list[Row], workers: int) -> Iterator[dict[str, str]]:
    # chunks of one image keep each worker's image cache warm
    chunksize = len(rows) // (workers * len(spec.images) or 1)
    yield from map_rows(_Runner, spec, rows, workers, chunksize=chunksize)


def _chunks(rows: list[Row], size: int) -> list[list[Row]]:
    """Consecutive runs of at most ``size`` rows of one image (keeps each worker's image cache warm)."""
    chunks: list[list[Row]] = []
    for row in rows:
        if chunks and chunks[-1][0].image == row.image and len(chunks[-1]) < size:
            chunks[-1].append(row)
        else:
            chunks.append([row])
    return chunks


def _map_ray(spec: SweepSpec, rows: list[Row], workers: int, address: str) -> Iterator[dict[str, str]]:
    """Rows as Ray tasks on actors that each hold one :class:`_Runner` (codec loaded once).

    Every node must see ``spec.data``, ``spec.roi_masks`` and ``spec.weights`` at the same paths
    (a shared file system, as on most clusters); rows are seeded from their settings, so results
    equal a local run's. Results stream back chunk by chunk and are written (and resumable) as
    they arrive.
    """
    try:
        import ray
    except ImportError:
        raise UserError("--ray needs Ray: pip install 'mllmsc[ray]'") from None
    if not rows:
        return
    started = not ray.is_initialized()
    if started:
        try:
            if address == "local":
                ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=address, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(f"--ray {address}: cannot connect: {first}") from None
    try:
        n = workers if workers > 1 else max(1, int(ray.cluster_resources().get("CPU", 1)))
        actor = ray.remote(num_cpus=1)(_RayRunner)
        pool = ray.util.ActorPool([actor.remote(spec) for _ in range(n)])
        # Several chunks per actor balance the load; a chunk never mixes images.
        chunks = _chunks(rows, max(1, math.ceil(len(rows) / (4 * n))))
        for results in pool.map_unordered(lambda a, chunk: a.run.remote(chunk), chunks):
            yield from results
    finally:
        if started:
            ray.shutdown()


class _RayRunner:
    """A Ray actor's state: one :class:`_Runner` on one thread."""

    def __init__(self, spec: SweepSpec) -> None:
        torch.set_num_threads(1)
        self.runner = _Runner(spec)

    def run(self, rows: list[Row]) -> list[dict[str, str]]:
        return [self.runner(r) for r in rows]


def summarize(results: list[dict[str, str]]) -> list[dict[str, str]]:
    """One row per method × channel × SNR × CBR: means, 95 % t-intervals (half-widths), lost, counts.

    Each mean is over the rows where its metric exists: ``n`` counts all rows, ``roi_n`` the rows
    with an ROI PSNR (an empty ROI mask leaves that cell empty), which is what ``roi_psnr`` averages;
    ``background_psnr`` averages the rows whose background is not empty (a whole-image ROI has none).
    A metric no row of a setting has (an optional one not asked for, LPIPS without its weights) is
    left empty there. NIQE is an average like the others, though it has no reference: lower is better.
    """
    groups: dict[tuple[str, ...], list[dict[str, str]]] = {}
    for r in results:
        groups.setdefault((r["method"], r["channel"], r["snr_db"], r["cbr"]), []).append(r)
    summary = []
    for (method, channel, snr, cbr), rows in groups.items():
        entry = {
            "method": method, "channel": channel, "snr_db": snr, "cbr": cbr, "n": str(len(rows)),
            # without it an ROI mean over 3 of 24 images would read like one over all 24
            "roi_n": str(sum(1 for r in rows if r["roi_psnr"])),
        }  # fmt: skip
        for metric in METRICS:
            mean, half = mean_ci95([float(r[metric]) for r in rows if r[metric]])
            entry[metric], entry[f"{metric}_ci95"] = _finite(mean), _finite(half)
        entry["lost"] = str(sum(int(r["lost"]) for r in rows))
        summary.append(entry)
    return summary


def write_summary(out: Path, summary: list[dict[str, str]]) -> None:
    """summary.csv in :data:`SUMMARY_COLUMNS` order, atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(summary)
    atomic_write_text(out / "summary.csv", buffer.getvalue())


def error_bars(
    metric: str, means: Sequence[float], halves: Sequence[float]
) -> tuple[list[float], list[float]]:
    """Lengths of the 95 % interval below and above each mean, as ``errorbar(yerr=[below, above])``.

    A missing half-width (NaN: fewer than two values) draws no bar. MS-SSIM is at most 1, so the
    upper end of its interval is clipped there: a symmetric t-interval around 0.99 would otherwise
    promise values no reconstruction can reach. PSNR has no upper bound and keeps its interval.
    """
    below = [0.0 if math.isnan(h) else h for h in halves]
    above = list(below)
    if metric == "ms_ssim":
        # max(0, ·): a mean a rounding error above 1 gets no bar rather than a negative one
        above = [a if math.isnan(m) else max(0.0, min(a, 1.0 - m)) for m, a in zip(means, above, strict=True)]
    return below, above


def _value(s: str) -> float:
    """A summary.csv cell as a float (empty: NaN)."""
    return float(s) if s else float("nan")


def draw_roi_vs_background(ax, summary: list[dict[str, str]]) -> None:
    """ROI PSNR against background PSNR into ``ax``: one series per method × channel.

    Each point is labelled with its SNR, and the dashed grey line y = x splits the settings that
    favour the ROI (above it) from those that favour the background (below).
    """
    for method, channel in sorted({(r["method"], r["channel"]) for r in summary}):
        pts = [
            (_value(r["background_psnr"]), _value(r["roi_psnr"]), float(r["snr_db"]))
            for r in summary
            if r["method"] == method and r["channel"] == channel and r["roi_psnr"] and r["background_psnr"]
        ]
        if not pts:
            continue
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], label=f"{method} / {channel}", s=18)
        for x, y, snr in pts:
            ax.annotate(f"{snr:g} dB", (x, y), xytext=(3, 3), textcoords="offset points", fontsize=6)
    # axline spans the whole view, but its anchor (0, 0) would stretch the limits down to 0 dB:
    # keep the limits the points set
    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    ax.axline((0, 0), slope=1, linestyle="--", color="grey", linewidth=0.8, label="ROI = background")
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    ax.set_xlabel("background PSNR (dB)")
    ax.set_ylabel("ROI PSNR (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def write_plots(out: Path, summary: list[dict[str, str]]) -> list[Path]:
    """PSNR and MS-SSIM against SNR (one panel per CBR) and against CBR (one per SNR); ROI vs bg.

    A plot against an axis the sweep did not vary (one CBR, or one SNR) is not drawn, and a stale
    one from an earlier run in ``out`` is removed: one point per line says nothing.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = sorted({(r["method"], r["channel"]) for r in summary})
    written = []
    for metric in ("psnr", "ms_ssim"):
        for x_axis, panel_axis in (("snr_db", "cbr"), ("cbr", "snr_db")):
            path = out / f"{metric}_vs_{'snr' if x_axis == 'snr_db' else 'cbr'}.png"
            if len({float(r[x_axis]) for r in summary}) < 2:
                # removed so that `mllmsc report` does not show a figure of another grid
                path.unlink(missing_ok=True)
                continue
            panels = sorted({float(r[panel_axis]) for r in summary})
            fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
            for ax, panel in zip(axes[0], panels, strict=True):
                for method, channel in curves:
                    pts = sorted(
                        (float(r[x_axis]), _value(r[metric]), _value(r[f"{metric}_ci95"]))
                        for r in summary
                        if r["method"] == method and r["channel"] == channel and float(r[panel_axis]) == panel
                    )
                    if pts:
                        xs, ys, es = zip(*pts, strict=True)
                        ax.errorbar(
                            xs,
                            ys,
                            yerr=error_bars(metric, ys, es),
                            marker="o",
                            label=f"{method} / {channel}",
                            capsize=2,
                        )
                ax.set_title(f"{panel_axis} = {panel:g}" if panel_axis == "snr_db" else f"CBR = {panel:.4g}")
                ax.set_xlabel("SNR (dB)" if x_axis == "snr_db" else "CBR")
                ax.set_ylabel(metric.replace("_", "-").upper() + (" (dB)" if metric == "psnr" else ""))
                ax.grid(alpha=0.3)
            axes[0][0].legend(fontsize=7)
            fig.tight_layout()
            written.append(save_figure(fig, plt, path))
    if any(r["roi_psnr"] for r in summary):
        fig, ax = plt.subplots(figsize=(4.8, 4.2))
        draw_roi_vs_background(ax, summary)
        written.append(save_figure(fig, plt, out / "roi_vs_background.png"))
    return written
