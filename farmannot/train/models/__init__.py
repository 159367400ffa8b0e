"""Segmentation models: the catalog, a registry of backbones with text/DEM conditioning, and ETTerra."""

from farmannot.train.models.build import build_model, prepare_config
from farmannot.train.models.registry import MODELS, build_backbone, default_encoder
from farmannot.train.models.segmenter import Segmenter

__all__ = ["MODELS", "Segmenter", "build_backbone", "build_model", "default_encoder", "prepare_config"]
