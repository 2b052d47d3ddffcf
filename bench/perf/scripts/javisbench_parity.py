"""JavisBench parity: the reference's own functions and `omninft-bench run javisbench` on the same generated set.

Three stages, each a subcommand (run `ours` and `table` in the project venv, `reference` in a throwaway venv):

1. ``python -m omninft.bench.perf.scripts.javisbench_parity ours --out DIR --n 8``
   writes two generated sets (``gen``, ``gt``; bouncing discs with tone bursts, 16 kHz wav beside each mp4),
   builds ``gt-features.pt`` and ``gen-features.pt`` with ``omninft-bench reference build`` (the official
   ``{'video': [N,400], 'audio': [N,1024]}`` cache layout), and runs ``omninft-bench run javisbench`` on ``gen``
   against ``gt-features.pt``. ``--weights`` is handed to both commands (``tiny`` by default: calibrated tiny
   I3D/AudioCLIP, so FVD/KVD/FAD are not degenerate).
2. ``REF=/path/to/JavisDiT /path/to/refvenv/bin/python bench/perf/scripts/javisbench_parity.py reference
   --out DIR``: imports the reference modules from the checkout named by ``$REF`` (``eval/javisbench/src``,
   never copied into the project; get it with ``git clone https://github.com/JavisVerse/JavisDiT``) and computes
   - fvd, kvd, fad exactly as ``calc_fvd_kvd_fad_direct`` does (its ``frechet_distance`` first, then its
     ``polynomial_mmd`` on the same tensors, so the in-place centring happens as in the reference) on the two
     feature caches of stage 1;
   - av_align per sample with the calls of its ``AVAlignDataset.__getitem__`` (size None, no length cut).
   The throwaway venv needs the reference's pinned ``librosa==0.9.2``, ``numpy<2``, torch, opencv,
   matplotlib, scikit-learn and the imports of ``src/utils.py`` (see issue 9 for the whole recipe).
   This file imports nothing from omninft in that stage.
3. ``python -m omninft.bench.perf.scripts.javisbench_parity table --out DIR`` prints the markdown table.

Keys not covered here (clip/clap/ib/avh/javis/desync/audio_quality/visual_quality/motion_quality) need the
full-size models in both stacks; see bench/perf/RESULTS.md, "JavisBench parity", for what was run and why not.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

SET_KEYS = ("fvd", "kvd", "fad")


def _bench(*args: str) -> None:
    """Run one omninft-bench command, failing loudly."""
    cmd = ["omninft-bench", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def stage_ours(out: Path, n: int, weights: str) -> None:
    """Generate both sets, build both feature caches, run the benchmark on `gen`."""
    from omninft.bench.demo_data import write_demo_set

    sets = {}
    for name, seed in (("gen", 1), ("gt", 2)):
        sets[name] = write_demo_set(out / name, n=n, seconds=2.0, height=96, width=128, seed=seed)
    for name, csv_path in sets.items():
        _bench(
            "reference",
            "build",
            "--samples",
            str(out / name),
            "--prompts",
            str(csv_path),
            "--out",
            str(out / f"{name}-features.pt"),
            "--weights",
            weights,
            "--no-progress",
        )
    _bench(
        "run",
        "javisbench",
        "--samples",
        str(out / "gen"),
        "--prompts",
        str(sets["gen"]),
        "--reference-cache",
        str(out / "gt-features.pt"),
        "--metrics",
        "fvd,kvd,fad,av_align",
        "--weights",
        weights,
        "--out",
        str(out / "ours"),
        "--verbose",
        "--no-progress",
        "--fresh",
    )


def _load_file(name: str, path: Path) -> types.ModuleType:
    """Import one reference source file by path (its package __init__ would pull in every model)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def stage_reference(out: Path, reference: Path) -> None:
    """Reference values for fvd/kvd/fad (on the stage-1 caches) and av_align (on the gen media)."""
    import torch

    src = reference / "eval" / "javisbench" / "src"
    fvd_mod = _load_file("ref_fvd", src / "fvd" / "fvd.py")
    utils_mod = _load_file("ref_utils", src / "utils.py")
    av_mod = _load_file("ref_av_align", src / "av_align.py")
    fake = torch.load(out / "gen-features.pt")
    real = torch.load(out / "gt-features.pt")
    fv, rv = fake["video"].clone().float(), real["video"].clone().float()
    fa, ra = fake["audio"].clone().float(), real["audio"].clone().float()
    # the order of calc_fvd_kvd_fad_direct: FVD (centres fv/rv in place), then KVD on the same tensors, then FAD
    values: dict[str, Any] = {"fvd": fvd_mod.frechet_distance(fv, rv).item()}
    values["kvd"] = float(utils_mod.polynomial_mmd(fv.cpu().numpy(), rv.cpu().numpy()))
    values["fad"] = fvd_mod.frechet_distance(fa, ra).item() * 10000
    scores = []
    for mp4 in sorted((out / "gen").glob("sample_*.mp4")):
        audio_peaks = av_mod.detect_audio_peaks(str(mp4.with_suffix(".wav")), max_length_s=None)
        frames, fps = av_mod.extract_frames(str(mp4), None, max_length_s=None)
        _, video_peaks = av_mod.detect_video_peaks(frames, fps, use_tqdm=False)
        scores.append(float(av_mod.calc_intersection_over_union(audio_peaks, video_peaks, fps)))
    values["av_align"] = sum(scores) / len(scores)
    values["av_align_per_sample"] = scores
    values["versions"] = {"torch": torch.__version__, "librosa": sys.modules["librosa"].__version__}
    (out / "reference.json").write_text(json.dumps(values, indent=1) + "\n")
    print(json.dumps(values, indent=1))


def stage_table(out: Path) -> str:
    """Markdown rows: key, reference, ours, abs diff, rel diff, protocol."""
    ref = json.loads((out / "reference.json").read_text())
    doc = json.loads((out / "ours" / "results.json").read_text())
    protocols = {s["name"]: s.get("protocol", "") for s in doc["provenance"]["scorers"]}
    set_protocol = doc.get("protocol", "")  # the --protocol of the set-level math
    rows = ["| key | reference | ours | abs diff | rel diff | protocol |", "|---|---|---|---|---|---|"]
    for key in (*SET_KEYS, "av_align"):
        entry = doc["results"][key]
        ours = float(entry["overall"] if isinstance(entry, dict) else entry)
        theirs = float(ref[key])
        diff = abs(ours - theirs)
        rel = diff / abs(theirs) if theirs else float("inf") if diff else 0.0
        proto = set_protocol if key in SET_KEYS else protocols.get("av_align", "")
        rows.append(f"| {key} | {theirs:.9g} | {ours:.9g} | {diff:.3g} | {rel:.3g} | {proto} |")
    text = "\n".join(rows)
    print(text)
    return text


def main(argv: list[str] | None = None) -> int:
    """Dispatch the three stages."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=("ours", "reference", "table"))
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--weights", default="tiny")
    p.add_argument(
        "--reference",
        type=Path,
        default=Path(os.environ.get("REF", "")),
        help="JavisDiT checkout (default $REF)",
    )
    a = p.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    if a.stage == "ours":
        stage_ours(a.out, a.n, a.weights)
    elif a.stage == "reference":
        stage_reference(a.out, a.reference)
    else:
        stage_table(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
