"""OpenAI CLIP files (TorchScript or state dict) in the CLIP family, ViT-L/14, the LAION aesthetic head, fp16."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from omninft.reward_servers.functional.vbench_quality import aesthetic_video_score
from omninft.reward_servers.models import clip
from omninft.reward_servers.models._hf import WeightsLoadError
from omninft.reward_servers.models.clip import aesthetic
from omninft.reward_servers.models.clip import openai as oa

# sha256 over sorted "key:shape" lines of openai/CLIP@d05afc4 clip/model.py CLIP(...).state_dict() for the
# published ViT-B/32 and ViT-L/14 shapes (computed once by running the reference code outside the project).
OPENAI_MANIFEST = {
    "ViT-B/32": "4886b726da1e19b571e5fff998765ccb5517016406d014fd68e65c22cf3a1bce",
    "ViT-L/14": "6481381caf09b5f5de134ff0f395fffe50c01e466a5ad562b2edecf18cb09d19",
}
PARAMS = {"ViT-B/32": (151_277_313, 87_849_216), "ViT-L/14": (427_616_513, 303_966_208)}  # total, vision
# encode_image(x)[:, :6] of the reference CLIP(16, 64, 2, 64, 32, 77, 100, 64, 1, 2) with _seeded(…, 0)
# weights on torch.randn(2, 3, 64, 64, generator=Generator(1)).
REFERENCE_IMAGE = [
    -0.033194,
    -0.481049,
    -0.065137,
    -0.423807,
    -0.083087,
    -0.070023,
    -0.014889,
    -0.46725,
    -0.043787,
    -0.434369,
    -0.086803,
    -0.06769,
]
_LN = ("ln_1.weight", "ln_2.weight", "ln_pre.weight", "ln_post.weight", "ln_final.weight")


def _manifest(sd: dict) -> str:
    return hashlib.sha256(
        "".join(f"{k}:{tuple(v.shape)}\n" for k, v in sorted(sd.items())).encode()
    ).hexdigest()


def _seeded_openai(shapes: dict, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k in sorted(shapes):
        v = torch.randn(shapes[k], generator=g) * 0.05
        out[k] = v + 1 if k.endswith(_LN) else v
    return out


def _small_openai_state_dict() -> dict:
    """OpenAI-layout weights of the reference's small test model (vocab 100), via the inverse mapping."""
    from transformers import CLIPModel

    cfg = oa.clip_config(16, 64, 64, 2, 32, 77, 100, 64, 2)
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in oa.hf_to_openai(CLIPModel(cfg).state_dict()).items()}
    return _seeded_openai(shapes, 0)


def _jit_archive(sd: dict, path: Path) -> None:
    """Save `sd` as a TorchScript archive with OpenAI's bookkeeping entries, like the published files."""

    class Holder(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + 0

    root = Holder()
    for key, value in {
        **sd,
        "input_resolution": torch.tensor(64),
        "context_length": torch.tensor(77),
        "vocab_size": torch.tensor(100),
    }.items():
        *parents, leaf = key.split(".")
        mod = root
        for name in parents:
            if not hasattr(mod, name):
                mod.add_module(name, nn.Module())
            mod = getattr(mod, name)
        mod.register_buffer(leaf, value.clone())
    torch.jit.trace(root, torch.zeros(1)).save(str(path))


@pytest.mark.parametrize("arch", ["ViT-B/32", "ViT-L/14"])
def test_openai_layout_and_counts(arch):
    from transformers import CLIPModel

    with torch.device("meta"):
        model = CLIPModel(oa.openai_config(arch))
    sd = model.state_dict()
    assert sum(p.numel() for p in model.parameters()) == PARAMS[arch][0]
    assert (
        sum(p.numel() for p in model.vision_model.parameters()) + model.visual_projection.weight.numel()
        == PARAMS[arch][1]
    )
    openai_sd = oa.hf_to_openai(sd)
    assert _manifest(openai_sd) == OPENAI_MANIFEST[arch]
    assert {k: tuple(v.shape) for k, v in oa.openai_to_hf(openai_sd).items()} == {
        k: tuple(v.shape) for k, v in sd.items()
    }


def test_openai_weights_match_reference_image_embeddings(tmp_path: Path):
    sd = _small_openai_state_dict()
    path = tmp_path / "ViT-S.pt"
    _jit_archive(sd, path)
    model, ident = clip.load_openai(str(path))
    assert not ident.tiny and ident.weights_id == f"local:{path.resolve()}"
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = clip.ClipImageCore(model)(x)
    np.testing.assert_allclose(y[:, :6].flatten().numpy(), REFERENCE_IMAGE, rtol=0, atol=3e-6)
    # the plain state-dict form loads to the same model
    torch.save(sd, tmp_path / "plain.pt")
    plain, _ = clip.load_openai(str(tmp_path / "plain.pt"))
    for k, v in model.state_dict().items():
        assert torch.equal(v, plain.state_dict()[k]), k


def test_openai_text_pooling_at_argmax_token():
    sd = _small_openai_state_dict()
    model = oa.load_openai_state_dict(sd)
    ids = torch.tensor([[98, 5, 7, 99, 0, 0], [98, 12, 99, 0, 0, 0]])  # 99 = the largest id, OpenAI's EOT
    with torch.no_grad():
        out = model.text_model(input_ids=ids)
    torch.testing.assert_close(out.pooler_output[0], out.last_hidden_state[0, 3])
    torch.testing.assert_close(out.pooler_output[1], out.last_hidden_state[1, 2])


def test_openai_strictness(tmp_path: Path):
    sd = _small_openai_state_dict()
    extra = {**sd, "visual.attnpool.k_proj.weight": torch.zeros(2, 2)}
    with pytest.raises(WeightsLoadError, match="no CLIPModel counterpart"):
        oa.load_openai_state_dict(extra)
    missing = dict(sd)
    del missing["visual.transformer.resblocks.1.mlp.c_fc.bias"]
    with pytest.raises(WeightsLoadError, match="missing"):
        oa.load_openai_state_dict(missing)
    with pytest.raises(WeightsLoadError, match="visual.proj"):
        oa.load_openai_state_dict({k: v for k, v in sd.items() if k != "visual.proj"})


def test_openai_tiny_random_official_specs(tmp_path: Path):
    model, ident = clip.load_openai("tiny", seed=1)
    assert ident.tiny and model.config.projection_dim == aesthetic.TINY_EMBED_DIM
    assert clip.load_openai("tiny", seed=1)[1].sha256 == ident.sha256
    assert clip.OPENAI_WEIGHTS["ViT-B/32"].sha256 == {
        "ViT-B-32.pt": "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af"
    }
    assert clip.HF_IDS["ViT-L/14"] == "openai/clip-vit-large-patch14"
    with pytest.raises(FileNotFoundError, match="not available offline"):
        clip.load_openai("official", arch="ViT-L/14", cache_dir=tmp_path)
    with pytest.raises(ValueError):
        clip.openai_config("RN50")


def test_aesthetic_head_loading(tmp_path: Path):
    head, ident = aesthetic.load("tiny", seed=0)
    assert ident.tiny and head.in_features == aesthetic.TINY_EMBED_DIM
    path = tmp_path / "sa_0_4_vit_l_14_linear.pth"
    torch.save({"weight": torch.randn(1, 768), "bias": torch.randn(1)}, path)
    full, fid = aesthetic.load(str(path))
    assert full.in_features == 768 and not fid.tiny
    torch.save({"weight": torch.randn(1, 768)}, tmp_path / "bad.pth")
    with pytest.raises(WeightsLoadError, match="missing"):
        aesthetic.load(str(tmp_path / "bad.pth"))
    assert aesthetic.OFFICIAL_WEIGHTS.source.startswith("https://raw.githubusercontent.com/LAION-AI/")


def test_aesthetic_core_matches_hand_chain_and_is_batch_invariant():
    model, _ = clip.load_openai("tiny", seed=0)
    head, _ = aesthetic.load("tiny", seed=0)
    core = clip.AestheticCore(model, head).eval()
    x = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        got = core(x)
        emb = model.get_image_features(pixel_values=x)
        emb = emb if isinstance(emb, torch.Tensor) else emb.pooler_output
        ref = head(emb / emb.norm(dim=-1, keepdim=True)).squeeze(-1)
        single = torch.cat([core(x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-5)
    torch.testing.assert_close(got, single, rtol=0, atol=1e-6)
    assert aesthetic_video_score(got) == pytest.approx(float(got.mean()) / 10, abs=1e-6)


def test_fp16_precision_protocol():
    model, _ = clip.load_openai("tiny", seed=0)
    head, _ = aesthetic.load("tiny", seed=0)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ref = clip.AestheticCore(model, head)(x)
        half = clip.AestheticCore(clip.set_precision(model, "fp16"), head)(x)
    assert next(model.parameters()).dtype == torch.float16 and half.dtype == torch.float32
    assert not torch.equal(half, ref)  # fp16 really runs in fp16
    torch.testing.assert_close(half, ref, rtol=0, atol=2e-2)
    with pytest.raises(ValueError):
        clip.set_precision(model, "bf16")
