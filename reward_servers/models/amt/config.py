"""AMT configuration: AMT-S (VBench motion_smoothness) and a tiny config of the same graph; official facts."""

from __future__ import annotations

from dataclasses import dataclass

from omninft.reward_servers.weights import WeightSpec

# AMT-S as VBench downloads it (vbench/utils.py init_submodules). The file is a training checkpoint whose
# weights sit under ckpt['state_dict'] (vbench/motion_smoothness.py). No digest is published, so the sha256 is
# recorded at fetch time, not pinned.
OFFICIAL_WEIGHTS = WeightSpec(
    "amt", "https://huggingface.co/lalala125/AMT/resolve/main/amt-s.pth", family="amt"
)
OFFICIAL_FILE = "amt-s.pth"
OFFICIAL_ENTRY = "state_dict"
OFFICIAL_PARAMS = (
    2_990_543  # counted on the reference class (VBench third_party/amt networks/AMT-S.py); paper: 2.99M
)
OFFICIAL_KEYS = 213  # state_dict entries


@dataclass(frozen=True)
class AMTConfig:
    """Widths of AMT-S (networks/AMT-S.py with cfgs/AMT-S.yaml); the topology is fixed."""

    corr_radius: int = 3
    corr_levels: int = 4
    num_flows: int = 3
    channels: tuple[int, int, int, int] = (20, 32, 44, 56)  # context pyramid at 1/2, 1/4, 1/8, 1/16
    skip_channels: int = 20  # side channels of the decoders' residual blocks
    feat_stem: int = 32  # correlation feature encoder (SmallEncoder, instance norm)
    feat_stages: tuple[int, int, int] = (32, 64, 96)
    feat_dim: int = 84
    update_hidden: int = 76
    update_flow_dim: int = 20
    update_corr_dim: int = 64
    update_fc_dim: int = 68

    @staticmethod
    def official() -> AMTConfig:
        """AMT-S (2,990,543 parameters)."""
        return AMTConfig()

    @staticmethod
    def tiny() -> AMTConfig:
        """The same graph with small widths and radius 2 (for tests and the offline demo)."""
        return AMTConfig(
            corr_radius=2,
            corr_levels=4,
            num_flows=3,
            channels=(8, 12, 16, 20),
            skip_channels=4,
            feat_stem=8,
            feat_stages=(8, 12, 16),
            feat_dim=12,
            update_hidden=12,
            update_flow_dim=4,
            update_corr_dim=8,
            update_fc_dim=8,
        )

    @property
    def corr_planes(self) -> int:
        """Channels of one direction's correlation lookup: levels * (2r+1)^2."""
        return self.corr_levels * (2 * self.corr_radius + 1) ** 2
