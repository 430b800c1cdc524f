"""The HTML report in a real browser: headless Chromium lays out a real report at 1280 px and a
script in a probe copy of the page writes its measurements into the DOM (`--dump-dom`).

Chromium comes from the system packages (`apt-get install -y chromium`; `.ci/run` installs it).
Without it the test skips, except in CI (`CI` set), where it fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from validators.html_report import write_report
from validators.table_plots import table_figures

VIEWPORT = 1280
MIN_FIGURE_WIDTH = 900
# Runs after every image has loaded; measures before it adds its own output to the page.
PROBE = """<script>
window.addEventListener("load", () => {
  const page = document.documentElement;
  const top = (selector) => {
    const element = document.querySelector(selector);
    return element ? element.getBoundingClientRect().top + window.scrollY : null;
  };
  const measured = {
    clientWidth: page.clientWidth,
    scrollWidth: page.scrollWidth,
    figures: [...document.querySelectorAll("figure img")].map((img) => ({
      id: img.closest("figure").id,
      width: img.getBoundingClientRect().width,
      loaded: img.complete && img.naturalWidth > 0,
    })),
    overflowing: [...document.body.querySelectorAll("*")]
      .filter((element) => element.getBoundingClientRect().right > page.clientWidth + 0.5)
      .map((element) => element.tagName + "." + element.className),
    order: ["p.verdict", "section.headlines", "figure", "details"].map(top),
  };
  const out = document.createElement("pre");
  out.id = "measured";
  out.textContent = JSON.stringify(measured);
  document.body.appendChild(out);
});
</script>"""


@pytest.fixture
def chromium() -> str:
    """The Chromium binary; a fixture so a missing one skips before the report is built."""
    path = shutil.which("chromium")
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(
            "chromium is not installed; CI installs it in .ci/run (apt-get install chromium)"
        )
    pytest.skip("chromium is not installed (apt-get install -y chromium); CI runs this test")


def _measure(chromium: str, page: Path, profile: Path) -> dict:
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",  # tests may run as root (CI containers)
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={VIEWPORT},900",
            "--virtual-time-budget=10000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r'<pre id="measured">(.*?)</pre>', done.stdout, re.S)
    assert found, f"no measurements in the page; chromium said: {done.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


@pytest.mark.slow
def test_report_page_fits_1280_px_with_full_width_figures_in_reading_order(
    chromium, corrupted_report, wine_real, corrupted, tmp_path
):
    # Setup: a failing report (expectations and gates) with the table figures
    figures = table_figures(corrupted_report, wine_real, corrupted, max_columns=8)
    page = write_report(tmp_path / "report", corrupted_report, figures, "wine corrupted")

    # Run
    measured = _measure(chromium, page, tmp_path / "profile")

    # Assert: nothing wider than the window, every figure loaded and >= 900 px wide
    assert measured["clientWidth"] == VIEWPORT
    assert measured["scrollWidth"] <= measured["clientWidth"], measured["overflowing"]
    assert measured["overflowing"] == []
    assert [f["id"] for f in measured["figures"]] == [f.name for f in figures]
    for figure in measured["figures"]:
        assert figure["loaded"], figure
        assert figure["width"] >= MIN_FIGURE_WIDTH, figure
    # verdict, then the headline figures, then the plots, then the expectations per column
    order = measured["order"]
    assert None not in order and order == sorted(order)
