"""Segmentation models: a small registry of backbones and the text/DEM conditioning around them."""

from farmannot.train.models.registry import MODELS, build_backbone, default_encoder
from farmannot.train.models.segmenter import Segmenter, build_model

__all__ = ["MODELS", "Segmenter", "build_backbone", "build_model", "default_encoder"]
