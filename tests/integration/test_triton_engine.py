"""An exported model repository served by NVIDIA's real `tritonserver` returns the same scores as `omninft-serve`.

tritonserver comes from the nvidia-pytriton wheel, unpacked into $OMNINFT_TRITON_HOME (default
~/.cache/omninft/triton; `.ci/run` fills it). Its Python-backend stub links the system libpython3.11.
"""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as tgrpc

from omninft.reward_servers.serving.config import ServerConfig
from omninft.reward_servers.serving.triton_repo import export_repository
from omninft.reward_servers.serving.triton_runtime import TritonProcess, install_triton, run_triton
from tests.helpers.media import encode_video, gradient_frames
from tests.helpers.server import running_server

PLUGINS = {"brightness": "tests.helpers.scorers:build", "caption": "tests.helpers.scorers:build"}
CLIPS = [encode_video(gradient_frames(8, 16, 16, level=level), fps=8) for level in (30, 90, 150, 210)]
PROMPTS = [b"a red ball", b"", b"two dogs on a beach", "caf\u00e9 au lait".encode()]
LIBPYTHON = Path("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0")


def _triton_home() -> Path:
    """Where tritonserver is (or will be) unpacked."""
    return Path(os.environ.get("OMNINFT_TRITON_HOME", Path.home() / ".cache" / "omninft" / "triton"))


@pytest.fixture(scope="module")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonProcess]:
    """tritonserver serving brightness + caption exported by `export_repository`."""
    if not LIBPYTHON.exists():
        pytest.skip(f"Triton's Python-backend stub links {LIBPYTHON} (Debian: apt-get install libpython3.11)")
    try:
        inst = install_triton(_triton_home())
    except (subprocess.CalledProcessError, OSError) as exc:
        pytest.skip(f"cannot unpack nvidia-pytriton (pip unreachable?): {exc}")
    repo = tmp_path_factory.mktemp("triton-repo")
    cfg = ServerConfig.from_dict(
        {
            "plugins": PLUGINS,
            "scorers": {
                "brightness": {"maxBatchSize": 4, "maxQueueDelayMs": 20},
                "caption": {"maxBatchSize": 4},
            },
        }
    )
    export_repository(repo, cfg)
    with run_triton(inst, repo, repo.parent / "triton.log") as proc:
        yield proc


def _infer(address: str, model: str, name: str, items: list[bytes]) -> tgrpc.InferResult:
    """One ModelInfer with a [batch, 1] BYTES input."""
    arr = np.array(items, dtype=np.object_).reshape(-1, 1)
    inp = tgrpc.InferInput(name, list(arr.shape), "BYTES")
    inp.set_data_from_numpy(arr)
    with tgrpc.InferenceServerClient(address) as client:
        return client.infer(model, [inp])


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-identical float arrays (NaN where NaN)."""
    return a.shape == b.shape and a.tobytes() == b.tobytes()


async def test_triton_and_omninft_serve_return_identical_scores(triton: TritonProcess) -> None:
    async with running_server() as ours:
        for model, name, items in [
            ("brightness", "video", [CLIPS[0], b"not media", CLIPS[1], CLIPS[2]]),
            ("caption", "prompt", PROMPTS),
        ]:
            mine = await asyncio.to_thread(_infer, ours.server.address, model, name, items)
            theirs = await asyncio.to_thread(_infer, triton.address, model, name, items)
            assert _same(
                mine.as_numpy(model if model == "brightness" else "caption_score"),
                theirs.as_numpy(model if model == "brightness" else "caption_score"),
            ), model
            assert list(mine.as_numpy("error").ravel()) == list(theirs.as_numpy("error").ravel())
        errors = (
            await asyncio.to_thread(_infer, triton.address, "brightness", "video", [b"not media"])
        ).as_numpy("error")
        assert errors[0, 0].startswith(b"INVALID_ARGUMENT: ")


def test_dynamic_batching_keeps_each_sample_its_own_score(triton: TritonProcess) -> None:
    alone = [
        float(_infer(triton.address, "brightness", "video", [c]).as_numpy("brightness")[0, 0]) for c in CLIPS
    ]
    with ThreadPoolExecutor(8) as pool:
        futures = [
            pool.submit(_infer, triton.address, "brightness", "video", [CLIPS[i % 4]]) for i in range(16)
        ]
        together = [float(f.result().as_numpy("brightness")[0, 0]) for f in futures]
    assert together == [alone[i % 4] for i in range(16)]
    with tgrpc.InferenceServerClient(triton.address) as client:
        stats = client.get_inference_statistics("brightness").model_stats[0]
        cfg = client.get_model_config("brightness").config
    # Triton formed batches: fewer executions than inferences.
    assert stats.inference_count >= 20 and stats.execution_count < stats.inference_count
    assert cfg.max_batch_size == 4 and all(not math.isnan(x) for x in together)


async def test_omninft_client_scores_through_real_triton(triton: TritonProcess) -> None:
    """RewardClient(protocol="kserve") on Triton: same ScoreResults as on omninft-serve's RewardService."""
    from omninft_client import RewardClient, Sample
    from omninft_client.media import video_bytes

    samples = [
        Sample(id=f"s{i}", video=video_bytes(c), prompt=p.decode())
        for i, (c, p) in enumerate(zip([CLIPS[0], b"not media", CLIPS[1], CLIPS[2]], PROMPTS, strict=True))
    ]
    async with running_server() as ours:
        address = ours.server.address

        def both() -> tuple[list, list, object]:
            with (
                RewardClient(address, max_samples_per_request=4) as plain,
                RewardClient(triton.address, protocol="kserve") as kserve,
            ):
                desc = kserve.wait_ready(30)
                return (
                    plain.score(samples, ["brightness", "caption"]),
                    kserve.score(samples, ["brightness", "caption"]),
                    desc,
                )

        want, got, desc = await asyncio.to_thread(both)
    assert {s.name for s in desc.scorers} == {"brightness", "caption"}  # type: ignore[attr-defined]
    assert desc.scorer("brightness").max_batch_size == 4  # type: ignore[attr-defined]
    bright = desc.scorer("brightness")  # type: ignore[attr-defined]
    assert len(bright.weights_sha256) == 64 and bright.version  # provenance recorded at export
    for g, w in zip(got, want, strict=True):
        assert g.id == w.id and g.scores == w.scores
        assert {k: e.code for k, e in g.scorer_errors.items()} == {
            k: e.code for k, e in w.scorer_errors.items()
        }
    assert (
        got[1].scorer_errors["brightness"].code == "INVALID_ARGUMENT" and "caption_score" not in got[1].scores
    )
