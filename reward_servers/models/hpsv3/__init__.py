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
from omninft.reward_servers.weights import HF_TEXT_FILES, WeightSpec

# HPSv3: one full state dict (Qwen2-VL-7B + ranknet head); tokenizer from Qwen2-VL-7B-Instruct (text only).
WEIGHTS = (
    WeightSpec("hpsv3", "MizzenAI/HPSv3", files=("HPSv3.safetensors",), family="hpsv3"),
    WeightSpec("hpsv3_base", "Qwen/Qwen2-VL-7B-Instruct", files=HF_TEXT_FILES, family="hpsv3", snapshot=True),
)

__all__ = [
    "WEIGHTS",
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
