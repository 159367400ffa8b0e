"""SPIE prompts on a real scene: physically plausible values, vegetation and water where the scene has them."""

import numpy as np
import pytest
import rasterio

from farmannot.io.raster import open_raster, read_bands, scene_info
from farmannot.spectral.indices import ndvi, ndwi
from farmannot.spectral.otsu import otsu_mask
from farmannot.spectral.scene import scene_prompt_records

SCENE = "scenes/rgbn-cul-de-sac.tif"


@pytest.fixture(scope="module")
def bands(sample_data):
    with open_raster(sample_data / SCENE) as src:
        info = scene_info(src, sensor="rgbn")
        b, valid = read_bands(src, info, ["red", "green", "nir"])
    return b, valid


def test_indices_in_physical_range(bands):
    b, valid = bands
    for idx in (ndvi(b["nir"], b["red"], valid), ndwi(b["green"], b["nir"], valid)):
        finite = idx[np.isfinite(idx)]
        assert finite.size > 0.99 * idx.size
        assert finite.min() >= -1.0 and finite.max() <= 1.0


def test_vegetation_where_the_forest_is(bands):
    # The dense tree cover east of the river bed (rows 100-250, cols 390-450) against the bright,
    # bare river bed (rows 150-300, cols 300-340), located by eye on the true-colour image.
    b, valid = bands
    mask, _ = otsu_mask(ndvi(b["nir"], b["red"], valid))
    assert mask[100:250, 390:450].mean() > 0.6
    assert mask[150:300, 300:340].mean() < 0.45


def test_water_in_the_river_bed_pools(bands):
    # Small dark pools in the river bed (around row 255, col 370) are the only open water in the scene.
    b, valid = bands
    w = ndwi(b["green"], b["nir"], valid)
    mask, t = otsu_mask(w)
    pools = w[245:270, 355:400]
    assert np.nanmax(pools) > 0.7
    r, c = np.unravel_index(np.nanargmax(pools), pools.shape)
    assert mask[245 + r, 355 + c]
    assert np.nanmedian(w[100:250, 390:450]) < 0  # trees: NIR above green


def test_scene_records_tile_the_scene(sample_data):
    recs = list(scene_prompt_records(sample_data / SCENE, sensor="rgbn", tile_size=256))
    with rasterio.open(sample_data / SCENE) as src:
        w, h = src.width, src.height
    windows = {tuple(r["window"]) for r in recs}
    cover = np.zeros((h, w), bool)
    for col, row, ww, hh in windows:
        assert ww == 256 and hh == 256
        assert col + ww <= w and row + hh <= h
        cover[row:row + hh, col:col + ww] = True
    assert cover.all()
    assert {r["category"] for r in recs} == {"vegetation", "water"}  # no SWIR -> no building
    assert len(recs) == 2 * len(windows)
