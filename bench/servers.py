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
    # The wire protocol of the addresses: "omninft" (RewardService) or "kserve" (a KServe v2 / Triton pool).
    protocol: str = "omninft"

    @property
    def label(self) -> str:
        """How the group is named in messages and provenance ("addr (kserve)" for a KServe pool)."""
        name = ",".join(self.addresses) if self.addresses else EMBEDDED
        return f"{name} (kserve)" if self.protocol == "kserve" else name


PROTOCOLS = ("omninft", "kserve")


def _parse_route(scorer: str, value: Any, source: str) -> tuple[tuple[str, ...], str]:
    """One route: an address, a list of addresses, or {address: ..., protocol: omninft|kserve}."""
    protocol = "omninft"
    if isinstance(value, Mapping):
        if set(value) - {"address", "protocol"} or "address" not in value:
            raise ValueError(
                f"{source}: {scorer}: a route mapping takes 'address' (required) and 'protocol'; "
                f"got keys {sorted(map(str, value))}"
            )
        protocol = value.get("protocol", "omninft")
        if protocol not in PROTOCOLS:
            raise ValueError(
                f"{source}: {scorer}: protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}"
            )
        value = value["address"]
    addrs = [value] if isinstance(value, str) else value
    if not isinstance(addrs, list) or not addrs or not all(isinstance(a, str) and a.strip() for a in addrs):
        raise ValueError(
            f"{source}: {scorer}: expected an address or a non-empty list of addresses, got {value!r}"
        )
    return tuple(a.strip() for a in addrs), str(protocol)


def _parse_all(data: Any, source: str) -> dict[str, tuple[tuple[str, ...], str]]:
    if isinstance(data, Mapping) and set(data) == {"scorers"}:
        data = data["scorers"]
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: expected a mapping scorer -> address (or list of addresses)")
    return {str(scorer): _parse_route(str(scorer), value, source) for scorer, value in data.items()}


def parse_routes(data: Any, source: str = "routes") -> dict[str, tuple[str, ...]]:
    """Validate a scorer -> address-or-list (or {address, protocol}) mapping, optionally under 'scorers'."""
    return {k: addrs for k, (addrs, _) in _parse_all(data, source).items()}


def parse_route_protocols(data: Any, source: str = "routes") -> dict[str, str]:
    """The protocol of each route: "omninft" unless the route says `protocol: kserve`."""
    return {k: proto for k, (_, proto) in _parse_all(data, source).items()}


def _read_yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML: {err}") from None


def load_routes(path: Path) -> dict[str, tuple[str, ...]]:
    """Read routes.yaml: `clip: host:port`, `imagebind: [h1:port, h2:port]` or `x: {address: ..., protocol: kserve}`."""
    return parse_routes(_read_yaml(path), str(path))


def load_route_protocols(path: Path) -> dict[str, str]:
    """The protocol of each route in routes.yaml."""
    return parse_route_protocols(_read_yaml(path), str(path))


def plan_groups(
    scorers: tuple[str, ...],
    routes: Mapping[str, tuple[str, ...]],
    default: str,
    protocols: Mapping[str, str] | None = None,
) -> list[ServerGroup]:
    """Group scorers by address list and protocol: routed ones by routes, the rest to `default` (or embedded)."""
    by_addr: dict[tuple[tuple[str, ...], str], list[str]] = {}
    for name in scorers:
        addrs = routes.get(name) or ((default,) if default else ())
        protocol = (protocols or {}).get(name, "omninft") if name in routes else "omninft"
        by_addr.setdefault((tuple(addrs), protocol), []).append(name)
    return [ServerGroup(addrs, tuple(names), protocol) for (addrs, protocol), names in by_addr.items()]


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of a plain, dns:/// or ipv4:/ipv6: gRPC target; None for forms a TCP probe cannot check."""
    addr = address.strip()
    for prefix in ("dns:///", "dns:", "ipv4:", "ipv6:"):
        if addr.startswith(prefix):
            addr = addr[len(prefix) :]
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
