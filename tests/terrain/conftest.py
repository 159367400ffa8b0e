"""Fixtures for the terrain tests: the synthetic geographic DEM and its UTM image grid."""

from __future__ import annotations

import pytest
from terrain_synthetic import image_grid, write_geographic_dem  # noqa: E402  (tests/terrain is on sys.path)


@pytest.fixture(scope="session")
def scene():
    """A 256 x 256 px, 2 m UTM 13 N image grid."""
    return image_grid(256, 2.0)


@pytest.fixture(scope="session")
def geo_dem(tmp_path_factory, scene):
    """The synthetic terrain sampled on a ~5 m EPSG:4326 grid that covers the scene with a margin."""
    return write_geographic_dem(tmp_path_factory.mktemp("dem") / "dem_4326.tif", scene)
