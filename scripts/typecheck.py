"""Type-check every package under the name it is imported by (`omninft.reward_servers`, not `reward_servers`).

setup.py installs the top-level folders inside the `omninft` namespace through `package_dir`; an editable
install serves that mapping with an import hook mypy cannot follow, so `mypy reward_servers` used to resolve
every `omninft.*` import to a missing module (hidden by a global ignore_missing_imports, i.e. `Any`). This
script builds a tree of symlinks (build/mypy-tree/omninft/<package> -> <folder>) from setup.py's
PACKAGE_DIRS, runs `mypy -p ...` over it with the repo's configuration, and prints paths as they are in the
checkout. Extra arguments go to mypy (e.g. `--no-incremental`).

    python scripts/typecheck.py
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREE = ROOT / "build" / "mypy-tree"


def package_dirs() -> dict[str, str]:
    """setup.py's PACKAGE_DIRS (import name -> folder), read without running setup()."""
    module = ast.parse((ROOT / "setup.py").read_text())
    for node in module.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "PACKAGE_DIRS" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            assert isinstance(value, dict)
            return {str(k): str(v) for k, v in value.items()}
    raise RuntimeError("setup.py defines no PACKAGE_DIRS")


def build_tree() -> dict[str, str]:
    """Symlink every mapped folder at its import path under TREE; returns tree prefix -> checkout prefix."""
    prefixes: dict[str, str] = {}
    for name, folder in package_dirs().items():
        if name == folder:  # already importable from the checkout under its own name
            continue
        link = TREE.joinpath(*name.split("."))
        link.parent.mkdir(parents=True, exist_ok=True)
        target = ROOT / folder
        if link.is_symlink() and link.resolve() != target.resolve():
            link.unlink()
        if not link.is_symlink():
            link.symlink_to(target, target_is_directory=True)
        prefixes[os.path.relpath(link, ROOT) + os.sep] = folder + os.sep
    return prefixes


def main(argv: list[str]) -> int:
    """Run mypy over every package; exit with mypy's status."""
    prefixes = build_tree()
    env = {
        **os.environ,
        "MYPYPATH": os.pathsep.join(filter(None, [str(TREE), os.environ.get("MYPYPATH", "")])),
    }
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")]
    for name in package_dirs():
        cmd += ["-p", name]
    proc = subprocess.run(cmd + argv, cwd=ROOT, env=env, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    for tree_prefix, folder_prefix in prefixes.items():
        out = out.replace(tree_prefix, folder_prefix)
    sys.stdout.write(out)
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
