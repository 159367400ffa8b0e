"""SAM 2 / SAM 2.1 models from the ``sam2`` package, built from its own configurations (never downloaded).

:func:`build_sam2_model` composes the package's Hydra configuration (``sam2/configs/sam2.1/*.yaml``) with the
same post-processing overrides as ``sam2.build_sam.build_sam2`` and instantiates it; :func:`load_sam2` reads
an official checkpoint (``{"model": state_dict}``, e.g. ``sam2.1_hiera_tiny.pt``) with
``torch.load(weights_only=True)``, recognises its size from the weight shapes and loads it strictly. A
checkpoint written by :func:`save_sam2_checkpoint` also records its configuration (plain strings), so the
tiny random model tests use goes through the same loader as a real Hiera-tiny.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from farmannot.errors import InputError

#: Overrides ``sam2.build_sam.build_sam2`` applies for image prediction (dynamic multimask fallback).
_POSTPROCESSING = (
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability=true",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_delta=0.05",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh=0.98",
)


@dataclass(frozen=True)
class Sam2Config:
    """A SAM 2 model: the package configuration file and overrides on it (none for the published models)."""

    name: str
    config_file: str
    overrides: tuple[str, ...] = ()

    @property
    def image_size(self) -> int:
        for o in self.overrides:
            if o.startswith("++model.image_size="):
                return int(o.split("=", 1)[1])
        return 1024

    def to_dict(self) -> dict:
        return {"name": self.name, "config_file": self.config_file, "overrides": list(self.overrides)}


def _preset(version: str, size: str, letter: str) -> Sam2Config:
    folder = "sam2.1" if version == "2.1" else "sam2"
    return Sam2Config(f"sam{version}_{size}", f"configs/{folder}/{folder}_hiera_{letter}.yaml")


#: The published SAM 2.1 (and SAM 2) models; checkpoints sam2.1_hiera_tiny.pt ... sam2.1_hiera_large.pt.
PRESETS: dict[str, Sam2Config] = {
    c.name: c for v in ("2.1", "2") for c in (
        _preset(v, "tiny", "t"), _preset(v, "small", "s"), _preset(v, "base_plus", "b+"), _preset(v, "large", "l"))
}
#: Official checkpoint file names, for `farmannot info` and messages.
CHECKPOINT_NAMES = {f"sam2.1_{s}": f"sam2.1_hiera_{s}.pt" for s in ("tiny", "small", "base_plus", "large")}
CHECKPOINT_NAMES.update({f"sam2_{s}": f"sam2_hiera_{s}.pt" for s in ("tiny", "small", "base_plus", "large")})

#: A tiny SAM 2.1 for tests: Hiera with 5 blocks of 8-64 channels, 256 px input, the real prompt encoder and
#: mask decoder (random weights).
TINY = Sam2Config("sam2.1_tiny-test", "configs/sam2.1/sam2.1_hiera_t.yaml", (
    "++model.image_encoder.trunk.embed_dim=8", "++model.image_encoder.trunk.num_heads=1",
    "++model.image_encoder.trunk.stages=[1,1,2,1]", "++model.image_encoder.trunk.global_att_blocks=[3]",
    "++model.image_encoder.neck.backbone_channel_list=[64,32,16,8]", "++model.image_size=256",
    "++model.memory_attention.num_layers=1", "++model.memory_encoder.fuser.num_layers=1",
    "++model.memory_attention.layer.self_attention.feat_sizes=[16,16]",
    "++model.memory_attention.layer.cross_attention.feat_sizes=[16,16]",
))

# (trunk embed dim, trunk blocks) of the published sizes; SAM 2 and 2.1 share them.
_SHAPES = {(96, 12): "tiny", (96, 16): "small", (112, 24): "base_plus", (144, 48): "large"}


def build_sam2_model(config: Sam2Config):
    """A ``sam2.modeling.sam2_base.SAM2Base`` of ``config`` (random weights, eval mode, CPU)."""
    import sam2  # noqa: F401  (initialises Hydra's search path on the package's configs)
    from hydra import compose
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = compose(config_name=config.config_file, overrides=[*_POSTPROCESSING, *config.overrides])
    OmegaConf.resolve(cfg)
    model = instantiate(cfg.model, _recursive_=True)
    model.eval()
    return model


def random_sam2(config: Sam2Config = TINY, seed: int = 0):
    """A randomly initialised SAM 2 (deterministic for a seed): tests and benchmarks."""
    from farmannot.sam.model import seeded

    return seeded(build_sam2_model, config, seed)


def is_sam2_state(state: dict) -> bool:
    return "image_encoder.trunk.patch_embed.proj.weight" in state


def infer_sam2_config(state: dict) -> Sam2Config:
    """The published model a SAM 2 state dict is, from its Hiera trunk's width and depth."""
    import re

    dim = int(state["image_encoder.trunk.patch_embed.proj.weight"].shape[0])
    blocks = len({m.group(1) for k in state if (m := re.match(r"image_encoder\.trunk\.blocks\.(\d+)\.", k))})
    size = _SHAPES.get((dim, blocks))
    if size is None:
        raise ValueError(f"a Hiera trunk of width {dim} and {blocks} blocks is none of the published SAM 2 sizes")
    version = "2.1" if "no_obj_embed_spatial" in state else "2"
    return PRESETS[f"sam{version}_{size}"]


def load_sam2(path: Path, obj: dict, model_name: str | None = None, device: str = "cpu"):
    """Build and load a SAM 2 checkpoint already read by ``torch.load(weights_only=True)``; ``(model, config)``."""
    state = obj["model"] if isinstance(obj.get("model"), dict) else obj
    recorded = obj.get("farmannot_config")
    try:
        config = Sam2Config(recorded["name"], recorded["config_file"], tuple(recorded["overrides"])) \
            if isinstance(recorded, dict) else infer_sam2_config(state)
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: {exc}; give an official SAM 2.1 checkpoint such as sam2.1_hiera_tiny.pt.") from None
    if model_name is not None and model_name != config.name:
        raise InputError(f"{path}: holds {config.name}, not {model_name}; drop --sam-model or give the matching "
                         "checkpoint.")
    from farmannot.sam.model import load_weights

    return load_weights(build_sam2_model(config), state, path, config.name).to(device), config


def save_sam2_checkpoint(model, config: Sam2Config, path: str | os.PathLike) -> Path:
    """Write ``model`` as an official-layout checkpoint plus its configuration (atomic)."""
    import torch

    from farmannot.io.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                    "farmannot_config": config.to_dict()}, tmp)
    return path
