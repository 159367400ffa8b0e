"""Open-vocabulary class maps from a frozen CLIP (no training): ``farmannot predict --classes``.

- Class names: each goes into the 14 "vild" sentence templates HG-RSOVSSeg uses (paper 002, sec. 3.1;
  ``templates/open_vocab.yaml``); its text embedding is the mean of the normalised sentence embeddings,
  normalised again (CLIP's prompt ensembling).
- Tile sizes: the positional embedding adapts to the input size as HG-RSOVSSeg's PEA (Algorithm 1): the
  class-token position kept, the spatial grid resized by bicubic interpolation to ``H/P x W/P``.
- Dense image features: CLIP's patch tokens through every block but the last; in the last block only the
  value path of the attention (``out_proj(v(ln_1(x)))``), then ``ln_post`` and the projection -- the
  MaskCLIP recipe (Zhou et al., ECCV 2022) for dense features of a frozen CLIP, since CLIP's own patch tokens
  after the full last block are poorly localised. HG-RSOVSSeg trains an aggregation module and a decoder on
  top; without training data for the named classes we stop at the frozen features.
- Output: per pixel, a softmax over the classes of the cosine similarities times CLIP's logit scale.

The CLIP is open_clip's, built from the shapes of the checkpoint the user gives (``weights_only``).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from farmannot.errors import InputError


def vild_templates() -> list[str]:
    from farmannot.resources import load_template_yaml

    return list(load_template_yaml("open_vocab.yaml")["vild"])


def interpolate_positions(pos: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """PEA (paper 002, Algorithm 1): ``(1 + g*g, C)`` -> ``(1 + gh*gw, C)``, class position kept, the spatial
    grid resized bicubically."""
    cls, spatial = pos[:1], pos[1:]
    g = int(round(math.sqrt(spatial.shape[0])))
    if (g, g) == tuple(grid):
        return pos
    grid_pos = spatial.reshape(1, g, g, -1).permute(0, 3, 1, 2).float()
    resized = F.interpolate(grid_pos, size=grid, mode="bicubic", align_corners=False)
    return torch.cat([cls, resized.permute(0, 2, 3, 1).reshape(grid[0] * grid[1], -1).to(pos.dtype)])


def clip_config_from_state(state: dict[str, torch.Tensor], path: str | Path) -> dict:
    """open_clip ``CLIP`` keyword arguments read off a CLIP state dict (heads = width / 64, CLIP's rule)."""
    from farmannot.train.models.clip_text import clip_spec_from_state

    try:
        width, _, patch, _ = state["visual.conv1.weight"].shape
        grid = int(round(math.sqrt(state["visual.positional_embedding"].shape[0] - 1)))
        layers = len({m.group(1) for k in state if (m := re.match(r"visual\.transformer\.resblocks\.(\d+)\.", k))})
        mlp = state["visual.transformer.resblocks.0.mlp.c_fc.weight"].shape[0]
    except (KeyError, IndexError) as exc:
        raise InputError(f"{path}: not a CLIP state dict with a ViT image tower (no {exc}).") from None
    text = clip_spec_from_state(state, path)
    vision = {"layers": layers, "width": int(width), "patch_size": int(patch), "image_size": grid * int(patch),
              "head_width": 64, "mlp_ratio": mlp / width}
    return {"embed_dim": text["embed_dim"], "vision_cfg": vision, "text_cfg": text["text_cfg"]}


def load_clip(path: str | Path, quick_gelu: bool = False) -> nn.Module:
    """A whole open_clip CLIP (eval mode) with the weights of ``path``."""
    from open_clip.model import CLIP

    from farmannot.train.models.sam_parts import read_state_dict

    state = read_state_dict(path, "CLIP")
    cfg = clip_config_from_state(state, path)
    model = CLIP(cfg["embed_dim"], cfg["vision_cfg"], cfg["text_cfg"], quick_gelu=quick_gelu)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise InputError(f"{path}: weights do not fit the CLIP read off its shapes ({str(exc)[:200]}).") from None
    return model.eval()


class OpenVocabularySegmenter(nn.Module):
    """A frozen CLIP as ``image (B, 3, H, W), CLIP-normalised -> class probabilities (B, K, H, W)``."""

    def __init__(self, clip: nn.Module, class_names: list[str], templates: list[str] | None = None) -> None:
        super().__init__()
        import open_clip

        if not class_names:
            raise InputError("--classes: give at least one class name, e.g. 'farmland,terrace,water'.")
        self.clip = clip.eval().requires_grad_(False)
        self.class_names = list(class_names)
        templates = templates or vild_templates()
        ctx = int(clip.positional_embedding.shape[0])
        with torch.no_grad():
            ids = open_clip.tokenize([t.format(c) for c in class_names for t in templates], context_length=ctx)
            emb = F.normalize(clip.encode_text(ids), dim=-1).reshape(len(class_names), len(templates), -1)
            self.register_buffer("text", F.normalize(emb.mean(dim=1), dim=-1), persistent=False)

    def embeds(self, image: torch.Tensor) -> torch.Tensor:
        """Token embeddings before the transformer, the positions fitted to the input size (PEA)."""
        v = self.clip.visual
        x = v.conv1(image)
        grid = tuple(x.shape[-2:])
        x = x.flatten(2).transpose(1, 2)
        cls = v.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + interpolate_positions(v.positional_embedding, grid).to(x.dtype)
        return v.ln_pre(x)

    @torch.no_grad()
    def dense_features(self, image: torch.Tensor) -> torch.Tensor:
        """Per-patch embeddings in CLIP's joint space, ``B x D x gh x gw`` (L2-normalised)."""
        v = self.clip.visual
        p = v.conv1.kernel_size[0]
        gh, gw = image.shape[-2] // p, image.shape[-1] // p
        x = self.embeds(image)
        batch_first = getattr(v.transformer, "batch_first", True)
        h = x if batch_first else x.transpose(0, 1)
        blocks = list(v.transformer.resblocks)
        for blk in blocks[:-1]:
            h = blk(h)
        h = h if batch_first else h.transpose(0, 1)
        last = blocks[-1]
        w = last.attn.in_proj_weight.shape[1]
        y = last.ln_1(h)
        val = F.linear(y, last.attn.in_proj_weight[2 * w:], last.attn.in_proj_bias[2 * w:])
        out = last.attn.out_proj(val)[:, 1:]
        feats = v.ln_post(out) @ v.proj
        return F.normalize(feats, dim=-1).transpose(1, 2).reshape(image.shape[0], -1, gh, gw)

    @torch.no_grad()
    def forward(self, image: torch.Tensor) -> torch.Tensor:
        p = self.clip.visual.conv1.kernel_size[0]
        h, w = image.shape[-2:]
        ph, pw = -h % p, -w % p
        x = F.pad(image, (0, pw, 0, ph), mode="replicate") if ph or pw else image
        feats = self.dense_features(x)
        logits = torch.einsum("bdhw,kd->bkhw", feats, self.text.to(feats.dtype)) * self.clip.logit_scale.exp()
        probs = F.interpolate(logits.softmax(dim=1), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return probs[..., :h, :w]
