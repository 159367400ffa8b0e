"""The picture the annotator and SAM see: true colour, scene-wide stretch, nodata black, georeferencing."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from PIL import Image

from farmannot.errors import InputError
from farmannot.sam.imagery import band_labels, render_picture

SCENES = "scenes"


def test_uint16_landsat_true_colour_scene_stretch(sample_data):
    path = sample_data / SCENES / "LC08_L1TP_224078_20200518_20200518_01_RT_subset.tif"
    pic = render_picture(path)
    assert pic.rgb.shape == (768, 768, 3) and pic.rgb.dtype == np.uint8
    assert pic.bands == [3, 2, 1] and pic.band_names == ["red", "green", "blue"]  # file order is B, G, R
    with rasterio.open(path) as src:
        red = src.read(3).astype(np.float64)
    lo, hi = np.percentile(red, [2, 98])
    assert pic.stretch["low"][0] == pytest.approx(lo) and pic.stretch["high"][0] == pytest.approx(hi)
    # 2-98 % stretch: about 2 % of pixels saturate at each end
    assert 0.01 < (pic.rgb[..., 0] == 255).mean() < 0.04
    assert pic.georef["crs"] == "EPSG:32621"


def test_uint8_rgbn_shown_as_stored_with_band_choice(sample_data):
    path = sample_data / SCENES / "rgbn-cul-de-sac.tif"
    with rasterio.open(path) as src:
        data = src.read()
    pic = render_picture(path)
    assert pic.stretch is None and pic.bands == [1, 2, 3]
    np.testing.assert_array_equal(pic.rgb, np.moveaxis(data[:3], 0, -1))
    false_colour = render_picture(path, bands=[4, 1, 2])
    np.testing.assert_array_equal(false_colour.rgb[..., 0], data[3])
    gray = render_picture(path, bands=[4])
    np.testing.assert_array_equal(gray.rgb[..., 1], data[3])
    with pytest.raises(InputError, match="display bands"):
        render_picture(path, bands=[5, 1, 2])
    assert band_labels(path)[3] == "4 nir"


def test_nodata_is_black_and_stretch_ignores_it(sample_data):
    path = sample_data / SCENES / "rgbn-cul-de-sac-suba.tif"
    with rasterio.open(path) as src:
        valid = src.dataset_mask() > 0
    pic = render_picture(path, stretch="scene")
    assert (~valid).any()
    assert (pic.rgb[~valid] == 0).all()
    assert min(pic.stretch["low"]) > 0  # the zeros around the scene did not enter the statistics


def test_png_decoded_like_labelme(tmp_path):
    arr = (np.random.default_rng(0).random((10, 12, 3)) * 255).astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "a.png")
    np.testing.assert_array_equal(render_picture(tmp_path / "a.png").rgb, arr)
    with pytest.raises(InputError):
        render_picture(tmp_path / "a.png", bands=[1, 2, 3])
