"""Progress output: a redrawn bar on a terminal, plain lines (no carriage returns) in logs and CI."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class LineProgress:
    """The subset of tqdm the runners use, printed as whole lines: at the start, every ~10 %, and at the end."""

    def __init__(
        self,
        total: int,
        initial: int,
        desc: str,
        unit: str,
        stream: TextIO | None = None,
        enabled: bool = True,
    ) -> None:
        self.total, self.n, self.desc, self.unit = total, initial, desc, unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and total > 0
        self.postfix = ""
        self.start = time.monotonic()
        self.step = max(1, total // 10)
        self.last_printed = -1
        self.closed = False
        self._print()

    def _print(self) -> None:
        """One line: label, count, percentage, elapsed seconds, the latest postfix."""
        if not self.enabled:
            return
        pct = 100 * self.n // self.total
        tail = f", {self.postfix}" if self.postfix else ""
        self.stream.write(
            f"{self.desc}: {self.n}/{self.total} {self.unit}s ({pct} %), "
            f"{time.monotonic() - self.start:.1f} s{tail}\n"
        )
        self.stream.flush()
        self.last_printed = self.n

    def update(self, n: int = 1) -> None:
        """Count n more; print when a new ~10 % step is reached or the work is done."""
        self.n += n
        if self.n >= self.total or self.n - self.last_printed >= self.step:
            self._print()

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        """Text shown at the end of the next line."""
        self.postfix = s
        if refresh:
            self._print()

    def close(self) -> None:
        """Print the final count unless it was the last line printed."""
        if not self.closed and self.n != self.last_printed:
            self._print()
        self.closed = True


def progress_bar(total: int, initial: int, enabled: bool, *, desc: str, unit: str) -> Any:
    """tqdm when stderr is a terminal; otherwise LineProgress, so logs get lines without `\\r` redraws."""
    if not sys.stderr.isatty():
        return LineProgress(total, initial, desc, unit, enabled=enabled)
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit=unit,
        disable=not enabled,
        dynamic_ncols=True,
        desc=desc,
        smoothing=0.1,
        mininterval=0.1,
    )
