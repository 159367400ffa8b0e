"""ETTerra (GTPBD-MM sec. 4 and App. B.1): SAM image encoder and mask decoder, a CLIP text encoder, a
semantic branch that turns image x text features into decoder prompts, and a DEM branch that modulates the
dense visual features behind a zero-initialised residual.

Forward: image -> (a 1 x 1 band adapter when the tiles are not RGB) -> resize to the SAM input size ->
SAM image encoder -> ``f`` (256 x g x g). DEM branch: the encoded DEM (relative elevation, valid flag) ->
strided convs to g x g -> per-pixel scale and shift -> ``f + Z(f * (1 + scale) + shift)`` with ``Z`` a 1 x 1
conv initialised to zero, so the branch is an identity at step 0. Semantic branch: ``K`` learnable prompt
queries, shifted by the pooled CLIP caption embedding, attend to the caption's CLIP token features and then
to the image features (cross-modal), giving the sparse prompt embeddings; the dense prompt is SAM's
"no mask" embedding plus a zero-initialised projection of the image features weighted by their similarity
to the caption. SAM's mask decoder (one mask output) takes the features, its positional encoding and the
prompts; the low-resolution mask is upsampled to the tile. Settings as in the paper's Table 2: ``image``
(queries attend to the image only), ``image+text``, ``image+text+dem``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from farmannot.errors import InputError
from farmannot.train.models.catalog import FREEZABLE
from farmannot.train.models.clip_text import build_text_tower, clip_spec_for_run, load_text_tower
from farmannot.train.models.sam_parts import (
    PATCH,
    PROMPT_DIM,
    SAM_PRESETS,
    build_sam_parts,
    load_sam_parts,
    read_state_dict,
    sam_spec_from_state,
)

DEFAULT_PROMPTS = 4


class DemBranch(nn.Module):
    """DEM -> per-pixel scale and shift of the image features, added back through a zero-initialised conv."""

    def __init__(self, channels: int = PROMPT_DIM, hidden: int = 32) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(2, hidden, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(hidden, hidden, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(hidden, 2 * channels, 1))
        self.residual = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.residual.weight)
        nn.init.zeros_(self.residual.bias)

    def forward(self, features: torch.Tensor, dem: torch.Tensor) -> torch.Tensor:
        g = features.shape[-2:]
        d = F.interpolate(dem.to(features.dtype), size=(4 * g[0], 4 * g[1]), mode="bilinear", align_corners=False)
        scale, shift = self.stem(d).chunk(2, dim=1)
        modulated = features * (1 + scale) + shift
        return features + self.residual(modulated)


class SemanticBranch(nn.Module):
    """Learnable prompt queries -> (text tokens) -> image features: SAM's sparse and dense prompts."""

    def __init__(self, n_prompts: int, text_width: int | None, text_dim: int | None, heads: int = 8) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.randn(n_prompts, PROMPT_DIM) * 0.02)
        self.text = text_width is not None
        if self.text:
            self.text_tokens = nn.Linear(text_width, PROMPT_DIM)
            self.text_pooled = nn.Linear(text_dim, PROMPT_DIM)
            self.norm_t = nn.LayerNorm(PROMPT_DIM)
            self.attn_t = nn.MultiheadAttention(PROMPT_DIM, heads, batch_first=True)
            self.dense = nn.Conv2d(PROMPT_DIM, PROMPT_DIM, 1)
            nn.init.zeros_(self.dense.weight)
            nn.init.zeros_(self.dense.bias)
        self.norm_i = nn.LayerNorm(PROMPT_DIM)
        self.attn_i = nn.MultiheadAttention(PROMPT_DIM, heads, batch_first=True)
        self.norm_m = nn.LayerNorm(PROMPT_DIM)
        self.mlp = nn.Sequential(nn.Linear(PROMPT_DIM, 2 * PROMPT_DIM), nn.GELU(),
                                 nn.Linear(2 * PROMPT_DIM, PROMPT_DIM))

    def forward(self, features: torch.Tensor, pe: torch.Tensor, no_mask: torch.Tensor,
                text: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None):
        b, c, h, w = features.shape
        q = self.queries[None].expand(b, -1, -1)
        dense = no_mask.reshape(1, c, 1, 1).expand(b, c, h, w)
        if self.text:
            pooled, tokens, pad = text
            t = self.text_tokens(tokens)
            p = self.text_pooled(pooled)
            q = q + p[:, None]
            q = q + self.attn_t(self.norm_t(q), t, t, key_padding_mask=pad, need_weights=False)[0]
            sim = torch.einsum("bchw,bc->bhw", F.normalize(features, dim=1), F.normalize(p, dim=1))
            dense = dense + self.dense(features * sim[:, None])
        img = features.flatten(2).transpose(1, 2)
        pos = pe.flatten(2).transpose(1, 2)
        q = q + self.attn_i(self.norm_i(q), img + pos, img, need_weights=False)[0]
        q = q + self.mlp(self.norm_m(q))
        return q, dense


class ETTerra(nn.Module):
    """The model; ``forward(image, text=CLIP token ids, dem=...)`` returns parcel logits ``B x 1 x H x W``.

    Args:
        spec: ``config['etterra']`` (SAM encoder shape and input size, CLIP text config, prompts, freezing).
        in_channels: image bands.
        inputs: ``image``, ``image+text`` or ``image+text+dem``.
    """

    def __init__(self, spec: dict, in_channels: int, inputs: str = "image+text+dem") -> None:
        super().__init__()
        self.spec = spec
        self.inputs = inputs
        self.size = int(spec["sam"]["img_size"])
        self.adapter = None
        if in_channels != 3:  # starts as "take the first three bands": the pretrained encoder sees RGB
            self.adapter = nn.Conv2d(in_channels, 3, 1, bias=False)
            with torch.no_grad():
                self.adapter.weight.zero_()
                for i in range(min(3, in_channels)):
                    self.adapter.weight[i, i] = 1.0
        self.image_encoder, self.prompt_encoder, self.mask_decoder = build_sam_parts(spec["sam"])
        use_text = "text" in inputs
        self.text_encoder = build_text_tower(spec["clip"]) if use_text else None
        width = int(spec["clip"]["text_cfg"]["width"]) if use_text else None
        dim = int(spec["clip"]["embed_dim"]) if use_text else None
        self.semantic = SemanticBranch(int(spec.get("prompts", DEFAULT_PROMPTS)), width, dim)
        self.dem = DemBranch() if "dem" in inputs else None
        # parts of SAM this model never uses (point/box/mask prompt encoders, the IoU head) stay fixed, so every
        # trainable parameter gets a gradient (DDP requires it)
        self.prompt_encoder.requires_grad_(False)
        self.prompt_encoder.no_mask_embed.requires_grad_(True)
        self.mask_decoder.iou_prediction_head.requires_grad_(False)
        self.frozen = tuple(spec.get("freeze", ()))
        for part in self.frozen:
            module = getattr(self, part.replace("-", "_"), None)
            if module is not None:
                module.requires_grad_(False)

    def load_pretrained(self) -> None:
        """Load the SAM and CLIP checkpoints named in the spec (a new run; a saved run holds its weights)."""
        if self.spec.get("sam_checkpoint"):
            load_sam_parts(self.image_encoder, self.prompt_encoder, self.mask_decoder, self.spec["sam_checkpoint"],
                           self.spec["sam"])
        if self.text_encoder is not None and self.spec.get("clip_checkpoint"):
            load_text_tower(self.text_encoder, self.spec["clip_checkpoint"])

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        x = self.adapter(image) if self.adapter is not None else image
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        # a frozen encoder runs without autograd, unless the band adapter in front of it is learning
        track = "image-encoder" not in self.frozen or self.adapter is not None
        with torch.set_grad_enabled(torch.is_grad_enabled() and track):
            return self.image_encoder(x)

    def encode_text(self, ids: torch.Tensor):
        with torch.set_grad_enabled(torch.is_grad_enabled() and "text-encoder" not in self.frozen):
            pooled, tokens = self.text_encoder(ids.long())
        return pooled, tokens, ids == 0  # open_clip pads with 0

    def forward(self, image: torch.Tensor, text: torch.Tensor | None = None, clauses=None, clause_mask=None,
                dem: torch.Tensor | None = None) -> torch.Tensor:
        features = self.encode_image(image)
        if self.dem is not None:
            if dem is None:
                raise ValueError("this model takes a DEM (inputs image+text+dem)")
            features = self.dem(features, dem)
        txt = None
        if self.text_encoder is not None:
            if text is None:
                raise ValueError("this model takes CLIP token ids (text inputs)")
            txt = self.encode_text(text)
        pe = self.prompt_encoder.get_dense_pe()
        sparse, dense = self.semantic(features, pe, self.prompt_encoder.no_mask_embed.weight, txt)
        # segment-anything's decoder pairs one image embedding with a set of prompts: one call per tile
        low = torch.cat([self.mask_decoder(features[i:i + 1], pe, sparse[i:i + 1], dense[i:i + 1],
                                           multimask_output=False)[0] for i in range(features.shape[0])])
        return F.interpolate(low, size=image.shape[-2:], mode="bilinear", align_corners=False)


def prepare_config(config: dict) -> dict:
    """Fill ``config['etterra']`` from the training options: the SAM encoder shape (read off
    ``sam_checkpoint``, else the ``encoder`` preset, default ``vit_b``), the SAM input size
    (``sam_image_size``, default the checkpoint's), the CLIP text configuration (read off
    ``clip_checkpoint``, else ``clip_model``), the prompt count and the frozen parts (default: the
    encoders that start from a checkpoint)."""
    if config.get("etterra"):  # a saved run: keep what it was built with
        return config
    sam_ckpt, clip_ckpt = config.get("sam_checkpoint"), config.get("clip_checkpoint")
    if sam_ckpt:
        sam = sam_spec_from_state(read_state_dict(sam_ckpt, "SAM"), sam_ckpt)
    else:
        name = config.get("encoder") or "vit_b"
        if name not in SAM_PRESETS:
            raise InputError(f"etterra: --encoder {name!r} is not a SAM encoder; choose {', '.join(SAM_PRESETS)} "
                             "or give --sam-checkpoint.")
        sam = dict(SAM_PRESETS[name], img_size=1024)
    if config.get("sam_image_size"):
        sam["img_size"] = int(config["sam_image_size"])
    if sam["img_size"] % PATCH:
        raise InputError(f"--sam-image-size {sam['img_size']}: not a multiple of {PATCH}.")
    clip = clip_spec_for_run(config) if "text" in config.get("inputs", "image") else None
    freeze = config.get("freeze")
    if freeze is None:
        freeze = (["image-encoder"] if sam_ckpt else []) + (["text-encoder"] if clip_ckpt and clip else [])
    unknown = sorted(set(freeze) - set(FREEZABLE))
    if unknown:
        raise InputError(f"--freeze {unknown[0]!r}: choose from {', '.join(FREEZABLE)}.")
    spec = {"sam": sam, "clip": clip, "prompts": int(config.get("prompts") or DEFAULT_PROMPTS),
            "freeze": list(freeze), "sam_checkpoint": sam_ckpt, "clip_checkpoint": clip_ckpt if clip else None}
    return config | {"etterra": spec}


def build_etterra(config: dict, pretrained: bool = False) -> ETTerra:
    """ETTerra from a run configuration (``prepare_config`` first for a new run); ``pretrained`` loads the
    named SAM / CLIP checkpoints."""
    if not config.get("etterra"):
        config = prepare_config(config)
    model = ETTerra(config["etterra"], int(config["in_channels"]), config.get("inputs", "image"))
    if pretrained:
        model.load_pretrained()
    return model
