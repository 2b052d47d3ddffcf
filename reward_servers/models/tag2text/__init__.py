"""Tag2Text (Swin-B 384) caption model for VBench scene: tagging head, tag encoder, beam-search decoder."""

from omninft.reward_servers.models.tag2text.frames import tag2text_frames
from omninft.reward_servers.models.tag2text.generate import (
    PROTOCOLS,
    CaptionResult,
    GenerationConfig,
    beam_search,
    caption_source_rows,
    generate,
)
from omninft.reward_servers.models.tag2text.load import (
    CHECKPOINT_NOTES,
    FAMILY,
    OFFICIAL_TOKENIZER,
    OFFICIAL_WEIGHTS,
    LoadReport,
    Tag2TextTokenizer,
    load,
    load_state_dict,
    read_checkpoint,
    tokenizer,
)
from omninft.reward_servers.models.tag2text.model import (
    BANNED_TAGS,
    PROMPT,
    Tag2TextCaption,
    Tag2TextConfig,
    build,
    selected_tags,
    tag_names,
    tag_string,
)

# The checkpoint and the BERT vocabulary of its tokenizer (the 3,429 tag names are package data).
WEIGHTS = (OFFICIAL_WEIGHTS, OFFICIAL_TOKENIZER)

__all__ = [
    "WEIGHTS",
    "BANNED_TAGS",
    "CHECKPOINT_NOTES",
    "FAMILY",
    "OFFICIAL_TOKENIZER",
    "OFFICIAL_WEIGHTS",
    "PROMPT",
    "PROTOCOLS",
    "CaptionResult",
    "GenerationConfig",
    "LoadReport",
    "Tag2TextCaption",
    "Tag2TextConfig",
    "Tag2TextTokenizer",
    "beam_search",
    "build",
    "caption_source_rows",
    "generate",
    "load",
    "load_state_dict",
    "read_checkpoint",
    "selected_tags",
    "tag2text_frames",
    "tag_names",
    "tag_string",
    "tokenizer",
]
