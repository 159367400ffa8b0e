"""Auto-fill the keywords that come from the scene itself: shooting month and centre latitude/longitude.

FarmSeg-VL's annotators never typed these: month and location came from the source data. Here they come from
:mod:`farmannot.io.metadata` (date from tags, MTL or product name; centre via pyproj). Values carry
``source="auto"`` and the evidence they came from; the season is derived at render time from month and
latitude (:func:`farmannot.captions.schema.season_of`).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from farmannot.captions.schema import Keyword, format_location, month_id, season_of
from farmannot.io.grid import SceneGrid
from farmannot.io.metadata import acquisition_date, centre_lonlat, read_scene_metadata


def scene_autofill(scene: str | os.PathLike | SceneGrid | tuple,
                   date_override: str | dt.date | None = None) -> dict[str, Keyword]:
    """``month`` and ``location`` keywords of a scene or tile.

    Args:
        scene: A raster path, or a :class:`farmannot.io.grid.SceneGrid` built for a tile (its own transform, width, height;
            the scene's tags, file name and MTL text), or the tuple ``(crs, transform, width, height, tags,
            filename)`` of the same fields.
        date_override: A date (``YYYY-MM-DD``) from the scenes table or the command line; wins over the file.

    Returns:
        ``{"location": Keyword, "month": Keyword}``; a key is absent when the scene cannot tell (no CRS, no
        date anywhere): the caller reports it as missing.
    """
    if isinstance(scene, tuple):  # (crs, transform, width, height, tags, filename[, mtl_text])
        scene = SceneGrid(*scene)
    meta = scene if isinstance(scene, SceneGrid) else read_scene_metadata(Path(scene))
    out: dict[str, Keyword] = {}
    lat = None
    if meta.crs:
        lon, lat = centre_lonlat(meta.crs, meta.transform, meta.width, meta.height)
        out["location"] = Keyword(
            value=format_location(lon=lon, lat=lat),
            source="auto",
            evidence={"lat": round(lat, 6), "lon": round(lon, 6), "crs": meta.crs, "from": "grid centre"},
            confidence=1.0,
        )
    found = acquisition_date(meta.tags, meta.filename, meta.mtl_text, date_override)
    if found is not None:
        ev = {"date": found.date.isoformat(), "date_from": found.source, "detail": found.detail}
        if lat is not None:
            ev["hemisphere"] = "N" if lat >= 0 else "S"
            ev["season"] = season_of(found.date.month, lat)
        out["month"] = Keyword(value=month_id(found.date.month), source="auto", evidence=ev,
                               confidence=found.confidence)
    return out


def tile_metadata(scene: SceneGrid, col_off: int, row_off: int, width: int, height: int) -> SceneGrid:
    """The metadata of a window of ``scene`` (same tags and name, the window's own transform and size)."""
    return scene.window(col_off, row_off, width, height)
