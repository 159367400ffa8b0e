"""Prediction overlays: the tile image with GT and predicted parcel outlines and error tints."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from farmannot.io.atomic import atomic_path
from farmannot.train.metrics.edge import mask_boundary

GT_COLOUR = (0, 255, 0)
PRED_COLOUR = (255, 0, 255)


def display_rgb(image: np.ndarray) -> np.ndarray:
    """First three bands (or the one band repeated) as uint8 for display; 8-bit data is kept as is."""
    img = image[..., :3] if image.shape[-1] >= 3 else np.repeat(image[..., :1], 3, axis=-1)
    if img.max() <= 255 and img.min() >= 0:
        return img.astype(np.uint8)
    lo, hi = np.percentile(img, (2, 98))
    return (np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1) * 255).astype(np.uint8)


def overlay(image: np.ndarray, gt: np.ndarray, pred: np.ndarray, scale: int = 1) -> np.ndarray:
    """RGB overlay: missed parcel tinted green, false parcel tinted magenta, outlines on top.

    Args:
        image: ``H x W x C`` tile.
        gt: GT mask (non-zero = parcel).
        pred: predicted mask.
        scale: nearest-neighbour enlargement (small tiles are hard to see).
    """
    rgb = display_rgb(image).astype(np.float32)
    g, p = gt != 0, pred != 0
    for mask, colour in ((g & ~p, GT_COLOUR), (p & ~g, PRED_COLOUR)):
        rgb[mask] = 0.6 * rgb[mask] + 0.4 * np.array(colour, np.float32)
    out = rgb.astype(np.uint8)
    if scale > 1:
        out = out.repeat(scale, 0).repeat(scale, 1)
        g, p = g.repeat(scale, 0).repeat(scale, 1), p.repeat(scale, 0).repeat(scale, 1)
    out[mask_boundary(g)] = GT_COLOUR
    out[mask_boundary(p)] = PRED_COLOUR
    return out


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Write an RGB (or single-band) uint8 array as PNG, atomically."""
    import cv2

    arr = rgb[..., ::-1] if rgb.ndim == 3 else rgb
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), np.ascontiguousarray(arr)):
            raise OSError(f"{path}: could not write PNG")
