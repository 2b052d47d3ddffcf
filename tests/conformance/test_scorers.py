"""One conformance tester for every registered scorer (tiny weights, generated media).

For each scorer: its outputs match its ScorerInfo and ScorerSpec; the warm-up sample gives finite values; a
batch equals the same items one by one (to the spec's `batch_rtol`: 0 = bit-identical); served through gRPC
equals in-process; a sample missing a required modality gets a per-sample error; and the values match the
golden file `tests/golden/<scorer>.json` (regenerate: `python -m tests.golden.regen`).

All scorers are built once (sharing models like a server) and served by one server, so the whole tester
costs one build plus three forwards per scorer on two short clips.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from omninft.reward_servers.media import DecodedSample
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers.base import InvalidSample, Scorer, ScorerOutput
from omninft.reward_servers.serving.app import create_server
from omninft.reward_servers.serving.config import ServerConfig
from omninft_client import AsyncRewardClient, Sample, media
from tests.conformance import harness as H

# The module fixture builds and runs every registered scorer (about forty tiny models, GRiT and MUSIQ the slowest):
# on two shared cores that exceeds the suite's 300 s default, which pytest-timeout charges to the first test.
pytestmark = pytest.mark.timeout(1800)

NAMES = registry.available()
GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden"
N_CLIPS = 2


@dataclasses.dataclass
class Runs:
    """Everything the per-scorer tests look at, computed once."""

    scorers: dict[str, Scorer]
    clips: list[DecodedSample]
    batch: dict[str, list[Any]]
    alone: dict[str, list[Any]]
    served: dict[str, dict[str, dict[str, Any]]]  # scorer -> clip id -> {"scores": ..., "embeddings": ...}
    missing: dict[str, dict[str, str]]  # scorer -> dropped modality -> error message ('' = no error)


def _wire(s: DecodedSample) -> Sample:
    return Sample(
        id=s.id,
        prompt=s.prompt,
        audio_prompt=s.audio_prompt,
        video=None if s.video is None else media.video_frames(s.video.frames, s.video.fps),
        audio=None if s.audio is None else media.audio_pcm(s.audio.pcm, s.audio.sample_rate),
    )


def _drop(s: DecodedSample, modality: str) -> DecodedSample:
    if modality == "video":
        return dataclasses.replace(s, id="no-video", video=None)
    if modality == "audio":
        return dataclasses.replace(s, id="no-audio", audio=None)
    if modality == "prompt":
        return dataclasses.replace(s, id="no-prompt", prompt="")
    return dataclasses.replace(s, id="no-audio_prompt", prompt="", audio_prompt="")


MODALITIES = ("video", "audio", "prompt", "audio_prompt")


async def _serve(scorers: dict[str, Scorer], clips: list[DecodedSample]) -> tuple[dict, dict]:
    cfg = ServerConfig(
        port=0,
        metrics_port=-1,
        warmup=False,
        max_samples_per_request=64,
        scorers={n: H.config() for n in scorers},
    )
    server = create_server(cfg, scorers)
    await server.start()
    served: dict[str, dict[str, dict[str, Any]]] = {
        n: {c.id: {"scores": {}, "embeddings": {}} for c in clips} for n in scorers
    }
    missing: dict[str, dict[str, str]] = {n: {} for n in scorers}
    try:
        await server.wait_serving(120)
        # One request per condition prompt (H.CONDITION_PROMPTS): the scorers sharing a prompt share a request.
        by_prompt: dict[str | None, list[str]] = {}
        for n in scorers:
            by_prompt.setdefault(H.CONDITION_PROMPTS.get(n), []).append(n)
        for group in by_prompt.values():
            sent = H.for_scorer(group[0], clips)
            scoring = [n for n in group if scorers[n].info.outputs]
            embedding = [n for n in group if scorers[n].info.embeddings]
            lacking = [_drop(sent[0], m) for m in MODALITIES]
            async with AsyncRewardClient(server.address, timeout_s=600) as client:
                scored = await client.score([_wire(c) for c in sent + lacking], scoring) if scoring else []
                embedded = (
                    await client.embed([_wire(c) for c in sent + lacking], embedding) if embedding else []
                )
            for r in scored[: len(clips)]:
                for key, value in r.scores.items():
                    served[r.output_owners[key]][r.id]["scores"][key] = value
            for r in embedded[: len(clips)]:
                for key, value in r.embeddings.items():
                    owner, emb = key.split(".", 1)
                    served[owner][r.id]["embeddings"][emb] = value
            for n in group:
                answers = scored[len(clips) :] if n in scoring else embedded[len(clips) :]
                for m, r in zip(MODALITIES, answers, strict=True):
                    err = r.scorer_errors.get(n)
                    missing[n][m] = "" if err is None else str(err)
    finally:
        await server.stop(1)
    return served, missing


@pytest.fixture(scope="module")
def runs() -> Runs:
    import asyncio

    scorers = H.build_all(NAMES)
    clips = H.clips(N_CLIPS)
    batch = {n: H.run(s, H.for_scorer(n, clips)) for n, s in scorers.items()}
    alone = {n: [H.run(s, [c])[0] for c in H.for_scorer(n, clips)] for n, s in scorers.items()}
    served, missing = asyncio.run(_serve(scorers, clips))
    return Runs(scorers, clips, batch, alone, served, missing)


def _close(a: float | np.ndarray, b: float | np.ndarray, rtol: float) -> bool:
    """|a - b| <= rtol * max(|b|_max, 1); rtol 0 = bit-identical."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    if rtol == 0:
        return bool(np.array_equal(a, b))
    return bool(np.max(np.abs(a - b), initial=0.0) <= rtol * max(float(np.max(np.abs(b), initial=0.0)), 1.0))


def _valid(outs: list[Any]) -> list[tuple[int, ScorerOutput]]:
    return [(i, o) for i, o in enumerate(outs) if isinstance(o, ScorerOutput)]


@pytest.mark.parametrize("name", NAMES)
def test_outputs_match_info_and_spec(runs: Runs, name: str) -> None:
    scorer, spec = runs.scorers[name], registry.spec(name)
    info = scorer.info
    assert info.name == name
    assert info.outputs == spec.outputs and info.embeddings == spec.embeddings
    assert info.input_spec.modalities == spec.modalities
    assert info.protocol == spec.default_protocol
    assert info.version == spec.version or info.version.startswith(spec.version + "+")
    assert info.weights.tiny == bool(spec.families), "model-backed scorers built with tiny weights say so"
    valid = _valid(runs.alone[name])
    assert valid, f"{name} scored none of the conformance clips: {runs.alone[name]}"
    for _, out in valid:
        assert tuple(sorted(out.scores)) == tuple(sorted(info.outputs))
        assert tuple(sorted(out.embeddings)) == tuple(sorted(info.embeddings))
        assert all(math.isfinite(v) for v in out.scores.values())
        assert all(np.all(np.isfinite(e)) for e in out.embeddings.values())


@pytest.mark.parametrize("name", NAMES)
def test_warmup_sample_is_valid_and_finite(runs: Runs, name: str) -> None:
    scorer = runs.scorers[name]
    (out,) = H.run(scorer, [scorer.warmup_sample()])
    assert isinstance(out, ScorerOutput), out
    assert all(math.isfinite(v) for v in out.scores.values())
    assert all(np.all(np.isfinite(e)) for e in out.embeddings.values())


@pytest.mark.parametrize("name", NAMES)
def test_batch_equals_one_by_one(runs: Runs, name: str) -> None:
    rtol = registry.spec(name).batch_rtol
    for together, alone in zip(runs.batch[name], runs.alone[name], strict=True):
        assert type(together) is type(alone)
        if isinstance(alone, InvalidSample):
            assert str(together) == str(alone)
            continue
        for k, v in alone.scores.items():
            assert _close(together.scores[k], v, rtol), (k, together.scores[k], v, rtol)
        for k, e in alone.embeddings.items():
            assert _close(together.embeddings[k], e, rtol), (k, rtol)


@pytest.mark.parametrize("name", NAMES)
def test_served_equals_in_process(runs: Runs, name: str) -> None:
    # The server batches the clips together: as exact as batching is (float64 scores and float32 embeddings
    # cross the wire unchanged).
    rtol = registry.spec(name).batch_rtol
    for clip, alone in zip(runs.clips, runs.alone[name], strict=True):
        got = runs.served[name][clip.id]
        if isinstance(alone, InvalidSample):
            assert not got["scores"] and not got["embeddings"]
            continue
        assert set(got["scores"]) == set(alone.scores)
        assert set(got["embeddings"]) == set(alone.embeddings)
        for k, v in alone.scores.items():
            assert _close(got["scores"][k], v, rtol), (k, got["scores"][k], v)
        for k, e in alone.embeddings.items():
            assert _close(got["embeddings"][k], e, rtol), k


@pytest.mark.parametrize("name", NAMES)
def test_missing_required_modality_is_a_per_sample_error(runs: Runs, name: str) -> None:
    needs = registry.spec(name).modalities
    for modality in needs:
        assert runs.missing[name][modality], f"{name} accepted a sample without {modality}"
    if "audio_prompt" in needs:  # audio_prompt falls back to prompt: a sample with only that one still counts
        assert "prompt" in needs or not runs.missing[name]["prompt"]


@pytest.mark.parametrize("name", NAMES)
def test_golden_values(runs: Runs, name: str) -> None:
    path = GOLDEN_DIR / f"{name}.json"
    assert path.exists(), f"no golden file for {name}: run python -m tests.golden.regen {name}"
    golden = json.loads(path.read_text())
    scorer = runs.scorers[name]
    assert golden["media"] == H.MEDIA_VERSION
    assert (golden["protocol"], golden["version"]) == (scorer.info.protocol, scorer.info.version), (
        "protocol or version changed: regenerate the golden file and review the change"
    )
    rtol, atol = golden["rtol"], golden["atol"]
    for clip, out in zip(runs.clips, runs.alone[name], strict=True):
        want = golden["samples"][clip.id]
        if isinstance(out, InvalidSample):
            assert want == {"error": str(out)}
            continue
        got = H.summary(out)
        assert set(got["scores"]) == set(want["scores"])
        for k, v in want["scores"].items():
            assert got["scores"][k] == pytest.approx(v, rel=rtol, abs=atol), (clip.id, k)
        assert set(got["embeddings"]) == set(want["embeddings"])
        for k, v in want["embeddings"].items():
            g = got["embeddings"][k]
            assert g["dim"] == v["dim"]
            assert g["l2"] == pytest.approx(v["l2"], rel=rtol, abs=atol), (clip.id, k)
            np.testing.assert_allclose(g["head"], v["head"], rtol=rtol, atol=atol, err_msg=f"{clip.id} {k}")
