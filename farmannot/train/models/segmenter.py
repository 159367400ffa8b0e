"""The model farmannot trains: a registry backbone with optional DEM and text conditioning."""

from __future__ import annotations

import torch
from torch import nn

from farmannot.train.models.catalog import TEXT_FUSIONS
from farmannot.train.models.conditioning import (
    DemModulation,
    TextCrossAttention,
    TextFiLM,
)
from farmannot.train.models.registry import build_backbone


class Segmenter(nn.Module):
    """Backbone + conditioning; ``forward`` returns parcel logits ``B x 1 x H x W``.

    Args:
        backbone: a :class:`~farmannot.train.models.registry.Backbone`.
        inputs: ``image``, ``image+text`` or ``image+text+dem``.
        text_fusion: ``film`` or ``cross-attention``.
        text_dim: caption embedding size.
    """

    def __init__(self, backbone, inputs: str = "image", text_fusion: str = "film", text_dim: int = 384) -> None:
        super().__init__()
        if text_fusion not in TEXT_FUSIONS:
            raise ValueError(f"text_fusion must be one of {TEXT_FUSIONS}, got {text_fusion!r}")
        self.backbone = backbone
        self.inputs = inputs
        self.dem = DemModulation(backbone.encoder_channels, skip_first=len(backbone.encoder_channels) > 1) \
            if inputs == "image+text+dem" else None
        self.text = None
        if "text" in inputs:
            cls = TextFiLM if text_fusion == "film" else TextCrossAttention
            self.text = cls(text_dim, backbone.decoder_channels)

    def forward(self, image: torch.Tensor, text: torch.Tensor | None = None, clauses: torch.Tensor | None = None,
                clause_mask: torch.Tensor | None = None, dem: torch.Tensor | None = None) -> torch.Tensor:
        features = self.backbone.encode(image)
        if self.dem is not None:
            if dem is None:
                raise ValueError("this model takes a DEM (inputs image+text+dem)")
            features = self.dem(features, dem)
        decoded = self.backbone.decode(features)
        if self.text is not None:
            if text is None:
                raise ValueError("this model takes a caption embedding (text inputs)")
            decoded = self.text(decoded, text, clauses, clause_mask)
        return self.backbone.head(decoded, tuple(image.shape[-2:]))


def build_model(config: dict) -> Segmenter:
    """A model from a run configuration (keys ``model, encoder, in_channels, inputs, text_fusion``,
    optional ``encoder_weights``, ``text_dim``, ``arch_kwargs``)."""
    backbone = build_backbone(config["model"], config.get("encoder"), int(config["in_channels"]),
                              config.get("encoder_weights"), **config.get("arch_kwargs", {}))
    return Segmenter(backbone, config.get("inputs", "image"), config.get("text_fusion", "film"),
                     int(config.get("text_dim", 384)))


def model_inputs(batch: dict, device: torch.device | str, non_blocking: bool = False,
                 memory_format: torch.memory_format = torch.contiguous_format) -> dict[str, torch.Tensor]:
    """The keyword arguments of :meth:`Segmenter.forward` from a batch of samples, moved to ``device``."""
    out = {"image": batch["image"].to(device, non_blocking=non_blocking).contiguous(memory_format=memory_format)}
    for k in ("text", "clauses", "clause_mask", "dem"):
        if k in batch:
            out[k] = batch[k].to(device, non_blocking=non_blocking)
    return out
