"""Captions of one labelme annotation: read its keywords, fill and suggest the rest, store the result.

The edge where files meet the pure caption core: this module reads the scene raster and DEM, rasterises the
annotation's shapes, calls :func:`~farmannot.captions.autofill.scene_autofill` and
:func:`~farmannot.captions.suggest.suggest_keywords`, merges with what a person already confirmed, renders
and stores everything under the annotation's ``"farmannot"`` key (layout in ``docs/formats.md``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window

from farmannot import __version__
from farmannot.captions.autofill import scene_autofill
from farmannot.captions.landcover import SceneCalibration, scene_soil_calibration
from farmannot.captions.render import missing_keywords, render_caption
from farmannot.captions.schema import LANGS, Keyword, load_vocabulary
from farmannot.captions.suggest import load_thresholds, suggest_keywords
from farmannot.errors import FarmannotError, InputError
from farmannot.io.grid import SceneGrid
from farmannot.io.labelme_json import Annotation, load_annotation, project_folder, resolve_image_path
from farmannot.io.metadata import read_scene_metadata

DEFAULT_FARMLAND_LABELS: tuple[str, ...] = ("farmland",)


def stored_keywords(ann: Annotation) -> dict[str, Keyword]:
    """The keywords saved in an annotation (``farmannot.caption.keywords``)."""
    raw = ((ann.farmannot or {}).get("caption") or {}).get("keywords") or {}
    if not isinstance(raw, dict):
        raise FarmannotError("farmannot.caption.keywords must be an object.")
    return {k: Keyword.from_dict(v, f"keyword {k!r}") for k, v in raw.items()}


def merge_keywords(stored: Mapping[str, Keyword], auto: Mapping[str, Keyword] = {},
                   suggested: Mapping[str, Keyword] = {}, confirmed: Mapping[str, Keyword] = {}) -> dict[str, Keyword]:
    """Combine keywords: a person's choice is never overwritten by a machine's.

    Order of strength: ``confirmed`` (given now) > stored confirmed > fresh auto > fresh suggestions >
    stored auto/suggested values.
    """
    out = dict(stored)
    for layer in (suggested, auto):
        for k, v in layer.items():
            if k not in out or out[k].source != "confirmed":
                out[k] = v
    out.update(confirmed)
    return out


def parse_sets(items: Iterable[str]) -> dict[str, Keyword]:
    """``["water=absent", "terrain=flat"]`` -> confirmed keywords, validated against the vocabulary."""
    vocab = load_vocabulary()
    out: dict[str, Keyword] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise FarmannotError(f"--set expects KEY=VALUE (e.g. water=absent), got {item!r}.")
        vocab.check(key, value)
        out[key] = Keyword(value, "confirmed", {"from": "--set"}, 1.0)
    return out


def annotation_masks(ann: Annotation, height: int, width: int,
                     farmland_labels: Iterable[str] = DEFAULT_FARMLAND_LABELS,
                     source: str = "annotation") -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Farmland mask, parcel ids and one mask per other label, with labelme's painting order.

    Returns:
        ``(farmland, parcels, other_masks)``: bool, uint32 ids (0 none), ``{label: bool}``.
    """
    from farmannot.labels.rasterize import (
        BACKGROUND_LABEL,
        IGNORE_LABEL,
        class_raster,
        plan_labels,
        rasterize_mask,
        rasterize_parcels,
    )

    farm = set(farmland_labels)
    keep = [s for s in ann.shapes if s.label in farm | {IGNORE_LABEL, BACKGROUND_LABEL}]
    plan = plan_labels(keep, width, height, {lab: 1 for lab in farm}, source=source)
    win = Window(0, 0, width, height)
    farmland = rasterize_mask(plan, win) == 1
    parcels = rasterize_parcels(plan, win) * farmland
    others: dict[str, np.ndarray] = {}
    for label in sorted({s.label for s in ann.shapes} - farm - {IGNORE_LABEL, BACKGROUND_LABEL}):
        shapes = [s for s in ann.shapes if s.label == label]
        others[label] = class_raster(shapes, height, width, {label: 1}, dtype="uint8") > 0
    return farmland, parcels.astype(np.int32), others


@dataclass
class CaptionResult:
    """The outcome for one annotation."""

    path: Path
    keywords: dict[str, Keyword]
    texts: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    scene: dict[str, Any] = field(default_factory=dict)


def _scene_block(meta: SceneGrid, path: Path | None, json_path: Path, date: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"crs": meta.crs, "transform": [float(v) for v in meta.transform[:6]],
                           "width": meta.width, "height": meta.height}
    if path is not None:
        out["path"] = os.path.relpath(path, json_path.parent).replace(os.sep, "/")
    if date:
        out["date"] = date
    return out


def read_index_bands(src, info, window: Window | None = None) -> dict[str, np.ndarray]:
    """The bands suggestions use (red, green, blue, nir, swir1 where present) of a window, float32.

    Without NIR and without a reflectance scale the RGB rules (green leaf index, dark bluish water) would
    read raw digital numbers, whose per-band offsets (haze lifts blue) bias them; those bands are put through
    the scene-wide 2-98 % stretch first, the same one the annotator sees, to 0..1.
    """
    from farmannot.io.raster import read_bands
    from farmannot.io.stretch import scene_stretch

    names = [n for n in ("red", "green", "blue", "nir", "swir1") if n in info.band_map]
    if not names:
        return {}
    bands, _ = read_bands(src, info, names, window)
    if "nir" not in bands and info.scale is None:
        st = scene_stretch(src, [info.band_map[n] for n in names])
        for i, n in enumerate(names):
            lo, hi = st.low[i], st.high[i]
            bands[n] = np.clip((bands[n] - np.float32(lo)) / np.float32(max(hi - lo, 1e-12)), 0, 1)
    return bands


def scene_nir_calibration(src, info, thresholds: Mapping[str, Any] | None = None,
                          max_side: int = 1024) -> SceneCalibration | None:
    """The scene's soil-line NIR factor when its NIR has no reflectance scale, else None.

    None when the sensor preset scales the bands to reflectance (the index thresholds apply as they are) or
    when red, green, blue or NIR is missing. Otherwise the four bands are read decimated (at most
    ``max_side`` px on a side, nearest neighbour, nodata and masks as NaN) and passed to
    :func:`~farmannot.captions.landcover.scene_soil_calibration` with the ``surroundings`` thresholds of
    ``templates/suggest.yaml``.
    """
    import rasterio

    names = ("red", "green", "blue", "nir")
    if info.scale is not None or not all(n in info.band_map for n in names):
        return None
    t = dict(thresholds or load_thresholds())["surroundings"]
    f = max(1.0, max(src.width, src.height) / max_side)
    shape = (max(1, int(src.height / f)), max(1, int(src.width / f)))
    bands = {}
    for n in names:
        a = src.read(info.band_map[n], out_shape=shape, resampling=rasterio.enums.Resampling.nearest,
                     masked=True)
        bands[n] = np.ma.filled(a.astype(np.float32), np.nan)
    return scene_soil_calibration(bands, t["soil_nir_red_ratio"], t["scene_soil_min_share"],
                                  t["scene_soil_min_contrast"])


def scene_nir_factor(src, info, thresholds: Mapping[str, Any] | None = None) -> float | None:
    """:func:`scene_nir_calibration`'s factor when the scene had soil to calibrate on, else None."""
    cal = scene_nir_calibration(src, info, thresholds)
    return cal.nir_factor if cal is not None and cal.soil_found else None


def _suggest_from_scene(ann: Annotation, scene_path: Path, meta: SceneGrid, dem_path: Path | None,
                        farmland_labels: Iterable[str], sensor: str | None, band_map: dict[str, int] | None,
                        json_path: Path) -> dict[str, Keyword]:
    from farmannot.io.raster import open_raster, scene_info
    from farmannot.terrain.derive import pixel_size_m

    h, w = ann.image_height or meta.height, ann.image_width or meta.width
    if (h, w) != (meta.height, meta.width):
        raise InputError(f"{json_path}: the annotation is {w} x {h} px but the scene {scene_path.name} is "
                         f"{meta.width} x {meta.height} px; give the scene the shapes were drawn on (--scene).")
    farmland, parcels, others = annotation_masks(ann, h, w, farmland_labels, str(json_path))
    nir_factor = None
    with open_raster(scene_path) as src:
        try:
            info = scene_info(src, sensor=sensor, bands=band_map)
            bands = read_index_bands(src, info)
            nir_factor = scene_nir_factor(src, info)  # NIR in digital numbers: the scene's soil line
        except FarmannotError:
            bands = {}  # unknown band layout: suggest from geometry and DEM only
    px = 1.0
    if meta.crs:
        from affine import Affine
        xs, ys = pixel_size_m(meta.crs, Affine(*meta.transform[:6]), meta.height)
        px = float(np.sqrt(abs(xs * ys)))
    dem = None
    if dem_path is not None:
        from affine import Affine

        from farmannot.terrain.align import align_dem
        from farmannot.terrain.derive import vertical_scale_to_m

        if not meta.crs:
            raise InputError(f"{scene_path}: the scene has no CRS, so the DEM cannot be aligned to it.")
        aligned = align_dem(dem_path, meta.crs, Affine(*meta.transform[:6]), meta.width, meta.height)
        dem = aligned.elevation.astype(np.float64) * (vertical_scale_to_m(aligned.units) or 1.0)
    return suggest_keywords(farmland, bands or None, dem, px, others, parcels, nir_factor=nir_factor)


def caption_annotation(
    json_path: str | os.PathLike,
    *,
    scene: str | os.PathLike | None = None,
    dem: str | os.PathLike | None = None,
    suggest: bool = False,
    sets: Mapping[str, Keyword] | None = None,
    date: str | None = None,
    family: str = "farmseg",
    project_dir: str | os.PathLike | None = None,
    allow_outside: bool = False,
    farmland_labels: Iterable[str] = DEFAULT_FARMLAND_LABELS,
    sensor: str | None = None,
    band_map: dict[str, int] | None = None,
) -> tuple[Annotation, CaptionResult]:
    """Fill, suggest, merge and render the caption of one annotation (nothing is written).

    The scene is ``scene`` or else the annotation's own image (``imagePath``) when it is a georeferenced
    raster. Returns the annotation with its ``farmannot`` block updated, and the result to show.
    """
    json_path = Path(json_path)
    # with --scene the imagePath is never read, so where it points is not checked
    ann = load_annotation(json_path, project_dir=None if allow_outside or scene
                          else (project_dir or project_folder(json_path)))
    stored = stored_keywords(ann)
    scene_path = Path(scene) if scene else resolve_image_path(ann, json_path, project_dir=project_dir,
                                                               allow_outside=allow_outside)
    meta: SceneGrid | None = None
    if scene_path.exists():
        meta = read_scene_metadata(scene_path)
    elif scene:
        raise InputError(f"{scene_path}: scene raster not found.")
    elif suggest:
        raise InputError(f"{json_path}: image {scene_path} not found; give --scene.")
    if meta is not None and not meta.crs and (ann.farmannot or {}).get("scene", {}).get("crs"):
        s = ann.farmannot["scene"]  # a tile written by farmannot keeps its georeferencing here
        meta = dataclasses.replace(meta, crs=s["crs"], transform=tuple(s["transform"]))
    stored_date = (ann.farmannot or {}).get("scene", {}).get("date")
    auto = scene_autofill(meta, date_override=date) if meta is not None else {}
    if meta is not None and "month" not in auto and stored_date:
        # a date saved earlier (e.g. from a scenes table) still dates a scene that cannot date itself
        auto["month"] = scene_autofill(meta, date_override=stored_date)["month"]
        auto["month"].evidence.update(date_from="annotation", detail="farmannot.scene.date")
    suggested: dict[str, Keyword] = {}
    if suggest and meta is not None:
        suggested = _suggest_from_scene(ann, scene_path, meta, Path(dem) if dem else None, farmland_labels,
                                        sensor, band_map, json_path)
    keywords = merge_keywords(stored, auto, suggested, sets or {})
    result = CaptionResult(json_path, keywords)
    result.missing = missing_keywords(keywords, family)
    if not result.missing:
        result.texts = {lang: render_caption(keywords, lang, family) for lang in LANGS}
    farm = dict(ann.farmannot or {})
    farm["schema"] = 1
    caption: dict[str, Any] = {"family": family, "keywords": {k: v.to_dict() for k, v in sorted(keywords.items())}}
    if result.texts:
        caption["text"] = result.texts
    farm["caption"] = caption
    if meta is not None and meta.crs:
        month = keywords.get("month")
        d = month.evidence.get("date") if month is not None and month.source == "auto" else stored_date
        farm["scene"] = {**farm.get("scene", {}), **_scene_block(meta, scene_path, json_path, d)}
        result.scene = farm["scene"]
    inputs = {"dem": os.path.relpath(dem, json_path.parent).replace(os.sep, "/")} if dem else {}
    farm["provenance"] = {"farmannot_version": __version__, **({"inputs": inputs} if inputs else {})}
    ann.farmannot = farm
    return ann, result
