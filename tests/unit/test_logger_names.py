"""One logger naming convention: project modules log through `logging.getLogger(__name__)`.

Then every logger sits under `omninft.` / `omninft_client.` by module, so `-v` and logging configs can
select a package (`omninft.reward_servers.scorers`) without knowing ad-hoc names. A literal name is allowed
only for another library's logger (e.g. quietening torch's exporter), never for one of ours or the root.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("reward_servers", "bench", "trainer", "omninft_client", "scripts")
OURS = ("omninft", "omninft_client")


def _get_logger_calls(tree: ast.AST) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "getLogger"
    ]


def _offence(call: ast.Call) -> str | None:
    if len(call.args) == 1 and not call.keywords:
        arg = call.args[0]
        if isinstance(arg, ast.Name) and arg.id == "__name__":
            return None
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            if arg.value.split(".")[0] not in OURS and arg.value:
                return None  # another library's logger
            return f"getLogger({arg.value!r}): use getLogger(__name__)"
    return f"getLogger({', '.join(ast.unparse(a) for a in call.args)}): use getLogger(__name__)"


def test_every_project_logger_is_named_after_its_module() -> None:
    offences = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "v1" in path.relative_to(ROOT).parts:  # generated gRPC code
                continue
            for call in _get_logger_calls(ast.parse(path.read_text(), str(path))):
                why = _offence(call)
                if why:
                    offences.append(f"{path.relative_to(ROOT)}:{call.lineno}: {why}")
    assert offences == [], "\n".join(offences)


def test_the_rule_catches_ad_hoc_and_root_loggers() -> None:
    src = (
        "import logging\na = logging.getLogger(__name__)\nb = logging.getLogger('omninft.serve')\n"
        "c = logging.getLogger()\nd = logging.getLogger('torch.onnx')\n"
    )
    found = [_offence(c) for c in _get_logger_calls(ast.parse(src))]
    assert [f is None for f in found] == [True, False, False, True]
