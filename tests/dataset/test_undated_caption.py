"""A tile whose scene has no recorded date keeps its location sentence; only the month sentence goes."""

from farmannot.dataset.tile_text import tile_captions

KW = {"shape": "blocky", "boundary": "straight", "sowing": "partially_covered",
      "distribution": "concentrated_contiguous", "location": "18.51°N, 72.21°W", "terrain": "flat",
      "landscape": "plain", "buildings": "absent", "water": "absent", "vegetation": "absent"}


def test_undated_tile_keeps_location_and_drops_month():
    cap = tile_captions(KW, "test")
    assert "It is located at 18.51°N, 72.21°W." in cap["en"]
    assert "taken in" not in cap["en"] and "winter" not in cap["en"]
    assert "影像位于" in cap["zh"] and "拍摄于" not in cap["zh"]
    dated = tile_captions({**KW, "month": "may"}, "test")
    assert dated["en"].startswith("This remote sensing image was taken in May (spring). It is located at")
