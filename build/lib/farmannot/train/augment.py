"""Geometric augmentations applied identically to every spatial array of a sample (flips and 90-degree
rotations), drawn from a generator seeded by (seed, epoch, index) so a resumed run sees the same ones."""

from __future__ import annotations

import numpy as np


def augmentation_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator for one sample in one epoch."""
    return np.random.default_rng([seed, epoch, index])


def flip_rotate(arrays: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random horizontal/vertical flip and k x 90-degree rotation of the last two axes of every array."""
    k = int(rng.integers(0, 4))
    flip_h = bool(rng.integers(0, 2))
    flip_v = bool(rng.integers(0, 2))
    out = {}
    for key, a in arrays.items():
        if flip_h:
            a = a[..., :, ::-1]
        if flip_v:
            a = a[..., ::-1, :]
        if k:
            a = np.rot90(a, k, axes=(-2, -1))
        out[key] = np.ascontiguousarray(a)
    return out
