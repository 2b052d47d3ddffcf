"""The VBench prompt suite: VBench_full_info.json, all_dimension.txt, dimension_to_folder.json, category lists.

The files are never shipped with omninft: a user passes their paths, or `omninft-bench fetch-suite vbench`
downloads the official ones from the pinned reference commit and checks their sha256.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omninft.bench.suites.vbench.dimensions import DIMENSIONS

REFERENCE_REPO = "Vchitect/VBench"
REFERENCE_COMMIT = "45e79ec14e69a2187202c675d2dbce1a71843d53"
RAW_URL = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"
CATEGORIES = ("animal", "architecture", "food", "human", "lifestyle", "plant", "scenery", "vehicles")

# Local name -> (path in the reference repository, sha256 at REFERENCE_COMMIT).
OFFICIAL_FILES: dict[str, tuple[str, str]] = {
    "VBench_full_info.json": (
        "vbench/VBench_full_info.json",
        "5dd2de80ee43cda750b2b72ea7023657c0b90d3702041c7e4608c65dbe50dccd",
    ),
    "all_dimension.txt": (
        "prompts/all_dimension.txt",
        "f9b50654f81ab732b9235d5bb91f0c3a4d152fac19249ce3a3a9185b2d80d8c3",
    ),
    "dimension_to_folder.json": (
        "dimension_to_folder.json",
        "703fb537d666f2a3a097092f4f8b83eb7bec0955476bb1056d9e59772bf49cfe",
    ),
    "all_category.txt": (
        "prompts/all_category.txt",
        "79445e182e670534fdbaefaee503d167c349e77da214908275651a047f7d16ee",
    ),
    "prompts_per_category/animal.txt": (
        "prompts/prompts_per_category/animal.txt",
        "06574782d81fd1e69744afb89ec51a54f71079065c4591157eec18a1f1483086",
    ),
    "prompts_per_category/architecture.txt": (
        "prompts/prompts_per_category/architecture.txt",
        "d0afc3c90b570e68236c717adc9cd9ed0d4e8b698f5addd77ff7b6eb9e353623",
    ),
    "prompts_per_category/food.txt": (
        "prompts/prompts_per_category/food.txt",
        "5e06d5be0d58e1af66d73913c03c352c6a44c11c91ec83c8ee412d1d78ae2bdb",
    ),
    "prompts_per_category/human.txt": (
        "prompts/prompts_per_category/human.txt",
        "3b0a1cfa429b07fa4cd80efa6f69a47276a35ed2b70902a46a49206309994a52",
    ),
    "prompts_per_category/lifestyle.txt": (
        "prompts/prompts_per_category/lifestyle.txt",
        "a85cd6ce4b29719bec0da29e7d0299ee3ae8b2115f2a8aa23d091adc2ed9c0e9",
    ),
    "prompts_per_category/plant.txt": (
        "prompts/prompts_per_category/plant.txt",
        "d729b0b198f09d438dee94f1c83ef93760f76270ea7bcfe027cbf14ad1603ec6",
    ),
    "prompts_per_category/scenery.txt": (
        "prompts/prompts_per_category/scenery.txt",
        "3f0293619c04a3597132c8e04b328d1397b2eff0cf1db44f0c5f94405717187f",
    ),
    "prompts_per_category/vehicles.txt": (
        "prompts/prompts_per_category/vehicles.txt",
        "bd6dda5d801e4ad6758fbf80557ec9ad5e37f9cb4a8ac810c149bc1465cdbbbc",
    ),
}


class SuiteError(ValueError):
    """The prompt suite file is missing or malformed."""


@dataclass(frozen=True)
class PromptEntry:
    """One suite entry: the prompt, its dimensions and auxiliary_info, as the JSON has them."""

    index: int
    prompt_en: str
    dimension: tuple[str, ...]
    auxiliary_info: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(
        default_factory=dict
    )  # the entry as read (written back into <name>_full_info.json)


@dataclass
class Suite:
    """A loaded full_info suite, with the entries it had to skip and why."""

    path: Path
    entries: list[PromptEntry]
    problems: list[str] = field(default_factory=list)
    sha256: str = ""

    def for_dimension(self, name: str) -> list[PromptEntry]:
        """The entries that list `name`, in file order."""
        return [e for e in self.entries if name in e.dimension]


def default_cache_dir() -> Path:
    """Where `fetch-suite vbench` puts the official files ($OMNINFT_BENCH_CACHE or ~/.cache/omninft/bench)."""
    root = os.environ.get("OMNINFT_BENCH_CACHE") or Path.home() / ".cache" / "omninft" / "bench"
    return Path(root) / "vbench" / REFERENCE_COMMIT[:12]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_full_info(path: Path) -> Suite:
    """Read VBench_full_info.json; entries without a prompt or with unknown dimensions are skipped and listed."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SuiteError(
            f"{path}: no such file (pass --full-info, or run `omninft-bench fetch-suite vbench`)"
        ) from None
    except json.JSONDecodeError as err:
        raise SuiteError(f"{path}: not valid JSON: {err}") from None
    if not isinstance(data, list):
        raise SuiteError(f"{path}: expected a JSON list of prompt entries, got {type(data).__name__}")
    entries: list[PromptEntry] = []
    problems: list[str] = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            problems.append(f"entry {i}: not an object, skipped")
            continue
        prompt = item.get("prompt_en")
        if not isinstance(prompt, str) or not prompt.strip():
            problems.append(f"entry {i}: no prompt_en, skipped (dimensions {item.get('dimension')})")
            continue
        dims = item.get("dimension")
        if isinstance(dims, str):
            dims = [dims]
        if not isinstance(dims, list) or not all(isinstance(d, str) for d in dims):
            problems.append(f"entry {i} ({prompt!r}): 'dimension' must be a list of names, skipped")
            continue
        unknown = [d for d in dims if d not in DIMENSIONS]
        if unknown:
            problems.append(f"entry {i} ({prompt!r}): unknown dimension(s) {', '.join(unknown)} ignored")
        aux = item.get("auxiliary_info") or {}
        if not isinstance(aux, dict):
            problems.append(f"entry {i} ({prompt!r}): auxiliary_info is not an object, ignored")
            aux = {}
        entries.append(PromptEntry(i, prompt, tuple(d for d in dims if d in DIMENSIONS), aux, dict(item)))
    return Suite(Path(path), entries, problems, _sha256(Path(path)))


def load_prompt_lines(path: Path) -> list[str]:
    """A one-prompt-per-line file (all_dimension.txt, prompts_per_category/<c>.txt), blank lines dropped."""
    return [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def load_dimension_to_folder(path: Path) -> dict[str, str]:
    """dimension_to_folder.json: which prompt-suite folder holds each dimension's videos."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise SuiteError(f"{path}: expected an object dimension -> folder name")
    return {str(k): v for k, v in data.items()}


def fetch_official(
    dest: Path | None = None,
    *,
    timeout_s: float = 60.0,
    opener: Any = urllib.request.urlopen,
    files: dict[str, tuple[str, str]] | None = None,
) -> dict[str, Path]:
    """Download the official suite files of REFERENCE_COMMIT into `dest` (verified by sha256; kept if present)."""
    dest = dest or default_cache_dir()
    out: dict[str, Path] = {}
    for name, (repo_path, sha) in (files or OFFICIAL_FILES).items():
        target = dest / name
        if target.exists() and _sha256(target) == sha:
            out[name] = target
            continue
        url = RAW_URL.format(repo=REFERENCE_REPO, commit=REFERENCE_COMMIT, path=repo_path)
        with opener(url, timeout=timeout_s) as resp:
            body = resp.read()
        got = hashlib.sha256(body).hexdigest()
        if got != sha:
            raise SuiteError(f"{url}: sha256 {got} does not match the pinned {sha}")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".part")
        tmp.write_bytes(body)
        tmp.replace(target)
        out[name] = target
    return out


def locate_official(name: str, dest: Path | None = None) -> Path | None:
    """A fetched official file, if `fetch-suite vbench` has run."""
    path = (dest or default_cache_dir()) / name
    return path if path.exists() else None
