"""Backbones by name: U-Net, PSPNet, UperNet, DeepLabV3, DeepLabV3+, SegFormer (segmentation-models-pytorch)
and FCN (torchvision), each split into ``encode -> decode -> head`` so conditioning can act between the
stages. The names and their defaults come from :mod:`farmannot.train.models.catalog`.

``encoder_weights`` is None by default: nothing is downloaded. Any encoder smp supports (``resnet18``,
``mit_b0``, ``tu-*`` timm encoders, ...) can be named; FCN takes ``resnet50`` or ``resnet101``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from farmannot.errors import FarmannotError
from farmannot.train.models.catalog import MODELS as CATALOG


class Backbone(nn.Module):
    """A segmentation network in three stages.

    Attributes:
        encoder_channels: channels of each encoder feature map (0 for an empty stage).
        decoder_channels: channels of the decoder output that the head reads.
    """

    encoder_channels: list[int]
    decoder_channels: int

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def decode(self, features: list[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def head(self, decoded: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        raise NotImplementedError


class SmpBackbone(Backbone):
    """Any segmentation-models-pytorch architecture with encoder / decoder / segmentation_head."""

    def __init__(self, arch: str, encoder: str, in_channels: int, encoder_weights: str | None = None,
                 **kwargs) -> None:
        super().__init__()
        import segmentation_models_pytorch as smp

        try:
            self.net = smp.create_model(arch, encoder_name=encoder, encoder_weights=encoder_weights,
                                        in_channels=in_channels, classes=1, **kwargs)
        except (KeyError, ValueError, RuntimeError, TypeError) as exc:
            raise FarmannotError(f"cannot build {arch} with encoder {encoder!r}: {exc}") from exc
        self.encoder_channels = list(self.net.encoder.out_channels)
        self.decoder_channels = int(self.net.segmentation_head[0].in_channels)

    def encode(self, x):
        return self.net.encoder(x)

    def decode(self, features):
        return self.net.decoder(features)

    def head(self, decoded, size):
        out = self.net.segmentation_head(decoded)
        if out.shape[-2:] != tuple(size):
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
        return out


class FcnBackbone(Backbone):
    """torchvision's FCN (ResNet-50/101), random weights; the first conv is widened for extra bands."""

    def __init__(self, encoder: str, in_channels: int, encoder_weights: str | None = None) -> None:
        super().__init__()
        from torchvision.models import segmentation as tvseg

        builders = {"resnet50": tvseg.fcn_resnet50, "resnet101": tvseg.fcn_resnet101}
        if encoder not in builders:
            raise FarmannotError(f"fcn supports encoders {sorted(builders)}, got {encoder!r}")
        if encoder_weights:
            raise FarmannotError("fcn: pretrained weights are not downloaded; leave --encoder-weights unset.")
        net = builders[encoder](weights=None, weights_backbone=None, num_classes=1, aux_loss=False)
        if in_channels != 3:
            net.backbone.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.backbone = net.backbone
        self.classifier = net.classifier
        self.encoder_channels = [2048]
        self.decoder_channels = int(self.classifier[-1].in_channels)

    def encode(self, x):
        return [self.backbone(x)["out"]]

    def decode(self, features):
        x = features[-1]
        for layer in list(self.classifier)[:-1]:  # conv-bn-relu-dropout; the last conv is the head
            x = layer(x)
        return x

    def head(self, decoded, size):
        return F.interpolate(self.classifier[-1](decoded), size=size, mode="bilinear", align_corners=False)


def _smp(arch: str) -> Callable[..., Backbone]:
    return lambda enc, c, w, **kw: SmpBackbone(arch, enc, c, w, **kw)


# every catalog model of the smp and torchvision families; the others  are whole models
MODELS: dict[str, Callable[..., Backbone]] = {
    name: (_smp(name) if spec.family == "smp" else lambda enc, c, w, **kw: FcnBackbone(enc, c, w, **kw))
    for name, spec in CATALOG.items() if spec.family in ("smp", "torchvision")
}


def default_encoder(model: str) -> str:
    """The encoder used when none is named (small, no download needed)."""
    spec = CATALOG.get(model)
    return (spec.default_encoder if spec else None) or "resnet18"


def build_backbone(model: str, encoder: str | None, in_channels: int, encoder_weights: str | None = None,
                   **kwargs) -> Backbone:
    """A backbone from the registry.

    Raises:
        FarmannotError: unknown model name or encoder.
    """
    if model not in MODELS:
        raise FarmannotError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    return MODELS[model](encoder or default_encoder(model), in_channels, encoder_weights, **kwargs)
