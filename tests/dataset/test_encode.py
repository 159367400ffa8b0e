"""Tile encoders of ``farmannot.dataset.layouts.encode``, read back with rasterio."""

from __future__ import annotations

import warnings

import numpy as np
import rasterio
from rasterio.io import MemoryFile
from rasterio.transform import Affine, from_origin

from farmannot.dataset.layouts.encode import geotiff_bytes


def test_label_tif_of_an_ungeoreferenced_scene_writes_quietly():
    """A PNG/JPEG scene's label tiles have no CRS: written without rasterio's NotGeoreferencedWarning on the
    terminal, same pixels; a georeferenced tile keeps its CRS and transform."""
    mask = (np.arange(64, dtype=np.uint8).reshape(1, 8, 8) % 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = geotiff_bytes(mask, None, Affine.identity())
    with MemoryFile(data) as mem, warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with mem.open() as src:
            assert src.crs is None and np.array_equal(src.read(), mask)
    tr = from_origin(600000, 5000000, 10, 10)
    with MemoryFile(geotiff_bytes(mask, "EPSG:32633", tr)) as mem, mem.open() as src:
        assert src.crs.to_epsg() == 32633 and src.transform == tr and np.array_equal(src.read(), mask)
