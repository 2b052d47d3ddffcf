"""Render a benchmark report.html in headless Chromium and save a PNG (checks the report as a reader sees it).

python -m omninft.bench.perf.scripts.report_screenshot --report omninft-results/report.html --out report.png
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_browser() -> str | None:
    """The first headless-capable Chromium on PATH, or None."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(
    report: Path, out: Path, *, width: int = 1200, height: int = 3000, timeout_s: float = 120.0
) -> Path:
    """Save a PNG of `report` rendered by headless Chromium; raises RuntimeError without a browser or on failure."""
    browser = find_browser()
    if browser is None:
        raise RuntimeError("no Chromium on PATH (Debian: apt-get install chromium)")
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        f"--screenshot={out.resolve()}",
        report.resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        raise RuntimeError(f"{browser} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return out


def main() -> None:
    """CLI entry."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--report", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("report.png"))
    ap.add_argument("--width", type=int, default=1200)
    ap.add_argument("--height", type=int, default=3000)
    args = ap.parse_args()
    try:
        path = screenshot(args.report, args.out, width=args.width, height=args.height)
    except RuntimeError as err:
        sys.exit(f"error: {err}")
    print(path)


if __name__ == "__main__":
    main()
