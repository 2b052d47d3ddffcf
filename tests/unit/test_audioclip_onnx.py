"""The AudioCLIP audio graph exports to ONNX (dynamic batch) and onnxruntime stays close to torch.

The tolerance is loose on purpose: ESResNeXt maps float input through the int16 range (x + 32768 in float32
quantises it) and takes 10*log10 of band powers, so low-power bins amplify summation-order differences; the
float32 reference itself is that sensitive (float64 differs more than onnxruntime does).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omninft.reward_servers.media import DecodedAudio, DecodedSample
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers.base import ScorerConfig


@pytest.mark.slow
def test_onnxruntime_is_close_to_torch_at_another_batch_size(tmp_path: Path) -> None:
    opts = {"max_audio_len_s": 1.0}
    ref = registry.build("audioclip", ScorerConfig(weights="tiny", max_batch_size=4, options=opts))
    ort = registry.build(
        "audioclip",
        ScorerConfig(
            weights="tiny", backend="onnxruntime", onnx_dir=str(tmp_path), max_batch_size=4, options=opts
        ),
    )
    assert ort.info.backend == "onnxruntime"
    rng = np.random.default_rng(0)
    items = [
        ref.preprocess(
            DecodedSample(
                str(i),
                audio=DecodedAudio((rng.standard_normal((1, 16_000)) * 0.2).astype(np.float32), 16_000),
            )
        )
        for i in range(3)
    ]
    a, b = np.stack(ref.forward(items)), np.stack(ort.forward(items))
    assert b.shape == (3, 1024)
    scale = np.abs(a).max()
    assert np.abs(b - a).max() <= 0.01 * scale
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() > 0.9999
