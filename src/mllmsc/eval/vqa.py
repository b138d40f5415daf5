"""Visual question answering over the channel (case study 1): does the answer survive the link?

    scenes (seed, n) ──► every question ──► method (guided, oracle-mask, uniform, generative-*,
        digital, clean)
        × channel × SNR × CBR ──► x̂ ──► answerer(x̂, question) ──► correct?
        ──► results.csv (one row per question × setting, with its seed; resumable)
        ──► summary.csv (per method × channel × SNR × CBR: accuracy and its 95 % Wilson interval,
            PSNR, ROI PSNR, background PSNR, guidance IoU, symbols, n)
        ──► summary_by_type.csv (the same per question type) ──► accuracy_vs_snr.png

A VQA method is a transmission method (:data:`mllmsc.methods.METHODS`) and where its importance
map comes from (:data:`VQA_METHODS`): ``guided`` lets the guidance backend read the question (it
never sees the ground truth), ``oracle-mask`` uses the ground-truth mask of the question's target
(the ceiling of guidance). The ROI metrics are always scored on the ground-truth target mask.

Seeds: a question-aware method's row is seeded from the run's seed and the row's settings; a
question-agnostic method (``uniform``, ``digital``, ``clean``) sends the scene once per setting,
seeded from the settings without the question, and every question of the scene is answered from
that one received image, as a receiver would. Either way the order of rows and the number of
workers never change a result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from mllmsc.errors import UserError
from mllmsc.eval.grid import finite, map_rows, mean_ci95, num, read_rows, row_seed, run_rows, save_figure


@dataclass(frozen=True)
class VQAMethod:
    """A way of sending the scene before the answerer reads it.

    Attributes:
        transmission: the :data:`~mllmsc.methods.METHODS` name.
        importance: ``"question"`` (the guidance reads the question), ``"truth"`` (the target's
            ground-truth mask) or ``None`` (the method reads no importance map).
        what: one line for ``--help`` and the docs.
    """

    transmission: str
    importance: str | None
    what: str

    @property
    def per_question(self) -> bool:
        """Whether what is sent depends on the question (else one transmission serves them all)."""
        return self.importance is not None


VQA_METHODS: dict[str, VQAMethod] = {
    "guided": VQAMethod("ia-jscc", "question", "IA-JSCC, importance from the guidance reading the question"),
    "oracle-mask": VQAMethod("ia-jscc", "truth", "IA-JSCC, importance = ground-truth target mask"),
    "uniform": VQAMethod("uniform-jscc", None, "the same codec, uniform allocation"),
    "generative-balanced": VQAMethod(
        "generative-balanced", None, "uniform + the diffusion refiner, balanced mode (4 steps)"
    ),
    "generative-quality": VQAMethod(
        "generative-quality", None, "uniform + the diffusion refiner, quality mode (16 steps)"
    ),
    "digital": VQAMethod("digital", None, "HEIF + 5G LDPC + QAM"),
    "clean": VQAMethod("clean", None, "the undistorted scene (the answerer's ceiling)"),
}

RESULT_COLUMNS = [
    "scene", "question", "method", "channel", "snr_db", "cbr", "type", "text", "truth", "answer",
    "correct", "confidence", "seed", "psnr", "roi_psnr", "background_psnr", "iou", "k_ratio",
    "symbols", "side_info", "time_ms",
]  # fmt: skip
KEY_COLUMNS = RESULT_COLUMNS[:6]
METRICS = ("psnr", "roi_psnr", "background_psnr", "iou", "k_ratio")
SUMMARY_COLUMNS = [
    "method", "channel", "snr_db", "cbr", "accuracy", "accuracy_lo", "accuracy_hi",
    *(c for m in METRICS for c in (m, f"{m}_ci95")), "symbols", "n",
]  # fmt: skip
BY_TYPE_COLUMNS = [
    "method",
    "channel",
    "snr_db",
    "cbr",
    "type",
    "accuracy",
    "accuracy_lo",
    "accuracy_hi",
    "n",
]


@dataclass(frozen=True)
class VQARow:
    """One question of one scene under one setting."""

    scene: int
    question: int
    method: str
    channel: str
    snr_db: float
    cbr: float

    @property
    def key(self) -> tuple[str, ...]:
        """Identity in results.csv (numbers as written there)."""
        return (
            str(self.scene),
            str(self.question),
            self.method,
            self.channel,
            num(self.snr_db),
            num(self.cbr),
        )

    def seed(self, base: int) -> int:
        """The transmission's seed: per question for question-aware methods, else per scene."""
        key = self.key if VQA_METHODS[self.method].per_question else (self.key[0], *self.key[2:])
        return row_seed(base, key)


#: The background weight of ``guided`` and ``oracle-mask``: of 0.3, 0.1, 0.03, 0.01 and 0.003, the
#: best ``guided`` accuracy on 60 validation scenes (seed 2, 257 questions, AWGN 12 dB, CBR 1/96):
#: 0.852 at 0.03 against 0.829 at the allocator's general default 0.1 (BENCHMARKS.md, case study 1).
VQA_FLOOR = 0.03


@dataclass(frozen=True)
class VQASpec:
    """What to evaluate.

    Attributes:
        scenes, seed: scenes ``0 .. scenes-1`` of generator seed ``seed`` (also the base seed of
            every row). The shipped answerer and guidance were trained on seeds 1 and 3: seed 0
            is unseen.
        methods: names in :data:`VQA_METHODS`; channels, snrs, cbrs: the grid.
        answerer, answerer_weights: the receiver (:data:`mllmsc.tasks.ANSWERERS`) and its folder.
        guidance, guidance_model: the backend of ``guided`` (:data:`mllmsc.guidance.GUIDANCE`).
        weights: IA-JSCC folder; ``None``: the shipped weights.
        floor: the importance allocator's background weight (:func:`mllmsc.codec.allocate`);
            smaller concentrates more symbols on the target (the concentration ablation). The
            default, :data:`VQA_FLOOR`, was chosen on the validation scenes.
        size: scene side in pixels; backgrounds: photos to draw backgrounds from (procedural
            textures when empty).
    """

    scenes: int
    seed: int
    methods: tuple[str, ...]
    channels: tuple[str, ...]
    snrs: tuple[float, ...]
    cbrs: tuple[float, ...]
    answerer: str = "tiny-vqa"
    answerer_weights: Path | None = None
    guidance: str = "tiny-refseg"
    guidance_model: str | None = None
    weights: Path | None = None
    floor: float = VQA_FLOOR
    size: int = 256
    backgrounds: tuple[Path, ...] = ()
    questions: tuple[tuple[int, int], ...] = field(default=(), compare=False)

    def validated(self) -> VQASpec:
        """Check names and options (building the answerer once); returns a copy with the questions."""
        from mllmsc.channel import CHANNELS
        from mllmsc.guidance import GUIDANCE
        from mllmsc.methods import METHODS
        from mllmsc.tasks import ANSWERERS

        for method in self.methods:
            if method not in VQA_METHODS:
                raise UserError(f"unknown VQA method {method!r}; available: {', '.join(VQA_METHODS)}")
            METHODS.require(VQA_METHODS[method].transmission)
        for channel in self.channels:
            CHANNELS.require(channel)
        if "guided" in self.methods:
            GUIDANCE.require(self.guidance)
        if self.scenes < 1:
            raise UserError(f"--scenes must be at least 1, got {self.scenes}")
        if not (self.floor >= 0 and math.isfinite(self.floor)):
            raise UserError(f"the allocation floor must be a finite number >= 0, got {self.floor}")
        ANSWERERS.require(self.answerer)
        if self.answerer != "oracle":
            _build_answerer(self, {})  # missing weights fail here, before any row runs
        questions = []
        for i in range(self.scenes):
            scene = self.scene(i)
            questions += [(i, j) for j, e in enumerate(scene.expressions) if e.type == "question"]
        return VQASpec(**{**self.__dict__, "questions": tuple(questions)})

    def scene(self, index: int):
        """Scene ``index`` (:func:`mllmsc.data.scenes.generate_scene`)."""
        from mllmsc.data.scenes import generate_scene

        return generate_scene(self.seed, index, size=self.size, backgrounds=self.backgrounds)

    def rows(self) -> Iterator[VQARow]:
        """Scene-major, questions innermost (a question-agnostic transmission serves the next rows)."""
        by_scene: dict[int, list[int]] = {}
        for scene, question in self.questions:
            by_scene.setdefault(scene, []).append(question)
        for scene, questions in by_scene.items():
            for method in self.methods:
                for channel in self.channels:
                    for snr in self.snrs:
                        for cbr in self.cbrs:
                            for question in questions:
                                yield VQARow(scene, question, method, channel, snr, cbr)


def _build_answerer(spec: VQASpec, truth: dict[str, str]):
    from mllmsc.tasks import ANSWERERS

    if spec.answerer == "oracle":
        return ANSWERERS.build("oracle", truth=truth)
    kwargs = {"weights": spec.answerer_weights} if spec.answerer_weights is not None else {}
    return ANSWERERS.build(spec.answerer, **kwargs)


class _Runner:
    """Per-process state: methods, channels, guidance, the answerer, the current scene."""

    def __init__(self, spec: VQASpec) -> None:
        from mllmsc.methods.base import Shared

        self.spec = spec
        self._shared = Shared(weights={"ia-jscc": spec.weights})
        self._methods: dict[str, object] = {}
        self._channels: dict[str, object] = {}
        self._guidance = None
        self._answerer = None if spec.answerer == "oracle" else _build_answerer(spec, {})
        self._scene: tuple[int, object, torch.Tensor] | None = None
        self._sent: tuple[tuple, object] | None = None  # the last question-agnostic transmission

    def scene(self, index: int):
        if self._scene is None or self._scene[0] != index:
            scene = self.spec.scene(index)
            x = torch.from_numpy(scene.image).permute(2, 0, 1).float()[None] / 255
            self._scene = (index, scene, x)
            self._sent = None
        return self._scene[1], self._scene[2]

    def method(self, name: str):
        if name not in self._methods:
            from mllmsc.methods import METHODS

            kwargs = {"floor": self.spec.floor} if name == "ia-jscc" else {}
            self._methods[name] = METHODS.build(name, shared=self._shared, **kwargs)
        return self._methods[name]

    def channel(self, name: str):
        if name not in self._channels:
            from mllmsc.channel import CHANNELS

            self._channels[name] = CHANNELS.build(name)
        return self._channels[name]

    def guidance(self):
        if self._guidance is None:
            from mllmsc.guidance import GUIDANCE

            kwargs = {"model": self.spec.guidance_model} if self.spec.guidance_model else {}
            self._guidance = GUIDANCE.build(self.spec.guidance, **kwargs)
        return self._guidance

    def answerer(self, scene):
        if self._answerer is not None:
            return self._answerer
        truth = {e.text: e.answer for e in scene.expressions if e.type == "question"}
        return _build_answerer(self.spec, truth)

    def transmit(self, row: VQARow, x: torch.Tensor, question: str, target: torch.Tensor):
        """The received scene for ``row`` and the importance map it was sent with (``None``: none)."""
        from mllmsc.guidance import GUIDANCE
        from mllmsc.types import ChannelState

        how = VQA_METHODS[row.method]
        sent_key = (row.method, row.channel, row.snr_db, row.cbr)
        if not how.per_question and self._sent is not None and self._sent[0] == sent_key:
            return self._sent[1]
        importance = None
        if how.importance == "question":
            importance = self.guidance()(x, question, ChannelState(row.snr_db, row.cbr, row.channel))
        elif how.importance == "truth":
            importance = GUIDANCE.build("mask", mask=target[0])(x, None)
        generator = torch.Generator().manual_seed(row.seed(self.spec.seed))
        method = self.method(how.transmission)
        result = method(x, importance, self.channel(row.channel), row.snr_db, row.cbr, generator=generator)
        if not how.per_question:
            self._sent = (sent_key, result)
        return result

    def __call__(self, row: VQARow) -> dict[str, str]:
        from mllmsc.eval.metrics import iou
        from mllmsc.eval.scoring import score

        scene, x = self.scene(row.scene)
        expression = scene.expressions[row.question]
        target = torch.from_numpy(expression.mask)[None, None]
        result = self.transmit(row, x, expression.text, target)
        metrics = score(x, result, target, with_lpips=False)[0]
        answer = self.answerer(scene)(result.x_hat, [expression.text])[0]
        overlap = None
        if VQA_METHODS[row.method].importance is not None and result.importance is not None:
            overlap = float(iou(result.importance.mask, target)[0])
        return {
            "scene": str(row.scene), "question": str(row.question), "method": row.method,
            "channel": row.channel, "snr_db": num(row.snr_db), "cbr": num(row.cbr),
            "type": expression.subtype or "", "text": expression.text, "truth": expression.answer or "",
            "answer": answer.text or "", "correct": str(int(answer.text == expression.answer)),
            "confidence": finite(answer.confidence), "seed": str(row.seed(self.spec.seed)),
            "psnr": finite(metrics["psnr"]), "roi_psnr": finite(metrics["roi_psnr"]),
            "background_psnr": finite(metrics["background_psnr"]), "iou": finite(overlap),
            "k_ratio": finite(_k_ratio(result.allocation, target)),
            "symbols": str(int(result.symbols.total[0])), "side_info": str(int(result.symbols.side_info[0])),
            "time_ms": f"{result.latency_ms['total']:.1f}",
        }  # fmt: skip


def _k_ratio(allocation, target: torch.Tensor) -> float | None:
    """Mean symbols per target cell over mean symbols per background cell (``None``: no allocation).

    A cell is a target cell when at least half of its pixels are in the target mask.

    Shapes:
        target: ``[1, 1, H, W]`` bool.
    """
    if allocation is None:
        return None
    import torch.nn.functional as F

    k = allocation.k[0, 0].double()
    cell = math.ceil(target.shape[-1] / k.shape[-1])
    share = F.avg_pool2d(target.double(), cell, ceil_mode=True)[0, 0]
    inside = share >= 0.5
    if not inside.any() or inside.all():
        return None
    background = k[~inside].mean()
    return float(k[inside].mean() / background) if background > 0 else math.inf


def read_results(path: Path) -> list[dict[str, str]]:
    """Complete rows of a VQA results.csv (a line cut by a kill is dropped)."""
    return read_rows(path, RESULT_COLUMNS, what="VQA evaluation")


def run_vqa(
    spec: VQASpec,
    out: Path,
    *,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, str]]:
    """Run every row not yet in ``out/results.csv``; returns all rows (old and new), in grid order.

    Args:
        spec: the grid (validated here).
        out: the output folder (created).
        workers: local processes (rows of one scene stay in one worker where the grid allows).
        progress: called with (done, total) rows.
    """
    spec = spec.validated()
    if not spec.questions:
        raise UserError(
            f"scenes 0..{spec.scenes - 1} of seed {spec.seed} ask no questions; use more --scenes"
        )
    out.mkdir(parents=True, exist_ok=True)
    rows = list(spec.rows())
    per_scene = max(1, len(rows) // max(1, len({q[0] for q in spec.questions})))

    def compute(todo):
        return map_rows(_Runner, spec, todo, workers, chunksize=min(per_scene, max(1, len(todo) // workers)))

    return run_rows(out / "results.csv", RESULT_COLUMNS, KEY_COLUMNS, rows, compute, what="VQA evaluation",
                    progress=progress)  # fmt: skip


def wilson(correct: int, n: int) -> tuple[float, float]:
    """The 95 % Wilson score interval of a proportion ``correct / n`` (NaN when ``n == 0``).

    Unlike the normal interval it stays inside [0, 1] and is not empty at 0 or n correct.
    """
    if n == 0:
        return float("nan"), float("nan")
    z = 1.959963984540054
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _accuracy(rows: list[dict[str, str]]) -> dict[str, str]:
    correct = sum(int(r["correct"]) for r in rows)
    lo, hi = wilson(correct, len(rows))
    return {
        "accuracy": finite(correct / len(rows)), "accuracy_lo": finite(lo), "accuracy_hi": finite(hi),
        "n": str(len(rows)),
    }  # fmt: skip


def summarize(results: list[dict[str, str]]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """summary.csv rows (per method × channel × SNR × CBR) and summary_by_type.csv rows (also per type).

    Metric means come with the half-width of their 95 % t-interval; a metric missing from a row
    (IoU of an unguided method, ``k_ratio`` of a digital one) is left out of its mean.
    """
    groups: dict[tuple[str, ...], list[dict[str, str]]] = {}
    for r in results:
        groups.setdefault((r["method"], r["channel"], r["snr_db"], r["cbr"]), []).append(r)
    summary, by_type = [], []
    for (method, channel, snr, cbr), rows in groups.items():
        entry = {"method": method, "channel": channel, "snr_db": snr, "cbr": cbr, **_accuracy(rows)}
        for metric in METRICS:
            mean, half = mean_ci95([float(r[metric]) for r in rows if r[metric]])
            entry[metric], entry[f"{metric}_ci95"] = finite(mean), finite(half)
        entry["symbols"] = finite(sum(int(r["symbols"]) for r in rows) / len(rows))
        summary.append({c: entry[c] for c in SUMMARY_COLUMNS})
        kinds: dict[str, list[dict[str, str]]] = {}
        for r in rows:
            kinds.setdefault(r["type"], []).append(r)
        for kind in sorted(kinds):
            base = {"method": method, "channel": channel, "snr_db": snr, "cbr": cbr, "type": kind}
            by_type.append({**base, **_accuracy(kinds[kind])})
    return summary, by_type


def write_summaries(out: Path, summary: list[dict[str, str]], by_type: list[dict[str, str]]) -> None:
    """summary.csv and summary_by_type.csv, atomically."""
    from mllmsc.eval.grid import write_rows

    write_rows(out / "summary.csv", SUMMARY_COLUMNS, summary)
    write_rows(out / "summary_by_type.csv", BY_TYPE_COLUMNS, by_type)


def write_plot(out: Path, summary: list[dict[str, str]]) -> Path | None:
    """accuracy_vs_snr.png: accuracy (Wilson band) against SNR, a line per method, a panel per
    channel × CBR; ``None`` when the grid has a single SNR (no curve to draw)."""
    snrs = sorted({float(r["snr_db"]) for r in summary})
    if len(snrs) < 2:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mllmsc.eval.figures import format_cbr

    channels = sorted({r["channel"] for r in summary})
    cbrs = sorted({float(r["cbr"]) for r in summary})
    methods = list(dict.fromkeys(r["method"] for r in summary))
    fig, axes = plt.subplots(
        len(channels), len(cbrs), figsize=(4.2 * len(cbrs), 3.4 * len(channels)), squeeze=False, sharey=True
    )
    for i, channel in enumerate(channels):
        for j, cbr in enumerate(cbrs):
            ax = axes[i][j]
            for method in methods:
                pts = sorted(
                    (
                        float(r["snr_db"]),
                        float(r["accuracy"]),
                        float(r["accuracy_lo"]),
                        float(r["accuracy_hi"]),
                    )
                    for r in summary
                    if r["method"] == method and r["channel"] == channel and float(r["cbr"]) == cbr
                )
                if not pts:
                    continue
                xs, ys, lo, hi = zip(*pts, strict=True)
                style = "--" if method == "clean" else "-"
                (line,) = ax.plot(xs, ys, style, marker="o", ms=3, label=method)
                ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.15)
            ax.set_title(f"{channel}, CBR {format_cbr(cbr)}", fontsize=9)
            ax.set_xlabel("SNR (dB)")
            ax.set_ylim(0, 1.02)
            ax.grid(alpha=0.3)
        axes[i][0].set_ylabel("accuracy")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, plt, out / "accuracy_vs_snr.png")
