"""segment-anything's image encoder, prompt encoder and mask decoder as parts of a trainable model.

Built straight from ``segment_anything.modeling`` (the same classes ``segment_anything.build_sam`` uses), at
any input size that is a multiple of 16: a pretrained checkpoint's position embedding is resized (bicubic)
and the relative-position tables of its global-attention blocks are resized (linear) to the new grid, as
SAM fine-tuning work at 512 px does. Checkpoints are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import torch
import torch.nn.functional as F

from farmannot.errors import InputError

PATCH = 16
PROMPT_DIM = 256
WINDOW = 14
#: The published encoders (segment_anything.build_sam): embed_dim, depth, num_heads, global blocks.
SAM_PRESETS = {
    "vit_b": {"embed_dim": 768, "depth": 12, "num_heads": 12, "global_attn_indexes": [2, 5, 8, 11]},
    "vit_l": {"embed_dim": 1024, "depth": 24, "num_heads": 16, "global_attn_indexes": [5, 11, 17, 23]},
    "vit_h": {"embed_dim": 1280, "depth": 32, "num_heads": 16, "global_attn_indexes": [7, 15, 23, 31]},
}


def build_sam_parts(spec: dict):
    """``(image_encoder, prompt_encoder, mask_decoder)`` for ``spec`` (the keys of :data:`SAM_PRESETS` plus
    ``img_size``), random weights."""
    from segment_anything.modeling import (
        ImageEncoderViT,
        MaskDecoder,
        PromptEncoder,
        TwoWayTransformer,
    )

    size = int(spec["img_size"])
    if size % PATCH:
        raise InputError(f"SAM input size {size} is not a multiple of {PATCH}; choose e.g. {size // PATCH * PATCH}.")
    grid = size // PATCH
    encoder = ImageEncoderViT(
        depth=spec["depth"], embed_dim=spec["embed_dim"], img_size=size, mlp_ratio=4,
        norm_layer=functools.partial(torch.nn.LayerNorm, eps=1e-6), num_heads=spec["num_heads"], patch_size=PATCH,
        qkv_bias=True, use_rel_pos=True, global_attn_indexes=list(spec["global_attn_indexes"]), window_size=WINDOW,
        out_chans=PROMPT_DIM)
    prompt = PromptEncoder(embed_dim=PROMPT_DIM, image_embedding_size=(grid, grid), input_image_size=(size, size),
                           mask_in_chans=16)
    decoder = MaskDecoder(num_multimask_outputs=3,
                          transformer=TwoWayTransformer(depth=2, embedding_dim=PROMPT_DIM, mlp_dim=2048, num_heads=8),
                          transformer_dim=PROMPT_DIM, iou_head_depth=3, iou_head_hidden_dim=256)
    return encoder, prompt, decoder


def read_state_dict(path: str | Path, what: str) -> dict[str, torch.Tensor]:
    """A state dict from a checkpoint file (``weights_only``; ``{'model': ...}`` and ``{'state_dict': ...}``
    wrappers unwrapped).

    Raises:
        InputError: missing file, or not a plain state dict.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"{path}: {what} checkpoint not found; give the path of a downloaded checkpoint file.")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for unsafe, damaged or TorchScript files
        raise InputError(f"{path}: not a loadable {what} state dict ({str(exc).splitlines()[0]}); give a plain "
                         "PyTorch state dict (TorchScript archives are not read).") from None
    for key in ("model", "state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise InputError(f"{path}: expected a {what} state dict of tensors.")
    return obj


def sam_spec_from_state(state: dict[str, torch.Tensor], path: str | Path) -> dict:
    """The encoder shape (``embed_dim, depth, num_heads, global_attn_indexes, img_size``) of a SAM state dict."""
    try:
        embed_dim = int(state["image_encoder.patch_embed.proj.weight"].shape[0])
        grid = int(state["image_encoder.pos_embed"].shape[1])
        blocks = sorted({int(m.group(1)) for k in state if (m := re.match(r"image_encoder\.blocks\.(\d+)\.", k))})
        head_dim = int(state["image_encoder.blocks.0.attn.rel_pos_h"].shape[1])
        global_idx = [i for i in blocks if state[f"image_encoder.blocks.{i}.attn.rel_pos_h"].shape[0] == 2 * grid - 1]
    except (KeyError, IndexError) as exc:
        raise InputError(f"{path}: not a segment-anything SAM checkpoint (no {exc}).") from None
    return {"embed_dim": embed_dim, "depth": len(blocks), "num_heads": embed_dim // head_dim,
            "global_attn_indexes": global_idx, "img_size": grid * PATCH}


def resize_sam_state(state: dict[str, torch.Tensor], spec: dict, grid: int) -> dict[str, torch.Tensor]:
    """``state`` with the position embedding, the global blocks' relative positions and the prompt
    encoder's grid-sized tensors fitted to a ``grid x grid`` encoder output."""
    out = dict(state)
    pos = out["image_encoder.pos_embed"]  # 1 x g x g x C
    if pos.shape[1] != grid:
        out["image_encoder.pos_embed"] = F.interpolate(pos.permute(0, 3, 1, 2).float(), size=(grid, grid),
                                                       mode="bicubic", align_corners=False).permute(0, 2, 3, 1)
        for i in spec["global_attn_indexes"]:
            for axis in ("h", "w"):
                key = f"image_encoder.blocks.{i}.attn.rel_pos_{axis}"
                rel = out[key]  # (2g - 1) x head_dim
                out[key] = F.interpolate(rel.float().t()[None], size=2 * grid - 1, mode="linear",
                                         align_corners=False)[0].t()
    return out


def load_sam_parts(encoder, prompt, decoder, path: str | Path, spec: dict) -> None:
    """Load a segment-anything checkpoint into the three parts (resized to the parts' input size).

    Raises:
        InputError: the checkpoint's encoder is another shape, or tensors are missing.
    """
    state = read_state_dict(path, "SAM")
    found = sam_spec_from_state(state, path)
    if {k: found[k] for k in SAM_PRESETS["vit_b"]} != {k: spec[k] for k in SAM_PRESETS["vit_b"]}:
        raise InputError(f"{path}: its encoder ({found['embed_dim']}-d, {found['depth']} blocks) differs from the "
                         "run's; give the checkpoint the run was configured with.")
    state = resize_sam_state(state, spec, encoder.pos_embed.shape[1])
    for prefix, module in (("image_encoder.", encoder), ("prompt_encoder.", prompt), ("mask_decoder.", decoder)):
        part = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        missing, unexpected = module.load_state_dict(part, strict=False)
        if missing or unexpected:
            raise InputError(f"{path}: {prefix[:-1]} weights do not fit (missing {sorted(missing)[:3]}, "
                             f"unexpected {sorted(unexpected)[:3]}).")
