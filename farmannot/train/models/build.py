"""One entry point for every catalog model: :func:`build_model` and :func:`prepare_config`."""

from __future__ import annotations

from torch import nn


def prepare_config(config: dict, saved: dict | None = None) -> dict:
    """Complete a run configuration with what the model's architecture needs and only a checkpoint can tell
    (ETTerra: the SAM and CLIP shapes). A resumed run keeps what it was built with (``saved``)."""
    if config.get("model") != "etterra":
        return config
    from farmannot.train.models.etterra import prepare_config as prepare_etterra

    if saved and saved.get("etterra"):
        return config | {"etterra": saved["etterra"]}
    return prepare_etterra(config)


def build_model(config: dict, pretrained: bool = False) -> nn.Module:
    """The model of a run configuration; ``pretrained`` loads the checkpoints the options name (a new run).

    Every model's ``forward(image, text=None, clauses=None, clause_mask=None, dem=None)`` returns parcel
    logits ``B x 1 x H x W``; ``text`` is a MiniLM caption embedding, or CLIP token ids for CLIP-text models.
    """
    if config.get("model") == "etterra":
        from farmannot.train.models.etterra import build_etterra

        return build_etterra(config, pretrained)
    from farmannot.train.models.segmenter import build_model as build_segmenter

    return build_segmenter(config)
