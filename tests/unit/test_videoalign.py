"""VideoAlign VideoReward: prompt, checkpoint key layout, special-token pooling and the `videoalign` scorer."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from omninft.reward_servers.functional.image import to_normalized_chw
from omninft.reward_servers.functional.qwen2vl_frames import (
    num_visual_tokens,
    patchify,
    resize_bicubic_antialias,
    smart_nframes,
    smart_resize,
)
from omninft.reward_servers.functional.sampling import javisbench_frame_indices
from omninft.reward_servers.media import DecodedSample, DecodedVideo
from omninft.reward_servers.models import _qwen2vl_reward as q
from omninft.reward_servers.models import videoalign as va
from omninft.reward_servers.scorers.base import InvalidSample, ScorerConfig
from omninft.reward_servers.scorers.registry import build

PROMPT_SHA256 = "fdb6309bac618dd0c8b1b589d3a0970a974f7856eecbb355a190b2dce54af700"


@pytest.fixture(scope="module")
def loaded() -> va.LoadedVideoAlign:
    return va.load("tiny", 0)


@pytest.fixture(scope="module")
def scorer():
    return build("videoalign", ScorerConfig(weights="tiny", max_batch_size=4, protocol="javisbench-v1-fp32"))


def _clip(seed: int, t: int = 12, h: int = 48, w: int = 64, fps: float = 12.0) -> DecodedVideo:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (1, h, w, 3))
    frames = np.stack([np.roll(base[0], 3 * k, axis=1) for k in range(t)]).astype(np.uint8)
    return DecodedVideo(frames, fps)


def test_prompt_template_is_the_upstream_text() -> None:
    from omninft.reward_servers.models.videoalign.prompt import VIDEOALIGN_DETAILED_SPECIAL

    assert hashlib.sha256(VIDEOALIGN_DETAILED_SPECIAL.encode()).hexdigest() == PROMPT_SHA256
    text = va.build_prompt("a cat")
    pos = [text.index(t) for t in va.REWARD_TOKENS]
    assert pos == sorted(pos) and "Textual prompt - a cat\n" in text
    with pytest.raises(ValueError):
        va.build_prompt("x", "simple")


def test_chat_template_renders_qwen2vl_format() -> None:
    text = q.chat_text("Hi", "video", visual_tokens=2)
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "<|vision_start|><|video_pad|><|video_pad|><|vision_end|>Hi<|im_end|>\n<|im_start|>assistant\n"
    )


def test_official_key_layout_round_trips_strict(loaded: va.LoadedVideoAlign) -> None:
    official = q.to_official_state_dict(loaded.model)
    assert "rm_head.weight" in official and "lm_head.weight" in official
    assert any(k.startswith("visual.blocks.") for k in official)
    assert any(k.startswith("model.layers.") for k in official)
    assert not any("language_model" in k or k.startswith("model.visual") for k in official)
    fresh = q.build_empty(loaded.model.config, va.reward_head(loaded.config), dtype=torch.float32)
    q.load_official_state_dict(fresh, official)
    for (k, a), (_, b) in zip(loaded.model.state_dict().items(), fresh.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    # transformers >= 4.52 layout keys are accepted as they are
    new_layout = {k: v for k, v in loaded.model.state_dict().items()}
    q.load_official_state_dict(fresh, new_layout)


@pytest.mark.parametrize("damage", ["missing", "unexpected", "shape", "lora"])
def test_key_mismatches_are_refused(loaded: va.LoadedVideoAlign, damage: str) -> None:
    sd = dict(q.to_official_state_dict(loaded.model))
    if damage == "missing":
        sd.pop("visual.merger.ln_q.weight")
    elif damage == "unexpected":
        sd["model.layers.0.extra.weight"] = torch.zeros(1)
    elif damage == "shape":
        sd["rm_head.weight"] = torch.zeros(2, loaded.config.hidden_size)
    else:
        sd["base_model.model.lora_A.weight"] = torch.zeros(1)
    fresh = q.build_empty(loaded.model.config, va.reward_head(loaded.config), dtype=torch.float32)
    with pytest.raises(q.CheckpointLayoutError):
        q.load_official_state_dict(fresh, sd)


def test_full_size_parameter_count_matches_the_spec() -> None:
    from dataclasses import replace

    cfg = va.VideoAlignConfig.official()
    counts = {}
    for vocab in (151936, 151660):  # the base model's vocabulary, then VideoReward's (+3 reward tokens)
        with torch.device("meta"):
            c = replace(cfg, vocab_size=vocab)
            model = q.Qwen2VLRewardModel(c.hf_config(q.official_token_ids()), va.reward_head(c))
        counts[vocab] = sum(p.numel() for p in model.parameters())
        vision = sum(p.numel() for p in model.model.visual.parameters())
    assert round(vision / 1e6, 1) == 665.3
    # specs/models.md §5.1: Qwen2-VL-2B has 2,208,985,600 (tied LM head counted once); rm_head adds 1536
    assert counts[151936] == 2_208_985_600 + 1536
    assert counts[151660] == counts[151936] - (151936 - 151660) * 1536


def _tokens(loaded: va.LoadedVideoAlign, prompt: str, grid: tuple[int, int, int]) -> np.ndarray:
    text = q.chat_text(va.build_prompt(prompt), "video", visual_tokens=num_visual_tokens(grid))
    return q.encode(loaded.tokenizer, text, loaded.ids, grid_thw=grid, merge_size=2)


def _inputs(loaded: va.LoadedVideoAlign, seed: int, prompt: str) -> q.RewardInput:
    rng = np.random.default_rng(seed)
    pix = rng.standard_normal((2, 3, 16, 24)).astype(np.float32)
    rows, grid = patchify(pix, patch_size=4)
    return q.RewardInput(_tokens(loaded, prompt, grid), rows, grid)


def test_special_token_pooling_picks_the_reward_positions(loaded: va.LoadedVideoAlign) -> None:
    model = loaded.model
    items = [_inputs(loaded, 0, "a dog runs"), _inputs(loaded, 1, "rain falls on a tin roof at night")]
    batch = {k: torch.from_numpy(v) for k, v in q.collate(items, loaded.ids.pad).items()}
    head, model.rm_head = model.rm_head, torch.nn.Identity()
    try:
        with torch.inference_mode():
            pooled = model(
                batch["input_ids"],
                batch["attention_mask"],
                batch["pixel_values"],
                batch["grid_thw"],
                loaded.ids.visual,
                loaded.ids.special,
            )
            for i, it in enumerate(items):
                ids = torch.from_numpy(it.input_ids)[None]
                emb = model.model.language_model.embed_tokens(ids)
                vis = model.model.visual(
                    torch.from_numpy(it.pixel_values), grid_thw=torch.tensor([it.grid_thw])
                ).pooler_output
                emb[ids == loaded.ids.visual] = vis
                # upstream: 1-D positions 0..L-1 on all three M-RoPE axes
                pos = torch.arange(ids.shape[1])[None, None].expand(3, 1, -1)
                hidden = model.model.language_model(inputs_embeds=emb, position_ids=pos).last_hidden_state[0]
                where = [int(np.flatnonzero(it.input_ids == t)[0]) for t in loaded.ids.special]
                assert where == sorted(where)
                torch.testing.assert_close(pooled[i], hidden[where], atol=1e-5, rtol=1e-5)
    finally:
        model.rm_head = head


def test_scorer_equals_hand_composition(scorer, loaded: va.LoadedVideoAlign) -> None:
    video = _clip(3)
    sample = DecodedSample("a", prompt="a red ball rolls across the floor", video=video)
    got = scorer.postprocess(scorer.forward([scorer.preprocess(sample)])[0]).scores

    cfg = loaded.config
    n = smart_nframes(12, 12.0, fps=2.0)
    idx = javisbench_frame_indices(12, n)
    h, w = smart_resize(48, 64, cfg.factor, cfg.min_pixels, cfg.max_pixels)
    rows, grid = patchify(to_normalized_chw(resize_bicubic_antialias(video.frames[idx], h, w)), patch_size=4)
    ids = _tokens(loaded, sample.prompt, grid)
    with torch.inference_mode():
        out = loaded.model(
            torch.from_numpy(ids)[None],
            torch.ones(1, ids.shape[0], dtype=torch.long),
            torch.from_numpy(rows),
            torch.tensor([grid]),
            loaded.ids.visual,
            loaded.ids.special,
        )
    vq, mq, ta = out[0, :, 0].tolist()
    assert got == pytest.approx({"visual_quality": vq, "motion_quality": mq, "text_alignment": ta}, abs=1e-5)


def test_use_norm_and_batching(loaded: va.LoadedVideoAlign, scorer) -> None:
    normed = build(
        "videoalign",
        ScorerConfig(
            weights="tiny", max_batch_size=2, options={"use_norm": True}, protocol="javisbench-v1-fp32"
        ),
    )
    samples = [
        DecodedSample(f"s{i}", prompt=p, video=_clip(i, t=t))
        for i, (p, t) in enumerate([("a dog", 12), ("a red car drives away down a gravel road", 9)])
    ]
    raw_each = [scorer.postprocess(scorer.forward([scorer.preprocess(s)])[0]).scores for s in samples]
    together = [normed.postprocess(o).scores for o in normed.forward([normed.preprocess(s) for s in samples])]
    for raw, nrm in zip(raw_each, together, strict=True):
        for dim, name in (("VQ", "visual_quality"), ("MQ", "motion_quality"), ("TA", "text_alignment")):
            mean, std = loaded.config.norm[dim]
            assert nrm[name] == pytest.approx((raw[name] - mean) / std, abs=1e-4)


def test_invalid_samples_fail_alone(scorer) -> None:
    bad = [
        DecodedSample("novideo", prompt="x"),
        DecodedSample("noprompt", prompt=" ", video=_clip(0)),
        DecodedSample("oneframe", prompt="x", video=_clip(0, t=1)),
        DecodedSample("fake", prompt="look <|VQ_reward|>", video=_clip(0)),
        DecodedSample("fakevis", prompt="look <|video_pad|>", video=_clip(0)),
        DecodedSample("nofps", prompt="x", video=DecodedVideo(_clip(0).frames, 0.0)),
    ]
    for s in bad:
        with pytest.raises(InvalidSample):
            scorer.preprocess(s)
    assert scorer.info.outputs == ("visual_quality", "motion_quality", "text_alignment")


def test_options_fps_num_frames_and_backend() -> None:
    with pytest.raises(ValueError, match="float32 only"):
        build("videoalign", ScorerConfig(weights="tiny", backend="onnxruntime"))
    s = build("videoalign", ScorerConfig(weights="tiny", options={"num_frames": 6}))
    item = s.preprocess(DecodedSample("a", prompt="x", video=_clip(0, t=30)))
    assert len(item.frame_indices) == 6 and item.inputs.grid_thw[0] == 3


def test_model_config_json_and_checkpoint_selection(tmp_path: Path) -> None:
    data = {
        "data_config": {
            "fps": 2.0,
            "num_frames": None,
            "max_frame_pixels": 200704,
            "sample_type": "uniform",
            "eval_dim": ["VQ", "MQ", "TA"],
            "prompt_template_type": "detailed_special",
        },
        "model_config": {
            "output_dim": 1,
            "use_special_tokens": True,
            "reward_token": "special",
            "model_name_or_path": "Qwen/Qwen2-VL-2B-Instruct",
        },
        "inference_config": {
            "VQ_mean": 1.0,
            "VQ_std": 2.0,
            "MQ_mean": 3.0,
            "MQ_std": 4.0,
            "TA_mean": 5.0,
            "TA_std": 6.0,
        },
    }
    cfg = va.config_from_json(json.loads(json.dumps(data)))
    assert (cfg.fps, cfg.num_frames, cfg.max_pixels, cfg.output_dim) == (2.0, None, 200704, 1)
    assert cfg.norm == {"VQ": (1.0, 2.0), "MQ": (3.0, 4.0), "TA": (5.0, 6.0)}
    data["data_config"]["prompt_template_type"] = "simple"
    with pytest.raises(Exception, match="prompt_template_type"):
        va.config_from_json(data)
    for step in (100, 11352, 2000):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "model.pth").write_bytes(b"x")
    assert va.latest_checkpoint(tmp_path).parent.name == "checkpoint-11352"
    assert va.latest_checkpoint(tmp_path, 2000).parent.name == "checkpoint-2000"


def test_official_loading_fails_clearly_offline(tmp_path: Path) -> None:
    from omninft.reward_servers.models import hpsv3 as hp
    from omninft.reward_servers.models._hf import WeightsLoadError

    with pytest.raises(FileNotFoundError, match="fetch-weights --family videoalign"):
        va.load_official(cache_dir=tmp_path / "cache")
    with pytest.raises(FileNotFoundError, match="fetch-weights --family hpsv3"):
        hp.load_official(cache_dir=tmp_path / "cache")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(WeightsLoadError, match="model_config.json"):
        va.load_official(str(empty))


def test_load_pretrained_from_a_folder_in_the_official_layout(
    tmp_path: Path, loaded: va.LoadedVideoAlign
) -> None:
    """model_config.json + checkpoint-<step>/model.pth + base tokenizer files -> the same model, strict keys."""
    from omninft.reward_servers.models.videoalign.prompt import VIDEOALIGN_DETAILED_SPECIAL

    base_tok = q.tiny_qwen2_tokenizer(
        (), corpus=VIDEOALIGN_DETAILED_SPECIAL
    )  # the base vocabulary, no reward tokens
    base_tok.save_pretrained(str(tmp_path))
    data = {
        "data_config": {
            "fps": 2.0,
            "num_frames": None,
            "max_frame_pixels": 1024,
            "sample_type": "uniform",
            "eval_dim": ["VQ", "MQ", "TA"],
            "prompt_template_type": "detailed_special",
            "meta_data": "x",
            "data_dir": "x",
        },
        "model_config": {
            "output_dim": 1,
            "use_special_tokens": True,
            "reward_token": "special",
            "model_name_or_path": "/not/here",
        },
        "peft_lora_config": {"lora_enable": True},
        "inference_config": {
            "VQ_mean": 1.0,
            "VQ_std": 2.0,
            "MQ_mean": 3.0,
            "MQ_std": 4.0,
            "TA_mean": 5.0,
            "TA_std": 6.0,
        },
    }
    (tmp_path / "model_config.json").write_text(json.dumps(data))
    (tmp_path / "checkpoint-7").mkdir()
    torch.save(q.to_official_state_dict(loaded.model), tmp_path / "checkpoint-7" / "model.pth")
    got = va.load_official(str(tmp_path), arch=va.VideoAlignConfig.tiny(), dtype=torch.float32)
    assert got.ids == loaded.ids and len(got.tokenizer) == len(loaded.tokenizer)
    assert got.config.max_pixels == 1024 and got.config.norm["TA"] == (5.0, 6.0)
    assert not got.identity.tiny and got.identity.weights_id.endswith("checkpoint-7")
    for (k, a), (_, b) in zip(loaded.model.state_dict().items(), got.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


def test_any_qwen2vl_config_in_the_base_folder_defines_the_architecture(
    tmp_path: Path, loaded: va.LoadedVideoAlign
) -> None:
    """A tiny Qwen2-VL saved with save_pretrained (config + tokenizer) loads with weights: PATH, no `arch`."""
    from omninft.reward_servers.models.videoalign.prompt import VIDEOALIGN_DETAILED_SPECIAL

    base = tmp_path / "qwen2vl-tiny"
    loaded.model.config.save_pretrained(str(base))
    q.tiny_qwen2_tokenizer((), corpus=VIDEOALIGN_DETAILED_SPECIAL).save_pretrained(str(base))
    reward = tmp_path / "VideoReward"
    (reward / "checkpoint-3").mkdir(parents=True)
    (reward / "model_config.json").write_text(
        json.dumps(
            {
                "data_config": {
                    "fps": 2.0,
                    "max_frame_pixels": 1024,
                    "eval_dim": ["VQ", "MQ", "TA"],
                    "prompt_template_type": "detailed_special",
                },
                "model_config": {"output_dim": 1, "model_name_or_path": str(base)},
            }
        )
    )
    torch.save(q.to_official_state_dict(loaded.model), reward / "checkpoint-3" / "model.pth")
    got = va.load_official(str(reward), dtype=torch.float32)
    tiny = va.VideoAlignConfig.tiny()
    assert (
        got.config.hidden_size,
        got.config.num_layers,
        got.config.vision_embed_dim,
        got.config.patch_size,
    ) == (tiny.hidden_size, tiny.num_layers, tiny.vision_embed_dim, tiny.patch_size)
    for (k, a), (_, b) in zip(loaded.model.state_dict().items(), got.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


def test_backbone_from_a_transformers_4_config_json() -> None:
    """The layout Qwen2-VL-2B-Instruct ships (transformers 4.x: text fields at the top level, rope_scaling)."""
    data = {
        "model_type": "qwen2_vl",
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0,
        "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
        "vision_config": {
            "depth": 32,
            "embed_dim": 1280,
            "mlp_ratio": 4,
            "num_heads": 16,
            "in_chans": 3,
            "hidden_size": 1536,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
    }
    official = va.VideoAlignConfig.official()
    fields = q.backbone_from_hf_config(data)
    assert {k: getattr(official, k) for k in fields} == fields
    with pytest.raises(ValueError, match="Qwen2-VL"):
        q.backbone_from_hf_config({"model_type": "llama"})


def test_reference_precision_is_bfloat16_on_cpu_and_fp32_a_variant() -> None:
    ref = build("videoalign", ScorerConfig(weights="tiny", max_batch_size=1))
    fp32 = build("videoalign", ScorerConfig(weights="tiny", max_batch_size=1, protocol="javisbench-v1-fp32"))
    from omninft.reward_servers.scorers.videoalign import model_dtype

    assert model_dtype(ScorerConfig()) == torch.bfloat16  # also on CPU, as the reference
    assert model_dtype(ScorerConfig(protocol="javisbench-v1-fp32")) == torch.float32
    assert (
        model_dtype(ScorerConfig(protocol="javisbench-v1-fp32", options={"dtype": "bfloat16"}))
        == torch.bfloat16
    )
    assert fp32.info.protocol == "javisbench-v1-fp32"
    sample = ref.warmup_sample()
    a = ref.postprocess(ref.forward([ref.preprocess(sample)])[0]).scores
    b = fp32.postprocess(fp32.forward([fp32.preprocess(sample)])[0]).scores
    assert all(np.isfinite(v) for v in a.values()) and a != b
    for k in a:
        assert a[k] == pytest.approx(b[k], abs=0.1 + 0.05 * abs(b[k]))  # same model, bf16 rounding only
