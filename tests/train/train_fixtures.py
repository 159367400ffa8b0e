"""Helpers of the train tests: tiny gtpbd-mm / farmseg-vl datasets with a fixed seed, the tiny model, a fake
sentence embedder (fixtures in ``conftest``; a test imports these from here, as ``conftest`` names several
modules across the test folders).

Parcels are bright textured rectangles on a darker noisy background, so a tiny model learns them in a few
epochs; DEM tiles are a ramp with a NaN corner (one tile has none); captions are short sentences.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

REGIONS = ("north", "south")

try:  # one thread: the tests run on small shared CPUs where more threads only contend
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass


def _tile(rng: np.random.Generator, size: int):
    mask = np.zeros((size, size), np.uint8)
    parcel = np.zeros((size, size), np.uint16)
    for pid in range(1, int(rng.integers(2, 4)) + 1):
        h, w = rng.integers(size // 4, size // 2, 2)
        y, x = rng.integers(0, size - h), rng.integers(0, size - w)
        mask[y:y + h, x:x + w] = 1
        parcel[y:y + h, x:x + w] = pid
    img = rng.normal(60, 12, (size, size, 3))
    img[mask == 1] += np.array([90, 120, 40])
    return np.clip(img, 0, 255).astype(np.uint8), mask, parcel


def write_gtpbd(root: Path, n_train=8, n_val=4, n_test=4, size=32, corrupt: tuple[str, ...] = (),
                seed: int = 0, ignore_border: bool = True) -> Path:
    """Write ``root/gtpbd-mm`` (``{split}/{region}/{images,mask_labels,...}``) and ``root/manifest.parquet``;
    returns ``root``.

    Tiles named in ``corrupt`` get a wrong label, as planted label errors of three kinds in turn: parcels
    erased (a missed annotation), the mask shifted by a quarter tile (misregistration), the mask inverted.
    """
    import cv2
    import pandas as pd
    import rasterio
    from rasterio.transform import from_origin
    from skimage.segmentation import find_boundaries

    rng = np.random.default_rng(seed)
    rows = []
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        for i in range(n):
            name = f"{split}_{i:03d}"
            base = root / "gtpbd-mm" / split / REGIONS[i % 2]
            for kind in ("images", "mask_labels", "boundary_labels", "parcel_labels", "dem", "text"):
                (base / kind).mkdir(parents=True, exist_ok=True)
            img, mask, parcel = _tile(rng, size)
            label = mask.copy()
            if name in corrupt:
                kind = corrupt.index(name) % 3
                label = np.zeros_like(label) if kind == 0 else (
                    np.roll(label, size // 4, axis=(0, 1)) if kind == 1 else 1 - label)
            if ignore_border:
                label[0, : size // 4] = 255
            cv2.imwrite(str(base / "images" / f"{name}.png"), img[..., ::-1])
            cv2.imwrite(str(base / "mask_labels" / f"{name}.png"), label)
            boundary = find_boundaries(parcel, mode="inner").astype(np.uint8)
            cv2.imwrite(str(base / "boundary_labels" / f"{name}.png"), boundary)
            cv2.imwrite(str(base / "parcel_labels" / f"{name}.png"), ((parcel > 0) & (boundary == 0)).astype(np.uint8))
            if i != 1:  # one tile per split has no DEM
                dem = (np.arange(size)[None, :] * 0.5 + mask * 3.0 + 100).astype(np.float32)
                dem[:3, :3] = np.nan
                with rasterio.open(base / "dem" / f"{name}.tif", "w", driver="GTiff", width=size, height=size,
                                   count=1, dtype="float32", nodata=float("nan"),
                                   transform=from_origin(0, size, 1, 1), crs="EPSG:32650") as ds:
                    ds.write(dem, 1)
            (base / "text" / f"{name}.txt").write_text(
                f"The farmland is blocky, with {int(mask.sum())} parcel pixels. The terrain is flat.", encoding="utf-8")
            rows.append({"tile_id": name, "scene": f"scene{i % 3}", "region": REGIONS[i % 2], "split": split})
    pd.DataFrame(rows).to_parquet(root / "manifest.parquet")
    return root


def write_farmseg(root: Path, n_train=4, n_val=2, size=32, seed=1) -> Path:
    """Write ``root/farmseg-vl`` (img / lbl 0-255 / json captions)."""
    import cv2

    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        base = root / "farmseg-vl" / split
        for kind in ("img", "lbl", "json"):
            (base / kind).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            name = f"fs_{split}_{i}"
            img, mask, _ = _tile(rng, size)
            cv2.imwrite(str(base / "img" / f"{name}.png"), img[..., ::-1])
            cv2.imwrite(str(base / "lbl" / f"{name}.png"), mask * 255)
            (base / "json" / f"{name}.json").write_text(json.dumps(
                {"img_description_eg": "Blocky farmland in a plain.", "img_description_cn": "平原上的块状耕地。"},
                ensure_ascii=False), encoding="utf-8")
    return root


def fake_embedder(texts):
    """A deterministic stand-in for the sentence model (unit vectors from a hash of the text)."""
    import hashlib

    out = []
    for t in texts:
        r = np.random.default_rng(int(hashlib.sha1(t.encode()).hexdigest()[:8], 16))
        v = r.normal(size=384).astype(np.float32)
        out.append(v / np.linalg.norm(v))
    return np.stack(out)


# the tiny model every training test uses: timm's smallest MobileNetV3 inside smp's U-Net
TINY = {"model": "unet", "encoder": "tu-mobilenetv3_small_050",
        "arch_kwargs": {"encoder_depth": 3, "decoder_channels": [32, 16, 8]}}
