"""Building and loading segment-anything models from a checkpoint the user gives (never downloaded).

One code path for everything: :func:`build_sam` assembles segment-anything's own modules from a
:class:`SamConfig` (through ``segment_anything.build_sam._build_sam`` for the published 1024-px models),
:func:`load_sam` reads a checkpoint with ``torch.load(weights_only=True)``, infers its configuration from the
weight shapes, builds through :func:`build_sam` and loads the weights. Tests write a tiny random checkpoint
with :func:`save_checkpoint` and load it back through the same function as a real ViT-B.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from farmannot.errors import InputError

ModelType = Literal["vit_b", "vit_l", "vit_h"]

#: Environment variable naming a default checkpoint (``--sam-checkpoint`` wins).
CHECKPOINT_ENV = "FARMANNOT_SAM_CHECKPOINT"


@dataclass(frozen=True)
class SamConfig:
    """The shape of a SAM image encoder (the prompt encoder and mask decoder are the same for all)."""

    embed_dim: int
    depth: int
    num_heads: int
    global_attn_indexes: tuple[int, ...]
    img_size: int = 1024

    @property
    def name(self) -> str:
        for key, preset in PRESETS.items():
            if preset == self:
                return key
        if self == TINY:
            return "tiny"
        return f"custom-d{self.embed_dim}x{self.depth}-{self.img_size}px"

    def to_dict(self) -> dict:
        return asdict(self)


#: The published SAM encoders (segment_anything.build_sam).
PRESETS: dict[str, SamConfig] = {
    "vit_b": SamConfig(768, 12, 12, (2, 5, 8, 11)),
    "vit_l": SamConfig(1024, 24, 16, (5, 11, 17, 23)),
    "vit_h": SamConfig(1280, 32, 16, (7, 15, 23, 31)),
}

#: A tiny encoder for tests and demos without a checkpoint: random weights, same modules.
TINY = SamConfig(32, 2, 2, (1,), img_size=256)

_PATCH = 16
_PROMPT_DIM = 256


def build_sam(config: SamConfig):
    """A segment-anything ``Sam`` module (eval mode, random weights) of the given configuration."""
    import torch
    from segment_anything.build_sam import _build_sam
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    if config.img_size == 1024:
        return _build_sam(config.embed_dim, config.depth, config.num_heads, list(config.global_attn_indexes))
    # _build_sam fixes the input size at 1024; smaller inputs (tests) build the same modules here.
    grid = config.img_size // _PATCH
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=config.depth, embed_dim=config.embed_dim, img_size=config.img_size, mlp_ratio=4,
            norm_layer=functools.partial(torch.nn.LayerNorm, eps=1e-6), num_heads=config.num_heads,
            patch_size=_PATCH, qkv_bias=True, use_rel_pos=True,
            global_attn_indexes=list(config.global_attn_indexes), window_size=14, out_chans=_PROMPT_DIM,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=_PROMPT_DIM, image_embedding_size=(grid, grid),
            input_image_size=(config.img_size, config.img_size), mask_in_chans=16,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=_PROMPT_DIM, mlp_dim=2048, num_heads=8),
            transformer_dim=_PROMPT_DIM, iou_head_depth=3, iou_head_hidden_dim=256,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    sam.eval()
    return sam


def seeded(build, config, seed: int):
    """``build(config)`` with torch's generator seeded, leaving the caller's random state as it was."""
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return build(config)


def random_sam(config: SamConfig = TINY, seed: int = 0):
    """A randomly initialised SAM (deterministic for a seed): for tests, benchmarks and the demo."""
    return seeded(build_sam, config, seed)


def infer_config(state_dict: dict) -> SamConfig:
    """Read the encoder configuration off the weight shapes of a SAM state dict."""
    try:
        embed_dim = int(state_dict["image_encoder.patch_embed.proj.weight"].shape[0])
        grid = int(state_dict["image_encoder.pos_embed"].shape[1])
        blocks = sorted({int(m.group(1)) for k in state_dict
                         if (m := re.match(r"image_encoder\.blocks\.(\d+)\.", k))})
        head_dim = int(state_dict["image_encoder.blocks.0.attn.rel_pos_h"].shape[1])
        global_idx = tuple(
            i for i in blocks if state_dict[f"image_encoder.blocks.{i}.attn.rel_pos_h"].shape[0] == 2 * grid - 1
        )
    except (KeyError, IndexError, AttributeError) as exc:
        raise ValueError(f"not a segment-anything SAM state dict (missing {exc})") from None
    return SamConfig(embed_dim, len(blocks), embed_dim // head_dim, global_idx, img_size=grid * _PATCH)


def _read_state_dict(path: Path) -> dict:
    import pickle

    import torch

    try:
        with open(path, "rb") as fh:
            obj = torch.load(fh, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        raise InputError(
            f"{path}: not a loadable SAM checkpoint ({str(exc).splitlines()[0]}); give a segment-anything "
            "checkpoint such as sam_vit_b_01ec64.pth."
        ) from None
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict):
        raise InputError(f"{path}: checkpoint holds a {type(obj).__name__}, expected a SAM state dict.")
    return obj


def load_sam(checkpoint: str | os.PathLike, model_type: str | None = None, device: str = "cpu"):
    """Load a segment-anything checkpoint from ``checkpoint`` onto ``device``.

    Args:
        checkpoint: Path to a ``.pth`` state dict (segment-anything's own files, or :func:`save_checkpoint`).
        model_type: ``vit_b``, ``vit_l`` or ``vit_h`` to check the file against; ``None`` infers it.
        device: ``cpu`` or ``cuda[:N]``.

    Returns:
        ``(sam, config)``: the module in eval mode, and the configuration read off the weights.

    Raises:
        InputError: the file is missing, not a SAM checkpoint, or not the ``model_type`` asked for.
    """
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise InputError(f"{path}: SAM checkpoint not found; pass --sam-checkpoint PATH to a segment-anything "
                         f"checkpoint (e.g. sam_vit_b_01ec64.pth) or set {CHECKPOINT_ENV}.")
    return sam_from_state(path, _read_state_dict(path), model_type, device)


def sam_from_state(path: Path, state: dict, model_type: str | None = None, device: str = "cpu"):
    """Build the SAM a state dict read from ``path`` describes and load it; ``(sam, config)``."""
    try:
        config = infer_config(state)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}.") from None
    if model_type is not None:
        if model_type not in PRESETS:
            raise InputError(f"{path}: holds a SAM {config.name} encoder, not {model_type}; drop --sam-model or "
                             "give the matching checkpoint.")
        if PRESETS[model_type] != config:
            raise InputError(f"{path}: holds a {config.name} encoder, not {model_type}; drop --sam-model or "
                             "give the matching checkpoint.")
    sam = load_weights(build_sam(config), state, path, f"a {config.name} SAM")
    return sam.to(_torch_device(device)), config


def load_weights(module, state: dict, path, what: str):
    """``module`` with ``state`` loaded; a tensor missing or left over is one clear error naming ``path``."""
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputError(f"{path}: weights do not fit {what} (missing {len(missing)}, unexpected "
                         f"{len(unexpected)} tensors, e.g. {(missing or unexpected)[0]}).")
    return module


def _torch_device(device: str):
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {device}: CUDA is not available on this machine; use --device cpu.")
    return torch.device(device)


def save_checkpoint(sam, path: str | os.PathLike) -> Path:
    """Write ``sam``'s state dict as a checkpoint :func:`load_sam` reads (atomic)."""
    import torch

    from farmannot.io.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({k: v.detach().cpu() for k, v in sam.state_dict().items()}, tmp)
    return path


@functools.lru_cache(maxsize=16)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def checkpoint_id(checkpoint: str | os.PathLike) -> str:
    """A content fingerprint of a checkpoint file (SHA-256 of its bytes), the model part of cache keys."""
    p = Path(checkpoint).resolve()
    st = p.stat()
    return _file_sha256(str(p), st.st_size, st.st_mtime_ns)
