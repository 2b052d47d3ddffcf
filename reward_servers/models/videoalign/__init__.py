"""VideoAlign VideoReward family (Qwen2-VL-2B reward model): configs, prompt, official and tiny loading."""

from omninft.reward_servers.models.videoalign.model import (
    BASE_ID,
    EVAL_DIMS,
    OFFICIAL_ID,
    REWARD_TOKENS,
    LoadedVideoAlign,
    VideoAlignConfig,
    build_prompt,
    config_from_json,
    fetch_official,
    latest_checkpoint,
    load,
    load_official,
    load_pretrained,
    load_random,
    reward_head,
)
from omninft.reward_servers.weights import HF_TEXT_FILES, WeightSpec

# VideoReward: model_config.json + checkpoint-<step>/model.pth (full state dict, highest step used);
# tokenizer and chat template come from its base model, Qwen2-VL-2B-Instruct (text files only).
WEIGHTS = (
    WeightSpec(
        "videoalign",
        "KwaiVGI/VideoReward",
        files=("model_config.json", "checkpoint-*/model.pth"),
        family="videoalign",
        snapshot=True,
    ),
    WeightSpec(
        "videoalign_base",
        "Qwen/Qwen2-VL-2B-Instruct",
        files=HF_TEXT_FILES,
        family="videoalign",
        snapshot=True,
    ),
)

__all__ = [
    "WEIGHTS",
    "BASE_ID",
    "EVAL_DIMS",
    "OFFICIAL_ID",
    "REWARD_TOKENS",
    "LoadedVideoAlign",
    "VideoAlignConfig",
    "build_prompt",
    "fetch_official",
    "config_from_json",
    "latest_checkpoint",
    "load",
    "load_official",
    "load_pretrained",
    "load_random",
    "reward_head",
]
