"""The report in a real browser: Debian's headless Chromium through Selenium (slow).

Renders a report with hostile names, claims and figures, opens it from a file
URL (no network) at a 1280 px desktop width and a 390 px phone width, and
asserts: no horizontal page scroll, the gate's banner, the direction-aware
badge of the worse cell, the visible text, the rendered SVG figures (within
the page width) and that no script ran. Needs `apt-get install chromium
chromium-driver`; skipped without them, unless BENCH_REQUIRE_BROWSER=1 (CI)
makes their absence a failure.
"""

from __future__ import annotations

import os
import shutil
import struct

import pytest

pytestmark = pytest.mark.slow


def _browser_paths() -> tuple[str, str]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        message = "Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("BENCH_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return chromium, driver


def test_report_in_headless_chromium(tmp_path):
    chromium, driver_path = _browser_paths()
    from selenium import webdriver
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    from bench.judge.verdicts import judge_claims
    from bench.tables.table import parse_table
    from bench.io import write_json
    from bench.report import render_html
    from bench.judge.collect import collect
    from bench.judge.verdicts import judge
    from test_report import TABLE

    table = parse_table("t.yaml", TABLE)
    for entry, values in (("ea", [90.0, 90.1, 89.9]), ("eb", [70.0, 70.2, 69.9])):
        for seed, v in enumerate(values):
            write_json(tmp_path / "runs" / entry / str(seed) / "metrics.json",
                       {"status": "ok", "top1": v, "top1_err": 100 - v, "wall_time_s": 60.0, "device_name": "cpu"})
    runs = collect({"t1": table}, [0, 1, 2], tmp_path / "runs")
    page = tmp_path / "index.html"
    page.write_text(render_html({"t1": table}, judge({"t1": table}, runs), "Browser check", runs,
                                judge_claims({"t1": table}, runs)), encoding="utf-8")

    seen = {}
    for width, height in ((1280, 900), (390, 844)):  # a desktop window and a phone
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={width},{height}",
                    "--disable-background-networking"):
            options.add_argument(arg)
        browser = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver_path), options=options)
        try:
            browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
            browser.get(page.as_uri())
            seen[width] = {
                "text": browser.find_element(By.TAG_NAME, "body").text,
                "png": browser.get_screenshot_as_png(),
                "sizes": [(f.size["width"], f.size["height"]) for f in browser.find_elements(By.CSS_SELECTOR,
                                                                                              "figure svg")],
                "scroll": browser.execute_script("return document.documentElement.scrollWidth"),
                "inner": browser.execute_script("return window.innerWidth"),
                "banner": browser.find_element(By.ID, "gate").text,
                "worse": browser.find_elements(By.CSS_SELECTOR, ".badge.DISCREPANT.worse"),
            }
            seen[width]["worse"] = [e.text for e in seen[width]["worse"]]
            with pytest.raises(NoAlertPresentException):
                browser.switch_to.alert.text  # noqa: B018  (no alert(): the hostile names stayed text)
        finally:
            browser.quit()

    for width, got in seen.items():
        assert got["inner"] == width and got["scroll"] <= width, (width, got["scroll"])  # no sideways page scroll
        assert got["banner"].startswith("CI gate: FAIL") and "eb" in got["banner"]
        assert [w.lower() for w in got["worse"]] == ["discrepant: worse"]  # (the CSS may upper-case badges)
        assert len(got["sizes"]) == 4 and all(w > 150 and h > 60 and w <= width for w, h in got["sizes"])
    png, text, sizes = seen[1280]["png"], seen[1280]["text"], seen[1280]["sizes"]
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width == 1280 and 600 <= height <= 900  # the viewport of a 1280 x 900 window
    for visible in ("Browser check", "CI gate: FAIL", "Summary", "Claims", "Hostile <script>alert(1)</script> table",
                    "<img src=x onerror=alert(2)> a beats b", "REPRODUCED", "DISCREPANT",
                    "direction reproduced, effect size differs"):
        assert visible in text, visible
    assert len(sizes) == 4 and all(w > 300 and h > 60 for w, h in sizes)  # the figures really render


def test_dvc_plots_show_renders_offline_one_metric_per_plot(tmp_path):
    """`dvc plots show` on the committed runs: the page loads Vega from vendor/vega/ (no CDN) and every plot
    draws; each plot is one file of one metric."""
    import subprocess

    chromium, driver_path = _browser_paths()
    from selenium import webdriver

    from conftest import copy_repo

    repo = copy_repo(tmp_path / "repo", skip=("reports/", "dvc.lock"))
    shown = subprocess.run(["dvc", "plots", "show"], cwd=repo, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    page = repo / "dvc_plots" / "index.html"
    html = page.read_text()
    assert "cdn.jsdelivr" not in html and 'src="../vendor/vega/vega.min.js"' in html
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
                "--disable-background-networking", "--host-resolver-rules=MAP * ~NOTFOUND"):  # no network at all
        options.add_argument(arg)
    browser = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver_path), options=options)
    try:
        browser.get(page.as_uri())
        import time

        deadline = time.monotonic() + 60.0  # the page builds its plots asynchronously: slower on a loaded machine
        while True:
            ids = browser.execute_script(
                "return Array.from(document.querySelectorAll('body > div[id]')).map(d => d.id)")
            drawn = browser.execute_script(
                "return Array.from(document.querySelectorAll('body > div[id]')).filter("
                "d => d.querySelector('canvas, svg.marks')).length")
            if (ids and drawn == len(ids)) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        browser.quit()
    assert ids and drawn == len(ids), (drawn, len(ids))
    assert any(i.endswith("train_loss_tsv") for i in ids) and any(i.endswith("train_lr_tsv") for i in ids)
    assert {"results_plots_top1_csv", "results_plots_top1_err_csv"} <= set(ids)  # accuracy and error apart
