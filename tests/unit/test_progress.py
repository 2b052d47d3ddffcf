"""LineProgress: the log-friendly progress printer (whole lines, about every 10 %, the end always)."""

from __future__ import annotations

import io

from omninft.bench.progress import LineProgress


def test_lines_every_tenth_and_at_the_end() -> None:
    out = io.StringIO()
    bar = LineProgress(25, 0, "scoring samples", "sample", stream=out)
    for _ in range(25):
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    counts = [int(line.split(": ")[1].split("/")[0]) for line in lines]
    assert counts == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 25]
    assert lines[-1].startswith("scoring samples: 25/25 samples (100 %), ")


def test_resumed_start_postfix_and_disabled() -> None:
    out = io.StringIO()
    bar = LineProgress(4, 3, "set metrics", "set", stream=out)
    bar.set_postfix_str("fad on 2 samples", refresh=False)
    bar.update(1)
    bar.close()
    assert out.getvalue().splitlines()[-1].endswith("s, fad on 2 samples")
    assert out.getvalue().splitlines()[0].startswith("set metrics: 3/4 sets (75 %)")
    quiet = io.StringIO()
    off = LineProgress(4, 0, "x", "sample", stream=quiet, enabled=False)
    off.update(4)
    off.close()
    assert quiet.getvalue() == ""
