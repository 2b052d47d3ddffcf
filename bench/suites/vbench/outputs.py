"""VBench outputs: the reference's `<name>_eval_results.json` / `<name>_full_info.json`, and ours.

Ours: results.json (raw and normalised per dimension, Quality/Semantic/Total when every dimension of the group has a
value, failures, provenance), per_video.jsonl, report.md and report.html (the JavisBench report plus VBench sections
and a per-dimension chart).
"""

from __future__ import annotations

import json
import math
from html import escape
from pathlib import Path
from typing import Any

from omninft.bench.report import to_html, to_markdown
from omninft.bench.report.html import bar_chart_svg
from omninft.bench.report.markdown import fmt
from omninft.bench.results import BenchResult, SampleError
from omninft.bench.suites.vbench.dimensions import DIMENSIONS
from omninft.bench.suites.vbench.runner import PROTOCOL, VBenchRun
from omninft.bench.suites.vbench.scores import GroupScores, group_scores, normalise_all


def eval_results_json(run: VBenchRun) -> dict[str, Any]:
    """{dimension: [aggregate, [per-video dicts]]}: what the reference's VBench.evaluate saves."""
    return {d.name: [d.value, [v.record for v in d.videos]] for d in run.dimensions if d.value is not None}


def raw_scores(run: VBenchRun) -> dict[str, float | None]:
    """Each run dimension's aggregate (None when it has none)."""
    return {d.name: d.value for d in run.dimensions}


def to_bench_result(run: VBenchRun, prov: dict[str, Any], skipped: dict[str, str]) -> BenchResult:
    """The run in the shared BenchResult form (so the shared report renderers apply)."""
    errors: list[SampleError] = []
    counts: dict[str, dict[str, int]] = {}
    for d in run.dimensions:
        for e in d.errors:
            errors.append(
                SampleError(
                    -1 if e.index is None else e.index, Path(e.video_path).name, d.name, e.code, e.message
                )
            )
        counts[d.name] = {
            "total": d.total,
            "scored": len(d.videos),
            "failed": len(d.errors),
            "dropped": len(d.dropped),
        }
    return BenchResult(
        suite="vbench",
        protocol=PROTOCOL,
        results={d.name: float("nan") if d.value is None else d.value for d in run.dimensions},
        per_sample={},
        counts=counts,
        errors=errors,
        provenance=prov,
        tiny_weights=bool(prov.get("tiny_weights")),
        skipped=skipped,
        higher_is_better={d.name: True for d in run.dimensions},
    )


REFERENCE_DIR = "evaluation_results"


def results_json(run: VBenchRun, result: BenchResult, name: str, groups: GroupScores) -> dict[str, Any]:
    """Our results.json: the shared document plus the VBench block."""
    doc = result.to_json()
    raw = raw_scores(run)
    doc["vbench"] = {
        "name": name,
        "mode": run.plan.mode,
        "raw": raw,
        "normalised": normalise_all(raw),
        "scores": groups.to_json(),
        "dimension_errors": {d.name: d.error for d in run.dimensions if d.error},
        "dropped": {
            d.name: [{"video_path": p, "reason": r} for p, r in d.dropped]
            for d in run.dimensions
            if d.dropped
        },
        "missing_videos": [
            {"prompt": m.prompt, "index": m.index, "dimensions": list(m.dimensions), "expected": m.expected}
            for m in run.plan.missing
        ],
        "unusable_files": [
            {"path": u.path, "reason": u.reason, "dimensions": list(u.dimensions)} for u in run.plan.unusable
        ],
        "warnings": run.plan.warnings,
        "files": {
            "eval_results": f"{REFERENCE_DIR}/{name}_eval_results.json",
            "full_info": f"{REFERENCE_DIR}/{name}_full_info.json",
        },
    }
    return doc


def per_video_lines(run: VBenchRun) -> str:
    """One JSON line per (dimension, video): the record, an error, or a drop."""
    lines = []
    for d in run.dimensions:
        lines += [json.dumps({"dimension": d.name, "status": "ok", **v.record}) for v in d.videos]
        lines += [
            json.dumps(
                {
                    "dimension": d.name,
                    "status": "error",
                    "video_path": e.video_path,
                    "prompt": e.prompt,
                    "index": e.index,
                    "code": e.code,
                    "message": e.message,
                }
            )
            for e in d.errors
        ]
        lines += [
            json.dumps({"dimension": d.name, "status": "dropped", "video_path": p, "reason": r})
            for p, r in d.dropped
        ]
    return "".join(line + "\n" for line in lines)


def _times100(v: float | None) -> float | None:
    return None if v is None else 100 * v


def _cell(v: object) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _pct(v: float | None) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{100 * v:.2f}%"


def markdown(run: VBenchRun, result: BenchResult, groups: GroupScores) -> str:
    """The shared Markdown report with the VBench sections appended."""
    raw = raw_scores(run)
    norm = normalise_all(raw)
    lines = [to_markdown(result).rstrip("\n"), "", "## VBench scores", ""]
    for label, value, group in (
        ("Total", groups.total, "Total"),
        ("Quality", groups.quality, "Quality"),
        ("Semantic", groups.semantic, "Semantic"),
    ):
        extra = "" if value is not None else f" — needs {', '.join(groups.missing.get(group, []))}"
        lines.append(f"- **{label}**: {_pct(value)}{extra}")
    lines += ["", "| dimension | group | raw | normalised |", "|---|---|---:|---:|"]
    for d in run.dimensions:
        lines.append(f"| {d.name} | {DIMENSIONS[d.name].group} | {_pct(d.value)} | {fmt(norm.get(d.name))} |")
    failed = [d for d in run.dimensions if d.error]
    if failed:
        lines += ["", "## Dimensions without a value", ""] + [f"- `{d.name}`: {d.error}" for d in failed]
    if run.plan.missing:
        lines += [
            "",
            f"## Missing videos ({len(run.plan.missing)})",
            "",
            "| prompt | index | dimensions |",
            "|---|---:|---|",
        ]
        for m in run.plan.missing[:300]:
            lines.append(
                f"| {m.prompt.replace('|', '/')} | {'' if m.index is None else m.index} | "
                f"{', '.join(m.dimensions)} |"
            )
        if len(run.plan.missing) > 300:
            lines.append(f"| … {len(run.plan.missing) - 300} more in results.json | | |")
    if run.plan.unusable:
        lines += ["", f"## Files not used ({len(run.plan.unusable)})", ""]
        lines += [f"- `{u.path}`: {u.reason}" for u in run.plan.unusable[:200]]
    dropped = [(d.name, p, r) for d in run.dimensions for p, r in d.dropped]
    if dropped:
        lines += ["", f"## Dropped by the reference's rules ({len(dropped)})", ""]
        lines += [f"- {n}: `{Path(p).name}`: {r}" for n, p, r in dropped[:200]]
    if run.plan.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in run.plan.warnings]
    return "\n".join(lines) + "\n"


def html(run: VBenchRun, result: BenchResult, groups: GroupScores) -> str:
    """The shared HTML report with a per-dimension chart, Quality/Semantic/Total and the VBench failures."""
    raw = raw_scores(run)
    norm = normalise_all(raw)
    names = [d.name for d in run.dimensions]
    parts = ["<h2>VBench</h2><table><tr><th>score</th><th>value</th></tr>"]
    for label, value, group in (
        ("Total", groups.total, "Total"),
        ("Quality", groups.quality, "Quality"),
        ("Semantic", groups.semantic, "Semantic"),
    ):
        why = "" if value is not None else f" (needs {', '.join(groups.missing.get(group, []))})"
        parts.append(f"<tr><td>{label}</td><td class='n'>{escape(_pct(value) + why)}</td></tr>")
    parts.append("</table><div class='plots'>")
    parts.append(
        f"<figure>{bar_chart_svg(names, [_times100(raw[n]) for n in names], title='raw (%)', width=460)}"
        "<figcaption>per-dimension raw score ×100</figcaption></figure>"
    )
    parts.append(
        f"<figure>{bar_chart_svg(names, [norm.get(n) for n in names], title='normalised', width=460)}"
        "<figcaption>weighted min-max normalised (the leaderboard's constants)</figcaption></figure></div>"
    )
    failed = [d for d in run.dimensions if d.error]
    if failed:
        parts.append("<h3>Dimensions without a value</h3><ul>")
        parts += [f"<li><code>{escape(d.name)}</code>: {escape(d.error)}</li>" for d in failed]
        parts.append("</ul>")
    if run.plan.missing:
        parts.append(
            f"<h3>Missing videos ({len(run.plan.missing)})</h3><table><tr><th>prompt</th><th>index</th>"
            "<th>dimensions</th></tr>"
        )
        for m in run.plan.missing[:500]:
            parts.append(
                f"<tr><td>{escape(m.prompt)}</td><td class='n'>{'' if m.index is None else m.index}</td>"
                f"<td>{escape(', '.join(m.dimensions))}</td></tr>"
            )
        parts.append("</table>")
    if run.plan.unusable:
        parts.append("<h3>Files not used</h3><ul>")
        parts += [
            f"<li><code>{escape(u.path)}</code>: {escape(u.reason)}</li>" for u in run.plan.unusable[:300]
        ]
        parts.append("</ul>")
    dropped = [(d.name, p, r) for d in run.dimensions for p, r in d.dropped]
    if dropped:
        parts.append("<h3>Dropped by the reference's rules</h3><ul>")
        parts += [
            f"<li>{escape(n)}: <code>{escape(Path(p).name)}</code>: {escape(r)}</li>"
            for n, p, r in dropped[:300]
        ]
        parts.append("</ul>")
    if run.plan.warnings:
        parts.append(
            "<h3>Warnings</h3><ul>" + "".join(f"<li>{escape(w)}</li>" for w in run.plan.warnings) + "</ul>"
        )
    parts.append("<h3>Per video</h3>")
    for d in run.dimensions:
        rows = [(Path(v.record["video_path"]).name, _cell(v.record["video_results"]), "ok") for v in d.videos]
        rows += [(Path(e.video_path).name, "", f"{e.code}: {e.message}") for e in d.errors]
        rows += [(Path(p).name, "", f"dropped: {r}") for p, r in d.dropped]
        parts.append(
            f"<details><summary>{escape(d.name)} ({len(d.videos)} scored, {len(d.errors)} failed)</summary>"
            "<table><tr><th>video</th><th>video_results</th><th>status</th></tr>"
        )
        parts += [
            f"<tr><td>{escape(n)}</td><td class='n'>{escape(v)}</td><td>{escape(st)}</td></tr>"
            for n, v, st in rows[:2000]
        ]
        parts.append("</table></details>")
    page = to_html(result)
    marker = "<h2>Scorers</h2>" if "<h2>Scorers</h2>" in page else "</body>"
    return page.replace(marker, "\n".join(parts) + "\n" + marker, 1)


def write_all(
    run: VBenchRun, out: Path, name: str, prov: dict[str, Any], skipped: dict[str, str]
) -> dict[str, Any]:
    """Write every output file (atomic replace each); returns results.json's document.

    The reference's two JSON files go to `<out>/evaluation_results/` on their own: `cal_final_score.py` reads every
    JSON object in the folder it is given, and ours (results.json) would break it.
    """
    (out / REFERENCE_DIR).mkdir(parents=True, exist_ok=True)
    result = to_bench_result(run, prov, skipped)
    groups = group_scores(raw_scores(run))
    doc = results_json(run, result, name, groups)
    files = {
        # indent=4 like the reference's save_json, so its scripts (cal_final_score.py) read them unchanged.
        f"{REFERENCE_DIR}/{name}_eval_results.json": json.dumps(eval_results_json(run), indent=4),
        f"{REFERENCE_DIR}/{name}_full_info.json": json.dumps(run.plan.full_info, indent=4),
        "results.json": json.dumps(doc, indent=2) + "\n",
        "per_video.jsonl": per_video_lines(run),
        "report.md": markdown(run, result, groups),
        "report.html": html(run, result, groups),
    }
    for fname, text in files.items():
        target = out / fname
        tmp = target.parent / f".{target.name}.tmp"
        tmp.write_text(text)
        tmp.replace(target)
    return doc
