"""A large scene as a grid of views for the annotator, and SAM clicks on native-resolution chips of it.

A scene too large to show comfortably (a side over :data:`farmannot.sam.chip_embed.LARGE_SCENE_PX`) is
shown one *view* at a time: a window of the scene (4096 px with 256 px overlap by default) read with one
decimated ``rasterio`` read (``out_shape``, so GDAL answers from overviews when the file has them) and the
scene-wide stretch, never the whole scene at full resolution. The annotation stays in *scene* pixel
coordinates in one labelme file; shapes are moved into a view's coordinates while it is shown and back when
it is left or saved.

A SAM click in a view is taken to scene coordinates, the chip that holds the object whole is chosen
(:func:`farmannot.sam.chips.choose_chip`), its embedding comes from the same cache ``farmannot propose`` and
``precompute-embeddings --chip`` fill (:mod:`farmannot.sam.chip_embed`), and the mask comes back as polygons
in scene coordinates: a field across a chip or view edge is segmented whole.

Coordinates: *edge* coordinates put pixel ``(row, col)`` on ``[col, col + 1] x [row, row + 1]`` (clicks,
traced polygons); labelme shape vertices name the pixel they truncate to and are moved as that pixel's
*centre* (the vertex convention is :mod:`farmannot.labels.convention`'s, for clicks as for drafts). With
a display factor ``f`` (scene px per view px, 1 for full-resolution views) ``edge_scene = edge_view * f +
offset`` and ``centre_scene = (centre_view + 0.5) * f - 0.5 + offset``.
"""

from __future__ import annotations

import copy
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import MaskFlags
from rasterio.windows import Window

from farmannot.errors import InputError
from farmannot.io.raster import block_cache, open_raster
from farmannot.io.stretch import DisplaySettings
from farmannot.io.windows import tile_windows
from farmannot.labels.polygonize import DEFAULT_SIMPLIFY_PX, Rings
from farmannot.sam.chip_embed import ChipDisplay, ChipEmbedding, all_valid, chip_display, chip_for_sam, window_list
from farmannot.sam.chips import CHIP_OVERLAP, CHIP_SIZE, ChipChoice, chip_grid, choose_chip, prompts_extent
from farmannot.sam.click import Drawn, click_polygons, labelme_rings

#: Default view size, overlap and largest side shown (scene px).
VIEW_PX = 4096
VIEW_OVERLAP = 256
MAX_DISPLAY_PX = 4096
#: GDAL's block cache while reading a large scene (MB). GDAL's default (5 % of RAM) would keep every block
#: a thumbnail of a scene without overviews touches.
GDAL_CACHE_MB = 128
_STRIP = 256


@dataclass(frozen=True)
class SceneView:
    """One view: ``window`` of the scene shown at ``factor`` scene px per view px (row ``row``, column ``col``)."""

    index: int
    row: int
    col: int
    window: Window
    factor: float = 1.0

    @property
    def offset(self) -> np.ndarray:
        return np.array([float(self.window.col_off), float(self.window.row_off)])

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the view's picture."""
        return (max(1, round(float(self.window.height) / self.factor)),
                max(1, round(float(self.window.width) / self.factor)))

    def bounds(self) -> tuple[float, float, float, float]:
        """``(x0, y0, x1, y1)`` of the window in scene edge coordinates."""
        x0, y0 = self.offset
        return x0, y0, x0 + float(self.window.width), y0 + float(self.window.height)

    def to_scene(self, xy, centres: bool = False) -> np.ndarray:
        """View coordinates -> scene coordinates (``centres``: labelme vertices, else edge coordinates)."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if centres:
            return (xy + 0.5) * self.factor - 0.5 + self.offset
        return xy * self.factor + self.offset

    def to_view(self, xy, centres: bool = False) -> np.ndarray:
        """Scene coordinates -> view coordinates (inverse of :meth:`to_scene`)."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if centres:
            return (xy - self.offset + 0.5) / self.factor - 0.5
        return (xy - self.offset) / self.factor

    def label(self) -> str:
        x0, y0, x1, y1 = self.bounds()
        return f"view {self.index + 1} (row {self.row + 1}, col {self.col + 1}): x {x0:.0f}-{x1:.0f}, y {y0:.0f}-{y1:.0f}"


def view_grid(width: int, height: int, view: int = VIEW_PX, overlap: int = VIEW_OVERLAP,
              max_display: int = MAX_DISPLAY_PX) -> list[SceneView]:
    """Overlapping views covering the scene (row-major); views wider than ``max_display`` are decimated."""
    wins = tile_windows(width, height, view, overlap)
    cols = sorted({int(w.col_off) for w in wins})
    rows = sorted({int(w.row_off) for w in wins})
    out = []
    for i, w in enumerate(wins):
        factor = max(1.0, max(float(w.width), float(w.height)) / max_display)
        out.append(SceneView(i, rows.index(int(w.row_off)), cols.index(int(w.col_off)), w, factor))
    return out


# -- shapes between scene and view coordinates ---------------------------------------------------------------


def _move_points(points, fn) -> list[list[float]]:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return [[round(float(x), 3), round(float(y), 3)] for x, y in fn(pts)] if len(pts) else []


def _move_shape(shape: dict, fn) -> dict:
    out = copy.deepcopy(shape)
    out["points"] = _move_points(shape.get("points") or [], fn)
    fa = out.get("farmannot")
    if isinstance(fa, dict) and fa.get("holes"):
        fa["holes"] = [_move_points(h, fn) for h in fa["holes"]]
    return out


def shape_to_scene(shape: dict, view: SceneView) -> dict:
    """A labelme shape dict in view coordinates -> scene coordinates (points and farmannot holes)."""
    return _move_shape(shape, lambda p: view.to_scene(p, centres=True))


def shape_to_view(shape: dict, view: SceneView) -> dict:
    """A labelme shape dict in scene coordinates -> the view's coordinates."""
    return _move_shape(shape, lambda p: view.to_view(p, centres=True))


def shape_in_view(shape: dict, view: SceneView) -> bool:
    """Whether the shape's bounding box (scene coordinates) meets the view's window."""
    pts = np.asarray(shape.get("points") or [], dtype=np.float64).reshape(-1, 2)
    if not len(pts):
        return False
    x0, y0, x1, y1 = view.bounds()
    return bool(pts[:, 0].max() >= x0 - 0.5 and pts[:, 0].min() < x1 - 0.5
                and pts[:, 1].max() >= y0 - 0.5 and pts[:, 1].min() < y1 - 0.5)


def split_shapes(shapes: Sequence[dict], view: SceneView) -> tuple[list[dict], list[dict]]:
    """``(in view, converted to view coordinates; elsewhere, unchanged in scene coordinates)``."""
    inside, outside = [], []
    for s in shapes:
        if shape_in_view(s, view):
            inside.append(shape_to_view(s, view))
        else:
            outside.append(s)
    return inside, outside


def view_labelme_rings(polygons: list[Rings], view: SceneView) -> list[Rings]:
    """Pixel-edge rings in scene px -> labelme-vertex rings in the view's coordinates.

    The vertices are made in scene pixels (where the mask is, :func:`farmannot.sam.click.labelme_rings`) and
    then moved into the view as pixel centres, so saving (view -> scene, :func:`shape_to_scene`) gives back
    exactly the scene's vertices in a decimated view too (converting in view pixels got 293 of 8,606 pixels
    wrong at 2 scene px per view px).
    """
    def move(xy):
        return view.to_view(xy, centres=True)

    return [Rings(move(r.exterior), [move(h) for h in r.holes]) for r in labelme_rings(polygons)]


def _valid(src: rasterio.io.DatasetReader, data: np.ndarray, window: Window, shape: tuple[int, int]) -> np.ndarray:
    """Valid pixels of a decimated read without reading the mask at full resolution where avoidable."""
    if all_valid(src):
        return np.ones(shape, bool)
    flags = src.mask_flag_enums
    if src.nodata is not None and all(MaskFlags.nodata in f for f in flags):
        nd = src.nodata
        invalid = np.isnan(data) if np.isnan(nd) else data == nd
        return ~invalid.all(axis=0)  # as GDAL's dataset mask: valid where any (shown) band is
    return src.dataset_mask(window=window, out_shape=shape, resampling=rasterio.enums.Resampling.nearest) > 0


# -- the scene --------------------------------------------------------------------------------------------


@dataclass
class ClickResult:
    """A SAM click on a chip: polygons (edge coordinates, scene px), the chip used, and how."""

    polygons: list[Rings]
    score: float
    chip: ChipChoice
    hit: bool

    @property
    def downsampled(self) -> bool:
        return self.chip.downsampled

    def message(self) -> str:
        w = self.chip.window
        how = "from cache" if self.hit else "embedded now"
        text = (f"SAM on chip x {int(w.col_off)}-{int(w.col_off + w.width)}, y {int(w.row_off)}-"
                f"{int(w.row_off + w.height)} ({how})")
        if self.downsampled:
            text += (f"; the object is larger than a chip: segmented downsampled at 1:{1 / self.chip.scale:.1f},"
                     " check its outline")
        return text


class LargeScene:
    """A large raster seen as views (display) and chips (SAM); reads open the file each time.

    Args:
        path: The scene.
        band_map: Resolved band map (true-colour display bands come from it).
        view, overlap, max_display: The view grid (:func:`view_grid`).
        chip, chip_overlap: The SAM chip grid (as ``farmannot propose`` and ``precompute-embeddings``).
        settings: The annotator's display choice (bands, stretch mode, nodata rule, percentiles), the value
            the whole-picture canvas uses too; default: true colour, the scene's 2-98 % stretch.
    """

    def __init__(self, path: str | os.PathLike, band_map: dict[str, int] | None = None, view: int = VIEW_PX,
                 overlap: int = VIEW_OVERLAP, max_display: int = MAX_DISPLAY_PX, chip: int = CHIP_SIZE,
                 chip_overlap: int = CHIP_OVERLAP, settings: DisplaySettings | None = None) -> None:
        self.path = Path(path)
        self.band_map = dict(band_map or {})
        self._chips_seen: OrderedDict[tuple, ChipEmbedding] = OrderedDict()
        with block_cache(GDAL_CACHE_MB), open_raster(self.path) as src:
            self.width, self.height, self.count = src.width, src.height, src.count
            self.settings = self._checked(src, settings)
            self.display: ChipDisplay = chip_display(src, band_map, self.settings)
            self.georef = None
            if src.crs is not None or not src.transform.is_identity:
                self.georef = {"crs": src.crs.to_string() if src.crs else None,
                               "transform": [float(v) for v in list(src.transform)[:6]]}
        self.views = view_grid(self.width, self.height, view, overlap, max_display)
        self.chip = chip
        self.chips = chip_grid(self.width, self.height, chip, chip_overlap)

    # -- display --

    def _checked(self, src: rasterio.io.DatasetReader, settings: DisplaySettings | None) -> DisplaySettings | None:
        bands = settings.bands if settings is not None else None
        if bands and (len(bands) not in (1, 3) or not all(1 <= b <= src.count for b in bands)):
            raise InputError(f"{self.path}: display bands {list(bands)} invalid; give 1 or 3 band numbers in "
                             f"1..{src.count}.")
        return settings

    def set_display(self, settings: DisplaySettings | None) -> None:
        """Show (and give SAM) the scene as ``settings`` say: bands, stretch mode, nodata rule, percentiles
        (``None``: true colour, the default stretch)."""
        with block_cache(GDAL_CACHE_MB), open_raster(self.path) as src:
            self.settings = self._checked(src, settings)
            self.display = chip_display(src, self.band_map, self.settings)
        self._chips_seen.clear()

    def _read(self, window: Window, shape: tuple[int, int]) -> np.ndarray:
        with block_cache(GDAL_CACHE_MB), rasterio.open(self.path) as src:
            data = src.read(self.display.bands, window=window, out_shape=(3, *shape),
                            resampling=rasterio.enums.Resampling.average)
            valid = _valid(src, data, window, shape)
            forced = self.settings.value_valid(data) if self.settings is not None else None
            if forced is not None:  # a nodata value the annotator set: shown black, as on the canvas
                valid &= forced
        out = np.empty((*shape, 3), np.uint8)
        for r in range(0, shape[0], _STRIP):  # the stretch works in float32: a strip at a time bounds it
            out[r:r + _STRIP] = np.moveaxis(self.display.stretch.apply(data[:, r:r + _STRIP], valid[r:r + _STRIP]),
                                            0, -1)
        return out

    def view_picture(self, view: SceneView) -> np.ndarray:
        """The view's RGB picture ``view.shape + (3,)`` uint8 (one decimated read, scene-wide stretch)."""
        return self._read(view.window, view.shape)

    def overview(self, max_side: int = 384) -> tuple[np.ndarray, float]:
        """A thumbnail of the whole scene and its factor (scene px per thumbnail px)."""
        f = max(1.0, max(self.width, self.height) / max_side)
        shape = (max(1, round(self.height / f)), max(1, round(self.width / f)))
        return self._read(Window(0, 0, self.width, self.height), shape), f

    def view_at(self, x: float, y: float) -> SceneView:
        """The view whose centre is nearest to scene point ``(x, y)``."""
        def dist(v: SceneView) -> float:
            x0, y0, x1, y1 = v.bounds()
            return (x - (x0 + x1) / 2) ** 2 + (y - (y0 + y1) / 2) ** 2
        return min(self.views, key=dist)

    # -- SAM --

    def chip_for(self, points_scene, labels=None) -> ChipChoice:
        """The chip an object with these prompt points (scene edge coordinates) is segmented on."""
        pts = np.asarray(points_scene, dtype=np.float64).reshape(-1, 2)
        return choose_chip(prompts_extent(pts.tolist()), self.chips, self.width, self.height, self.chip)

    def chip_embedding(self, session, choice: ChipChoice) -> ChipEmbedding:
        """Picture, valid mask and cache key of a chosen chip (nothing computed; the last few are kept)."""
        size = choice.size if choice.downsampled else None
        k = (getattr(session, "model_id", id(session)), tuple(window_list(choice.window)), size)
        chip = self._chips_seen.get(k)
        if chip is None:
            with block_cache(GDAL_CACHE_MB), open_raster(self.path) as src:
                chip = chip_for_sam(session, src, self.display, choice.window, size)
            self._chips_seen[k] = chip
            while len(self._chips_seen) > 4:
                self._chips_seen.popitem(last=False)
        self._chips_seen.move_to_end(k)
        return chip

    def segment(self, session, points_scene, labels, existing: Sequence[Rings | Drawn] = (), compute: bool = True,
                simplify_px: float = DEFAULT_SIMPLIFY_PX, min_area_px: float = 16.0) -> ClickResult | None:
        """SAM on the chip holding the prompts; ``None`` when not cached and ``compute`` is false.

        Args:
            session: A :class:`farmannot.sam.session.SamSession`.
            points_scene: ``(N, 2)`` prompt points in scene edge coordinates; ``labels`` labelme's (1, 0, 2, 3).
            existing: Shapes already drawn, in order (edge coordinates, scene px): fields as ``Rings`` or
                :class:`farmannot.sam.click.Drawn`, ``_background_`` holes as ``Drawn(rings, fills=False)``
                (free again); the new mask stops at the fields (:func:`farmannot.sam.click.prompt_polygons`).
        """
        pts = np.asarray(points_scene, dtype=np.float64).reshape(-1, 2)
        choice = self.chip_for(pts)
        chip = self.chip_embedding(session, choice)
        emb = session.cached(chip.key)
        hit = emb is not None
        if emb is None:
            if not compute:
                return None
            emb, hit = session.embed(chip.rgb, key=chip.key, parts=chip.parts)
        scale = chip.rgb.shape[1] / float(choice.window.width)
        to_chip = (pts - [float(choice.window.col_off), float(choice.window.row_off)]) * scale
        off = np.array([float(choice.window.col_off), float(choice.window.row_off)])
        moved = [Drawn(Rings((d.rings.exterior - off) * scale, [(h - off) * scale for h in d.rings.holes]), d.fills)
                 for d in (e if isinstance(e, Drawn) else Drawn(e) for e in existing)]
        _, score, polys = click_polygons(session, emb, to_chip, list(labels), moved, chip.valid,
                                         simplify_px, min_area_px)
        scene_polys = [Rings(r.exterior / scale + off, [h / scale + off for h in r.holes]) for r in polys]
        return ClickResult(scene_polys, float(score), choice, bool(hit))
