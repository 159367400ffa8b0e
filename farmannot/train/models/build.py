"""One entry point for every catalog model: :func:`build_model`, :func:`prepare_config` and the models'
extra training losses (:func:`auxiliary_loss`)."""

from __future__ import annotations

import torch
from torch import nn

from farmannot.errors import InputError
from farmannot.train.models.catalog import MODELS

_WHOLE = {"etterra": "farmannot.train.models.etterra", "tsmnet": "farmannot.train.models.tsmnet"}


def _family(config: dict) -> str:
    spec = MODELS.get(config.get("model", ""))
    return spec.family if spec else ""


def prepare_config(config: dict, saved: dict | None = None) -> dict:
    """Complete a run configuration with what the model's architecture needs and only a checkpoint can tell
    (ETTerra: the SAM and CLIP shapes; tsmnet-text: the CLIP shape and class names). A resumed run keeps
    what it was built with (``saved``).

    Raises:
        InputError: an ``--inputs`` setting the model does not take.
    """
    spec = MODELS.get(config.get("model", ""))
    inputs = config.get("inputs", "image")
    if spec is not None and inputs not in spec.inputs:
        raise InputError(f"--model {config['model']} takes --inputs {' or '.join(spec.inputs)}, not {inputs}.")
    family = _family(config)
    if family not in _WHOLE:
        return config
    if saved and saved.get(family):
        return config | {family: saved[family]}
    import importlib

    return importlib.import_module(_WHOLE[family]).prepare_config(config)


def build_model(config: dict, pretrained: bool = False) -> nn.Module:
    """The model of a run configuration; ``pretrained`` loads the checkpoints the options name (a new run).

    Every model's ``forward(image, text=None, clauses=None, clause_mask=None, dem=None)`` returns parcel
    logits ``B x 1 x H x W``; ``text`` is a MiniLM caption embedding, or CLIP token ids for CLIP-text models.
    """
    family = _family(config)
    if family == "etterra":
        from farmannot.train.models.etterra import build_etterra

        return build_etterra(config, pretrained)
    if family == "tsmnet":
        from farmannot.train.models.tsmnet import build_tsmnet

        return build_tsmnet(config, pretrained)
    from farmannot.train.models.segmenter import build_model as build_segmenter

    return build_segmenter(config)


def auxiliary_loss(model: nn.Module, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor | None:
    """The model's own extra loss for its last training forward (tsmnet-text: score map + InfoNCE), or None."""
    while hasattr(model, "module"):  # DDP / compile wrappers
        model = model.module
    fn = getattr(getattr(model, "_orig_mod", model), "auxiliary_loss", None)
    return fn(target, valid) if fn is not None else None
