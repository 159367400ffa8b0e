"""Annotations -> parcel tables in map coordinates, with measures, scene facts and captions.

A :class:`ParcelTable` is columns (numpy arrays) plus geometries and one CRS: what every writer in
:mod:`farmannot.vectors.writers` takes. Parcels are rebuilt with :func:`~farmannot.vectors.geometry.shapes_to_parcels`
(holes from later ``_background_`` shapes, parts joined by ``group_id``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import CRS

from farmannot.errors import InputError
from farmannot.io.grid import crs_transformer, reproject
from farmannot.io.labelme_json import Annotation, load_annotation, resolve_image_path
from farmannot.io.raster import open_raster
from farmannot.labels.convention import as_affine6, pixel_to_world
from farmannot.vectors.footprints import parcel_pixels
from farmannot.vectors.geometry import area_perimeter_m, parse_description, shapes_to_parcels

#: Fixed parcel columns, in the order the files carry them (caption keywords ``kw_<key>`` follow).
PARCEL_COLUMNS = ("parcel_id", "label", "group_id", "area_m2", "perim_m", "scene", "date", "annotation",
                  "source_id", "attributes", "caption_en", "caption_zh")


@dataclass
class ParcelTable:
    """Parcels of one or more annotations in one CRS.

    Attributes:
        geometry: Object array of Polygon / MultiPolygon in ``crs``.
        columns: Attribute columns by name (object, float64 or int64 arrays; ``group_id`` uses -1 for none).
        crs: ``AUTHORITY:CODE`` or WKT.
        determination: Per parcel ``(method, datetime ISO or None)`` for fiboa.
        skipped: Shapes that are not areas (points, lines), by type, over all annotations.
    """

    geometry: np.ndarray
    columns: dict[str, np.ndarray]
    crs: str
    determination: list[tuple[str, str | None]] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.geometry)


@dataclass
class AnnotationGeo:
    """An annotation with its georeferencing resolved."""

    path: Path
    annotation: Annotation
    crs: str
    transform: tuple[float, ...]
    scene: str
    date: str = ""


def crs_text(crs: CRS) -> str:
    """``AUTHORITY:CODE`` when pyproj knows one, else WKT."""
    auth = crs.to_authority()
    return f"{auth[0]}:{auth[1]}" if auth else crs.to_wkt()


def georeference(path: str | os.PathLike, *, project_dir: str | os.PathLike | None = None,
                 allow_outside: bool = False) -> AnnotationGeo:
    """Load an annotation and find its scene CRS and transform (``farmannot.scene``, else the image's header).

    Raises:
        InputError: unreadable annotation, or no georeferencing in the annotation nor in its image.
    """
    from farmannot.io.metadata import acquisition_date

    path = Path(path)
    ann = load_annotation(path)
    scene = ann.farmannot.get("scene") or {}
    name = Path(ann.image_path or path.stem).stem
    date = str(scene.get("date") or "")
    if not date:  # a product-style image name (Landsat, Sentinel-2, Gaofen) still tells the date
        found = acquisition_date(filename=Path(ann.image_path or "").name)
        date = found.date.isoformat() if found is not None and found.confidence >= 0.9 else ""
    crs, transform = scene.get("crs"), scene.get("transform")
    if crs and transform:
        try:
            return AnnotationGeo(path, ann, crs_text(CRS.from_user_input(crs)), as_affine6(transform), name, date)
        except Exception as exc:  # noqa: BLE001 - any malformed value becomes one clear message
            raise InputError(f"{path}: unusable farmannot.scene georeferencing ({exc}); fix crs/transform.") from None
    image = resolve_image_path(ann, path, project_dir=project_dir, allow_outside=allow_outside)
    with open_raster(image) as src:
        if src.crs is None:
            raise InputError(f"{path}: neither the annotation (farmannot.scene) nor its image {image} has a CRS; "
                             "parcels cannot be placed on the map. Georeference the image first.")
        return AnnotationGeo(path, ann, crs_text(src.crs), tuple(src.transform)[:6], name, date)


def _keyword_text(v: Any) -> str:
    if isinstance(v, dict):
        v = v.get("value")
    if v is None:
        return ""
    if isinstance(v, (list, tuple)):
        return "; ".join(str(x) for x in v)
    return str(v)


def determination_method(farm: dict) -> str:
    """fiboa ``determination_method`` from an annotation's provenance.

    ``provenance.determination_method`` when it holds a fiboa value; ``auto-imagery`` for drafts from
    ``predict``/``propose``; ``unknown`` for parcels imported from vectors (their origin is not known);
    ``manual`` otherwise (drawn, SAM-assisted and corrected by a person on imagery).
    """
    prov = farm.get("provenance") or {}
    method = prov.get("determination_method")
    if method in FIBOA_METHODS:
        return method
    tool = str(prov.get("tool") or prov.get("source") or "")
    if tool in ("predict", "propose") and not prov.get("reviewed"):
        return "auto-imagery"
    if prov.get("imported_vectors"):
        return "unknown"
    return "manual"


#: fiboa v0.3.0 determination methods (`determination:method`).
FIBOA_METHODS = ("manual", "driven", "surveyed", "auto-operation", "auto-imagery", "unknown")


def _description_columns(description: str) -> tuple[str, str]:
    """``(source_id, attributes JSON)`` from an imported shape's description; other text goes to attributes."""
    d = parse_description(description)
    if not d:
        return "", description or ""
    attrs = d.get("attributes")
    return str(d.get("source_id") or ""), json.dumps(attrs, ensure_ascii=False, sort_keys=True) if attrs else ""


def annotation_columns(geo: AnnotationGeo, label_filter: set[str] | None = None,
                       annotation_name: str | None = None) -> tuple[dict[str, list], np.ndarray, dict[str, int]]:
    """Columns (lists), world geometries (scene CRS) and skipped shape counts of one annotation's parcels."""
    ann = geo.annotation
    parcels, skipped = shapes_to_parcels(ann.shapes)
    if label_filter is not None:
        parcels = [p for p in parcels if p.label in label_filter]
    # the parcel is the pixels the label raster fills (labelme's vertex rule, later _background_ shapes carving)
    scene = ann.farmannot.get("scene") or {}
    width, height = ann.image_width or scene.get("width"), ann.image_height or scene.get("height")
    pixels = parcel_pixels(ann.shapes, parcels, width, height)
    filled = [k for k, g in enumerate(pixels) if not g.is_empty]  # a parcel that fills no pixel is no parcel
    parcels = [parcels[k] for k in filled]
    edges = np.asarray([pixels[k] for k in filled], dtype=object)
    n = len(parcels)
    farm = geo.annotation.farmannot
    caption = farm.get("caption") or {}
    text = caption.get("text") or {}
    date = geo.date
    world = pixel_to_world(edges, geo.transform)
    area, perim = area_perimeter_m(world, geo.crs) if n else (np.zeros(0), np.zeros(0))
    stem = annotation_name or geo.path.stem
    src_attr = [_description_columns(p.description) for p in parcels]
    cols: dict[str, list] = {
        "parcel_id": [f"{stem}/{k}" for k in range(1, n + 1)],
        "label": [p.label for p in parcels],
        "group_id": [-1 if p.group_id is None else int(p.group_id) for p in parcels],
        "area_m2": area.tolist(),
        "perim_m": perim.tolist(),
        "scene": [geo.scene] * n,
        "date": [date] * n,
        "annotation": [annotation_name or geo.path.name] * n,
        "source_id": [sa[0] for sa in src_attr],
        "attributes": [sa[1] for sa in src_attr],
        "caption_en": [str(text.get("en") or "")] * n,
        "caption_zh": [str(text.get("zh") or "")] * n,
        "_method": [determination_method(farm)] * n,
        "_datetime": [date or None] * n,
    }
    for key, v in (caption.get("keywords") or {}).items():
        cols[f"kw_{key}"] = [_keyword_text(v)] * n
    return cols, world, skipped


def build_parcel_table(geos: list[AnnotationGeo], *, crs: str | None = None, label_filter: set[str] | None = None,
                       names: list[str] | None = None) -> ParcelTable:
    """All parcels of several annotations in one table and one CRS.

    Args:
        geos: Georeferenced annotations.
        crs: Output CRS; default the scenes' CRS when they share one, else EPSG:4326.
        label_filter: Keep only these labels.
        names: Annotation names for the ``annotation`` column and parcel ids (default: file names / stems).
    """
    if crs is None:
        crss = {CRS.from_user_input(g.crs) for g in geos}
        crs = geos[0].crs if len(crss) == 1 else "EPSG:4326"  # no annotation or several CRSs: lon/lat
    parts: list[tuple[dict[str, list], int]] = []
    geoms: list = []
    skipped: dict[str, int] = {}
    for i, g in enumerate(geos):
        c, w, sk = annotation_columns(g, label_filter, names[i] if names else None)
        for k, n in sk.items():
            skipped[k] = skipped.get(k, 0) + n
        parts.append((c, len(w)))
        geoms.extend(reproject(w, crs_transformer(g.crs, crs)) if len(w) else [])
    kw_cols = sorted({k for c, _ in parts for k in c if k.startswith("kw_")})
    cols: dict[str, np.ndarray] = {}
    for name in (*PARCEL_COLUMNS, *kw_cols, "_method", "_datetime"):
        vals = [v for c, n in parts for v in c.get(name, [""] * n)]
        if name in ("area_m2", "perim_m"):
            cols[name] = np.asarray(vals, dtype=np.float64)
        elif name == "group_id":
            cols[name] = np.asarray(vals, dtype=np.int64)
        else:
            cols[name] = np.asarray(vals, dtype=object)
    det = list(zip(cols.pop("_method").tolist(), cols.pop("_datetime").tolist()))
    return ParcelTable(np.asarray(geoms, dtype=object), cols, crs_text(CRS.from_user_input(crs)), det, skipped)
