"""Vector features onto a scene as draft labelme shapes (``farmannot import-vectors``).

Pipeline, vectorised over all features with shapely 2 and pyproj: repair (``make_valid``) -> reproject to the
scene CRS -> map to pixels with the scene's affine transform -> clip to the scene -> simplify (0.5 px; outlines
on pixel edges are kept as they are) -> drop parts and holes under the minimum area -> shrink into labelme's
vertex convention (``farmannot.labels.convention.edges_to_labelme``) -> shapes (parts sharing a ``group_id``,
holes as later ``_background_`` shapes, attributes and source id in the description).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import Polygon

from farmannot.errors import InputError, note_input
from farmannot.io.grid import SceneGrid, crs_transformer, reproject
from farmannot.io.labelme_json import Annotation, Shape, load_annotation, resolve_image_path, save_annotation
from farmannot.io.raster import open_raster
from farmannot.labels.convention import edges_to_labelme, on_pixel_edges, world_to_pixel
from farmannot.vectors.geometry import drop_small, features_to_shapes, parse_description, polygonal
from farmannot.vectors.reader import VectorTable, parse_crs, read_vectors

DEFAULT_LABEL = "farmland"
#: A field of this name (written by export-vectors) is used as the source id, so re-imports match.
SOURCE_ID_FIELD = "source_id"
_TYPE_NAMES = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint",
               5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}


@dataclass
class ImportOptions:
    """How features become shapes.

    Attributes:
        label: One label for every feature (wins over ``label_field``).
        label_field: Attribute holding each feature's label (default: ``label`` when the file has it).
        label_map: Renames applied to labels after reading, ``{old: new}``.
        assume_crs: CRS for a file that declares none.
        simplify_px: Simplification tolerance in pixels (0 keeps every vertex).
        min_area_px: Parts and holes smaller than this many square pixels are dropped.
        layer: Layer to read from a multi-layer file.
    """

    label: str | None = None
    label_field: str | None = None
    label_map: dict[str, str] = field(default_factory=dict)
    assume_crs: str | None = None
    simplify_px: float = 0.5
    min_area_px: float = 0.5
    layer: str | None = None


@dataclass
class ImportReport:
    """What an import did, for the one-line summary and the tests."""

    features: int = 0
    imported: int = 0
    shapes: int = 0
    holes: int = 0
    multipart: int = 0
    repaired: int = 0
    outside: int = 0
    too_small: int = 0
    duplicates: int = 0
    no_geometry: int = 0
    not_polygon: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        parts = [f"{self.imported} of {self.features} features -> {self.shapes} shapes "
                 f"({self.holes} holes as _background_, {self.multipart} multi-part)"]
        if self.repaired:
            parts.append(f"{self.repaired} invalid geometries repaired with make_valid")
        if self.outside:
            parts.append(f"{self.outside} outside the scene")
        if self.too_small:
            parts.append(f"{self.too_small} smaller than the minimum area")
        if self.duplicates:
            parts.append(f"{self.duplicates} already in the annotation (skipped)")
        if self.no_geometry:
            parts.append(f"{self.no_geometry} without geometry")
        if self.not_polygon:
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.not_polygon.items()))
            parts.append(f"skipped points/lines: {kinds}")
        return "; ".join(parts)


def parse_label_map(text: str | None) -> dict[str, str]:
    """Parse ``old=new,other=farmland`` into a dict."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        old, sep, new = part.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise InputError(f"--label-map: expected OLD=NEW pairs like crop=farmland,fallow=farmland, got {part!r}.")
        out[old.strip()] = new.strip()
    return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.generic,)):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    if isinstance(v, bytes):
        return v.hex()
    return v


def feature_labels(table: VectorTable, options: ImportOptions) -> list[str]:
    """Each feature's label from ``--label``, ``--label-field`` or the ``label`` field, then ``--label-map``."""
    n = len(table)
    fieldname = options.label_field
    if options.label is None and fieldname is None and "label" in table.fields:
        fieldname = "label"
    if options.label is not None:
        labels = [options.label] * n
    elif fieldname is not None:
        if fieldname not in table.fields:
            have = ", ".join(table.fields) or "none"
            raise InputError(f"{table.path}: no field {fieldname!r} for --label-field; the fields are: {have}.")
        labels = []
        for v in table.fields[fieldname]:
            v = _jsonable(v)
            labels.append(DEFAULT_LABEL if v is None or str(v).strip() == "" else str(v).strip())
    else:
        labels = [DEFAULT_LABEL] * n
    return [options.label_map.get(lab, lab) for lab in labels]


def _source_ids(table: VectorTable) -> list[str]:
    own = table.fields.get(SOURCE_ID_FIELD)
    out = []
    for i, fid in enumerate(table.fids):
        v = _jsonable(own[i]) if own is not None else None
        out.append(str(v) if v not in (None, "") else f"{table.path.name}:{table.layer}:{int(fid)}")
    return out


def _transformer(src: str | None, dst: str, table: VectorTable, options: ImportOptions) -> Transformer | None:
    if src is None:
        if options.assume_crs is None:
            raise InputError(f"{table.path}: the file declares no CRS; pass --assume-crs EPSG:CODE (e.g. "
                             "EPSG:4326 for longitude/latitude) if you know it.")
        src_crs = parse_crs(options.assume_crs, "--assume-crs")
    else:
        src_crs = CRS.from_user_input(src)
        if src_crs.is_geographic and not _degrees(table.geometry):
            # GeoJSON is EPSG:4326 by definition, so a projected GeoJSON without a 'crs' reads as degrees
            if options.assume_crs is None:
                raise InputError(f"{table.path}: its coordinates are not longitude/latitude although its CRS is "
                                 f"{src_crs.to_string()} (GeoJSON always is); pass --assume-crs EPSG:CODE with the "
                                 "CRS they are in (e.g. a UTM zone), or reproject the file.")
            src_crs = parse_crs(options.assume_crs, "--assume-crs")
    return crs_transformer(src_crs, dst)


def _degrees(geoms: np.ndarray) -> bool:
    """Whether every coordinate fits longitude/latitude (-180..180, -90..90)."""
    present = geoms[np.array([g is not None for g in geoms], bool)] if len(geoms) else geoms
    if not len(present):
        return True
    x0, y0, x1, y1 = shapely.total_bounds(present)
    return bool(-180.0 <= x0 and x1 <= 180.0 and -90.0 <= y0 and y1 <= 90.0) or not np.isfinite([x0, x1]).all()


def island_order(geoms: np.ndarray) -> np.ndarray:
    """A stable order in which a feature lying in another feature's hole comes after that feature.

    A hole is written as a later ``_background_`` shape, which paints over everything drawn before it; an island
    field inside the hole must therefore be drawn after it. Features are sorted (stably) by how many holes of
    other features contain them, so file order is kept everywhere else.
    """
    parts, owner = shapely.get_parts(geoms, return_index=True)
    n_holes = np.bincount(owner, weights=shapely.get_num_interior_rings(parts), minlength=len(geoms))
    depth = np.zeros(len(geoms), dtype=int)
    if len(geoms) and n_holes.any():
        points = shapely.point_on_surface(geoms)
        tree = shapely.STRtree(points)
        for i in np.flatnonzero(n_holes > 0):
            for part in shapely.get_parts(geoms[i]):
                for ring in part.interiors:
                    inside = tree.query(Polygon(ring), predicate="contains")
                    depth[inside[inside != i]] += 1
    return np.argsort(depth, kind="stable")


def vectors_to_shapes(table: VectorTable, grid: SceneGrid, options: ImportOptions,
                      first_group_id: int = 1) -> tuple[list[list[Shape]], ImportReport]:
    """Turn a vector table into labelme shapes on ``grid``, one list of shapes per imported feature.

    Raises:
        InputError: no CRS (without ``assume_crs``), a missing label field, or no feature overlapping the scene
            (both extents in the message).
    """
    report = ImportReport(features=len(table))
    labels = feature_labels(table, options)
    tr = _transformer(table.crs, grid.crs, table, options)
    geoms = table.geometry
    present = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    report.no_geometry = int((~present).sum())
    tids = np.where(present, shapely.get_type_id(geoms), -1)
    is_poly = np.isin(tids, (3, 6, 7))
    for t in tids[present & ~is_poly]:
        name = _TYPE_NAMES.get(int(t), str(t))
        report.not_polygon[name] = report.not_polygon.get(name, 0) + 1
    idx = np.flatnonzero(present & is_poly)
    world = reproject(geoms[idx], tr)
    pix = world_to_pixel(world, grid.transform)
    # outlines on pixel edges (as export-vectors and rasterio's polygonize write them) are exact: the float
    # error of the transforms (and of a round trip through longitude/latitude) is snapped back onto the
    # corners before anything else, so rings that touch themselves at a corner stay valid and whole
    edged = on_pixel_edges(pix)
    pix[edged] = shapely.transform(pix[edged], np.round)
    invalid = ~shapely.is_valid(pix)
    report.repaired = int(invalid.sum())
    if invalid.any():
        pix[invalid] = [polygonal(x) for x in shapely.make_valid(pix[invalid])]
    collections = shapely.get_type_id(pix) == 7
    if collections.any():
        pix[collections] = [polygonal(x) for x in pix[collections]]
    keep = ~shapely.is_missing(pix)
    idx, pix, edged, world = idx[keep], pix[keep], edged[keep], world[keep]
    scene_box = shapely.box(0, 0, grid.width, grid.height)
    inside = shapely.intersects(pix, scene_box)
    report.outside = int((~inside).sum())
    report.too_small = int((~keep).sum())  # nothing polygonal left after repair
    if not inside.any():
        _raise_no_overlap(table, grid, world, tr, report)
    idx, pix, edged = idx[inside], pix[inside], edged[inside]
    covered = shapely.covered_by(pix, scene_box)
    clipped = pix.copy()
    crossing = clipped[~covered]
    # reprojection can bend a valid ring into an invalid one; GEOS refuses to clip those
    bent = ~shapely.is_valid(crossing)
    if bent.any():
        crossing[bent] = [polygonal(x) or Polygon() for x in shapely.make_valid(crossing[bent])]
    clipped[~covered] = shapely.intersection(crossing, scene_box)
    # simplifying would cut the corners of pixel-edge staircases, so those keep every vertex
    edged = edged & on_pixel_edges(clipped)
    if options.simplify_px > 0:
        clipped[~edged] = shapely.simplify(clipped[~edged], options.simplify_px, preserve_topology=True)
    # clipping and simplifying can leave slivers (lines, points) beside the polygons: keep the polygonal part
    odd = ~np.isin(shapely.get_type_id(clipped), (3, 6))
    if odd.any():
        clipped[odd] = [polygonal(x) for x in clipped[odd]]
    present = ~shapely.is_missing(clipped) & ~shapely.is_empty(clipped)
    report.too_small += int((~present).sum())
    idx, clipped = idx[present], clipped[present]
    # the minimum area applies to the feature as drawn, before the shrink below
    clipped = drop_small(clipped, options.min_area_px)
    present = ~shapely.is_empty(clipped)
    report.too_small += int((~present).sum())
    idx, clipped = idx[present], clipped[present]
    # pixel edges -> labelme's vertex convention, so labelme's rasteriser fills the pixels the feature covers
    clipped = edges_to_labelme(clipped)
    order = island_order(clipped)
    idx, clipped = idx[order], clipped[order]
    sources = _source_ids(table)
    fieldnames = [f for f in table.fields if f != SOURCE_ID_FIELD]
    columns = [table.fields[f] for f in fieldnames]
    attrs = [{f: _jsonable(col[i]) for f, col in zip(fieldnames, columns)} for i in idx.tolist()]
    per_feature = features_to_shapes(clipped, [labels[i] for i in idx], source_ids=[sources[i] for i in idx],
                                     attributes=attrs, first_group_id=first_group_id, min_area_px=0.0)
    out = [shapes for shapes in per_feature if shapes]
    report.too_small += len(per_feature) - len(out)
    report.multipart = sum(1 for shapes in out if shapes[0].group_id is not None)
    report.imported = len(out)
    report.shapes = sum(len(s) for s in out)
    report.holes = sum(1 for ss in out for s in ss if s.label == "_background_")
    return out, report


def _raise_no_overlap(table: VectorTable, grid: SceneGrid, world: np.ndarray, tr: Transformer | None,
                      report: ImportReport) -> None:
    if not len(world) and not report.too_small:  # nothing to place: an empty layer, or points and lines only
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(report.not_polygon.items()))
        have = f"{report.features} feature(s), none a polygon" + (f" ({kinds})" if kinds else "")
        raise InputError(f"{table.path}: no polygon overlaps the scene: the file (layer) has {have}; give a layer "
                         "of parcel polygons (--layer).")
    a, b, c, d, e, f = grid.transform[:6]
    xs = [c, c + a * grid.width, c + b * grid.height, c + a * grid.width + b * grid.height]
    ys = [f, f + d * grid.width, f + e * grid.height, f + d * grid.width + e * grid.height]
    scene_ext = (min(xs), min(ys), max(xs), max(ys))
    vec_ext = tuple(shapely.total_bounds(world)) if len(world) else None
    fmt = lambda ext: "(" + ", ".join(f"{v:.6g}" for v in ext) + ")" if ext is not None else "(empty)"  # noqa: E731
    raise InputError(
        f"{table.path}: no polygon overlaps the scene. Vector extent in the scene CRS {grid.crs}: "
        f"{fmt(vec_ext)}; scene extent: {fmt(scene_ext)} (xmin, ymin, xmax, ymax). Check the CRS "
        f"(file says {table.crs or 'none'}) and that this is the right scene."
    )


# ---------------------------------------------------------------------------------------------- edges
def scene_grid(scene: str | os.PathLike) -> SceneGrid:
    """The pixel grid of a scene raster (CRS, transform, size) and its shooting date when the file says it."""
    from farmannot.io.metadata import acquisition_date

    with open_raster(scene) as src:
        if src.crs is None:
            raise InputError(f"{scene}: the scene has no CRS; vectors cannot be placed on it. Georeference it "
                             "first (e.g. gdal_translate -a_srs / -a_ullr).")
        auth = src.crs.to_authority()
        crs = f"{auth[0]}:{auth[1]}" if auth else src.crs.to_wkt()
        found = acquisition_date(src.tags(), Path(scene).name)
        date = found.date.isoformat() if found is not None and found.confidence >= 0.9 else None
        return SceneGrid(crs, tuple(src.transform)[:6], src.width, src.height, date=date)


def _shape_keys(shape: Shape) -> tuple[tuple, tuple | None]:
    d = parse_description(shape.description)
    src = (d.get("source_id"), d.get("part"), d.get("hole_of"), d.get("hole")) if d.get("source_id") else None
    geo = (shape.label, shape.shape_type, tuple(tuple(round(v, 2) for v in p) for p in shape.points))
    return geo, src


def merge_shapes(existing: list[Shape], features: list[list[Shape]]) -> tuple[list[Shape], list[list[Shape]]]:
    """Append features to ``existing``, skipping a feature whose shapes are already there.

    A feature is already there when any of its shapes has the same source id (and part) as an existing shape
    (the person may have corrected it since) or when all its shapes repeat existing ones point for point.
    Group ids of the new shapes move past the existing ones.

    Returns:
        ``(shapes, added)``: all shapes, and the features that were added.
    """
    geo_keys, src_keys = set(), set()
    for s in existing:
        geo, src = _shape_keys(s)
        geo_keys.add(geo)
        if src is not None:
            src_keys.add(src)
    offset = max((s.group_id for s in existing if s.group_id is not None), default=0)
    out = list(existing)
    added: list[list[Shape]] = []
    for shapes in features:
        keys = [_shape_keys(s) for s in shapes]
        if any(src in src_keys for _, src in keys if src is not None) or all(geo in geo_keys for geo, _ in keys):
            continue
        for s in shapes:
            if s.group_id is not None:
                s.group_id += offset
            out.append(s)
        added.append(shapes)
    return out, added


def import_vectors(vector: str | os.PathLike, scene: str | os.PathLike, output: str | os.PathLike,
                   options: ImportOptions | None = None, *, merge: bool = False,
                   overwrite: bool = False) -> ImportReport:
    """Import a vector file onto a scene as a labelme annotation (``farmannot import-vectors``).

    Args:
        vector: The vector file.
        scene: The scene raster the annotation belongs to.
        output: The annotation JSON to write.
        options: Labels, CRS fallback, simplification.
        merge: Add to an existing annotation at ``output`` without duplicating shapes.
        overwrite: Replace an existing ``output`` (without ``merge``).

    Raises:
        InputError: any unusable input (see :func:`vectors_to_shapes`), or ``output`` exists without
            ``merge``/``overwrite``, or the existing annotation is for an image of another size.
    """
    options = options or ImportOptions()
    output, scene = Path(output), Path(scene)
    grid = scene_grid(scene)
    existing: Annotation | None = None
    if output.exists():
        if merge:
            existing = load_annotation(output)
            if existing.image_path:
                image = resolve_image_path(existing, output, allow_outside=True)
                if image.exists() and not image.samefile(scene):
                    raise InputError(f"{output}: the annotation is of the image {existing.image_path!r}, not of the "
                                     f"scene {scene}; merge onto the annotation of this scene, or give its image "
                                     "as --scene.")
            if (existing.image_width, existing.image_height) not in ((grid.width, grid.height), (None, None)):
                raise InputError(f"{output}: the annotation is for a {existing.image_width} x "
                                 f"{existing.image_height} px image, the scene {scene} is {grid.width} x "
                                 f"{grid.height} px; merge onto the annotation of this scene.")
        elif not overwrite:
            raise InputError(f"{output}: exists; pass --merge to add the features to it, or --overwrite to "
                             "replace it.")
    table = read_vectors(vector, layer=options.layer)
    try:
        features, report = vectors_to_shapes(table, grid, options)
    except Exception as exc:  # a GEOS error on a broken feature (NaN vertex) names the vector file
        raise note_input(exc, vector)
    if existing is None:
        # the scene as given, not where a link to it leads: a link placed in the project keeps imagePath inside
        rel = os.path.relpath(os.path.abspath(scene), os.path.abspath(output.parent))
        ann = Annotation(shapes=[], image_path=Path(rel).as_posix(), image_height=grid.height, image_width=grid.width)
    else:
        ann = existing
    ann.shapes, added = merge_shapes(ann.shapes, features)
    report.duplicates = len(features) - len(added)
    report.imported = len(added)
    report.shapes = sum(len(ss) for ss in added)
    report.holes = sum(1 for ss in added for s in ss if s.label == "_background_")
    report.multipart = sum(1 for ss in added if ss[0].group_id is not None)
    farm = ann.farmannot
    scene_meta = farm.setdefault("scene", {})
    for key, value in (("crs", grid.crs), ("transform", list(grid.transform)), ("width", grid.width),
                       ("height", grid.height), ("date", grid.date)):
        if value is not None:
            scene_meta.setdefault(key, value)
    if added:
        imports = farm.setdefault("provenance", {}).setdefault("imported_vectors", [])
        entry = {"source": Path(vector).name, "layer": table.layer, "features": report.imported}
        if entry not in imports:
            imports.append(entry)
    save_annotation(ann, output)
    return report
