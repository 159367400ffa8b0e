"""Per-tile captions: keyword overrides by the tile's checks, and captions for scenes without a date."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from farmannot.dataset.tile_text import scene_date, tile_captions, tile_keywords, tile_presence
from farmannot.errors import InputError

SCENE = {"shape": "blocky", "boundary": "straight", "sowing": "fully_covered",
         "distribution": "concentrated_contiguous", "terrain": "flat", "landscape": "plain",
         "buildings": "scattered", "water": "absent", "vegetation": "forest", "month": "march"}


def test_tile_place_and_date_replace_the_scene_values():
    kw = tile_keywords(SCENE, dt.date(2020, 5, 18), {}, lon=-54.5, lat=-25.3)
    assert kw["month"] == "may" and kw["location"] == "25.30°S, 54.50°W"
    assert kw["vegetation"] == "forest"          # nothing checked: the person's value stays


def test_checks_set_absent_and_fill_a_scene_absent():
    kw = tile_keywords(SCENE, None, {"vegetation": "absent", "water": "scattered_ponds",
                                     "buildings": "concentrated"})
    assert kw["vegetation"] == "absent"          # not on this tile
    assert kw["water"] == "scattered_ponds"      # scene said absent, the tile has some
    assert kw["buildings"] == "scattered"        # present on both: the person's wording wins
    assert kw["month"] == "march"


def test_presence_finds_water_and_vegetation_outside_the_farmland():
    h = w = 64
    red = np.full((h, w), 0.08, np.float32)
    green = np.full((h, w), 0.10, np.float32)
    nir = np.full((h, w), 0.12, np.float32)
    farmland = np.zeros((h, w), bool)
    farmland[:, :32] = True
    nir[:, :32] = 0.5                              # crops: green, but inside the farmland
    green[40:60, 40:60], nir[40:60, 40:60] = 0.2, 0.02   # a pond outside it
    found = tile_presence({"red": red, "green": green, "nir": nir}, farmland, 5.0)
    assert found["water"] != "absent" and found["vegetation"] == "absent"
    assert "buildings" not in found               # no SWIR: not checkable, not claimed


def test_caption_without_month_drops_only_month_sentences():
    kw = dict(SCENE, location="18.51°N, 72.21°W")
    kw.pop("month")
    caps = tile_captions(kw, "a.json")
    full = tile_captions(dict(kw, month="march"), "a.json")
    assert "March" not in caps["en"] and "3月" not in caps["zh"]
    assert caps["en"] and caps["en"] in full["en"]           # the other sentences, unchanged
    assert caps["zh"] and caps["zh"] in full["zh"]
    assert "blocky" in caps["en"] and "块状" in caps["zh"]


def test_missing_keywords_name_the_annotation():
    with pytest.raises(InputError, match="a.json.*missing keyword"):
        tile_captions({"shape": "blocky"}, "a.json")


def test_scene_date_order():
    assert scene_date("2021-02-03", "2020-01-01", {}, "x.tif") == dt.date(2021, 2, 3)
    assert scene_date(None, "2020-01-01", {}, "x.tif") == dt.date(2020, 1, 1)
    assert scene_date(None, None, {}, "LC08_L1TP_224078_20200518_20200518_01_RT.tif") == dt.date(2020, 5, 18)
    assert scene_date(None, None, {}, "rgbn.tif") is None
