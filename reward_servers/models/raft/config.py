"""RAFT configuration: the widths of raft-things (RAFT "basic", not "small") and a tiny config of the same graph."""

from __future__ import annotations

from dataclasses import dataclass

from omninft.reward_servers.weights import WeightSpec

# raft-things.pth ships inside the RAFT authors' models.zip (with raft-chairs/kitti/sintel/small); VBench
# unzips it to ~/.cache/vbench/raft_model/models/. Its keys carry DataParallel's "module." prefix, which the
# loader strips (vbench/dynamic_degree.py). No digest is published, so the sha256 is recorded at fetch time.
OFFICIAL_WEIGHTS = WeightSpec(
    "raft",
    "https://dl.dropboxusercontent.com/s/4j4z58wuv8o0mfz/models.zip",
    files=("raft-things.pth",),
    family="raft",
)
OFFICIAL_MEMBER = "models/raft-things.pth"  # its path inside models.zip
OFFICIAL_KEY_PREFIX = "module."
OFFICIAL_PARAMS = 5_257_536  # counted on the reference class (VBench third_party/RAFT, small=False)
OFFICIAL_KEYS = (
    179  # state_dict entries (BatchNorm buffers included; norm3 appears twice, as in the reference)
)


@dataclass(frozen=True)
class RAFTConfig:
    """Widths of RAFT "basic"; the topology (3 stride-2 stages, SepConvGRU, convex 8x upsampling) is fixed."""

    stem: int = 64  # conv1 of both encoders
    stages: tuple[int, int, int] = (64, 96, 128)  # layer1..layer3 widths (strides 1, 2, 2)
    feature_dim: int = 256  # fnet output (instance norm)
    hidden_dim: int = 128  # GRU state (first part of cnet's output, tanh)
    context_dim: int = 128  # GRU context (second part, relu)
    corr_levels: int = 4
    corr_radius: int = 4
    corr_hidden: tuple[int, int] = (256, 192)  # motion encoder convc1, convc2
    flow_hidden: tuple[int, int] = (128, 64)  # motion encoder convf1, convf2
    motion_dim: int = 128  # motion features incl. the 2 flow channels
    head_hidden: int = 256  # flow head and mask head hidden width
    iters: int = 20  # VBench runs 20 refinement iterations in test mode

    @staticmethod
    def official() -> RAFTConfig:
        """raft-things (5,257,536 parameters)."""
        return RAFTConfig()

    @staticmethod
    def tiny() -> RAFTConfig:
        """The same graph with small widths, radius 2 and 3 iterations (for tests and the offline demo)."""
        return RAFTConfig(
            stem=8,
            stages=(8, 12, 16),
            feature_dim=16,
            hidden_dim=8,
            context_dim=8,
            corr_levels=4,
            corr_radius=2,
            corr_hidden=(16, 12),
            flow_hidden=(8, 8),
            motion_dim=16,
            head_hidden=16,
            iters=3,
        )

    @property
    def corr_planes(self) -> int:
        """Channels of one correlation lookup: levels * (2r+1)^2."""
        return self.corr_levels * (2 * self.corr_radius + 1) ** 2
