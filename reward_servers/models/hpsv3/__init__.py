"""HPSv3 family (Qwen2-VL-7B image preference model): configs, prompt, official and tiny loading."""

from omninft.reward_servers.models.hpsv3.model import (
    BASE_ID,
    CHECKPOINT_FILE,
    IMAGE_PIXELS,
    OFFICIAL_ID,
    REWARD_TOKENS,
    HPSv3Config,
    LoadedHPSv3,
    build_prompt,
    fetch_official,
    load,
    load_official,
    load_pretrained,
    load_random,
    reward_head,
)

__all__ = [
    "BASE_ID",
    "CHECKPOINT_FILE",
    "IMAGE_PIXELS",
    "OFFICIAL_ID",
    "REWARD_TOKENS",
    "HPSv3Config",
    "LoadedHPSv3",
    "build_prompt",
    "fetch_official",
    "load",
    "load_official",
    "load_pretrained",
    "load_random",
    "reward_head",
]
