"""Training loop of the IA-JSCC codec (``task = "codec"`` presets).

Every step draws, per item, a random SNR in ``[snr_min, snr_max]`` dB and, per batch, a CBR
log-uniform in ``[cbr_min, cbr_max]``; per item an importance map (uniform, Gaussian blobs,
boxes, soft or hard) and the allocation :func:`mllmsc.codec.allocate` makes from it with a random
concentration and floor (so the model sees the allocation patterns it will meet), or a fully
random ``k`` map (so the symbol order matters everywhere). The channel is AWGN.

Loss: importance-weighted MSE, per image ``sum(w · (x̂ - x)²) / sum(w)`` with
``w = 1 + importance_weight · m`` (averaged over RGB). Normalising by ``sum(w)`` keeps the loss an
MSE whatever the map, so a uniform map trains plain MSE (the Deep JSCC objective) and an ROI map
shifts the effort inside the image towards the ROI without changing the loss scale.

Outputs in ``out_dir``: ``log.csv`` (step, hours, loss, psnr, lr, kodak_psnr), ``checkpoints/``
(see :mod:`mllmsc.train.checkpoint`) every ``ckpt_minutes`` (or ``ckpt_every`` steps), and
``config.toml``-equivalent ``train_config.json``. The held-out PSNR (``kodak_psnr``: EMA weights,
uniform allocation, AWGN ``eval_snr_db``, CBR ``eval_cbr``) is logged every ``eval_minutes``.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from mllmsc.channel import CHANNELS
from mllmsc.codec import IAJSCC, IAJSCCConfig, allocate, allocate_uniform, symbol_budget
from mllmsc.config import ConfigError, from_dict, to_dict
from mllmsc.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from mllmsc.train.crops import CropSampler, list_images, read_rgb
from mllmsc.train.loop import (
    Distributed,
    StopSignal,
    ThreadTuner,
    ema_update,
    lr_at,
    trim_csv,
    weights_provenance,
)

CSV_FIELDS = ["step", "hours", "loss", "psnr", "lr", "kodak_psnr", "threads"]


@dataclass(frozen=True)
class CodecTrainConfig:
    """A ``task = "codec"`` preset (see ``configs/codec.toml``).

    Relative paths resolve against the working directory, then against the repository root.
    ``crop_sizes[i]`` is used from step ``crop_steps[i]`` on (a curriculum: small crops first).
    ``diverge_factor``: a logging window whose mean loss exceeds this many times the best window
    so far counts as a divergence: the loop rolls back to the last checkpoint and halves the
    learning rate (0 disables the guard).
    """

    task: str = "codec"
    model: IAJSCCConfig = field(default_factory=IAJSCCConfig)
    data: str = "../shared/data/train"
    eval_data: str = "../shared/data/kodak"
    eval_images: tuple[str, ...] = ("kodim01.png", "kodim05.png", "kodim15.png", "kodim23.png")
    eval_snr_db: float = 10.0
    eval_cbr: float = 1 / 16
    eval_minutes: float = 10.0
    steps: int = 150_000
    batch: int = 16
    crop_sizes: tuple[int, ...] = (96, 128)
    crop_steps: tuple[int, ...] = (0, 20_000)
    lr: float = 1e-3
    lr_min: float = 2e-5
    warmup: int = 500
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    snr_min: float = 0.0
    snr_max: float = 20.0
    cbr_min: float = 1 / 96
    cbr_max: float = 1 / 6
    p_uniform: float = 0.4
    p_random_k: float = 0.15
    concentration_min: float = 0.5
    concentration_max: float = 2.0
    floor_min: float = 0.02
    floor_max: float = 0.3
    n_levels: int = 4
    importance_weight: float = 2.0
    seed: int = 0
    threads: int = 2
    adaptive_threads: bool = True
    log_every: int = 25
    ckpt_minutes: float = 10.0
    ckpt_every: int = 0
    max_minutes: float = 0.0
    diverge_factor: float = 4.0
    # Patches (cell × cell, from random crops of `data`) the linear code's KLT is fitted on before
    # step 0 of a fresh run; 0 keeps the model's DCT start.
    klt_patches: int = 60_000
    # The linear code (KLT basis, power allocation) starts near-optimal: it learns at lr × this.
    transform_lr_scale: float = 0.05
    # A shipped model folder (config.json + model.safetensors, e.g. src/mllmsc/weights/ia-jscc) to
    # start from when out_dir holds no checkpoint: a new session continues training from the committed
    # weights (checkpoints with optimizer state stay out of git). Step and hours continue from the
    # weights' metadata; the fresh optimizer re-warms over `warmup` steps.
    init: str = ""
    # Where the model and batches live: "cpu", "cuda", "cuda:N", or "auto" (the rank's GPU under
    # torchrun with CUDA, else "cuda" when torch sees one, else "cpu"). Crops, importance maps and
    # allocations are drawn on the CPU and moved; the channel noise is drawn on the device.
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.task != "codec":
            raise ConfigError(f"task: a codec preset needs task = 'codec', got {self.task!r}")
        if len(self.crop_sizes) != len(self.crop_steps) or not self.crop_sizes:
            raise ConfigError("crop_sizes and crop_steps must have the same, non-zero length")
        if any(s % self.model.cell for s in self.crop_sizes):
            raise ConfigError(f"crop_sizes must be multiples of the cell ({self.model.cell})")
        if not 0 < self.cbr_min <= self.cbr_max <= 1:
            raise ConfigError("need 0 < cbr_min <= cbr_max <= 1")
        if not re.fullmatch(r"auto|cpu|cuda(:[0-9]+)?", self.device):
            raise ConfigError(f"device: want auto, cpu, cuda or cuda:N, got {self.device!r}")


def training_device(cfg: CodecTrainConfig, dist: Distributed) -> torch.device:
    """The device ``cfg.device`` names for this rank (see :attr:`CodecTrainConfig.device`)."""
    if cfg.device == "auto":
        if dist.world > 1:
            return dist.device  # torchrun: the rank's GPU with nccl, else the CPU (gloo)
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(cfg.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {cfg.device!r}: torch sees no CUDA device here (try device = 'cpu')")
    if dist.world > 1 and device.type != dist.device.type:
        raise ConfigError(f"device {cfg.device!r} under torchrun, whose process group runs on {dist.device}")
    return dist.device if dist.world > 1 else device


def resolve_path(path: str) -> Path:
    """``path`` as given if it exists, else relative to the repository root (src/ layout)."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    repo = Path(__file__).resolve().parents[3]
    return repo / p


def crop_at(cfg: CodecTrainConfig, step: int) -> int:
    size = cfg.crop_sizes[0]
    for s, start in zip(cfg.crop_sizes, cfg.crop_steps, strict=True):
        if step >= start:
            size = s
    return size


# ---- random importance maps and allocations ----


def _uniform(g: torch.Generator, lo: float = 0.0, hi: float = 1.0) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def random_importance(size: int, g: torch.Generator) -> torch.Tensor:
    """One random ROI map: Gaussian blobs or boxes, soft or thresholded to a hard mask.

    Shapes:
        → ``[1, size, size]`` float in [0, 1].
    """
    yy, xx = torch.meshgrid(
        torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij"
    )
    m = torch.zeros(size, size)
    n = 1 + int(torch.randint(3, (1,), generator=g))
    if _uniform(g) < 0.6:  # Gaussian blobs
        for _ in range(n):
            cy, cx = _uniform(g, 0, size), _uniform(g, 0, size)
            sy, sx = _uniform(g, 0.05, 0.3) * size, _uniform(g, 0.05, 0.3) * size
            m = torch.maximum(m, torch.exp(-0.5 * (((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2)))
    else:  # boxes
        for _ in range(n):
            h, w = _uniform(g, 0.1, 0.6) * size, _uniform(g, 0.1, 0.6) * size
            top, left = _uniform(g, 0, size - h), _uniform(g, 0, size - w)
            box = (yy >= top) & (yy < top + h) & (xx >= left) & (xx < left + w)
            m = torch.where(box, torch.ones(()), m)
    if _uniform(g) < 0.5:
        m = (m > 0.5).float()
    return m[None]


def random_k(mean: float, grid: tuple[int, int], k_max: int, g: torch.Generator) -> torch.Tensor:
    """Independent per-cell ``k`` uniform in ``[0, 2·mean]`` (capped), at least one symbol.

    Shapes:
        → ``[1, Hc, Wc]`` int64.
    """
    k = torch.floor(torch.rand(1, *grid, generator=g) * (2 * mean + 1)).long().clamp(0, k_max)
    if int(k.sum()) == 0:
        k[0, 0, 0] = 1
    return k


def sample_conditions(
    cfg: CodecTrainConfig, batch: int, size: int, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Importance maps, allocations and SNRs for one batch.

    Shapes:
        → importance ``[B,1,S,S]``, k ``[B,1,S/cell,S/cell]`` int64, snr_db ``[B]``.
    """
    mc = cfg.model
    log_cbr = _uniform(g, math.log(cfg.cbr_min), math.log(cfg.cbr_max))
    budget = symbol_budget(math.exp(log_cbr), size, size)
    grid = (size // mc.cell, size // mc.cell)
    # The codec's gain header takes its share of the payload, as in the pipeline.
    reserved = mc.header_symbols
    budget = max(1, min(budget - reserved, mc.k_max * grid[0] * grid[1]))
    maps, ks = [], []
    for _ in range(batch):
        r = _uniform(g)
        if r < cfg.p_uniform:
            m = torch.ones(1, size, size)
            k = allocate_uniform(1, size, size, budget, cell=mc.cell, k_max=mc.k_max).k[0]
        else:
            m = torch.ones(1, size, size) if _uniform(g) < 0.2 else random_importance(size, g)
            if r < cfg.p_uniform + cfg.p_random_k:
                k = random_k(budget / (grid[0] * grid[1]), grid, mc.k_max, g)
            else:
                try:
                    k = allocate(
                        m[None],
                        budget,
                        cell=mc.cell,
                        k_max=mc.k_max,
                        concentration=_uniform(g, cfg.concentration_min, cfg.concentration_max),
                        floor=_uniform(g, cfg.floor_min, cfg.floor_max),
                        n_levels=cfg.n_levels,
                    ).k[0]
                except ValueError:  # the side information does not fit a tiny budget
                    k = allocate_uniform(1, size, size, budget, cell=mc.cell, k_max=mc.k_max).k[0]
        maps.append(m)
        ks.append(k)
    snr = cfg.snr_min + (cfg.snr_max - cfg.snr_min) * torch.rand(batch, generator=g)
    return torch.stack(maps), torch.stack(ks), snr


def weighted_mse(
    x_hat: torch.Tensor, x: torch.Tensor, importance: torch.Tensor, weight: float
) -> torch.Tensor:
    """Per-image ``sum(w·(x̂-x)²)/sum(w)``, ``w = 1 + weight·m``; mean over the batch."""
    w = 1 + weight * importance
    se = (x_hat - x).square().mean(dim=1, keepdim=True)
    return ((w * se).flatten(1).sum(1) / w.flatten(1).sum(1)).mean()


def psnr(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of images in [0, 1] (outputs clamped to [0, 1]). ``[B]``."""
    mse = (x_hat.clamp(0, 1) - x).square().flatten(1).mean(1)
    return -10 * torch.log10(mse.clamp_min(1e-10))


# ---- held-out evaluation ----


def load_eval_images(folder: str | Path, names: tuple[str, ...] | None = None) -> list[torch.Tensor]:
    """Images as ``[1, 3, H, W]`` float tensors; ``names`` picks files (all when None or empty)."""
    folder = Path(folder)
    paths = [folder / n for n in names] if names else list_images(folder)
    return [torch.from_numpy(read_rgb(p)).permute(2, 0, 1)[None].float() / 255.0 for p in paths]


@torch.inference_mode()
def evaluate_kodak_psnr(
    model: IAJSCC,
    folder: str | Path | list[torch.Tensor],
    snr_db: float = 10.0,
    cbr: float = 1 / 16,
    *,
    names: tuple[str, ...] | None = None,
    seed: int = 0,
) -> float:
    """Mean per-image PSNR with uniform allocation over AWGN (the Deep JSCC baseline setting).

    Args:
        model: the codec (put in eval mode for the call, then restored).
        folder: an image folder, or already loaded ``[1, 3, H, W]`` images.
        snr_db: channel SNR.
        cbr: channel bandwidth ratio (symbols / (3·H·W)).
        names: file names inside ``folder`` (all images when None).
        seed: noise seed; image ``i`` uses ``seed + i``, so the number is reproducible.
    """
    images = folder if isinstance(folder, list) else load_eval_images(folder, names)
    channel = CHANNELS.build("awgn")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        scores = []
        for i, x in enumerate(images):
            _, _, h, w = x.shape
            alloc = allocate_uniform(
                1, h, w, symbol_budget(cbr, h, w),
                cell=model.cell, k_max=model.k_max, reserved=model.header_symbols,
            )  # fmt: skip
            g = torch.Generator(device).manual_seed(seed + i)
            x = x.to(device)
            out = model(x, alloc.k.to(device), snr_db, channel, generator=g)
            scores.append(float(psnr(out.x_hat, x)[0]))
    finally:
        model.train(was_training)
    return sum(scores) / len(scores)


# ---- the loop ----


def train_codec(
    cfg: CodecTrainConfig, out_dir: str | Path, *, resume: bool = False, progress: bool = True
) -> Path:
    """Train IA-JSCC as ``cfg`` says; returns the folder of the last checkpoint.

    Args:
        cfg: the preset.
        out_dir: where checkpoints and ``log.csv`` go.
        resume: continue from the newest checkpoint in ``out_dir`` (start fresh when none).
        progress: show a progress bar (a line per eval when not on a terminal).

    Raises:
        ConfigError: ``out_dir`` holds checkpoints and ``resume`` is False (nothing is
            overwritten), or the checkpoint's model config differs from ``cfg.model``.
        FileNotFoundError: the training folder does not exist.

    Under ``torchrun --nproc-per-node N`` (see :class:`~mllmsc.train.loop.Distributed`) each of
    the N processes takes ``batch / N`` items per step, so the global batch, the learning-rate
    schedule and the loss curve are those of one process; rank 0 logs and checkpoints.
    """
    threads = torch.get_num_threads()
    dist = Distributed()
    try:
        return _train_codec(cfg, Path(out_dir), dist, resume=resume, progress=progress)
    finally:
        dist.close()
        torch.set_num_threads(threads)  # the loop tunes the process-wide setting; give it back


def _train_codec(
    cfg: CodecTrainConfig, out_dir: Path, dist: Distributed, *, resume: bool = False, progress: bool = True
) -> Path:
    from rich.console import Console

    console = Console(stderr=True)
    main = dist.is_main
    progress = progress and main
    if cfg.batch % dist.world:
        raise ConfigError(f"batch {cfg.batch} does not split over {dist.world} processes")
    batch = cfg.batch // dist.world
    found = latest_checkpoint(out_dir)
    if found is not None and not resume:
        raise ConfigError(f"{out_dir} already holds checkpoints; pass resume=True or another out_dir")
    out_dir.mkdir(parents=True, exist_ok=True)

    device = training_device(cfg, dist)
    # On the device before the optimizer exists: a loaded Adam state follows its parameters.
    model = IAJSCC(cfg.model).to(device)
    ema = copy.deepcopy(model).requires_grad_(False)
    linear = [p for n, p in model.named_parameters() if n.startswith("transform.")]
    neural = [p for n, p in model.named_parameters() if not n.startswith("transform.")]
    optimizer = torch.optim.Adam(
        [{"params": neural, "lr_scale": 1.0}, {"params": linear, "lr_scale": cfg.transform_lr_scale}],
        lr=cfg.lr,
    )
    step, hours, lr_scale = 0, 0.0, 1.0
    if found is not None:
        saved = json.loads((found / "config.json").read_text(encoding="utf-8"))
        saved.pop("model", None)
        if from_dict(IAJSCCConfig, saved) != cfg.model:
            raise ConfigError(f"the checkpoint in {found} was trained with another model config")
        state = load_checkpoint(found, model=model, ema=ema, optimizer=optimizer)
        step, hours = int(state["step"]), float(state.get("hours", 0.0))
        lr_scale = float(state.get("lr_scale", 1.0))
    elif cfg.init:
        step, hours = _init_from_weights(resolve_path(cfg.init), cfg.model, model, ema)
    elif cfg.klt_patches > 0:
        klt_sampler = CropSampler.from_folder(resolve_path(cfg.data), torch.Generator().manual_seed(cfg.seed))
        fit_klt(model, klt_sampler, cfg.klt_patches)
        ema.load_state_dict(model.state_dict())
    rewarm_from = step if (found is None and cfg.init) else None
    net = dist.wrap(model)  # what the step calls; `model` is the module checkpoints see
    if main:
        trim_csv(out_dir / "log.csv", step, CSV_FIELDS)
        config_text = json.dumps(to_dict(cfg), indent=2) + "\n"
        (out_dir / "train_config.json").write_text(config_text, encoding="utf-8")

    # The data stream after a resume is reseeded from the step: reproducible, not identical.
    # Each rank draws its own items (rank 0 draws what a single process would).
    # The channel draws its noise where the symbols are; on the CPU that is `g` itself, so a CPU
    # run's stream of random numbers does not depend on the device option.
    g = torch.Generator()
    g_channel = g if device.type == "cpu" else torch.Generator(device)

    def reseed(value: int) -> None:
        for generator in {g, g_channel}:
            generator.manual_seed(value)

    reseed(cfg.seed * 1_000_003 + step + 7_777_777 * dist.rank)
    sampler = CropSampler.from_folder(resolve_path(cfg.data), g)
    eval_folder = resolve_path(cfg.eval_data)
    eval_images = (
        load_eval_images(eval_folder, cfg.eval_images)
        if main and cfg.eval_images and all((eval_folder / n).is_file() for n in cfg.eval_images)
        else []
    )
    channel = CHANNELS.build("awgn")
    model_config = {"model": "ia-jscc", **to_dict(cfg.model)}

    def checkpoint() -> Path:
        if main:
            save_checkpoint(
                out_dir,
                step=step,
                model=model,
                ema=ema,
                optimizer=optimizer,
                model_config=model_config,
                state={
                    "hours": hours, "lr_scale": lr_scale, "world_size": dist.world,
                    "train_config": to_dict(cfg),
                },
            )  # fmt: skip
        dist.barrier()  # the other ranks may load it (rollback) only once it is complete
        return out_dir / "checkpoints" / f"step-{step:08d}"

    csv_path = out_dir / "log.csv"

    def open_csv():
        path = csv_path if main else Path(os.devnull)  # one log, written by rank 0
        new = main and not csv_path.is_file()
        f = path.open("a", newline="", encoding="utf-8")
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        if new:
            w.writeheader()
        return f, w

    csv_file, writer = open_csv()

    def log_row(loss: float | None, train_psnr: float | None, kodak: float | None) -> None:
        writer.writerow(
            {
                "step": step,
                "hours": f"{hours:.4f}",
                "loss": "" if loss is None else f"{loss:.6f}",
                "psnr": "" if train_psnr is None else f"{train_psnr:.3f}",
                "lr": f"{lr_at(cfg, step) * lr_scale:.3e}",
                "kodak_psnr": "" if kodak is None else f"{kodak:.3f}",
                "threads": torch.get_num_threads(),
            }
        )
        csv_file.flush()

    stop = StopSignal()
    bad_steps = 0
    # Under torchrun the processes share the cores: split the threads, do not tune them.
    tuner = ThreadTuner(max(1, cfg.threads // dist.world), enabled=cfg.adaptive_threads and dist.world == 1)
    live = progress and console.is_terminal
    bar_ctx: contextlib.AbstractContextManager = contextlib.nullcontext()
    task = None
    if live:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar_ctx = Progress(
            TextColumn("codec"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"),
            console=console,
        )
    session_start = time.monotonic()
    last_ckpt = last_eval = time.monotonic()
    loss_acc, psnr_acc, n_acc = 0.0, 0.0, 0
    kodak = None
    last = found
    model.train()
    best_window = float("inf")
    with stop.installed(), bar_ctx as bar:
        if live:
            task = bar.add_task("train", total=cfg.steps, completed=step, info="")
        if eval_images and step == 0:
            kodak = evaluate_kodak_psnr(ema, eval_images, cfg.eval_snr_db, cfg.eval_cbr)
            log_row(None, None, kodak)
        while step < cfg.steps:
            t0 = time.monotonic()
            size = crop_at(cfg, step)
            x = sampler.sample(batch, size).to(device, non_blocking=True)
            importance, k, snr = (t.to(device) for t in sample_conditions(cfg, batch, size, g))
            rewarm = 1.0 if rewarm_from is None else min(1.0, (step - rewarm_from + 1) / max(cfg.warmup, 1))
            for group in optimizer.param_groups:
                group["lr"] = lr_at(cfg, step) * lr_scale * rewarm * group.get("lr_scale", 1.0)
            out = net(x, k, snr, channel, importance=importance, generator=g_channel)
            loss = weighted_mse(out.x_hat, x, importance, cfg.importance_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # under DDP this also averages the gradients over ranks
            norm = nn.utils.clip_grad_norm_(
                model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
            )
            loss = dist.mean(loss)  # the logged loss is the global batch's (same on every rank)
            # A rare non-finite batch must not poison hours of training: skip it, but stop if
            # it keeps happening (then something is really wrong).
            if not (torch.isfinite(loss) and torch.isfinite(norm)):
                bad_steps += 1
                if bad_steps > 20:
                    raise FloatingPointError(f"non-finite loss or gradient for 20 steps at {step}")
                optimizer.zero_grad(set_to_none=True)
                continue
            bad_steps = 0
            optimizer.step()
            ema_update(ema, model, min(cfg.ema_decay, (1 + step) / (10 + step)))
            step += 1
            seconds = time.monotonic() - t0
            hours += seconds / 3600
            tuner.update(seconds)
            loss_acc += float(loss.detach())
            psnr_acc += float(dist.mean(psnr(out.x_hat.detach(), x).mean()))
            n_acc += 1

            now = time.monotonic()
            do_eval = eval_images and now - last_eval >= cfg.eval_minutes * 60
            if do_eval:
                kodak = evaluate_kodak_psnr(ema, eval_images, cfg.eval_snr_db, cfg.eval_cbr)
                last_eval = now
            window = loss_acc / n_acc
            diverged = cfg.diverge_factor > 0 and window > cfg.diverge_factor * best_window
            if step % cfg.log_every == 0 and diverged:
                if last is None:
                    raise FloatingPointError(f"training diverged at step {step} before any checkpoint")
                state = load_checkpoint(last, model=model, ema=ema, optimizer=optimizer)
                if main:
                    console.log(
                        f"step {step}: loss {window:.4f} > {cfg.diverge_factor} × best {best_window:.4f}; "
                        f"rolled back to {last.name}, learning rate halved"
                    )
                step, hours = int(state["step"]), float(state.get("hours", 0.0))
                lr_scale = float(state.get("lr_scale", 1.0)) * 0.5
                reseed(cfg.seed * 1_000_003 + step + 7919 * int(1 / lr_scale))
                csv_file.close()
                if main:
                    trim_csv(csv_path, step, CSV_FIELDS)
                csv_file, writer = open_csv()
                loss_acc, psnr_acc, n_acc = 0.0, 0.0, 0
                continue
            if step % cfg.log_every == 0 and step > cfg.warmup:
                best_window = min(best_window, window)
            if step % cfg.log_every == 0 or do_eval or step == cfg.steps:
                log_row(loss_acc / n_acc, psnr_acc / n_acc, kodak if do_eval else None)
                info = f"loss {loss_acc / n_acc:.5f} psnr {psnr_acc / n_acc:.2f} dB"
                if kodak is not None:
                    info += f" kodak {kodak:.2f} dB"
                if live:
                    bar.update(task, completed=step, info=info)
                elif progress and do_eval:
                    console.log(f"step {step} {info}")
                loss_acc, psnr_acc, n_acc = 0.0, 0.0, 0
            over_time = cfg.max_minutes > 0 and now - session_start >= cfg.max_minutes * 60
            due = (
                (step % cfg.ckpt_every == 0)
                if cfg.ckpt_every > 0
                else (now - last_ckpt >= cfg.ckpt_minutes * 60)
            )
            due, over_time, stopping = dist.agree(due, over_time, stop.requested)
            # Never checkpoint a model that is diverging: the rollback needs a good one.
            if (due or over_time or stopping or step == cfg.steps) and not diverged:
                last = checkpoint()
                last_ckpt = time.monotonic()
            if over_time or stopping:
                break
    csv_file.close()
    return last


def fit_klt(model: IAJSCC, sampler: CropSampler, n_patches: int, crop: int = 64) -> None:
    """Fit the model's linear code to ``n_patches`` cell-sized patches cut from random crops.

    Every rank of a DDP run draws the same crops (the sampler is seeded from the preset alone), so
    all ranks start from the same model.
    """
    cell = model.cell
    crop = max(crop, cell) // cell * cell
    per_crop = (crop // cell) ** 2
    crops = [sampler.sample(64, crop) for _ in range(math.ceil(n_patches / (64 * per_crop)))]
    x = torch.cat(crops)
    patches = (
        x.unfold(2, cell, cell).unfold(3, cell, cell).permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, cell, cell)
    )
    model.fit_transform(patches[:n_patches].to(next(model.parameters()).device))


def _init_from_weights(folder: Path, expected: IAJSCCConfig, model: IAJSCC, ema: IAJSCC) -> tuple[int, float]:
    """Load shipped weights into ``model`` and ``ema``; return the (step, hours) they record."""
    shipped = IAJSCC.from_pretrained(folder)
    if shipped.config != expected:
        raise ConfigError(f"the weights in {folder} were trained with another model config")
    model.load_state_dict(shipped.state_dict())
    ema.load_state_dict(shipped.state_dict())
    return weights_provenance(folder)


def export_weights(checkpoint: str | Path, directory: str | Path, *, fp16: bool = True) -> Path:
    """Write a checkpoint's EMA weights as a shipped model (``config.json`` + ``model.safetensors``)."""
    from safetensors.torch import load_file

    checkpoint = Path(checkpoint)
    model = IAJSCC.from_pretrained(checkpoint)  # builds from config.json (raw weights)
    model.load_state_dict(load_file(str(checkpoint / "ema.safetensors")))
    state = json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))
    provenance = {
        "weights": "ema",
        "step": str(state["step"]),
        "train_hours": f"{float(state.get('hours', 0.0)):.3f}",
        "preset": "configs/codec.toml",
    }
    model.save_pretrained(directory, dtype=torch.float16 if fp16 else None, metadata=provenance)
    return Path(directory)


__all__ = [
    "CodecTrainConfig",
    "evaluate_kodak_psnr",
    "export_weights",
    "lr_at",
    "psnr",
    "random_importance",
    "sample_conditions",
    "train_codec",
    "training_device",
    "weighted_mse",
]
