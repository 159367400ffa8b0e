"""A scene's header as one type, and moving geometries between coordinate reference systems.

:class:`SceneGrid` is what farmannot knows about a scene from its header: the pixel grid on the map (CRS,
affine transform, size), what the file says about itself (tags, file name, a Landsat MTL text, a shooting
date) and its bands (count, type, nodata, the resolved band map and reflectance scale). Each reader fills
the part it reads: :func:`farmannot.io.raster.scene_info` the grid and the bands,
:func:`farmannot.io.metadata.read_scene_metadata` the grid and the file's own facts,
``farmannot.vectors.importer.scene_grid`` the grid and the date; a tile or a grid stored in an annotation
(``farmannot.scene``) is built by hand (:meth:`SceneGrid.window`).

:func:`reproject` moves shapely geometries with a pyproj transformer made by :func:`crs_transformer`, always
in ``(x, y)`` = ``(lon, lat)`` order (``always_xy``), the one axis order the project uses; transformers and
parsed CRSs (:func:`parsed_crs`) are made once per CRS here, for every caller.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from affine import Affine
from pyproj import CRS, Transformer


@dataclass(frozen=True)
class SceneGrid:
    """A scene's header: its grid on the map, the file's own facts and its bands (see the module text)."""

    crs: str | None
    transform: tuple[float, ...]
    width: int
    height: int
    # what the file says about itself (caption auto-fill)
    tags: dict[str, str] = field(default_factory=dict)
    filename: str = ""
    mtl_text: str | None = None
    date: str | None = None  # the shooting date (YYYY-MM-DD) when the header tells it for sure
    # the raster's bands (reading pixels)
    path: Path | None = None
    count: int = 0
    dtype: str = ""
    nodata: float | None = None
    descriptions: tuple[str | None, ...] = ()
    band_map: dict[str, int] = field(default_factory=dict)
    band_map_source: str = ""
    scale: float | None = None
    offset: float = 0.0

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def affine(self) -> Affine:
        return Affine(*self.transform[:6])

    def window(self, col_off: int, row_off: int, width: int, height: int) -> SceneGrid:
        """The same header for a window of the grid: its own transform and size, everything else kept."""
        aff = self.affine @ Affine.translation(col_off, row_off)
        return dataclasses.replace(self, transform=tuple(aff)[:6], width=width, height=height)


def crs_transformer(src, dst) -> Transformer | None:
    """A pyproj transformer from ``src`` to ``dst`` (anything ``CRS.from_user_input`` takes), in ``(x, y)``
    order; ``None`` when the two are the same CRS (nothing to do).

    Made once per pair of CRS texts (a string as given, an object's ``str``): making one takes ten times as
    long as using it, and every tile of a scene asks. pyproj's transformers are thread-safe."""
    return _transformer(str(src), str(dst))


@functools.lru_cache(maxsize=32)
def _transformer(src: str, dst: str) -> Transformer | None:
    s, d = CRS.from_user_input(src), CRS.from_user_input(dst)
    if s == d:
        return None
    return Transformer.from_crs(s, d, always_xy=True)


def parsed_crs(crs) -> CRS:
    """``crs`` (a rasterio or pyproj CRS, a string, ...) as a pyproj CRS; parsed once per WKT or string (every
    tile of a scene asks)."""
    text = crs.to_wkt() if hasattr(crs, "to_wkt") else crs
    return _parsed(text) if isinstance(text, str) else CRS.from_user_input(text)


@functools.lru_cache(maxsize=32)
def _parsed(text: str) -> CRS:
    return CRS.from_user_input(text)


def reproject(geoms: np.ndarray, tr: Transformer | None) -> np.ndarray:
    """Shapely geometries (an array) moved by ``tr`` (from :func:`crs_transformer`; ``None`` leaves them)."""
    if tr is None:
        return geoms

    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, fn)
