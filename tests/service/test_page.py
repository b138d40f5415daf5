"""The web page, end to end in a real headless Chromium: upload, sliders, submit, five images, numbers.

The browser is Debian's ``chromium`` driven by Playwright for Python (``executable_path``):
Playwright's own browser download cannot work here. ``.ci/run`` installs the package when it is
missing and sets ``MLLMSC_BROWSER``; with that set, a browser that cannot start fails the test
rather than skipping it. Set ``MLLMSC_ARTIFACTS=DIR`` to keep the screenshots.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
from playwright.sync_api import expect, sync_playwright  # noqa: E402

from mllmsc.decoder.generative import MODE_SETTINGS

from .conftest import TOKEN

PANELS = ("original", "importance", "allocation", "uniform", "guided")
DB = re.compile(r"^-?\d+\.\d\d dB$")


def chromium() -> str | None:
    """The browser to drive: ``MLLMSC_BROWSER``, else the first Chromium on the PATH."""
    if os.environ.get("MLLMSC_BROWSER"):
        return os.environ["MLLMSC_BROWSER"]
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="module")
def browser():
    path = chromium()
    if path is None:
        pytest.skip("no Chromium on this machine and none could be installed: apt-get install chromium "
                    "(.ci/run does this when it can)")  # fmt: skip
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page_edge():
    """The edge with the shipped codec and answerer (the page should show real pictures), 128 px."""
    from mllmsc.service.app import create_app
    from mllmsc.service.limits import Limits
    from mllmsc.service.server import BackgroundServer

    app = create_app(token=TOKEN, guidance="saliency", limits=Limits(transmit_max_side=128))
    with BackgroundServer(app) as server:
        yield server


@pytest.fixture
def page(browser, page_edge):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(page_edge.url + "/")
    page.wait_for_selector("body[data-ready='1']")
    yield page
    context.close()
    assert not errors, errors  # no script error on the page


def screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("MLLMSC_ARTIFACTS"):
        keep = Path(os.environ["MLLMSC_ARTIFACTS"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, keep / name)
    return path


def press(page, selector: str, key: str, times: int) -> None:
    page.focus(selector)
    for _ in range(times):
        page.keyboard.press(key)


def check_panels_and_numbers(page) -> None:
    for name in PANELS:
        img = page.locator(f"#img-{name}")
        assert img.get_attribute("src").startswith("data:image/png;base64,"), name
        assert img.evaluate("e => e.complete && e.naturalWidth > 0"), name
        box = img.bounding_box()
        assert box is not None and box["width"] > 50 and box["height"] > 30, name
    for run in ("uniform", "guided"):
        assert DB.match(page.inner_text(f"#psnr-{run}")), page.inner_text(f"#psnr-{run}")
        assert DB.match(page.inner_text(f"#roi-{run}"))
    assert re.match(r"^\d+ \(0\) / \d+$", page.inner_text("#symbols-uniform"))
    guided = re.match(r"^(\d+) \((\d+)\) / (\d+)$", page.inner_text("#symbols-guided"))
    assert guided and int(guided[2]) > 0 and int(guided[1]) <= int(guided[3])


def test_upload_sliders_submit_show_five_panels_and_the_numbers(page, photo_path, tmp_path):
    assert page.is_visible("#token")  # the edge wants a token, so the page asks for it
    page.fill("#token", TOKEN)
    page.set_input_files("#file", str(photo_path))
    page.fill("#intent", "the astronaut's face")
    page.select_option("#guidance", "saliency")
    press(page, "#snr", "ArrowLeft", 6)  # 10 → 4 dB, as a person would with the keyboard
    press(page, "#cbr", "ArrowRight", 2)  # 1/16 → 1/8
    assert page.inner_text("#snr-out") == "4 dB" and page.inner_text("#cbr-out") == "1/8"
    page.click("#send")
    expect(page.locator("#status")).to_have_text("done", timeout=120_000)
    check_panels_and_numbers(page)
    details = page.inner_text("#details")
    assert "astronaut.png" in details and "at 4 dB" in details and "saliency" in details
    shot = screenshot(page, tmp_path, "page-upload.png")
    assert Image.open(shot).size[0] >= 1400


def test_a_scene_question_shows_both_answers(page, tmp_path):
    page.fill("#token", TOKEN)
    page.check("input[name=source][value=scene]")
    page.click("#load-scene")
    page.wait_for_selector("#question option:nth-child(2)", state="attached")
    question = page.eval_on_selector("#question", "s => [...s.options].find(o => o.text.includes('?')).value")
    page.select_option("#question", question)
    assert page.input_value("#intent") == question
    page.select_option("#guidance", "auto")
    page.select_option("#decoder", "generative:balanced")
    page.click("#send")
    expect(page.locator("#status")).to_have_text("done", timeout=120_000)
    check_panels_and_numbers(page)
    for run in ("uniform", "guided"):
        assert re.search(r"[✓✗]", page.inner_text(f"#answer-{run}")), page.inner_text(f"#answer-{run}")
    steps = MODE_SETTINGS["balanced"][0]
    assert f"decoder generative balanced ({steps} steps)" in page.inner_text("#details")
    screenshot(page, tmp_path, "page-scene.png")


def test_errors_from_the_edge_are_shown_not_thrown(page):
    page.fill("#token", "a-wrong-token-0123456789")
    page.check("input[name=source][value=sample]")
    page.click("#send")
    page.wait_for_selector("#status.error")
    assert "401" in page.inner_text("#status")
