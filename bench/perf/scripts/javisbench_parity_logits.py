"""JavisBench parity at the logits level: Synchformer offset logits and VideoAlign (VideoReward) heads.

Stages of ``javisbench_parity.py`` kept here so the driver's own lines stay untouched (the driver forwards
these stage names to ``main`` below). Same ``--out`` folder layout as the driver (``gen/``, ``weights/``).

- ``desync-logits-ours --out DIR --limit 2``: our desync scorer on the first clips with the ``sync-weights``
  checkpoint; writes ``desync-logits-ours.pt`` ({clip name: (windows, 21) float32 logits}).
- ``desync-logits-reference --out DIR --limit 2`` (reference venv, ``$REF``): the reference's own
  ``calc_desync_score`` with a forward hook on its ``GlobalTransformer`` (registered from here; the reference
  source is untouched) recording the per-window offset logits; writes ``desync-logits-reference.pt``.
- ``desync-logits-table --out DIR``: max abs / rel difference per clip, argmax agreement.
- ``videoalign-weights --out DIR``: a small Qwen2-VL VideoReward (random init, seeded) saved in the layout the
  reference's ``VideoVLMRewardInference`` loads: ``videoalign/`` = base model (``config.json`` + safetensors,
  ``save_pretrained`` of a plain Qwen2-VL), tokenizer and processor files, ``model_config.json`` naming that
  folder as ``model_name_or_path``, and ``checkpoint-1/model.pth`` (the full reward-model state dict,
  reward tokens added, ``rm_head`` included). Our scorer reads the same folder with ``weights: PATH``.
- ``videoalign-ours --out DIR [--dtype bfloat16|float32]``: our scorer (protocol javisbench-v1, or -fp32).
- ``videoalign-reference --out DIR [--dtype ...] [--bs N]`` (reference venv): the reference's
  ``calc_video_quality_score`` (its dataloader, collate, model and post-process).
- ``videoalign-table --out DIR``: per-sample and mean VQ / MQ rows.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

STAGES = (
    "sync-weights-small",
    "desync-logits-ours",
    "desync-logits-reference",
    "desync-logits-table",
    "videoalign-weights",
    "videoalign-ours",
    "videoalign-reference",
    "videoalign-table",
)
MAX_AUDIO_LEN_S = 4.0


def _clips(out: Path, limit: int) -> list[Path]:
    return sorted((out / "gen").glob("sample_*.mp4"))[:limit]


# ------------------------------------------------------------------------------------------ desync logits


def _small_config(depth: int) -> Any:
    """The official Synchformer with `depth` blocks in each of its three transformer stacks (widths kept)."""
    from dataclasses import replace

    from omninft.reward_servers.models.synchformer.config import SynchformerConfig

    return replace(SynchformerConfig.official(), video_depth=depth, audio_depth=depth, sync_depth=depth)


def sync_weights_small(out: Path, depth: int, seed: int) -> Path:
    """A shallower Synchformer (official widths, `depth` blocks per stack), offset head calibrated as the
    full-size ``sync-weights`` stage does, saved as a plain state dict in the official key layout."""
    import torch

    from omninft.reward_servers.models.synchformer.calibrate import calibrate_random
    from omninft.reward_servers.models.synchformer.model import build

    model = calibrate_random(build(_small_config(depth), seed=seed))
    path = out / "weights" / f"synchformer_depth{depth}.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    print("wrote", path)
    return path


def _small_desync_scorer(out: Path, depth: int) -> Any:
    """Our DesyncScorer over the depth-`depth` checkpoint (loaded strictly; the registry's build reads only the
    official sizes)."""
    import torch

    from omninft.reward_servers.models.synchformer.model import build as build_model
    from omninft.reward_servers.models.synchformer.model import load_state_dict_strict
    from omninft.reward_servers.scorers._common import backend_for
    from omninft.reward_servers.scorers.base import ScorerConfig, WeightsInfo
    from omninft.reward_servers.scorers.desync import DesyncScorer, make_graphs

    path = out / "weights" / f"synchformer_depth{depth}.pth"
    model = build_model(_small_config(depth), seed=None)
    load_state_dict_strict(model, torch.load(path, map_location="cpu", weights_only=True), str(path))
    cfg = ScorerConfig(weights=str(path), max_batch_size=8)
    winfo = WeightsInfo(f"local:{path.name}", "", False)
    backend = backend_for("synchformer", cfg, make_graphs(model.eval()), winfo.sha256, max_batch_size=32)
    return DesyncScorer("desync", cfg, backend=backend, weights=winfo, model_cfg=model.cfg)


def desync_logits_ours(out: Path, limit: int, depth: int = 0) -> None:
    """Per-window offset logits of our desync scorer (javisbench-v1, 4 s) on the first `limit` clips."""
    import numpy as np
    import torch

    from omninft.reward_servers.media import DecodedSample, decode_audio, decode_video
    from omninft.reward_servers.scorers.base import ScorerConfig
    from omninft.reward_servers.scorers.desync import build

    if depth:
        scorer = _small_desync_scorer(out, depth)
    else:
        cfg = ScorerConfig(weights=str(out / "weights" / "synchformer_state_dict.pth"), max_batch_size=8)
        scorer = build("desync", cfg)
    result: dict[str, Any] = {}
    for mp4 in _clips(out, limit):
        video = decode_video(str(mp4), max_frames=100_000, max_pixels=1 << 30)
        audio = decode_audio(str(mp4.with_suffix(".wav")), max_seconds=3600.0)
        item = scorer.preprocess(DecodedSample(id=mp4.stem, video=video, audio=audio))
        with torch.no_grad():
            (logits,) = scorer.forward([item])
        result[mp4.stem] = torch.from_numpy(np.asarray(logits, dtype=np.float32))
        print(mp4.stem, result[mp4.stem].shape, scorer.postprocess(logits).scores, flush=True)
    torch.save(result, out / "desync-logits-ours.pt")


def _shallow_reference(depth: int) -> None:
    """Make the reference's own Synchformer classes build `depth` blocks per stack (run-time only): its
    MotionFormer reads VIT.DEPTH from its yaml, its AST takes ASTConfig().num_hidden_layers, and Synchformer
    passes n_layer=3 to GlobalTransformer."""
    mf: Any = sys.modules["refsrc.synchformer.motionformer"]
    ast: Any = sys.modules["refsrc.synchformer.ast"]
    sfm: Any = sys.modules["refsrc.synchformer.synchformer"]
    omegaconf = mf.OmegaConf

    class _OmegaConf:
        def __getattr__(self, name: str) -> Any:
            return getattr(omegaconf, name)

        @staticmethod
        def load(path: Any) -> Any:
            cfg = omegaconf.load(path)
            cfg.VIT.DEPTH = depth
            return cfg

    mf.OmegaConf = _OmegaConf()
    ast_config = ast.ASTConfig

    class _ASTConfig(ast_config):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.num_hidden_layers = depth

    ast.ASTConfig = _ASTConfig
    global_transformer = sfm.GlobalTransformer

    class _GlobalTransformer(global_transformer):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["n_layer"] = depth
            super().__init__(*args, **kwargs)

    sfm.GlobalTransformer = _GlobalTransformer


def desync_logits_reference(out: Path, src: Path, limit: int, depth: int = 0) -> None:
    """The reference's calc_desync_score with a forward hook on its GlobalTransformer recording the logits."""
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from javisbench_parity import MAX_AUDIO_LEN_S as MAX_LEN  # type: ignore[import-not-found]  # script dir
    from javisbench_parity import _reference_metrics  # type: ignore[import-not-found]

    metrics = _reference_metrics(src)
    transformer_cls = sys.modules["refsrc.synchformer.transformer"].GlobalTransformer
    ckpt = out / "weights" / "synchformer_state_dict.pth"
    if depth:
        _shallow_reference(depth)
        ckpt = out / "weights" / f"synchformer_depth{depth}.pth"
    recorded: list[torch.Tensor] = []

    def hook(module: Any, args: Any, output: Any) -> None:
        if isinstance(module, transformer_cls):
            recorded.append((output[0] if isinstance(output, tuple) else output).detach().float().clone())

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    mp4s = _clips(out, limit)
    try:
        with torch.no_grad():
            scores = metrics.calc_desync_score(
                [str(m) for m in mp4s],
                [str(m.with_suffix(".wav")) for m in mp4s],
                max_length_s=MAX_LEN,
                device="cpu",
                syncformer_ckpt_path=str(ckpt),
            )
    finally:
        handle.remove()
    # one (B, 21) call per 14-segment window, B = the clips of the (single) batch: window-major -> per clip
    stacked = torch.stack(recorded, dim=1)  # (B, windows, 21)
    result = {m.stem: stacked[i] for i, m in enumerate(mp4s)}
    torch.save(result, out / "desync-logits-reference.pt")
    print({k: v.shape for k, v in result.items()}, [float(s) for s in scores])


def desync_logits_table(out: Path) -> str:
    """Max abs / rel logits difference per clip and over all, argmax agreement."""
    import torch

    ours = torch.load(out / "desync-logits-ours.pt")
    ref = torch.load(out / "desync-logits-reference.pt")
    rows = [
        "| clip | windows x classes | max abs diff | max rel diff | logits range (ref) | argmax equal |",
        "|---|---|---|---|---|---|",
    ]
    worst_abs = worst_rel = 0.0
    for name in sorted(ref):
        r, o = ref[name].double(), ours[name].double()
        diff = (r - o).abs()
        rel = float((diff / r.abs().clamp_min(1e-12)).max())
        worst_abs, worst_rel = max(worst_abs, float(diff.max())), max(worst_rel, rel)
        same = bool((r.argmax(-1) == o.argmax(-1)).all())
        rows.append(
            f"| {name} | {tuple(r.shape)} | {float(diff.max()):.3g} | {rel:.3g} | "
            f"{float(r.min()):.4g} .. {float(r.max()):.4g} | {same} |"
        )
    rows.append(f"| all | | {worst_abs:.3g} | {worst_rel:.3g} | | |")
    text = "\n".join(rows)
    print(text)
    return text


# ------------------------------------------------------------------------------------------ VideoAlign

# A small Qwen2-VL at the official patch geometry (14-pixel patches, 2x2 merge, temporal patch 2), so the
# reference's fetch_video (which always resizes to multiples of 28) and its processor agree without a second
# resize; the widths are small enough for this CPU.
VA_SMALL: dict[str, Any] = {
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_layers": 2,
    "num_heads": 4,
    "num_kv_heads": 2,
    "mrope_section": (4, 6, 6),
    "vision_depth": 2,
    "vision_embed_dim": 64,
    "vision_heads": 2,
    "vision_mlp_ratio": 2,
    "patch_size": 14,
}
VA_MAX_PIXELS = 200704  # the official data_config max_frame_pixels (448 x 448)
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
# Qwen2-VL's chat format for a system prompt, one user turn of [image|video, text] items and the generation
# prompt; written here (not copied) to render exactly what our scorer's chat_text renders.
QWEN2VL_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif item['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _hf449_config(sizes: dict[str, Any], vocab: int, ids: dict[str, int]) -> dict[str, Any]:
    """config.json of a Qwen2VLForConditionalGeneration in the transformers 4.4x layout (what 4.49 reads)."""
    from omninft.reward_servers.models import _qwen2vl_reward as q

    return {
        "architectures": ["Qwen2VLForConditionalGeneration"],
        "model_type": "qwen2_vl",
        "vocab_size": vocab,
        "hidden_size": sizes["hidden_size"],
        "intermediate_size": sizes["intermediate_size"],
        "num_hidden_layers": sizes["num_layers"],
        "num_attention_heads": sizes["num_heads"],
        "num_key_value_heads": sizes["num_kv_heads"],
        "hidden_act": "silu",
        "max_position_embeddings": 32768,
        "max_window_layers": sizes["num_layers"],
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "rope_scaling": {"type": "mrope", "mrope_section": list(sizes["mrope_section"])},
        "attention_dropout": 0.0,
        "use_sliding_window": False,
        "sliding_window": 32768,
        "tie_word_embeddings": True,
        "use_cache": True,
        "torch_dtype": "float32",
        "bos_token_id": ids[q.ENDOFTEXT],
        "eos_token_id": ids[q.IM_END],
        "vision_start_token_id": ids[q.VISION_START],
        "vision_end_token_id": ids[q.VISION_END],
        "vision_token_id": ids["<|vision_pad|>"],
        "image_token_id": ids[q.IMAGE_PAD],
        "video_token_id": ids[q.VIDEO_PAD],
        "vision_config": {
            "depth": sizes["vision_depth"],
            "embed_dim": sizes["vision_embed_dim"],
            "hidden_size": sizes["hidden_size"],
            "hidden_act": "quick_gelu",
            "mlp_ratio": sizes["vision_mlp_ratio"],
            "num_heads": sizes["vision_heads"],
            "in_channels": 3,
            "patch_size": sizes["patch_size"],
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
    }


def videoalign_weights(out: Path, seed: int) -> Path:
    """A small random VideoReward in the folder layout the reference's VideoVLMRewardInference loads."""
    import torch
    from safetensors.torch import save_file

    from omninft.reward_servers.models import _qwen2vl_reward as q
    from omninft.reward_servers.models.videoalign import model as va
    from omninft.reward_servers.models.videoalign.prompt import VIDEOALIGN_DETAILED_SPECIAL

    folder = out / "weights" / "videoalign"
    folder.mkdir(parents=True, exist_ok=True)
    # base tokenizer: Qwen2-VL's special tokens, no reward tokens (both loaders append those themselves)
    base_tok = q.tiny_qwen2_tokenizer((), corpus=VIDEOALIGN_DETAILED_SPECIAL)
    base_tok.backend_tokenizer.save(str(folder / "tokenizer.json"))
    special = {
        str(i): {
            "content": t,
            "special": True,
            "normalized": False,
            "lstrip": False,
            "rstrip": False,
            "single_word": False,
        }
        for t in q.QWEN2VL_SPECIAL_TOKENS
        for i in [base_tok.convert_tokens_to_ids(t)]
    }
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "Qwen2Tokenizer",
                "added_tokens_decoder": special,
                "additional_special_tokens": [
                    t for t in q.QWEN2VL_SPECIAL_TOKENS if t not in (q.ENDOFTEXT, q.IM_END)
                ],
                "bos_token": None,
                "eos_token": q.IM_END,
                "pad_token": q.ENDOFTEXT,
                "unk_token": None,
                "errors": "replace",
                "model_max_length": 32768,
                "split_special_tokens": False,
                "clean_up_tokenization_spaces": False,
                "padding_side": "left",
                "chat_template": QWEN2VL_CHAT_TEMPLATE,
            },
            indent=1,
        )
    )
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": QWEN2VL_CHAT_TEMPLATE}, indent=1))
    (folder / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "image_processor_type": "Qwen2VLImageProcessor",
                "processor_class": "Qwen2VLProcessor",
                "do_resize": True,
                "do_rescale": True,
                "do_normalize": True,
                "do_convert_rgb": True,
                "rescale_factor": 1 / 255,
                "resample": 3,
                "image_mean": CLIP_MEAN,
                "image_std": CLIP_STD,
                "min_pixels": 56 * 56,
                "max_pixels": 28 * 28 * 16384,
                "patch_size": 14,
                "temporal_patch_size": 2,
                "merge_size": 2,
            },
            indent=1,
        )
    )
    # the reward model: base vocabulary + the three reward tokens (as the reference's resize_token_embeddings)
    tok = q.tiny_qwen2_tokenizer((), corpus=VIDEOALIGN_DETAILED_SPECIAL)
    q.add_reward_tokens(tok, va.REWARD_TOKENS)
    named, _ = va._token_ids(tok)
    arch = va.VideoAlignConfig(**{**VA_SMALL, "vocab_size": len(tok)})
    model = q.build_model(arch.hf_config(named), lambda: va.reward_head(arch), seed, dtype=torch.float32)
    sd = q.to_official_state_dict(model)
    ids = q.token_ids_of(base_tok, list(q.QWEN2VL_SPECIAL_TOKENS))
    (folder / "config.json").write_text(json.dumps(_hf449_config(VA_SMALL, len(base_tok), ids), indent=1))
    base = {
        k: v[: len(base_tok)].clone() if k == "model.embed_tokens.weight" else v.clone()
        for k, v in sd.items()
        if not k.startswith(("rm_head.", "lm_head."))
    }
    save_file(base, str(folder / "model.safetensors"), metadata={"format": "pt"})
    ckpt = folder / "checkpoint-1"
    ckpt.mkdir(exist_ok=True)
    torch.save({k: v.contiguous() for k, v in sd.items()}, ckpt / "model.pth")
    (folder / "model_config.json").write_text(
        json.dumps(
            {
                "data_config": {
                    "meta_data": "",
                    "data_dir": "",
                    "max_frame_pixels": VA_MAX_PIXELS,
                    "num_frames": None,
                    "fps": 2.0,
                    "eval_dim": list(va.EVAL_DIMS),
                    "prompt_template_type": "detailed_special",
                    "sample_type": "uniform",
                },
                "model_config": {
                    "model_name_or_path": str(folder),
                    "output_dim": 1,
                    "use_special_tokens": True,
                    "reward_token": "special",
                    "torch_dtype": None,
                },
                "peft_lora_config": {"lora_enable": False},
                "inference_config": {
                    "VQ_mean": 3.6757,
                    "VQ_std": 2.2476,
                    "MQ_mean": 1.1646,
                    "MQ_std": 1.3811,
                    "TA_mean": 2.8105,
                    "TA_std": 2.5121,
                },
            },
            indent=1,
        )
    )
    print("wrote", folder, "params", sum(v.numel() for v in sd.values()))
    return folder


def _prompts_of(out: Path) -> list[str]:
    import csv

    with (out / "gen" / "prompts.csv").open(newline="") as f:
        return [r["text"] for r in csv.DictReader(f)]


def videoalign_ours(out: Path, dtype: str) -> None:
    """Our videoalign scorer on gen/ with weights: PATH (javisbench-v1 = bf16, javisbench-v1-fp32)."""
    import torch

    from omninft.reward_servers.media import DecodedSample, decode_video
    from omninft.reward_servers.scorers.base import ScorerConfig
    from omninft.reward_servers.scorers.videoalign import build

    protocol = "javisbench-v1" if dtype == "bfloat16" else "javisbench-v1-fp32"
    cfg = ScorerConfig(weights=str(out / "weights" / "videoalign"), protocol=protocol)
    scorer = build("videoalign", cfg)
    rows = []
    for mp4, prompt in zip(_clips(out, 1000), _prompts_of(out), strict=True):
        video = decode_video(str(mp4), max_frames=100_000, max_pixels=1 << 30)
        item = scorer.preprocess(DecodedSample(id=mp4.stem, prompt=prompt, video=video))
        with torch.no_grad():
            (raw,) = scorer.forward([item])
        rows.append([float(x) for x in raw])
        print(mp4.stem, item.frame_indices.tolist(), item.frame_size, rows[-1], flush=True)
    (out / f"videoalign-ours-{dtype}.json").write_text(json.dumps({"protocol": protocol, "vq_mq_ta": rows}))


def videoalign_reference(out: Path, src: Path, dtype: str, bs: int) -> None:
    """The reference's calc_video_quality_score on gen/ with our folder as load_from_pretrained.

    Run-time changes only: attn_implementation "sdpa" instead of "flash_attention_2" (no flash-attn on CPU),
    accelerate's device lookup answered with the CPU, and for --dtype float32 the inference class built with
    dtype=torch.float32.
    """
    import functools

    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    import javisbench_parity as drv  # type: ignore[import-not-found]  # script dir

    stub = drv._stub
    drv._stub = lambda name: None if name.startswith("refsrc.VideoAlign") else stub(name)
    metrics = drv._reference_metrics(src)
    tr = sys.modules["refsrc.VideoAlign.train_reward"]
    cls = tr.Qwen2VLRewardModelBT
    orig = cls.from_pretrained.__func__

    def from_pretrained(klass: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs["attn_implementation"] = "sdpa"
        return orig(klass, *args, **kwargs)

    cls.from_pretrained = classmethod(from_pretrained)
    # accelerate 1.16 in the reference venv (newer than the recipe's 1.4.0) fails to find a device on torch 2.5
    # (no torch.accelerator); TrainingArguments only asks it for the device, which is the CPU here.
    import importlib

    state = importlib.import_module("accelerate.state")
    state.PartialState.default_device = property(lambda self: torch.device("cpu"))
    if dtype == "float32":
        metrics.VideoVLMRewardInference = functools.partial(
            metrics.VideoVLMRewardInference, dtype=torch.float32
        )
    mp4s = _clips(out, 1000)
    with torch.no_grad():
        vq, mq = metrics.calc_video_quality_score(
            [str(m) for m in mp4s],
            _prompts_of(out),
            device="cpu",
            bs=bs,
            load_from_pretrained=str(out / "weights" / "videoalign"),
        )
    result = {"dtype": dtype, "bs": bs, "vq": [float(x) for x in vq], "mq": [float(x) for x in mq]}
    (out / f"videoalign-reference-{dtype}-bs{bs}.json").write_text(json.dumps(result))
    print(json.dumps(result))


def videoalign_table(out: Path) -> str:
    """Per-sample max relative difference and mean rows, for every reference run against ours in its dtype."""
    rows = [
        "| dtype | ref batch | key | reference mean | ours mean | rel diff (mean) | max per-sample abs | "
        "max per-sample rel |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for ref_path in sorted(out.glob("videoalign-reference-*.json")):
        ref = json.loads(ref_path.read_text())
        ours_path = out / f"videoalign-ours-{ref['dtype']}.json"
        if not ours_path.exists():
            continue
        ours = json.loads(ours_path.read_text())["vq_mq_ta"]
        for j, key in enumerate(("vq", "mq")):
            r, o = ref[key], [row[j] for row in ours]
            rm, om = sum(r) / len(r), sum(o) / len(o)
            absd = [abs(a - b) for a, b in zip(r, o, strict=True)]
            reld = [d / abs(a) if a else float("inf") for d, a in zip(absd, r, strict=True)]
            rows.append(
                f"| {ref['dtype']} | {ref['bs']} | {'visual' if key == 'vq' else 'motion'}_quality | {rm:.9g} | "
                f"{om:.9g} | {abs(rm - om) / abs(rm):.3g} | {max(absd):.3g} | {max(reld):.3g} |"
            )
    text = "\n".join(rows)
    print(text)
    return text


def main(argv: list[str]) -> int:
    """Dispatch this module's stages (argv as the driver's: STAGE --out DIR ...)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=STAGES)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--limit", type=int, default=2)
    p.add_argument("--depth", type=int, default=0, help="desync stages: blocks per stack (0 = full size)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float32"))
    p.add_argument("--bs", type=int, default=8, help="videoalign-reference: its dataloader batch size")
    p.add_argument("--reference", type=Path, default=Path(os.environ.get("REF", "")))
    a = p.parse_args(argv)
    src = a.reference / "eval" / "javisbench" / "src"
    if a.stage == "sync-weights-small":
        sync_weights_small(a.out, a.depth, a.seed)
    elif a.stage == "desync-logits-ours":
        desync_logits_ours(a.out, a.limit, a.depth)
    elif a.stage == "desync-logits-reference":
        desync_logits_reference(a.out, src, a.limit, a.depth)
    elif a.stage == "desync-logits-table":
        desync_logits_table(a.out)
    elif a.stage == "videoalign-weights":
        videoalign_weights(a.out, a.seed)
    elif a.stage == "videoalign-ours":
        videoalign_ours(a.out, a.dtype)
    elif a.stage == "videoalign-reference":
        videoalign_reference(a.out, src, a.dtype, a.bs)
    else:
        videoalign_table(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
