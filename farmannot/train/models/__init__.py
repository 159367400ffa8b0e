"""Segmentation models: the catalog, a registry of backbones with text/DEM conditioning, ETTerra
and tsmnet-text."""

from farmannot.train.models.build import auxiliary_loss, build_model, prepare_config
from farmannot.train.models.registry import MODELS, build_backbone, default_encoder
from farmannot.train.models.segmenter import Segmenter

__all__ = ["MODELS", "auxiliary_loss", "Segmenter", "build_backbone", "build_model", "default_encoder", "prepare_config"]
