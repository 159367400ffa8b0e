"""Fixtures of the vector tests (helpers and known answers in ``vector_fixtures``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from shapely.geometry import LineString, Point
from vector_fixtures import (
    BOWTIE,
    EDGE_FIELD,
    FIELD_WITH_HOLE,
    OUTSIDE_FIELD,
    TWO_PART_FIELD,
    pixel_to_lonlat,
    write_scene,
    write_vectors,
)


@pytest.fixture()
def utm_scene(tmp_path) -> Path:
    return write_scene(tmp_path / "scene.tif")


@pytest.fixture()
def lonlat_parcels(tmp_path) -> Path:
    """Six features in EPSG:4326: a field with a hole, a two-part field, a field over the scene edge, a
    self-intersecting field, a field outside the scene, a point and a line."""
    geoms = [pixel_to_lonlat(g) for g in (FIELD_WITH_HOLE, TWO_PART_FIELD, EDGE_FIELD, BOWTIE, OUTSIDE_FIELD)]
    geoms += [pixel_to_lonlat(Point(5, 5)), pixel_to_lonlat(LineString([(1, 1), (9, 9)]))]
    fields = {"crop": ["maize", "soy", "maize", "wheat", "maize", "well", "ditch"],
              "farm_no": [11, 12, 13, 14, 15, 16, 17]}
    return write_vectors(tmp_path / "parcels.geojson", geoms, fields)
