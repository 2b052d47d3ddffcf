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

__all__ = [
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
