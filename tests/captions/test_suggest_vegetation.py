"""Vegetation (tree cover) patterns on hand-built tiles: canopy texture, land share, canopy gaps, belts, woods."""

from __future__ import annotations

import numpy as np
import pytest

from farmannot.captions import landcover as lc
from farmannot.captions.suggest import load_thresholds, presence

N = 200
RNG = np.random.default_rng(11)
YY, XX = np.mgrid[:N, :N]
NO_FARM = np.zeros((N, N), bool)


def _soil() -> dict[str, np.ndarray]:
    """Scene-stretched RGB of bare pinkish soil (red strongest: green leaf index < 0), mild noise."""
    n = RNG.normal(0, 0.01, (N, N)).astype(np.float32)
    return {"red": 0.55 + n, "green": 0.45 + n, "blue": 0.45 + n}


def _paint(b: dict[str, np.ndarray], where: np.ndarray, rough: bool, dark: bool = False) -> None:
    """Green cover: ``rough`` = lit crowns and shaded gaps pixel by pixel, else an even crop."""
    lit = RNG.uniform(0, 1, (N, N)) < 0.5 if rough else np.ones((N, N), bool)
    k = 0.4 if dark else 1.0  # conifers: very dark green
    for band, (hi, lo) in (("red", (0.12, 0.04)), ("green", (0.35, 0.12)), ("blue", (0.15, 0.05))):
        b[band][where] = (k * np.where(lit, hi, lo))[where]


def test_smooth_green_crop_is_not_forest_but_rough_canopy_is():
    field = np.zeros((N, N), bool)
    field[20:180, 20:180] = True
    crop = _soil()
    _paint(crop, field, rough=False)
    r = presence(crop, NO_FARM, pixel_size_m=5.0)
    assert r["vegetation"].value == "absent"  # 5 m pixels resolve crowns: no texture, no trees
    assert r["vegetation"].evidence["smooth_green_frac"] == pytest.approx(field.mean(), abs=0.01)
    wood = _soil()
    _paint(wood, field, rough=True, dark=True)
    r = presence(wood, NO_FARM, pixel_size_m=5.0)
    assert r["vegetation"].value == "forest" and r["vegetation"].evidence["largest_land_frac"] > 0.6


def test_no_texture_test_where_pixels_are_coarser_than_crowns():
    field = np.zeros((N, N), bool)
    field[20:180, 20:180] = True
    crop = _soil()
    _paint(crop, field, rough=False)
    r = presence(crop, NO_FARM, pixel_size_m=30.0)  # 30 m pixels average crowns and gaps
    assert r["vegetation"].value == "forest" and "smooth_green_frac" not in r["vegetation"].evidence


def test_farmland_pixels_are_not_surrounding_vegetation():
    field = np.zeros((N, N), bool)
    field[20:180, 20:180] = True
    b = _soil()
    _paint(b, field, rough=True)
    assert presence(b, field, pixel_size_m=5.0)["vegetation"].value == "absent"


def test_three_pixel_tree_line_is_a_belt():
    b = _soil()
    line = np.zeros((N, N), bool)
    line[100:103, :] = True  # 3 px x 200 px = 15 m x 1 km at 5 m
    _paint(b, line, rough=True)
    r = presence(b, NO_FARM, pixel_size_m=5.0)
    assert r["vegetation"].value == "tree_belts"
    assert r["vegetation"].evidence["largest_width_m"] == pytest.approx(15.0, rel=0.1)


def test_forest_share_is_of_the_land_not_of_the_water():
    """A wood of 6 % of the tile on the only land beside a reservoir is continuous forest."""
    b = _soil()
    for k, v in (("red", 0.08), ("green", 0.14), ("blue", 0.18)):
        b[k][:, 40:] = v  # smooth bluish water over 80 % of the tile
    wood = np.zeros((N, N), bool)
    wood[20:180, 5:20] = True  # 160 x 15 px = 6 % of the tile, 30 % of the land
    _paint(b, wood, rough=True)
    r = presence(b, NO_FARM, pixel_size_m=10.0)
    assert r["water"].value == "lake_reservoir"
    assert r["vegetation"].value == "forest"
    assert r["vegetation"].evidence["largest_frac"] < 0.08 < r["vegetation"].evidence["largest_land_frac"]


def test_one_pixel_canopy_gaps_do_not_split_a_wood():
    b = _soil()
    wood = np.zeros((N, N), bool)
    wood[40:160, 40:160] = True
    _paint(b, wood, rough=True)
    gaps = wood & (YY % 6 == 0)  # one-pixel clearings across the whole wood every 6 rows
    b["red"][gaps], b["green"][gaps], b["blue"][gaps] = 0.55, 0.45, 0.45
    r = presence(b, NO_FARM, pixel_size_m=5.0)
    assert r["vegetation"].value == "forest" and r["vegetation"].evidence["patches"] == 1
    assert r["vegetation"].evidence["largest_land_frac"] == pytest.approx(wood.mean(), abs=0.01)


def test_scattered_forests_need_a_wood_with_interior():
    """Nine clumps: 70 m across are tree groups; 150 m across are woods (interior beyond the edge)."""
    for side_px, want in ((7, "scattered_trees"), (15, "scattered_trees_and_forests")):
        b = _soil()
        clumps = np.zeros((N, N), bool)
        for r0 in (10, 80, 150):
            for c0 in (10, 80, 150):
                clumps[r0:r0 + side_px, c0:c0 + side_px] = True
        _paint(b, clumps, rough=True)
        r = presence(b, NO_FARM, pixel_size_m=10.0)
        assert r["vegetation"].value == want, side_px
        assert r["vegetation"].evidence["largest_inscribed_width_m"] == pytest.approx(side_px * 10.0, abs=10.0)


def test_a_wood_needs_three_pixels_of_interior_on_coarse_tiles():
    b = _soil()
    clumps = np.zeros((N, N), bool)
    clumps[10:190:20, 10:190:20] = True  # 81 clumps of 2 x 2 px: 260 m across at 130 m, but no interior
    clumps[11:190:20, 10:190:20] = True
    clumps[:, 11:191:20] = clumps[:, 10:190:20]
    _paint(b, clumps, rough=True)
    assert presence(b, NO_FARM, pixel_size_m=130.0)["vegetation"].value == "scattered_trees"


@pytest.mark.parametrize("scale", [0.2, 1.0, 9.0])
def test_nir_scale_does_not_change_a_belt(scale):
    soil = RNG.normal(0, 2.0, (N, N)).astype(np.float32)
    b = {"red": 120.0 + soil, "green": 110.0 + soil, "blue": 90.0 + soil, "nir": 144.0 + soil}
    belt = np.zeros((N, N), bool)
    belt[60:63, :] = True
    lit = RNG.uniform(0, 1, (N, N)) < 0.5
    b["red"][belt], b["green"][belt], b["blue"][belt] = 40.0, 70.0, 45.0
    b["nir"][belt] = np.where(lit, 150.0, 110.0)[belt]
    b = {k: v.astype(np.float32) for k, v in b.items()}
    b["nir"] = b["nir"] * np.float32(scale)
    r = presence(b, NO_FARM, pixel_size_m=5.0)
    assert r["vegetation"].value == "tree_belts" and r["vegetation"].evidence["method"] == "ndvi"
    assert r["vegetation"].evidence["fraction"] == pytest.approx(belt.mean(), abs=0.002)


def test_close_canopy_gaps_fills_only_allowed_pixels():
    trees = np.zeros((9, 9), bool)
    trees[2:7, 2:7] = True
    trees[4, 4] = False  # a one-pixel gap
    trees[4, 2:7] = False  # ... or a one-pixel lane across the wood
    allowed = np.ones((9, 9), bool)
    assert lc.close_canopy_gaps(trees, allowed)[2:7, 2:7].all()
    allowed[4, :] = False  # the lane is farmland: it stays open
    out = lc.close_canopy_gaps(trees, allowed)
    assert not out[4].any() and out[2:4, 2:7].all()
    assert load_thresholds()["surroundings"]["wood_min_width_m"] == 100.0
