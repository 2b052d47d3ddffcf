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


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of a plain, dns:/// or ipv4:/ipv6: gRPC target; None for forms a TCP probe cannot check."""
    addr = address.strip()
    for prefix in ("dns:///", "dns:", "ipv4:", "ipv6:"):
        if addr.startswith(prefix):
            addr = addr[len(prefix):]
            break
    if "/" in addr or "," in addr or ":" not in addr:
        return None
    host, _, port = addr.rpartition(":")
    if not port.isdigit():
        return None
    return host.strip("[]") or "localhost", int(port)


def unreachable_reason(address: str, timeout_s: float = 5.0) -> str | None:
    """Why nothing answers TCP at `address` ("connection refused", "no answer within 5 s", ...), or None."""
    import socket

    hp = _host_port(address)
    if hp is None:
        return None
    try:
        with socket.create_connection(hp, timeout=timeout_s):
            return None
    except ConnectionRefusedError:
        return "connection refused (is a server running there? check the address and port)"
    except TimeoutError:
        return f"no answer within {timeout_s:g} s (wrong host, or a firewall drops the connection)"
    except socket.gaierror as err:
        return f"cannot resolve host {hp[0]!r} ({err.strerror})"
    except OSError as err:
        return f"cannot connect: {err.strerror or err}"


def check_route_names(routes: Mapping[str, tuple[str, ...]], known: set[str], source: str) -> None:
    """Refuse a routes key that names no scorer (a typo would silently send that scorer elsewhere)."""
    import difflib

    for name in routes:
        if name in known or name.startswith("vbench_"):
            continue
        close = difflib.get_close_matches(name, sorted(known), n=2)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise ValueError(f"{source}: unknown scorer {name!r}.{hint} Known: {', '.join(sorted(known))}")
