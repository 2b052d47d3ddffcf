"""HPSv3: prompt, ranknet head key layout, frame selection, OmniNFT's video post-processing, the scorers."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from omninft.reward_servers.functional.image import resize_bicubic, to_normalized_chw
from omninft.reward_servers.functional.qwen2vl_frames import num_visual_tokens, patchify, smart_resize
from omninft.reward_servers.media import DecodedSample, DecodedVideo
from omninft.reward_servers.models import _qwen2vl_reward as q
from omninft.reward_servers.models import hpsv3 as hp
from omninft.reward_servers.scorers.base import InvalidSample, ScorerConfig
from omninft.reward_servers.scorers.hpsv3 import (
    hpsv3_video_score,
    middle_frame_index,
    top_fraction_mean,
    uniform_frame_indices,
)
from omninft.reward_servers.scorers.registry import build

INSTRUCTION_SHA256 = "0393599dad45a971903d1d62a3acf9bad3ccccdafa7f40f680523419e1f68b7a"


@pytest.fixture(scope="module")
def loaded() -> hp.LoadedHPSv3:
    return hp.load("tiny", 0)


@pytest.fixture(scope="module")
def scorers() -> dict:
    return {n: build(n, ScorerConfig(weights="tiny", max_batch_size=8)) for n in ("hpsv3", "hpsv3_video")}


def _clip(seed: int, t: int = 8, h: int = 40, w: int = 56) -> DecodedVideo:
    rng = np.random.default_rng(seed)
    return DecodedVideo(rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8), 24.0)


def test_prompt_is_the_upstream_text() -> None:
    from omninft.reward_servers.models.hpsv3.prompt import HPSV3_INSTRUCTION, HPSV3_REWARD_SUFFIX

    assert hashlib.sha256(HPSV3_INSTRUCTION.encode()).hexdigest() == INSTRUCTION_SHA256
    assert HPSV3_REWARD_SUFFIX == "\nPlease provide the overall ratings of this image: <|Reward|>\n\nEND\n"
    assert hp.build_prompt("a fox").count(
        "<|Reward|>"
    ) == 1 and "Textual prompt - a fox\n" in hp.build_prompt("a fox")


def test_ranknet_head_keys_round_trip_strict(loaded: hp.LoadedHPSv3) -> None:
    official = q.to_official_state_dict(loaded.model, tied_lm_head=False)
    head_keys = sorted(k for k in official if k.startswith("rm_head."))
    assert head_keys == [f"rm_head.{i}.{p}" for i in (0, 3, 5) for p in ("bias", "weight")]
    assert loaded.model.rm_head[0].weight.dtype == torch.float32
    fresh = q.build_empty(
        loaded.model.config, hp.reward_head(loaded.config), dtype=torch.float32, head_dtype=torch.float32
    )
    q.load_official_state_dict(fresh, official)
    for (k, a), (_, b) in zip(loaded.model.state_dict().items(), fresh.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


def test_full_size_parameter_count_matches_the_spec() -> None:
    from dataclasses import replace

    cfg = hp.HPSv3Config.official()
    with torch.device("meta"):
        model = q.Qwen2VLRewardModel(cfg.hf_config(q.official_token_ids()), hp.reward_head(cfg))
    head = sum(p.numel() for p in model.rm_head.parameters())
    vision = sum(p.numel() for p in model.model.visual.parameters())
    total = sum(p.numel() for p in model.parameters())
    assert round(vision / 1e6, 1) == 675.8 and round(head / 1e6, 1) == 3.7
    # specs/models.md §5.2: 8,291,375,616 for Qwen2-VL-7B (vocabulary 152064) including its untied LM head,
    # which the reward model does not build
    base = replace(cfg, vocab_size=152064)
    with torch.device("meta"):
        base_model = q.Qwen2VLRewardModel(base.hf_config(q.official_token_ids()), hp.reward_head(base))
    lm_head = 152064 * 3584
    assert sum(p.numel() for p in base_model.parameters()) - head + lm_head == 8_291_375_616
    assert total == sum(p.numel() for p in base_model.parameters()) - (152064 - 151658) * 3584


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (121, [0, 30, 60, 90, 120]),
        (8, [0, 2, 4, 5, 7]),
        (3, [0, 0, 1, 2, 2]),
        (1, [0] * 5),
        (2, [0, 0, 0, 1, 1]),
    ],
)
def test_uniform_frame_indices(t: int, expected: list[int]) -> None:
    # round(i (T - 1) / 4) with Python's half-to-even round: 1.75 -> 2, 3.5 -> 4, 5.25 -> 5, 0.5 -> 0, 1.5 -> 2
    assert uniform_frame_indices(t) == expected
    assert middle_frame_index(t) == expected[2]


def test_top_fraction_mean_and_clipping() -> None:
    assert top_fraction_mean([1, 5, 2, 4, 3]) == 4.5  # ceil(5 * 0.3) = 2
    assert top_fraction_mean([1, 2, 3, 4]) == 3.5  # ceil(1.2) = 2
    assert top_fraction_mean([1, 9, 3]) == 9  # ceil(0.9) = 1
    assert top_fraction_mean([7.0]) == 7.0
    assert hpsv3_video_score([20.0, 16.0, 3.0, 2.0, 1.0]) == 15.0
    assert hpsv3_video_score([14.0, 16.0, 3.0, 2.0, -1.0]) == 14.5
    assert hpsv3_video_score([-3.0, -1.0, -2.0, -5.0, -4.0]) == -1.5
    with pytest.raises(ValueError):
        top_fraction_mean([])


def _frame_mus(loaded: hp.LoadedHPSv3, frames: np.ndarray, prompt: str) -> list[float]:
    """mu of each frame, composed by hand from the functional pieces and one batched model call."""
    cfg = loaded.config
    h, w = smart_resize(frames.shape[1], frames.shape[2], cfg.factor, cfg.image_pixels, cfg.image_pixels)
    items = []
    for frame in frames:
        rows, grid = patchify(to_normalized_chw(resize_bicubic(frame[None], h, w)), patch_size=cfg.patch_size)
        assert grid[0] == 1  # one image fills both temporal slots
        text = q.chat_text(hp.build_prompt(prompt), "image", visual_tokens=num_visual_tokens(grid))
        items.append(
            q.RewardInput(
                q.encode(loaded.tokenizer, text, loaded.ids, grid_thw=grid, merge_size=2), rows, grid
            )
        )
    batch = {k: torch.from_numpy(v) for k, v in q.collate(items, loaded.ids.pad).items()}
    with torch.inference_mode():
        out = loaded.model(
            batch["input_ids"],
            batch["attention_mask"],
            batch["pixel_values"],
            batch["grid_thw"],
            loaded.ids.visual,
            loaded.ids.special,
        )
    assert out.shape == (len(items), 1, 2)  # (mu, sigma)
    return out[:, 0, 0].tolist()


def test_scorers_equal_hand_composition(scorers: dict, loaded: hp.LoadedHPSv3) -> None:
    clip = _clip(0, t=8)
    sample = DecodedSample("a", prompt="a fox sits in the snow", video=clip)
    picked = [0, 2, 4, 5, 7]
    mus = dict(zip(picked, _frame_mus(loaded, clip.frames[picked], sample.prompt), strict=True))
    image = scorers["hpsv3"]
    got = image.postprocess(image.forward([image.preprocess(sample)])[0]).scores
    assert got == pytest.approx({"hpsv3": mus[4]}, abs=1e-5)
    video = scorers["hpsv3_video"]
    item = video.preprocess(sample)
    assert item.frame_indices.tolist() == picked
    got_v = video.postprocess(video.forward([item])[0]).scores
    per_frame = [min(mus[i], 15.0) for i in picked]
    assert got_v == pytest.approx({"hpsv3_video": float(np.mean(sorted(per_frame)[-2:]))}, abs=1e-5)


def test_video_batching_and_repeated_frames(scorers: dict) -> None:
    video = scorers["hpsv3_video"]
    samples = [
        DecodedSample("s0", prompt="a dog", video=_clip(1, t=3)),
        DecodedSample("s1", prompt="music on a stage with lights", video=_clip(2, t=2)),
    ]
    items = [video.preprocess(s) for s in samples]
    assert len(items[0].inputs) == 3 and items[0].inverse.tolist() == [0, 0, 1, 2, 2]
    together = [video.postprocess(o).scores["hpsv3_video"] for o in video.forward(items)]
    alone = [video.postprocess(video.forward([it])[0]).scores["hpsv3_video"] for it in items]
    assert together == pytest.approx(alone, abs=1e-5)


def test_invalid_samples(scorers: dict) -> None:
    s = scorers["hpsv3"]
    for bad in (
        DecodedSample("v", prompt="x"),
        DecodedSample("p", prompt="", video=_clip(0)),
        DecodedSample("t", prompt="see <|Reward|>", video=_clip(0)),
    ):
        with pytest.raises(InvalidSample):
            s.preprocess(bad)
    assert s.info.outputs == ("hpsv3",) and scorers["hpsv3_video"].info.outputs == ("hpsv3_video",)


def test_bfloat16_keeps_the_head_in_float32(scorers: dict) -> None:
    s16 = build("hpsv3", ScorerConfig(weights="tiny", options={"dtype": "bfloat16"}))
    core = s16.backend._graphs["reward"].module  # type: ignore[attr-defined]
    assert core.reward.model.language_model.embed_tokens.weight.dtype == torch.bfloat16
    assert core.reward.rm_head[0].weight.dtype == torch.float32
    sample = DecodedSample("a", prompt="a fox", video=_clip(5, t=2))
    ref = (
        scorers["hpsv3"]
        .postprocess(scorers["hpsv3"].forward([scorers["hpsv3"].preprocess(sample)])[0])
        .scores
    )
    got = s16.postprocess(s16.forward([s16.preprocess(sample)])[0]).scores
    assert got["hpsv3"] == pytest.approx(ref["hpsv3"], abs=0.05)


def test_load_pretrained_from_an_official_style_safetensors(tmp_path, loaded: hp.LoadedHPSv3) -> None:
    """HPSv3.safetensors (upstream key layout) + base tokenizer files -> the same model, strict keys."""
    import safetensors.torch

    from omninft.reward_servers.models.hpsv3.prompt import HPSV3_INSTRUCTION

    q.tiny_qwen2_tokenizer((), corpus=HPSV3_INSTRUCTION).save_pretrained(str(tmp_path))
    sd = {k: v.contiguous() for k, v in q.to_official_state_dict(loaded.model, tied_lm_head=False).items()}
    safetensors.torch.save_file(sd, str(tmp_path / "HPSv3.safetensors"))
    got = hp.load_official(str(tmp_path), arch=hp.HPSv3Config.tiny(), dtype=torch.float32)
    assert got.ids == loaded.ids and not got.identity.tiny
    assert got.model.rm_head[0].weight.dtype == torch.float32
    for (k, a), (_, b) in zip(loaded.model.state_dict().items(), got.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


def test_a_saved_qwen2vl_config_beside_the_checkpoint_defines_the_architecture(
    tmp_path, loaded: hp.LoadedHPSv3
) -> None:
    """weights: PATH with any Qwen2-VL config.json (save_pretrained) + tokenizer files loads without `arch`."""
    import safetensors.torch

    from omninft.reward_servers.models.hpsv3.prompt import HPSV3_INSTRUCTION

    q.tiny_qwen2_tokenizer((), corpus=HPSV3_INSTRUCTION).save_pretrained(str(tmp_path))
    loaded.model.config.save_pretrained(str(tmp_path))
    sd = {k: v.contiguous() for k, v in q.to_official_state_dict(loaded.model, tied_lm_head=False).items()}
    safetensors.torch.save_file(sd, str(tmp_path / "HPSv3.safetensors"))
    got = hp.load_official(str(tmp_path), dtype=torch.float32)
    assert got.config.hidden_size == hp.HPSv3Config.tiny().hidden_size
    for (k, a), (_, b) in zip(loaded.model.state_dict().items(), got.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
