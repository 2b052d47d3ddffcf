"""The HTML report rendered by a real headless browser (skipped where no Chromium is installed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omninft.bench.perf.scripts.report_screenshot import find_browser, screenshot
from omninft.bench.report import to_html
from tests.unit.test_report_explains import _result


@pytest.mark.skipif(find_browser() is None, reason="no Chromium on PATH (apt-get install chromium)")
def test_report_renders_with_bars_and_warning(tmp_path: Path) -> None:
    from PIL import Image

    report = tmp_path / "report.html"
    report.write_text(to_html(_result()))
    png = screenshot(report, tmp_path / "report.png", width=1000, height=1400)
    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    assert img.shape[:2] == (1400, 1000)
    bar_blue = (np.abs(img - np.array([0x4C, 0x78, 0xA8])).sum(-1) < 30).sum()
    warn_yellow = (np.abs(img - np.array([0xFF, 0xF3, 0xCD])).sum(-1) < 20).sum()
    assert bar_blue > 200, "no per-category bars drawn"
    assert warn_yellow > 2000, "the tiny-weights warning box is not visible"
