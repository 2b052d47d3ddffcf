"""LTX-2 policy adapter on diffusers 0.42.1 (``LTX2VideoTransformer3DModel`` + PEFT LoRA), spec §4-§5.

Policies share one transformer: the ``default`` LoRA adapter is the trained policy, the ``old`` adapter the
sampling policy (soft-updated from ``default``), and the reference is the base model with adapters disabled.
Rollouts run the adapter's own deterministic x0-form Euler loop (optional per-modality CFG and STG) with a step
callback before every forward pass; decoding goes through the LTX-2 video VAE, audio VAE and vocoder.

Units (spec §4.2): diffusers takes ``timestep`` already multiplied by ``timestep_scale_multiplier`` (1000); the
adapter's public API speaks σ ∈ [0, 1] and converts in exactly one place (:meth:`LTX2DiffusersAdapter._velocity`).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from ._ltx2_components import (
    OFFICIAL_MODEL_ID,
    LTX2Components,
    build_tiny_components,
    load_official_components,
)
from ._ltx2_latents import LatentGeometry, latent_geometry, pack_audio, pack_video, unpack_audio, unpack_video
from ._ltx2_sampling import euler_x0_step, guided_x0, sigma_grid
from ._ltx2_sites import cross_attn_sites
from ._ltx2_text import CachedTextEncoder, GemmaConnectorTextEncoder, RandomTextEncoder, TextEncoder
from .base import (
    MODALITIES,
    CrossAttnSite,
    Media,
    PassKind,
    PromptRecord,
    Rollout,
    SamplerConfig,
    StepCallback,
    StepInfo,
    Which,
    soft_update_,
)

# The modality names as plain strings (dict keys of latents / predictions).
STREAMS: tuple[str, ...] = MODALITIES

TRAIN_ADAPTER = "default"
OLD_ADAPTER = "old"

# OmniNFT's LoRA targets: q/k/v/out of all six attentions plus both streams' feed-forward projections.
DEFAULT_LORA_TARGETS = (
    r".*transformer_blocks\.\d+\."
    r"(?:(?:attn1|attn2|audio_attn1|audio_attn2|audio_to_video_attn|video_to_audio_attn)\.(?:to_q|to_k|to_v|to_out\.0)"
    r"|(?:ff|audio_ff)\.net\.(?:0\.proj|2))"
)


@dataclass(frozen=True)
class LTX2AdapterConfig:
    """Media size, LoRA and conditioning settings of the adapter (defaults: OmniNFT's LTX-2 run)."""

    height: int = 512
    width: int = 768
    num_frames: int = 121
    fps: float = 24.0
    lora_rank: int = 32
    lora_alpha: int = 64
    lora_init: str = "gaussian"
    lora_init_seed: int = 0
    lora_targets: str = DEFAULT_LORA_TARGETS
    use_cross_timestep: bool = True
    # σ grid for rollouts whose SamplerConfig.grid is "default", and for training_sigmas: ltx2 | flowmatch
    sigma_grid: str = "ltx2"
    # None = not configured: CFG rollouts refuse to run rather than guide against an empty prompt silently.
    negative_prompt: str | None = None
    # The release's V2A maps omit RoPE (head-mean softmax of the raw q/k projections).
    capture_rope: bool = False
    capture_head_chunk: int = 4
    capture_heads: tuple[int, ...] | None = None  # V2A heads averaged for region scores (None = all)
    gradient_checkpointing: bool = False
    decode_timestep: float = 0.0
    decode_noise_scale: float | None = None
    # Decode video in overlapping tiles (diffusers' VAE tiling) to bound decoder memory at full resolution.
    vae_tiling: bool = False
    # Run a step's cond/uncond/STG passes as one forward ([cond; uncond; stg] rows, StepInfo "mixed").
    batch_passes: bool = True


# Tests and CPU smoke runs guide against a short explicit negative prompt.
TINY_CONFIG = LTX2AdapterConfig(
    height=8, width=12, num_frames=5, lora_rank=4, lora_alpha=8, negative_prompt="blurry, low quality"
)


class LTX2DiffusersAdapter:
    """:class:`~.base.PolicyAdapter` for LTX-2 with train/old LoRA adapters and the base model as reference."""

    name = "ltx2_diffusers"

    def __init__(
        self,
        components: LTX2Components,
        text_encoder: TextEncoder,
        config: LTX2AdapterConfig = LTX2AdapterConfig(),
        weights_id: str | None = None,
    ) -> None:
        from peft import LoraConfig
        from peft.tuners.tuners_utils import BaseTunerLayer

        self.components = components
        self.transformer: Any = components.transformer
        self.text_encoder = text_encoder
        self.config = config
        self.weights_id = weights_id or components.source
        self.geometry = latent_geometry(
            components, config.height, config.width, config.num_frames, config.fps
        )
        sigma_grid(config.sigma_grid, 1)  # fail on an unknown grid name now, not at the first rollout
        self.transformer.requires_grad_(False)
        lora = LoraConfig(
            r=config.lora_rank,
            lora_alpha=config.lora_alpha,
            init_lora_weights=cast(Any, config.lora_init),
            target_modules=config.lora_targets,
        )
        # PEFT draws LoRA A from the global RNG: fork it so runs are reproducible and callers' RNG untouched.
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            torch.manual_seed(config.lora_init_seed)
            warnings.filterwarnings("ignore", message=".*multiple adapters.*")  # two adapters are intended
            self.transformer.add_adapter(lora, adapter_name=TRAIN_ADAPTER)
            self.transformer.add_adapter(lora, adapter_name=OLD_ADAPTER)
        self._lora_layers = [m for m in self.transformer.modules() if isinstance(m, BaseTunerLayer)]
        if not self._lora_layers:
            raise ValueError(f"LoRA target pattern matched no module: {config.lora_targets!r}")
        named = dict(self.transformer.named_parameters())
        tag = f".{TRAIN_ADAPTER}."
        self._train_named = {n: p for n, p in named.items() if tag in n and "lora_" in n}
        self._old_named = {n: named[n.replace(tag, f".{OLD_ADAPTER}.")] for n in self._train_named}
        # LoRA tensors live in float32 whatever the base dtype: AdamW steps of lr·update ≈ 1e-5 relative would
        # mostly round away in bf16. PEFT casts the LoRA branch input to this dtype and the sum back.
        with torch.no_grad():
            for p in (*self._train_named.values(), *self._old_named.values()):
                p.data = p.data.to(torch.float32)
        self._mode: Which | None = None
        self.sync_old_from_train()
        self._use("train")
        if config.gradient_checkpointing:
            self.transformer.enable_gradient_checkpointing()
        if config.vae_tiling:
            components.vae.enable_tiling()
        self._sites: list[CrossAttnSite] | None = None
        self._null_cond: dict[str, torch.Tensor] | None = None

    # ----------------------------------------------------------------------------------------------- builders

    @classmethod
    def tiny(
        cls,
        seed: int = 0,
        config: LTX2AdapterConfig = TINY_CONFIG,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        **transformer_overrides: Any,
    ) -> LTX2DiffusersAdapter:
        """Tiny random-weight LTX-2 (same classes, small configs) with a random text encoder: CPU tests."""
        comp = build_tiny_components(seed, **transformer_overrides)
        for m in (comp.transformer, comp.vae, comp.audio_vae):
            if dtype != torch.float32:
                m.to(dtype=dtype)
        for m in (comp.transformer, comp.vae, comp.audio_vae, comp.vocoder):
            m.to(device=device)  # the vocoder stays float32 (diffusers keeps it so for real weights too)
        text = RandomTextEncoder(comp.transformer.config.caption_channels)
        return cls(comp, text, config, weights_id=f"tiny-random(seed={seed})")

    @classmethod
    def from_pretrained(
        cls,
        model_id: str = OFFICIAL_MODEL_ID,
        revision: str | None = None,
        config: LTX2AdapterConfig = LTX2AdapterConfig(),
        text_encoder: TextEncoder | None = None,
        device: str | torch.device = "cuda",
        dtype: torch.dtype = torch.bfloat16,
    ) -> LTX2DiffusersAdapter:
        """Official diffusers-format LTX-2 (HF id or local folder); text defaults to cached Gemma + connectors."""
        comp = load_official_components(model_id, revision, dtype=dtype, device=device)
        text = text_encoder or CachedTextEncoder(
            GemmaConnectorTextEncoder(model_id, revision, device=device, dtype=dtype)
        )
        ident = model_id if revision is None else f"{model_id}@{revision}"
        return cls(comp, text, config, weights_id=ident)

    # ------------------------------------------------------------------------------------------ LoRA switching

    @property
    def device(self) -> torch.device:
        """Device of the transformer."""
        return next(self.transformer.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """Compute dtype of the transformer's base weights."""
        return self.transformer.proj_in.weight.dtype

    def _use(self, which: Which) -> None:
        """Activate the LoRA adapter of a policy (``ref`` = adapters disabled), keeping only train LoRA trainable."""
        if which == self._mode:
            return
        if which not in ("train", "old", "ref"):
            raise ValueError(f"unknown policy {which!r}")
        name = OLD_ADAPTER if which == "old" else TRAIN_ADAPTER
        for layer in self._lora_layers:
            layer.set_adapter(name)
            layer.enable_adapters(which != "ref")
        # PEFT toggles requires_grad on (de)activation; a train-graph leaf flipped to False would silently drop
        # its gradient (AccumulateGrad skips it), so the flags are pinned regardless of the active policy.
        for p in self._train_named.values():
            p.requires_grad_(True)
        for p in self._old_named.values():
            p.requires_grad_(False)
        self._mode = which

    # ------------------------------------------------------------------------------------- protocol: structure

    def modalities(self) -> tuple[str, ...]:
        """Latent streams in fixed order."""
        return MODALITIES

    def num_blocks(self) -> int:
        """Number of transformer blocks."""
        return len(self.transformer.transformer_blocks)

    def token_layout(self, modality: str, rollout: Rollout | None = None) -> tuple[int, int]:
        """Video: (latent frames, H'·W'); audio: (latent frames, 1)."""
        geo = self.geometry
        if modality == "video":
            return geo.frames, geo.height * geo.width
        if modality == "audio":
            return geo.audio_frames, 1
        raise ValueError(f"unknown modality {modality!r}")

    def cross_attn_sites(self) -> list[CrossAttnSite]:
        """A2V (surgery: ``encoder_hidden_states`` = audio K/V input) and V2A (capture) sites, per block."""
        if self._sites is None:
            cfg = self.config
            self._sites = cross_attn_sites(
                self.transformer, cfg.capture_rope, cfg.capture_head_chunk, cfg.capture_heads
            )
        return self._sites

    def capture_sites(self) -> list[CrossAttnSite]:
        """V2A sites; the rollout policy (old adapter) runs through the same modules."""
        return [s for s in self.cross_attn_sites() if s.direction == "v2a"]

    # ------------------------------------------------------------------------------------- protocol: conditions

    def encode_conditions(self, prompts: Sequence[PromptRecord]) -> dict[str, torch.Tensor]:
        """Connector outputs of the generation prompts (``prompt_av``) as a batch tree on the model device."""
        return self._encode_texts([p.prompt_av for p in prompts])

    def null_condition(self, batch_size: int = 1) -> dict[str, torch.Tensor]:
        """Negative-prompt condition for CFG (encoded once), repeated to ``batch_size`` rows."""
        if self._null_cond is None:
            if self.config.negative_prompt is None:
                raise ValueError(
                    "CFG rollouts need a negative prompt: set sampler.negative_prompt (the released OmniNFT uses "
                    "LTX-2's default negative prompt, see trainer/configs/omninft_ltx2.yaml), or "
                    'negative_prompt: "" to guide against an empty prompt on purpose'
                )
            self._null_cond = self._encode_texts([self.config.negative_prompt])
        return {k: v.expand(batch_size, *v.shape[1:]) for k, v in self._null_cond.items()}

    def _encode_texts(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        cond = self.text_encoder(list(texts))
        # contexts are kept in the model dtype: they ride along with every rollout sample until training
        return {
            k: v.to(self.device, dtype=self.dtype if v.is_floating_point() else v.dtype)
            for k, v in cond.as_tree().items()
        }

    def make_aux(self, batch_size: int) -> dict[str, Any]:
        """RoPE coordinates and all-ones denoise masks (text-to-audio-video) for a batch."""
        geo, tf, dev = self.geometry, self.transformer, self.device
        video_coords = tf.rope.prepare_video_coords(
            batch_size, geo.frames, geo.height, geo.width, dev, fps=self.config.fps
        )
        audio_coords = tf.audio_rope.prepare_audio_coords(batch_size, geo.audio_frames, dev)
        return {
            "video_coords": video_coords,
            "audio_coords": audio_coords,
            "video_mask": torch.ones(batch_size, geo.video_tokens, device=dev),
            "audio_mask": torch.ones(batch_size, geo.audio_frames, device=dev),
        }

    # ----------------------------------------------------------------------------------------- model calls

    def _velocity(
        self,
        x_t: Mapping[str, torch.Tensor],
        sigma: torch.Tensor,
        cond: Mapping[str, torch.Tensor],
        aux: Mapping[str, Any],
        stg_blocks: Sequence[int] | None = None,
        perturbation_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw transformer velocities (float32) for σ ∈ [0, 1] of shape (B,)."""
        tf, dt = self.transformer, self.dtype
        t = sigma.to(self.device, torch.float32) * float(tf.config.timestep_scale_multiplier)
        vmask, amask = aux["video_mask"], aux["audio_mask"]
        if bool((vmask == 1).all()) and bool((amask == 1).all()):
            v_t, a_t = t, t
        else:  # per-token timesteps σ·m carry partially denoised (conditioning) tokens
            v_t, a_t = t[:, None] * vmask, t[:, None] * amask
        video, audio = tf(
            hidden_states=x_t["video"].to(dt),
            audio_hidden_states=x_t["audio"].to(dt),
            encoder_hidden_states=cond["video_ctx"].to(dt),
            audio_encoder_hidden_states=cond["audio_ctx"].to(dt),
            timestep=v_t,
            audio_timestep=a_t,
            sigma=t,
            audio_sigma=t,
            encoder_attention_mask=cond["mask"],
            audio_encoder_attention_mask=cond["mask"],
            fps=self.config.fps,
            video_coords=aux["video_coords"],
            audio_coords=aux["audio_coords"],
            spatio_temporal_guidance_blocks=list(stg_blocks) if stg_blocks else None,
            perturbation_mask=perturbation_mask,
            use_cross_timestep=self.config.use_cross_timestep,
            return_dict=False,
        )
        return video.float(), audio.float()

    def _x0(
        self,
        x_t: Mapping[str, torch.Tensor],
        sigma: torch.Tensor,
        cond: Mapping[str, torch.Tensor],
        aux: Mapping[str, Any],
        stg_blocks: Sequence[int] | None = None,
        perturbation_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """x̂0 = x_t − σ·m·v per modality (float32)."""
        v = dict(
            zip(STREAMS, self._velocity(x_t, sigma, cond, aux, stg_blocks, perturbation_mask), strict=True)
        )
        s = sigma.to(self.device, torch.float32)[:, None, None]
        masks = {"video": aux["video_mask"], "audio": aux["audio_mask"]}
        return {m: x_t[m].float() - s * masks[m][..., None] * v[m] for m in STREAMS}

    def predict_x0(
        self, which: Which, x_t: Mapping[str, torch.Tensor], sigma: torch.Tensor, cond: Any, aux: Any
    ) -> dict[str, torch.Tensor]:
        """x0-prediction of the train / old / ref policy; old and ref run under no-grad."""
        self._use(which)
        ctx = contextlib.nullcontext() if which == "train" else torch.no_grad()
        with ctx:
            out = self._x0(x_t, sigma, cond, aux)
        if which == "train" and self.transformer.gradient_checkpointing:
            # Checkpointed blocks are re-run during backward with whatever adapter is active *then*; the old/ref
            # forwards in between would otherwise feed wrong activations into the train gradient.
            for t in out.values():
                if t.requires_grad:
                    t.register_hook(self._train_mode_hook)
        return out

    def _train_mode_hook(self, grad: torch.Tensor) -> torch.Tensor:
        """Backward hook on train predictions: re-activate the train adapter before blocks are recomputed."""
        self._use("train")
        return grad

    def noise(
        self, x0: Mapping[str, torch.Tensor], sigma: torch.Tensor, generator: torch.Generator, aux: Any = None
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """``x_t = (1−σm)·x0 + σm·ε`` with ε drawn on the generator's device (reproducible across devices)."""
        x_t: dict[str, torch.Tensor] = {}
        eps: dict[str, torch.Tensor] = {}
        for m in STREAMS:
            x = x0[m]
            e = torch.randn(x.shape, generator=generator, device=generator.device, dtype=torch.float32).to(
                x.device
            )
            mask = aux[f"{m}_mask"][..., None] if aux is not None else torch.ones_like(x[..., :1])
            s = sigma.to(x.device, torch.float32)[:, None, None] * mask
            x_t[m] = (1.0 - s) * x.float() + s * e
            eps[m] = e
        return x_t, eps

    def sigmas(self, n_steps: int, grid: str = "default") -> torch.Tensor:
        """The N+1 rollout σ's (1 → 0) of a named grid; ``default`` is the adapter's ``sigma_grid``."""
        name = self.config.sigma_grid if grid == "default" else grid
        return sigma_grid(name, n_steps, tokens=self.geometry.video_tokens)

    def training_sigmas(self, n_steps: int) -> torch.Tensor:
        """Non-zero σ's of the default rollout grid, noisiest first (ltx2, 20 steps: 1.0 … 0.1)."""
        return self.sigmas(n_steps)[:-1]

    # ---------------------------------------------------------------------------------------------- rollout

    def initial_noise(self, seeds: Sequence[int]) -> dict[str, torch.Tensor]:
        """Per-sample starting noise: a CPU generator per seed draws video then audio, in unpacked layout.

        This is the draw order of ``LTX2Pipeline`` with a CPU generator and batch 1, so a seed starts from the
        same noise as the diffusers pipeline does.
        """
        geo = self.geometry
        vs, aus = [], []
        for seed in seeds:
            gen = torch.Generator().manual_seed(int(seed))
            vs.append(
                pack_video(torch.randn(1, geo.channels, geo.frames, geo.height, geo.width, generator=gen))
            )
            aus.append(
                pack_audio(torch.randn(1, geo.audio_channels, geo.audio_frames, geo.audio_mel, generator=gen))
            )
        return {"video": torch.cat(vs).to(self.device), "audio": torch.cat(aus).to(self.device)}

    def rollout(
        self,
        cond: Any,
        prompts: Sequence[PromptRecord],
        seeds: Sequence[int],
        sampler: SamplerConfig,
        step_callback: StepCallback | None = None,
    ) -> Rollout:
        """Sample with the old policy: x0-form Euler over the σ grid, optional per-modality CFG and STG."""
        batch = len(seeds)
        if cond["video_ctx"].shape[0] != batch or len(prompts) != batch:
            raise ValueError("cond, prompts and seeds must have the same batch size")
        use_stg = sampler.stg_scale != 0.0 and bool(sampler.stg_blocks)
        if use_stg:
            self.enable_stg(sampler.stg_blocks)
        use_cfg = sampler.video_cfg != 1.0 or sampler.audio_cfg != 1.0
        neg = self.null_condition(batch) if use_cfg else None
        aux = self.make_aux(batch)
        grid = self.sigmas(sampler.steps, sampler.grid).tolist()
        x = self.initial_noise(seeds)
        cfg_scale = {"video": sampler.video_cfg, "audio": sampler.audio_cfg}
        stg_blocks = tuple(sampler.stg_blocks) if use_stg else ()
        self._use("old")
        with torch.no_grad():
            for i in range(sampler.steps):
                s, s_next = grid[i], grid[i + 1]
                passes = self._guidance_passes_batched if self.config.batch_passes else self._guidance_passes
                x0c, x0u, x0s = passes(x, s, cond, neg, aux, stg_blocks, i, sampler.steps, step_callback)
                x = {
                    m: euler_x0_step(
                        x[m],
                        guided_x0(
                            x0c[m],
                            None if x0u is None else x0u[m],
                            cfg_scale[m],
                            None if x0s is None else x0s[m],
                            sampler.stg_scale,
                        ),
                        s,
                        s_next,
                    )
                    for m in STREAMS
                }
        return Rollout(latents=x, cond=cond, aux=aux, seeds=list(seeds), prompts=list(prompts))

    def enable_stg(self, blocks: Sequence[int]) -> None:
        """Give the STG blocks' self-attentions the perturbation-aware processor (no-op where already there).

        Checkpoints saved without ``perturbed_attn`` (LTX-2.0) otherwise ignore the STG request silently. The
        processor computes the same attention when no row is perturbed, so only STG rows change.
        """
        from diffusers.models.transformers.transformer_ltx2 import LTX2PerturbedAttnProcessor

        n = self.num_blocks()
        for idx in blocks:
            if not 0 <= idx < n:
                raise ValueError(f"STG block {idx} outside 0..{n - 1}")
            block = self.transformer.transformer_blocks[idx]
            if block.perturbed_attn:
                continue
            block.attn1.set_processor(LTX2PerturbedAttnProcessor())
            block.audio_attn1.set_processor(LTX2PerturbedAttnProcessor())
            block.perturbed_attn = True

    def _guidance_passes(
        self,
        x: dict[str, torch.Tensor],
        s: float,
        cond: Any,
        neg: Any,
        aux: dict[str, Any],
        stg_blocks: tuple[int, ...],
        step: int,
        n_steps: int,
        callback: StepCallback | None,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None, dict[str, torch.Tensor] | None]:
        """Conditional, unconditional (if ``neg``) and STG (if blocks) x̂0's as separate forward calls."""
        batch = x["video"].shape[0]
        sig = torch.full((batch,), s, device=self.device)

        def run(kind: PassKind, c: Any, stg: tuple[int, ...] = ()) -> dict[str, torch.Tensor]:
            if callback is not None:
                callback(StepInfo(step, n_steps, s, kind))
            return self._x0(x, sig, c, aux, stg)

        x0c = run("cond", cond)
        x0u = run("uncond", neg) if neg is not None else None
        x0s = run("stg", cond, stg_blocks) if stg_blocks else None
        return x0c, x0u, x0s

    def _guidance_passes_batched(
        self,
        x: dict[str, torch.Tensor],
        s: float,
        cond: Any,
        neg: Any,
        aux: dict[str, Any],
        stg_blocks: tuple[int, ...],
        step: int,
        n_steps: int,
        callback: StepCallback | None,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None, dict[str, torch.Tensor] | None]:
        """The same passes stacked as rows [cond; uncond; stg] of one forward (STG rows via perturbation mask)."""
        batch = x["video"].shape[0]
        conds = [cond] + ([neg] if neg is not None else []) + ([cond] if stg_blocks else [])
        reps = len(conds)
        if reps == 1:
            return self._guidance_passes(x, s, cond, None, aux, (), step, n_steps, callback)
        if callback is not None:
            callback(StepInfo(step, n_steps, s, "mixed", cond_rows=slice(0, batch)))
        big_x = {m: x[m].repeat(reps, 1, 1) for m in STREAMS}
        big_c = {k: torch.cat([c[k] for c in conds]) for k in cond}
        big_aux = {k: torch.cat([v] * reps) for k, v in aux.items()}
        sig = torch.full((batch * reps,), s, device=self.device)
        mask = None
        if stg_blocks:
            mask = torch.ones(batch * reps, device=self.device, dtype=self.dtype)
            mask[-batch:] = 0.0  # 0 = perturbed (self-attention replaced by its values)
        out = self._x0(big_x, sig, big_c, big_aux, stg_blocks, perturbation_mask=mask)
        parts = {m: out[m].split(batch) for m in STREAMS}
        x0c = {m: parts[m][0] for m in STREAMS}
        x0u = {m: parts[m][1] for m in STREAMS} if neg is not None else None
        x0s = {m: parts[m][-1] for m in STREAMS} if stg_blocks else None
        return x0c, x0u, x0s

    # ----------------------------------------------------------------------------------------------- decode

    def decode(self, rollout: Rollout) -> list[Media]:
        """VAE-decode video to uint8 T×H×W×3 and audio (audio VAE → mel → vocoder) to float32 C×N waveforms."""
        comp, geo = self.components, self.geometry
        vae, avae, voc = comp.vae, comp.audio_vae, comp.vocoder
        out: list[Media] = []
        with torch.no_grad():
            for i in range(rollout.batch_size):
                z = unpack_video(rollout.latents["video"][i : i + 1].float(), geo)
                z = self._decode_noise(z, rollout.seeds[i])
                mean = vae.latents_mean.view(1, -1, 1, 1, 1).to(z)
                std = vae.latents_std.view(1, -1, 1, 1, 1).to(z)
                z = z * std / vae.config.scaling_factor + mean
                timestep = None
                if vae.config.timestep_conditioning:
                    timestep = torch.tensor([self.config.decode_timestep], device=z.device, dtype=z.dtype)
                pix = vae.decode(z.to(vae.dtype), timestep, return_dict=False)[0].float()
                frames = ((pix / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)[0].permute(1, 2, 3, 0)

                a = rollout.latents["audio"][i : i + 1].float()
                a = a * avae.latents_std.to(a) + avae.latents_mean.to(a)
                mel = avae.decode(unpack_audio(a, geo).to(avae.dtype), return_dict=False)[0]
                wav = voc(mel.to(voc.dtype)).float()[0]
                out.append(
                    Media(
                        frames=np.ascontiguousarray(frames.cpu().numpy()),
                        fps=float(self.config.fps),
                        audio=np.ascontiguousarray(wav.cpu().numpy().astype(np.float32)),
                        sample_rate=int(voc.config.output_sampling_rate),
                    )
                )
        return out

    def _decode_noise(self, z: torch.Tensor, seed: int) -> torch.Tensor:
        """Timestep-conditioned VAEs decode slightly re-noised latents (LTX pipeline's decode_noise_scale)."""
        if not self.components.vae.config.timestep_conditioning:
            return z
        scale = self.config.decode_noise_scale
        scale = self.config.decode_timestep if scale is None else scale
        if scale == 0.0:
            return z
        gen = torch.Generator().manual_seed(int(seed) + 1)
        e = torch.randn(z.shape, generator=gen).to(z)
        return (1 - scale) * z + scale * e

    # ----------------------------------------------------------------------------------- parameters / state

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The train (``default``) LoRA tensors."""
        return list(self._train_named.values())

    def soft_update(self, eta: float) -> None:
        """``old ← η·old + (1−η)·train`` on the LoRA tensors."""
        soft_update_(self._old_named.values(), self._train_named.values(), eta)

    def sync_old_from_train(self) -> None:
        """``old ← train``."""
        self.soft_update(0.0)

    def checkpoint_state(self) -> dict[str, Any]:
        """Train and old LoRA tensors (CPU copies, keyed by the train parameter names) plus the LoRA config."""
        return {
            "adapter": self.name,
            "lora": {"rank": self.config.lora_rank, "alpha": self.config.lora_alpha},
            "train": {n: p.detach().cpu().clone() for n, p in self._train_named.items()},
            "old": {n: self._old_named[n].detach().cpu().clone() for n in self._train_named},
        }

    def load_checkpoint_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`checkpoint_state` (strict: every LoRA tensor must be present with the same shape)."""
        for part, params in (("train", self._train_named), ("old", self._old_named)):
            saved = state[part]
            if set(saved) != set(self._train_named):
                raise KeyError(f"checkpoint {part!r} LoRA keys do not match this adapter")
            with torch.no_grad():
                for n in self._train_named:
                    params[n].copy_(saved[n].to(params[n]))

    def export_lora(self, directory: str, which: Which = "train") -> None:
        """Save one adapter in diffusers/PEFT LoRA format (``save_lora_adapter``) for inference pipelines."""
        if which == "ref":
            raise ValueError("the reference policy has no LoRA to export")
        name = OLD_ADAPTER if which == "old" else TRAIN_ADAPTER
        self.transformer.save_lora_adapter(directory, adapter_name=name)

    def describe(self) -> dict[str, Any]:
        """Provenance: adapter name, weights id, model and LoRA config, latent geometry."""
        tf_cfg = {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(self.transformer.config).items()
        }
        return {
            "adapter": self.name,
            "weights": self.weights_id,
            "revision": self.components.revision,
            "config": asdict(self.config),
            "transformer_config": {k: v for k, v in tf_cfg.items() if not k.startswith("_")},
            "geometry": asdict(self.geometry),
            "num_blocks": self.num_blocks(),
            "trainable_params": int(sum(p.numel() for p in self.trainable_parameters())),
        }


def build_ltx2_adapter(
    weights: str = "tiny",
    config: LTX2AdapterConfig | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    text_encoder: TextEncoder | None = None,
) -> LTX2DiffusersAdapter:
    """``weights``: ``tiny`` (random tiny model; CPU float32 by default), ``official`` (Lightricks/LTX-2; CUDA
    bfloat16 by default) or an HF id[@revision] / local folder in diffusers layout."""
    if weights == "tiny":
        adapter = LTX2DiffusersAdapter.tiny(
            seed, config or TINY_CONFIG, device=device or "cpu", dtype=dtype or torch.float32
        )
        if text_encoder is not None:
            adapter.text_encoder = text_encoder
        return adapter
    model_id = OFFICIAL_MODEL_ID if weights == "official" else weights
    revision = None
    if "@" in model_id and not model_id.startswith("/"):
        model_id, revision = model_id.split("@", 1)
    return LTX2DiffusersAdapter.from_pretrained(
        model_id,
        revision,
        config or LTX2AdapterConfig(),
        text_encoder,
        device=device or "cuda",
        dtype=dtype or torch.bfloat16,
    )


_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_OPTION_KEYS = {"weights", "seed", "device", "dtype", "text_embeddings", "adapter"}


def build_from_options(options: Mapping[str, Any]) -> LTX2DiffusersAdapter:
    """Adapter factory used by the trainer config (``policy.kind: ltx2``).

    Options: ``weights`` (``official`` (default) | ``tiny`` | HF id[@revision] | local folder), ``seed`` (tiny init),
    ``device``, ``dtype`` (float32 | bfloat16 | float16), ``text_embeddings`` (safetensors file of precomputed
    connector outputs, see ``PrecomputedTextEncoder``; default: Gemma + connectors for real weights, the random
    encoder for tiny), ``adapter`` (:class:`LTX2AdapterConfig` fields).
    """
    bad = set(options) - _OPTION_KEYS
    if bad:
        raise ValueError(f"unknown ltx2 policy options {sorted(bad)}; known: {sorted(_OPTION_KEYS)}")
    adapter_opts = dict(options.get("adapter", {}))
    known = set(LTX2AdapterConfig.__dataclass_fields__)
    if set(adapter_opts) - known:
        raise ValueError(
            f"unknown ltx2 adapter options {sorted(set(adapter_opts) - known)}; known: {sorted(known)}"
        )
    weights = str(options.get("weights", "official"))
    base = TINY_CONFIG if weights == "tiny" else LTX2AdapterConfig()
    config = LTX2AdapterConfig(**{**asdict(base), **adapter_opts})
    dtype_name = options.get("dtype")
    if dtype_name is not None and dtype_name not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype_name!r}")
    text: TextEncoder | None = None
    if options.get("text_embeddings"):
        from ._ltx2_text import PrecomputedTextEncoder

        text = PrecomputedTextEncoder.load(str(options["text_embeddings"]))
    dtype = _DTYPES[dtype_name] if dtype_name is not None else None
    return build_ltx2_adapter(
        weights, config, int(options.get("seed", 0)), options.get("device"), dtype, text_encoder=text
    )


__all__ = [
    "DEFAULT_LORA_TARGETS",
    "TINY_CONFIG",
    "LTX2AdapterConfig",
    "LTX2DiffusersAdapter",
    "LatentGeometry",
    "build_from_options",
    "build_ltx2_adapter",
    "pack_audio",
    "pack_video",
    "unpack_audio",
    "unpack_video",
]
