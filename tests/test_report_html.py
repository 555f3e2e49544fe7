"""`archcalc report`: one self-contained HTML file, loaded in a real headless Chromium.

Debian's chromium, driven by playwright (never a downloaded browser), with
every request that would leave the file refused and counted.
"""

from __future__ import annotations

import os
import re
import struct

import pytest

from archcalc import catalog
from archcalc.analysis import analyze
from conftest import module_or_fail, tool_or_fail

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NETS = ("vgg16", "googlenet", "resnet18")


@pytest.fixture(scope="module")
def page_file(tmp_path_factory):
    for module in ("matplotlib", "playwright"):
        module_or_fail(module)
    tool_or_fail("dot", "apt-get install graphviz")
    from archcalc.cli import run

    path = tmp_path_factory.mktemp("report") / "report.html"
    assert run(["report", *NETS, "-o", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def browser(page_file, tmp_path_factory):
    chromium = tool_or_fail("chromium", "apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        home = tmp_path_factory.mktemp("home")  # chromium writes its settings and caches there, not in the user's
        launched = playwright.chromium.launch(executable_path=chromium, args=FLAGS, env={
            **os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache")})
        context = launched.new_context(viewport={"width": 1280, "height": 900})
        yield context
        context.close()
        launched.close()


@pytest.fixture(scope="module")
def page(browser, page_file):
    page = browser.new_page()
    errors, outside = [], []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))

    def route(r):
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(page_file.as_uri())
    page.wait_for_load_state("load")
    page.errors, page.outside = errors, outside
    return page


def test_the_file_is_self_contained(page_file):
    text = page_file.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), "nothing fetched from a network"
    assert "<script src" not in text and "<link" not in text


def test_it_loads_without_errors_or_requests(page):
    assert page.errors == [] and page.outside == []


def test_every_table_renders_with_every_row(page):
    for index, name in enumerate(NETS):
        report = analyze(catalog.load(name))
        rows = page.locator(f"#network-{index} table.layers tbody tr")
        assert rows.count() == len(report.rows)
        assert rows.first.locator("td").first.inner_text().startswith(report.rows[0].name)
        assert page.locator(f"#network-{index} table.layers tfoot").inner_text().count(f"{report.totals.params:,}") == 1
        assert page.locator(f"#network-{index} ul.totals li").first.inner_text().startswith(f"{name}: ")
    comparison = page.locator("#comparison table.comparison")
    assert comparison.locator("thead th").all_inner_texts() == ["metric", *NETS]
    assert "138.36M" in comparison.inner_text()
    params = [analyze(catalog.load(name)).totals.params for name in NETS]
    row = comparison.locator("tbody tr", has_text="Parameters").first.locator("td").all_inner_texts()
    assert row[1].endswith(f"({params[1] / params[0]:.2g}×)")  # ratios to the first, as compare prints them


def test_clicking_a_header_sorts_the_table(page):
    table = page.locator("#network-0 table.layers")
    params = table.locator("thead th", has_text="Params")
    column = "cells => cells.map(c => Number(c.getAttribute('data-value')))"
    params.click()
    assert params.get_attribute("aria-sort") == "ascending"
    values = table.locator("tbody tr td:nth-child(4)").evaluate_all(column)
    assert values == sorted(values) and len(values) == len(analyze(catalog.load("vgg16")).rows)
    params.click()
    assert params.get_attribute("aria-sort") == "descending"
    assert table.locator("tbody tr").first.locator("td").first.inner_text() == "fc6"  # 102,764,544: the largest
    assert table.locator("tbody tr td:nth-child(4)").evaluate_all(column) == sorted(values, reverse=True)
    table.locator("thead th", has_text="Layer").click()
    names = table.locator("tbody tr td:first-child").all_inner_texts()
    assert names == sorted(names)


def test_the_figures_render(page):
    plots = page.locator("figure.plot svg")
    assert plots.count() == len(NETS) + 1  # one per network, and the comparison
    for k in range(plots.count()):
        box = plots.nth(k).bounding_box()
        assert box and box["width"] > 300 and box["height"] > 200
    assert page.locator("#network-0 figure.plot svg text", has_text="Parameters per layer — total 138,357,544").count() == 1
    diagrams = page.locator("figure.diagram svg")
    assert diagrams.count() == len(NETS)
    googlenet = diagrams.nth(1)
    assert googlenet.locator("g.cluster").count() >= 9 * 5  # inception modules and their branches
    assert googlenet.locator("g.node text", has_text="concat 256×28×28").count() == 1
    assert page.locator("#comparison figure.plot svg text", has_text="googlenet").count() == 1


def test_a_screenshot_shows_the_page(page, tmp_path):
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=False)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (1280, 900)
    from PIL import Image

    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50, "the page drew text, tables and figures, not a blank"
    dark = sum(count for count, (r, g, b) in colours or [] if r + g + b < 200)
    assert colours is None or dark > 1000, "text is drawn"
