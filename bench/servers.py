"""Which reward server answers which scorer: --servers routes.yaml, --server ADDR, or the embedded one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EMBEDDED = "embedded"


@dataclass(frozen=True)
class ServerGroup:
    """Scorers answered by the same address list (round robin across it); `addresses == ()` = embedded."""

    addresses: tuple[str, ...]
    scorers: tuple[str, ...]

    @property
    def label(self) -> str:
        """How the group is named in messages and provenance."""
        return ",".join(self.addresses) if self.addresses else EMBEDDED


def parse_routes(data: Any, source: str = "routes") -> dict[str, tuple[str, ...]]:
    """Validate a scorer -> address-or-list mapping (optionally under a top-level 'scorers' key)."""
    if isinstance(data, Mapping) and set(data) == {"scorers"}:
        data = data["scorers"]
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: expected a mapping scorer -> address (or list of addresses)")
    out: dict[str, tuple[str, ...]] = {}
    for scorer, value in data.items():
        addrs = [value] if isinstance(value, str) else value
        if not isinstance(addrs, list) or not addrs or not all(isinstance(a, str) and a.strip() for a in addrs):
            raise ValueError(f"{source}: {scorer}: expected an address or a non-empty list of addresses, got {value!r}")
        out[str(scorer)] = tuple(a.strip() for a in addrs)
    return out


def load_routes(path: Path) -> dict[str, tuple[str, ...]]:
    """Read routes.yaml: `clip: host:port` or `imagebind: [host1:port, host2:port]` per scorer."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML: {err}") from None
    return parse_routes(data or {}, str(path))


def plan_groups(scorers: tuple[str, ...], routes: Mapping[str, tuple[str, ...]], default: str) -> list[ServerGroup]:
    """Group scorers by address list: routed ones by routes, the rest to `default` (or the embedded server)."""
    by_addr: dict[tuple[str, ...], list[str]] = {}
    for name in scorers:
        addrs = routes.get(name) or ((default,) if default else ())
        by_addr.setdefault(tuple(addrs), []).append(name)
    return [ServerGroup(addrs, tuple(names)) for addrs, names in by_addr.items()]
