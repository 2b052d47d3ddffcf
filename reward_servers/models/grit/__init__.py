"""GRiT-B (DenseCap + ObjectDet) for VBench's object_class, multiple_objects, spatial_relationship and color.

Re-implemented without detectron2 and torchvision: ViTDet-style backbone and pyramid (`backbone`),
CenterNet2 proposals (`proposals`), cascade ROI heads (`roi_heads`), BERT text decoder with greedy search
(`text_decoder`), WordPiece decoding (`tokenizer`); detection primitives live in
`functional.detection_ops`.
"""

from omninft.reward_servers.models.grit.config import (
    FAMILY,
    OFFICIAL_FILENAME,
    OFFICIAL_WEIGHTS,
    TOKENIZER_FAMILY,
    GRiTConfig,
)
from omninft.reward_servers.models.grit.model import (
    GRiT,
    GRiTDetections,
    build,
    check_task,
    detect_frames,
    identify,
    load,
    load_decoder,
    load_official,
)
from omninft.reward_servers.models.grit.tokenizer import WordPieceDecoder, build_tiny_vocab

# The detector checkpoint and the decoder's BERT vocabulary.
WEIGHTS = tuple(OFFICIAL_WEIGHTS.values())

__all__ = [
    "WEIGHTS",
    "FAMILY",
    "OFFICIAL_FILENAME",
    "OFFICIAL_WEIGHTS",
    "TOKENIZER_FAMILY",
    "GRiT",
    "GRiTConfig",
    "GRiTDetections",
    "WordPieceDecoder",
    "build",
    "build_tiny_vocab",
    "check_task",
    "detect_frames",
    "identify",
    "load",
    "load_decoder",
    "load_official",
]
