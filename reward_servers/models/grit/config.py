"""GRiT configuration: the official GRiT-B DenseCap+ObjectDet network and a tiny one of the same architecture.

Values come from GRiT's `configs/Base.yaml`, `configs/GRiT_B_DenseCap_ObjectDet.yaml`, `grit/config.py`,
`build_vit_fpn_backbone` and CenterNet2's/detectron2's defaults, with VBench's overrides
(`image_dense_captions.py: setup_cfg/get_parser`: score threshold 0.5, beam 1, soft-NMS off).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from omninft.reward_servers.weights import WeightSpec

FAMILY = "grit"
TOKENIZER_FAMILY = "grit_tokenizer"

# Official files (declared as the family's WEIGHTS in __init__.py; `fetch-weights --family grit`).
# The original Azure blob (datarelease.blob.core.windows.net/grit/models/...) answers 409; VBench
# re-hosts the same file on Hugging Face (VBench commit e2cacab, issue #108). The file is a detectron2
# checkpoint: {"model": state dict, ...}; no digest is published, so the sha256 is recorded at fetch time.
# The decoder's WordPiece vocabulary is bert-base-uncased's vocab.txt (GRiT calls BertTokenizer.from_pretrained).
# Pinned to a hub revision so every fetch gets the same bytes (the reference reads the main branch).
BERT_VOCAB_URL = (
    "https://huggingface.co/google-bert/bert-base-uncased/resolve/"
    "86b5e0934494bd15c9632b12f734a8a67f723594/vocab.txt"
)
OFFICIAL_WEIGHTS: dict[str, WeightSpec] = {
    FAMILY: WeightSpec(
        FAMILY,
        "https://huggingface.co/OpenGVLab/VBench_Used_Models/resolve/main/grit_b_densecap_objectdet.pth",
        family="grit",
    ),
    TOKENIZER_FAMILY: WeightSpec(TOKENIZER_FAMILY, BERT_VOCAB_URL, family="grit"),
}
OFFICIAL_FILENAME = "grit_b_densecap_objectdet.pth"

PIXEL_MEAN = (123.675, 116.28, 103.53)  # RGB, Base.yaml
PIXEL_STD = (58.395, 57.12, 57.375)
# detectron2's _C.MODEL.ROI_BOX_CASCADE_HEAD.BBOX_REG_WEIGHTS (one per cascade stage).
CASCADE_BOX_WEIGHTS: tuple[tuple[float, float, float, float], ...] = (
    (10.0, 10.0, 5.0, 5.0),
    (20.0, 20.0, 10.0, 10.0),
    (30.0, 30.0, 15.0, 15.0),
)
TASKS = ("ObjectDet", "DenseCap")


@dataclass(frozen=True)
class GRiTConfig:
    """Sizes of a GRiT network; inference constants default to the official (VBench) settings."""

    # ViT backbone (ViTDet style)
    patch_size: int = 16
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    window_size: int = 14
    global_blocks: tuple[int, ...] = (2, 5, 8, 11)
    img_size: int = 1024  # sizes the global blocks' relative-position tables: 2 * img_size / patch - 1
    pretrain_img_size: int = 224  # absolute position table (with a class-token slot) of the MAE weights
    # simple feature pyramid + CenterNet proposals
    fpn_channels: int = 256
    centernet_convs: int = 4
    proposal_score_thresh: float = 0.0001
    pre_nms_topk: int = 1000
    post_nms_topk: int = 256
    proposal_nms_thresh: float = 0.9
    # cascade ROI heads
    box_fc_dim: int = 1024
    box_pooler_resolution: int = 7
    object_pooler_resolution: int = 14
    pooler_sampling_ratio: int = 0
    mask_conv_dim: int = 256
    mask_num_convs: int = 4
    score_thresh: float = 0.5
    nms_thresh: float = 0.5
    detections_per_image: int = 256
    # text decoder (BERT-base sized, 6 layers)
    vocab_size: int = 30522
    text_hidden: int = 768
    text_layers: int = 6
    text_heads: int = 12
    text_ffn: int = 3072
    max_positions: int = 1024
    max_steps: int = 40
    cls_token_id: int = 101  # [CLS]: begin token of the first training task (ObjectDet)
    sep_token_id: int = 102  # [SEP]: end token
    densecap_begin_id: int = 104  # 103 + index of DenseCap in TRAIN_TASK

    @property
    def depth_windows(self) -> tuple[int, ...]:
        """Indexes of the windowed-attention blocks."""
        return tuple(i for i in range(self.depth) if i not in self.global_blocks)

    @staticmethod
    def official() -> GRiTConfig:
        """GRiT-B DenseCap+ObjectDet as VBench runs it."""
        return GRiTConfig()

    @staticmethod
    def tiny(vocab_size: int = 128) -> GRiTConfig:
        """Same architecture, every width and depth shrunk (windowed and global blocks both present).

        Token ids follow the tiny WordPiece vocabulary of `tokenizer.build_tiny_vocab`. Inference caps are smaller
        too (16 detections, 16 text steps): random weights keep ~every proposal and never stop a sentence, and
        describing 64 detections x 40 tokens twice made ~95 % of a tiny frame's time in tests.
        """
        return replace(
            GRiTConfig(),
            embed_dim=32,
            depth=3,
            num_heads=2,
            window_size=4,
            global_blocks=(2,),
            img_size=256,
            pretrain_img_size=64,
            fpn_channels=64,
            centernet_convs=2,
            box_fc_dim=64,
            mask_conv_dim=16,
            mask_num_convs=2,
            vocab_size=vocab_size,
            text_hidden=32,
            text_layers=2,
            text_heads=2,
            text_ffn=64,
            max_positions=48,
            pre_nms_topk=200,
            post_nms_topk=64,
            detections_per_image=16,
            max_steps=16,
            cls_token_id=2,
            sep_token_id=3,
            densecap_begin_id=5,
        )
