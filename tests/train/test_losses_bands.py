"""Loss with ignore pixels, the warm-up + cosine schedule, and multi-band GeoTIFF tiles (extra channels)."""

import math

import numpy as np
import pytest
import rasterio
import torch

from farmannot.train.data import compute_preprocess, list_tiles
from farmannot.train.losses import bce_dice_loss
from farmannot.train.samples import TileDataset
from farmannot.train.schedule import warmup_cosine


def test_loss_ignores_invalid_pixels_and_matches_formula():
    target = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    valid = torch.tensor([[[True, True], [False, True]]])
    a = torch.tensor([[[[2.0, -1.0], [5.0, 0.5]]]])
    b = a.clone()
    b[0, 0, 1, 0] = -9.0  # only an ignored pixel changes
    assert bce_dice_loss(a, target, valid) == pytest.approx(float(bce_dice_loss(b, target, valid)))
    p = torch.sigmoid(torch.tensor([2.0, -1.0, 0.5]))
    t = torch.tensor([1.0, 0.0, 0.0])
    bce = -(t * torch.log(p) + (1 - t) * torch.log(1 - p)).mean()
    dice = 1 - (2 * (p * t).sum() + 1) / (p.sum() + t.sum() + 1)
    assert float(bce_dice_loss(a, target, valid)) == pytest.approx(float(bce + dice), rel=1e-5)


def test_warmup_cosine_schedule():
    f = warmup_cosine(total_steps=110, warmup_steps=10, min_ratio=0.0)
    assert f(0) == pytest.approx(1 / 11) and f(9) == pytest.approx(10 / 11)
    assert f(10) == pytest.approx(1.0) and f(60) == pytest.approx(0.5) and f(110) == pytest.approx(0.0)
    assert f(35) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.25)))


def test_multiband_geotiff_tiles_give_extra_channels(gtpbd_dataset):
    # replace the PNG tiles of the val split by 5-band uint16 GeoTIFFs (e.g. B, G, R, NIR, SWIR)
    rng = np.random.default_rng(0)
    for png in sorted((gtpbd_dataset / "gtpbd-mm" / "val").glob("*/images/*.png")):
        png.unlink()
        with rasterio.open(png.with_suffix(".tif"), "w", driver="GTiff", width=32, height=32, count=5,
                           dtype="uint16") as ds:
            ds.write(rng.integers(0, 10000, (5, 32, 32)).astype(np.uint16))
    layout, recs = list_tiles(gtpbd_dataset, "val")
    assert all(r.image.suffix == ".tif" for r in recs)
    prep = compute_preprocess(recs)
    assert prep.channels == 5 and prep.bands == "stored" and 4000 < prep.mean[0] < 6000
    sample = TileDataset(recs, layout, prep)[0]
    assert sample["image"].shape == (5, 32, 32) and abs(float(sample["image"].mean())) < 0.5
