"""The Stable Diffusion latent path on tiny random SD components saved in the diffusers layout.

The fixture builds a VAE (4 levels of 8 channels: the SD factor of 8), a 2-level UNet, a CLIP text
encoder and a CLIP tokenizer from a hand-written vocabulary, saves them with ``save_pretrained``
and every test loads them back the way users do (``from_pretrained(..., local_files_only=True)``).
"""

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mllmsc.channel import CHANNELS
from mllmsc.codec.allocation import symbol_budget
from mllmsc.decoder.stable_diffusion import (
    LatentHead,
    LatentHeadConfig,
    ReceivedLatent,
    StableDiffusion,
    StableDiffusionDecoder,
    ddim_timesteps,
    snr_matched_start,
    start_timestep,
    wiener_gain,
)
from mllmsc.errors import UserError
from mllmsc.guidance import GUIDANCE
from mllmsc.methods import METHODS
from mllmsc.methods.sd_latent import LatentAllocator, copies, pack, unpack

ROOT = Path(__file__).resolve().parents[2]


def build_tiny_sd(path: Path) -> Path:
    """Random SD components small enough for a CPU test, saved as a diffusers folder."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    AutoencoderKL(
        block_out_channels=(8, 8, 8, 8), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, norm_num_groups=4,
        layers_per_block=1, sample_size=32,
        scaling_factor=4.5,  # the random VAE's latents have RMS ≈ 0.2: this makes E[z²] ≈ 1, as SD's are
    ).save_pretrained(path / "vae")  # fmt: skip
    UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(8, 16),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16, norm_num_groups=4,
        attention_head_dim=2,
    ).save_pretrained(path / "unet")  # fmt: skip
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = {c: i for i, c in enumerate(letters)}
    vocab |= {c + "</w>": len(letters) + i for i, c in enumerate(letters)}
    vocab |= {"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1}
    tokens = path / "tokenizer"
    tokens.mkdir(parents=True)
    (tokens / "vocab.json").write_text(json.dumps(vocab))
    (tokens / "merges.txt").write_text("#version: 0.2\n")
    CLIPTokenizer(
        str(tokens / "vocab.json"), str(tokens / "merges.txt"), model_max_length=16
    ).save_pretrained(tokens)
    text = CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=16, bos_token_id=len(vocab) - 2,
        eos_token_id=len(vocab) - 1, pad_token_id=len(vocab) - 1,
    )  # fmt: skip
    CLIPTextModel(text).save_pretrained(path / "text_encoder")
    DDIMScheduler(
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, prediction_type="v_prediction",
        clip_sample=False, set_alpha_to_one=False,
    ).save_pretrained(path / "scheduler")  # fmt: skip
    return path


@pytest.fixture(scope="module")
def sd_dir(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        return build_tiny_sd(tmp_path_factory.mktemp("tiny-sd"))


@pytest.fixture(scope="module")
def sd(sd_dir):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        return StableDiffusion.from_folder(sd_dir)


@pytest.fixture(autouse=True)
def offline_one_thread(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small ops crawl when two threads fight
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def unet_calls(sd):
    """How many times the UNet ran (a forward hook, removed after the test)."""
    calls = []
    handle = sd.unet.register_forward_hook(lambda *_: calls.append(1))
    yield calls
    handle.remove()


def _image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A smooth test image (gradients and a disc), ``[1, 3, h, w]`` in [0, 1]."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    disc = (((yy - 0.5) ** 2 + (xx - 0.4) ** 2) < 0.08).float()
    g = torch.Generator().manual_seed(seed)
    return torch.stack([xx, yy, disc]).unsqueeze(0).mul(0.8).add(0.1 * torch.rand(1, 3, h, w, generator=g))


# ---- the matched start ----


def test_start_timestep_is_monotone_in_snr_and_closest_to_the_schedule(sd):
    ac = sd.alphas_cumprod  # read from the saved scheduler folder
    assert len(ac) == 1000 and torch.all(ac[1:] < ac[:-1])
    for power in (0.5, 1.0, 2.0):
        previous = len(ac)
        for snr_db in torch.arange(-20.0, 40.5, 0.5).tolist():
            t = start_timestep(snr_db, ac, power)
            assert t <= previous  # higher SNR: earlier (less noisy) timestep
            previous = t
            snr = 10 ** (snr_db / 10)
            target = snr / (snr + power)
            assert abs(float(ac[t]) - target) == pytest.approx(float((ac - target).abs().min()), abs=1e-12)
    # More signal power at the same noise level is a cleaner latent, i.e. a later timestep for less.
    assert start_timestep(5.0, ac, 1.0) == start_timestep(5.0 + 10 * math.log10(2.0), ac, 2.0)
    assert start_timestep(-30.0, ac) == len(ac) - 1 and start_timestep(60.0, ac) == 0
    with pytest.raises(ValueError):
        start_timestep(0.0, ac, 0.0)


def test_the_start_carries_exactly_the_noise_of_its_timestep():
    """Cleaner elements get topped up, noisier ones shrunk, unsent ones are noise around 0."""
    g = torch.Generator().manual_seed(0)
    alpha = 0.6  # the timestep's noise variance 1 - ᾱ = 0.4 ⇔ σ² = 0.4 / 0.6 in y
    z = torch.randn(1, 3, 200, 200, generator=g)
    sigma2 = torch.tensor([0.1, 2.0, 1.0]).view(1, 3, 1, 1).expand_as(z)  # cleaner, noisier, unsent
    y = z + sigma2.sqrt() * torch.randn(z.shape, generator=g)
    sent = torch.tensor([True, True, False]).view(1, 3, 1, 1).expand_as(z)
    x_t = snr_matched_start(y, sigma2, sent, alpha, generator=g)
    c_clean, c_noisy = math.sqrt(alpha), math.sqrt((1 - alpha) / 2.0)
    for channel, c in ((0, c_clean), (1, c_noisy), (2, 0.0)):
        residual = x_t[0, channel] - c * z[0, channel]
        assert float(residual.mean()) == pytest.approx(0.0, abs=0.01)
        assert float(residual.var()) == pytest.approx(1 - alpha, rel=0.03)
    assert ddim_timesteps(500, 4) == [500, 375, 250, 125] and ddim_timesteps(2, 8) == [2, 1, 0]
    assert ddim_timesteps(7, 1) == [7] and ddim_timesteps(7, 0) == []


# ---- the link: symbols, allocation, noise ----


@pytest.mark.parametrize("size", [(128, 192), (100, 150)])
@pytest.mark.parametrize("cbr", [1 / 96, 1 / 384])
def test_the_bill_meets_the_budget_exactly_or_under(size, cbr):
    h, w = size
    budget = symbol_budget(cbr, h, w)
    box = GUIDANCE.build("box", box=(0, 0, 64, 64))(torch.rand(1, 3, h, w), None).soft
    for importance in (False, True):
        allocator = LatentAllocator(channels=4, cell=8, importance=importance)
        a = allocator.allocate(box, budget)
        bill = a.bill
        assert torch.all(bill.payload + bill.side_info == bill.total) and torch.all(bill.total <= budget)
        values = int(a.k.sum())
        assert int(bill.payload[0]) == allocator.header + math.ceil(values / 2)  # the header counts
        assert a.k.shape == (1, 1, math.ceil(h / 8), math.ceil(w / 8)) and int(a.k.max()) <= 4
        assert int(bill.total[0]) == budget  # below the whole latent, every symbol is spent
        assert (int(bill.side_info[0]) > 0) == importance
        again = allocator.receive(a.side_bits, budget, h, w)  # the receiver, from the bits alone
        assert torch.equal(again.k, a.k) and torch.equal(again.payload, a.payload)
    if size == (128, 192) and cbr == 1 / 96:  # the whole latent less the 18-symbol gain header
        assert 2 * budget == 4 * (h // 8) * (w // 8) and values == 4 * (h // 8) * (w // 8) - 2 * 18 - 2 * int(
            bill.side_info[0]
        )


def test_importance_keeps_more_channels_in_important_cells():
    h, w = 128, 192
    box = GUIDANCE.build("box", box=(0, 0, 64, 64))(torch.rand(1, 3, h, w), None).soft
    a = LatentAllocator(channels=4, cell=8, importance=True).allocate(box, symbol_budget(1 / 384, h, w))
    k = a.k[0, 0].float()
    inside, outside = k[:8, :8], torch.cat([k[8:].flatten(), k[:8, 8:].flatten()])
    assert float(inside.mean()) > 2 * float(outside.mean())
    uniform = LatentAllocator(channels=4, cell=8, importance=False).allocate(
        box, symbol_budget(1 / 384, h, w)
    )
    assert int(uniform.k.max()) - int(uniform.k.min()) <= 1  # even without a map


@pytest.mark.parametrize("channel", ["awgn", "rayleigh"])
def test_the_receiver_sees_z_plus_noise_of_the_variance_it_reports(channel):
    g = torch.Generator().manual_seed(0)
    z = 0.9 * torch.randn(2, 4, 32, 48, generator=g)
    k = torch.full((2, 1, 32, 48), 8)  # two copies of every value (a CBR of 1/48)
    k[:, :, :8] = 3  # and 3 of the 4 channels once in the top rows
    n = copies(k, 4)
    assert torch.equal(n[0, :, 0, 0], torch.tensor([1, 1, 1, 0])) and int(n[0, :, 8, 8].min()) == 2
    symbols, sent, gain = pack(z, n)
    assert float(symbols[sent].abs().square().mean()) == pytest.approx(1.0, rel=1e-5)
    out = CHANNELS.build(channel, **({"coherence": 1} if channel == "rayleigh" else {}))(
        symbols, 10.0, generator=g
    )
    rx = unpack(out, n, gain)
    assert torch.equal(rx.sent, n > 0) and bool((rx.y[~rx.sent] == 0).all())
    normalised = ((rx.y - z)[rx.sent].square() / rx.noise_var[rx.sent]).mean()
    assert float(normalised) == pytest.approx(1.0, rel=0.1)  # the reported σ² is the real one
    stream_power = (z.square() * n).flatten(1).sum(1) / n.flatten(1).sum(1)  # E[z²] of what was sent
    assert torch.allclose(rx.power, stream_power, rtol=0.01)  # (through the 12-bit gain header)
    if channel == "awgn":  # 3 dB from two copies on most elements
        assert 12.0 < float(rx.snr_db()[0]) < 13.5


# ---- the model side ----


def test_vae_round_trip_shapes_and_range(sd):
    x = _image(30, 45)  # not a multiple of 8: padded, then cropped
    z = sd.encode(x)
    assert sd.factor == 8 and z.shape == (1, 4, 4, 6) and z.dtype == torch.float32
    assert 0.2 < float(z.square().mean()) < 5  # the scaling factor brings E[z²] near 1
    back = sd.decode(z, (30, 45))
    assert back.shape == (1, 3, 30, 45) and float(back.min()) >= 0 and float(back.max()) <= 1


def test_an_untrained_head_is_the_closed_form_shrinkage_and_saves_as_safetensors(sd, tmp_path):
    g = torch.Generator().manual_seed(0)
    y = torch.randn(2, 4, 5, 7, generator=g)
    noise = torch.rand(2, 4, 5, 7, generator=g) + 0.1
    sent = torch.rand(2, 4, 5, 7, generator=g) > 0.3
    power = torch.tensor([0.8, 1.2])
    w = wiener_gain(noise, power, sent)
    assert torch.allclose(w, torch.where(sent, power.view(2, 1, 1, 1) / (power.view(2, 1, 1, 1) + noise), 0))
    head = LatentHead(LatentHeadConfig(hidden=8, layers=3))
    assert torch.equal(head(y * sent, w), w * y * sent)
    head.save_pretrained(tmp_path / "head")
    assert (tmp_path / "head" / "model.safetensors").is_file()
    received = ReceivedLatent(y=y * sent, noise_var=noise, sent=sent, power=power)
    plain = StableDiffusionDecoder(sd, "fast").estimate(received)
    learned = StableDiffusionDecoder(sd, "fast", head=tmp_path / "head").estimate(received)
    assert torch.allclose(plain, learned) and torch.allclose(plain, w * y * sent)
    with pytest.raises(UserError, match="latent head takes 3"):
        StableDiffusionDecoder(sd, "fast", head=LatentHead(LatentHeadConfig(latent_channels=3)))


def test_fast_runs_no_unet_and_steps_run_that_many(sd, unet_calls):
    x = _image(32, 48)
    low = METHODS.build("sd-latent", model=sd, mode="fast")
    result = low(x, None, CHANNELS.build("awgn"), 0.0, 1 / 96, generator=torch.Generator().manual_seed(0))
    assert not unet_calls and result.details["decoder"]["steps"] == 0
    assert result.details["start_timestep"] is None
    progress = []
    for guidance_scale in (1.0, 3.0):  # classifier-free guidance batches both passes into one call
        unet_calls.clear()
        progress.clear()
        method = METHODS.build(
            "sd-latent", model=sd, steps=3, prompt="a red car", guidance_scale=guidance_scale,
            progress=lambda *p: progress.append(p),
        )  # fmt: skip
        out = method(x, None, CHANNELS.build("awgn"), 0.0, 1 / 96, generator=torch.Generator().manual_seed(0))
        assert len(unet_calls) == 3 and progress == [(1, 3), (2, 3), (3, 3)]
        decoder = out.details["decoder"]
        assert decoder["name"] == "sd-latent" and decoder["steps"] == 3 and decoder["latency_ms"] > 0
        assert 100 < out.details["start_timestep"] < 900  # 0 dB on E[z²] ≈ 1: ᾱ ≈ 1/2


@pytest.mark.parametrize("mode", ["fast", "balanced"])
@pytest.mark.parametrize("channel", ["awgn", "rayleigh"])
def test_the_method_end_to_end(sd_dir, mode, channel):
    x = _image(32, 48)
    method = METHODS.build("sd-latent", sd_model=sd_dir, mode=mode, prompt="a disc")
    assert method.name == "sd-latent"

    def send(seed):
        return method(
            x, None, CHANNELS.build(channel), 10.0, 1 / 96, generator=torch.Generator().manual_seed(seed)
        )

    result = send(0)
    assert (
        result.method == "sd-latent" and result.x_hat.shape == x.shape and result.x_hat.dtype == torch.float32
    )
    assert float(result.x_hat.min()) >= 0 and float(result.x_hat.max()) <= 1
    bill = result.symbols
    assert bill.budget == 48 and int(bill.total[0]) == 48 and int(bill.side_info[0]) == 0
    assert set(result.latency_ms) == {"allocate", "encode", "channel", "decode", "total"}
    assert result.details["decoder"]["mode"] == mode and not result.lost.any()
    assert torch.equal(send(3).x_hat, send(3).x_hat)  # every draw comes from the generator


def test_a_map_is_used_with_side_info_and_a_cbr_above_1_96_repeats(sd):
    x = _image(64, 96)
    method = METHODS.build("sd-latent", model=sd, mode="fast")
    box = GUIDANCE.build("box", box=(0, 0, 32, 32))(x, None)
    awgn = CHANNELS.build("awgn")
    mapped = method(x, box, awgn, 10.0, 1 / 96, generator=torch.Generator().manual_seed(0))
    assert mapped.allocation.method == "importance" and int(mapped.symbols.side_info[0]) > 0
    flat = GUIDANCE.build("uniform")(x, None)
    plain = method(x, flat, awgn, 10.0, 1 / 96, generator=torch.Generator().manual_seed(0))
    assert "fallback" in plain.details and int(plain.symbols.side_info[0]) == 0
    wide = method(x, None, awgn, 10.0, 1 / 16, generator=torch.Generator().manual_seed(0))
    assert wide.details["repeats"] == 6 and int(wide.symbols.total[0]) == symbol_budget(1 / 16, 64, 96)
    with pytest.raises(UserError, match="gain header"):  # 12 symbols cannot carry the 18-symbol header
        method(_image(32, 48), None, awgn, 10.0, 1 / 384)


def test_missing_or_incomplete_folders_are_user_errors(tmp_path, sd_dir):
    with pytest.raises(UserError, match=r"needs sd_model=PATH"):
        METHODS.build("sd-latent")
    with pytest.raises(UserError, match=r"not a Stable Diffusion folder \(needs vae/, unet/.*no such folder"):
        METHODS.build("sd-latent", sd_model=tmp_path / "nope")
    partial = tmp_path / "partial"
    (partial / "vae").mkdir(parents=True)
    (partial / "vae" / "config.json").write_text("{}")
    with pytest.raises(UserError, match=r"no unet/config.json"):
        METHODS.build("sd-latent", sd_model=partial)
    broken = tmp_path / "broken"
    for part in ("vae", "unet", "text_encoder", "tokenizer", "scheduler"):
        (broken / part).mkdir(parents=True)
    for name in ("vae/config.json", "unet/config.json", "text_encoder/config.json", "tokenizer/vocab.json"):
        (broken / name).write_text("not json")
    (broken / "scheduler" / "scheduler_config.json").write_text("{}")
    with pytest.raises(UserError, match=r"vae/ does not load") as err:
        METHODS.build("sd-latent", sd_model=broken)
    assert "\n" not in str(err.value)


# ---- the command line and the benchmark ----


def test_transmit_with_sd_model_writes_the_report_and_its_decoder_block(tmp_path, photo_path, sd_dir):
    from mllmsc.cli.main import main

    out = tmp_path / "out"
    argv = ["transmit", str(photo_path), "--out", str(out), "--sd-model", str(sd_dir), "--cbr", "1/96",
            "--query", "the face", "--mode", "balanced", "--snr", "5"]  # fmt: skip
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == "sd-latent"
    assert report["decoder"]["name"] == "sd-latent" and report["decoder"]["steps"] == 4
    s = report["symbols"]
    assert s["payload"] + s["side_info"] == s["total"] <= s["budget"] == 96 * 128 // 32
    assert s["side_info"] > 0  # the default (auto) guidance's map, sent as block levels
    for name in ("received.png", "importance.png", "allocation.png", "report.png"):
        assert (out / name).is_file()
    assert Image.open(out / "received.png").size == (128, 96)


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (("--sd-model", "/nonexistent"), "--sd-model /nonexistent: not a Stable Diffusion folder"),
        (("--sd-model", "SD", "--decoder", "generative"), "drop --decoder"),
    ],
)
def test_transmit_with_a_bad_sd_model_exits_2_with_one_line(
    tmp_path, photo_path, sd_dir, capsys, extra, fragment
):
    from mllmsc.cli.main import main

    extra = tuple(str(sd_dir) if e == "SD" else e for e in extra)
    out = tmp_path / "out"
    code = main(["transmit", str(photo_path), "--out", str(out), "--cbr", "1/96", *extra])
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (out / "report.json").exists()


def test_the_paper_benchmark_runs_on_the_tiny_folder(tmp_path, sd_dir):
    spec = importlib.util.spec_from_file_location(
        "paper_generative", ROOT / "benchmarks" / "paper_generative.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    data = tmp_path / "data"
    data.mkdir()
    pixels = (np.asarray(_image(32, 48)[0].permute(1, 2, 0)) * 255).round().astype(np.uint8)
    Image.fromarray(pixels).save(data / "one.png")
    Image.fromarray(pixels).save(data / "two.png")  # left out by --limit 1
    out = tmp_path / "out"
    argv = [
        "--sd-model",
        str(sd_dir),
        "--data",
        str(data),
        "--snrs",
        "0,10",
        "--limit",
        "1",
        "--out",
        str(out),
    ]
    assert bench.main(argv) == 0
    import csv

    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 2 * 3 and {r["method"] for r in rows} == {"sd-latent", "uniform-jscc", "digital"}
    assert {r["image"] for r in rows} == {"one.png"}
    assert all(r["lpips"] == "" or float(r["lpips"]) >= 0 for r in rows)  # empty without LPIPS weights
    assert all(float(r["cbr_used"]) <= 1 / 96 + 1e-9 for r in rows)
    table = (out / "summary.md").read_text()
    assert "| `sd-latent` |" in table and "| 0 dB | 10 dB |" in table
    assert bench.main(["--sd-model", str(tmp_path / "nope"), "--data", str(data), "--out", str(out)]) == 2
