"""Regenerate bench/suites/<suite>/routes.json from the BenchMetrics the ScorerSpecs declare.

`omninft-bench` never imports reward servers (import-linter contract), so which scorer output or embedding
produces each benchmark metric is written here from the specs and read by the suite. Tests fail when a
committed table differs from what this script writes. Run: python scripts/gen_bench_routes.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SUITES_DIR = ROOT / "bench" / "suites"


def build_tables() -> dict[str, dict[str, Any]]:
    """suite -> {"metrics": {key: route}, ...} from every registered ScorerSpec, keys sorted."""
    from omninft.reward_servers.scorers import registry

    tables: dict[str, dict[str, Any]] = {}
    owners: dict[tuple[str, str], str] = {}
    for name, spec in sorted(registry.specs().items()):
        for m in spec.bench:
            if (m.suite, m.key) in owners:
                raise ValueError(
                    f"{m.suite} metric {m.key!r} is declared by {owners[m.suite, m.key]} and {name}"
                )
            owners[m.suite, m.key] = name
            route: dict[str, Any] = {"scorer": name, "higher_is_better": m.higher_is_better}
            if m.output:
                route["output"] = m.output
            else:
                route.update(embedding=m.embedding, reference=m.reference, kind=m.kind, scale=m.scale)
            tables.setdefault(m.suite, {"metrics": {}})["metrics"][m.key] = route
    for table in tables.values():
        table["metrics"] = dict(sorted(table["metrics"].items()))
    return tables


def render(table: dict[str, Any]) -> str:
    """The committed text of one table."""
    header = {
        "_generated_by": "scripts/gen_bench_routes.py (from the ScorerSpecs' bench metrics); do not edit"
    }
    return json.dumps({**header, **table}, indent=2) + "\n"


def path_of(suite: str) -> Path:
    """Where a suite's table lives."""
    return SUITES_DIR / suite / "routes.json"


def main(argv: list[str]) -> int:
    """Write every suite's table; with --check, only report the stale ones (exit 1)."""
    check = "--check" in argv
    stale = []
    for suite, table in build_tables().items():
        path, text = path_of(suite), render(table)
        if path.exists() and path.read_text() == text:
            continue
        stale.append(str(path.relative_to(ROOT)))
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(("stale: " if check else "wrote: ") + ", ".join(stale))
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
