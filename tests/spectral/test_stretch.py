"""The scene-wide stretch: percentiles of valid pixels, nodata left out, the same for every tile."""

import numpy as np
import rasterio
from rasterio.transform import from_origin

from farmannot.io.raster import open_raster
from farmannot.io.stretch import percentile_stretch, scene_stretch


def write(path, data, nodata=None):
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                       dtype=data.dtype, crs="EPSG:32633", transform=from_origin(0, 0, 1, 1), nodata=nodata) as d:
        d.write(data)


def test_nodata_is_left_out_of_the_scene_stretch(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(100, 200, (3, 64, 64)).astype(np.uint16)
    data[:, :, :20] = 0  # a nodata wedge, as Landsat scenes have
    write(tmp_path / "a.tif", data, nodata=0)
    with open_raster(tmp_path / "a.tif") as src:
        st = scene_stretch(src, [1, 2, 3])
    ref = percentile_stretch(data[:, :, 20:].astype(np.float32))
    np.testing.assert_allclose(st.low, ref.low)
    np.testing.assert_allclose(st.high, ref.high)
    assert min(st.low) >= 100  # the zeros did not pull the low end down


def test_without_nodata_every_pixel_counts(tmp_path):
    data = np.arange(3 * 50 * 50, dtype=np.uint16).reshape(3, 50, 50)
    write(tmp_path / "b.tif", data)
    with open_raster(tmp_path / "b.tif") as src:
        st = scene_stretch(src, [1])
    assert st.low[0] == np.percentile(data[0], 2) and st.high[0] == np.percentile(data[0], 98)
    out = st.apply(data[:1].astype(np.float32))
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255
