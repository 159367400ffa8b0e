"""Segmentation models: the catalog, a registry of backbones with text/DEM conditioning, ETTerra
and tsmnet-text.

Names are imported lazily, so the torch-free :mod:`farmannot.train.models.catalog` (the CLI's choices) can be
read without importing torch.
"""

import importlib

_LAZY = {"MODELS": "registry", "build_backbone": "registry", "default_encoder": "registry", "Segmenter": "segmenter",
         "build_model": "build", "prepare_config": "build", "auxiliary_loss": "build"}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
