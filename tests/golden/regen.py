"""Regenerate golden values: python -m tests.golden.regen [SCORER ...] (default: every registered scorer).

Each `tests/golden/<scorer>.json` records, for the conformance clips (tests/conformance/harness.py), the
scores and embedding summaries of the scorer built with tiny deterministic weights (seed 0), with the
protocol and version that produced them. Review the diff before committing: an unintended change is a bug.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from omninft.reward_servers.scorers.base import InvalidSample
from tests.conformance import harness as H

GOLDEN_DIR = Path(__file__).resolve().parent
# Tiny random weights on CPU: BLAS kernels may differ across machines in the last bits.
RTOL, ATOL = 1e-4, 1e-6
# Scorers whose values are O(1-10) with elements near zero need an absolute bound too: the calibrated tiny I3D's
# logits move by ~6e-6 between 1 and 2 BLAS threads (measured), which is 1e-3 relative on a logit of 0.006.
# VideoAlign runs bfloat16 (the reference's precision): CPUs with native bf16 dot products (AVX512-BF16, AMX) round
# differently from those that emulate them, by one bf16 step (measured: 0.072266 vs 0.072754 on an avx512_bf16
# machine); allow two steps (2 * 2**-7 relative) and one step absolute near zero.
BF16 = (2 * 2**-7, 2**-9)
TOLERANCES = {"i3d": (1e-4, 1e-4), "videoalign": BF16, "videoalign_reward": BF16}
N_CLIPS = 2


def golden_for(name: str, scorer: object) -> dict:
    """The golden record of one built scorer."""
    clips = H.for_scorer(name, H.clips(N_CLIPS))
    info = scorer.info  # type: ignore[attr-defined]
    samples = {}
    for clip in clips:
        (out,) = H.run(scorer, [clip])  # type: ignore[arg-type]
        samples[clip.id] = {"error": str(out)} if isinstance(out, InvalidSample) else H.summary(out)
    return {
        "scorer": name,
        "protocol": info.protocol,
        "version": info.version,
        "weights": f"{info.weights.weights_id} (tiny={info.weights.tiny})",
        "media": H.MEDIA_VERSION,
        "rtol": TOLERANCES.get(name, (RTOL, ATOL))[0],
        "atol": TOLERANCES.get(name, (RTOL, ATOL))[1],
        "regenerate": f"python -m tests.golden.regen {name}",
        "samples": samples,
    }


def main(argv: list[str]) -> int:
    """Write the golden files of the named scorers (all when none are named)."""
    scorers = H.build_all(argv or None)
    for name, scorer in scorers.items():
        path = GOLDEN_DIR / f"{name}.json"
        path.write_text(json.dumps(golden_for(name, scorer), indent=1, sort_keys=False) + "\n")
        print(f"wrote {path.relative_to(GOLDEN_DIR.parents[1])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
