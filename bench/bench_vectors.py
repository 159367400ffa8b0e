"""GIS vectors: import and export of 10,000 parcels, farmannot's vectorised path vs a plain per-feature loop.

Import: a GeoPackage of parcels in EPSG:4326 (10 % with a hole, 5 % in two parts, some over the scene edge,
2 % self-intersecting) onto a 10 m UTM scene grid: read, repair, reproject, map to pixels, clip, simplify,
make labelme shapes. The reference does the same with the same libraries one feature at a time (the way a
fiona loop is usually written). Export: the imported annotation's shapes back to parcels (holes carved by
later ``_background_`` shapes, parts joined by ``group_id``), map coordinates, area and perimeter, written
to a GeoPackage; the reference builds each parcel in a loop (holes found through the same spatial index). The script checks that both paths agree before timing.

Sizes: ``--quick`` (the default) 4,000 parcels, best of 2; ``--full`` 10,000 parcels, best of 3.

Run: .venv/bin/python bench/bench_vectors.py [--full] [--parcels N] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pyogrio  # noqa: E402
import pyogrio.raw  # noqa: E402
import shapely  # noqa: E402
from pyproj import Transformer  # noqa: E402
from shapely.geometry import MultiPolygon, Polygon  # noqa: E402

from farmannot.io.grid import SceneGrid  # noqa: E402
from farmannot.io.labelme_json import Shape  # noqa: E402
from farmannot.labels.convention import edges_to_labelme, on_pixel_edges  # noqa: E402
from farmannot.vectors.geometry import (  # noqa: E402
    BACKGROUND_LABEL,
    drop_small,
    polygon_to_shapes,
    polygonal,
)
from farmannot.vectors.importer import ImportOptions, vectors_to_shapes  # noqa: E402
from farmannot.vectors.parcels import AnnotationGeo, build_parcel_table  # noqa: E402
from farmannot.vectors.reader import read_vectors  # noqa: E402
from farmannot.vectors.writers import Layer, write_layers  # noqa: E402

CRS = "EPSG:32633"
PIX = 10.0


def make_parcels(n: int, seed: int = 0) -> tuple[list, SceneGrid]:
    """``n`` field polygons (16-vertex jittered ellipses) on a square grid, in lon/lat, and the scene grid."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))
    cell = 40.0  # px
    size = int(side * cell * 0.97)  # the last column and row cross the scene edge
    grid = SceneGrid(CRS, (PIX, 0.0, 400_000.0, 0.0, -PIX, 1_000_000.0), size, size)
    to_ll = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    a, _, c, _, e, f = grid.transform
    geoms = []
    t = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    for k in range(n):
        cx, cy = (k % side + 0.5) * cell, (k // side + 0.5) * cell
        rx, ry = rng.uniform(10, 18, 2)
        r = 1 + 0.08 * rng.standard_normal(16)
        ring = np.column_stack([cx + rx * r * np.cos(t), cy + ry * r * np.sin(t)])
        if k % 50 == 7:
            ring[[3, 4]] = ring[[4, 3]]  # self-intersecting
        holes = [np.column_stack([cx + 3 * np.cos(t[::4]), cy + 3 * np.sin(t[::4])])] if k % 10 == 3 else []
        g = Polygon(ring, holes)
        if k % 20 == 11:
            g = MultiPolygon([Polygon(ring * [0.4, 1] + [cx * 0.6 + dx, 0]) for dx in (-10, 10)])
        xy = lambda p: np.column_stack(to_ll.transform(a * p[:, 0] + c, e * p[:, 1] + f))  # noqa: E731
        geoms.append(shapely.transform(g, xy))
    return geoms, grid


def reference_import(path: Path, grid: SceneGrid, options: ImportOptions) -> list[list[Shape]]:
    """Plain loop: one feature at a time with the same libraries."""
    meta, fids, wkb, data = pyogrio.raw.read(path, return_fids=True)
    tr = Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True)
    box = shapely.box(0, 0, grid.width, grid.height)
    a, b, c, d, e, f = grid.transform
    out = []
    layer = str(pyogrio.list_layers(path)[0][0])
    gid = 1
    for i, blob in enumerate(wkb):
        g = shapely.from_wkb(blob)
        g = shapely.transform(g, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
        g = shapely.transform(g, lambda xy: np.column_stack([(xy[:, 0] - c) / a, (xy[:, 1] - f) / e]))
        edged = bool(on_pixel_edges(np.asarray([g], dtype=object))[0])
        if edged:
            g = shapely.transform(g, np.round)
        if not g.is_valid:
            g = polygonal(shapely.make_valid(g))
        if not g.intersects(box):
            continue
        if not g.within(box):
            g = g.intersection(box)
        if not (edged and on_pixel_edges(np.asarray([g], dtype=object))[0]):
            g = polygonal(g.simplify(options.simplify_px, preserve_topology=True))
        if g is None:
            continue
        g = drop_small(np.asarray([g], dtype=object), options.min_area_px)[0]
        if g.is_empty:
            continue
        g = edges_to_labelme(g)  # pixel edges -> labelme vertices, holes as regions of their own
        attrs = {name: col[i].item() if hasattr(col[i], "item") else col[i] for name, col in zip(meta["fields"], data)}
        shapes = polygon_to_shapes(g, "farmland", group_id=gid, source_id=f"{path.name}:{layer}:{int(fids[i])}", attributes=attrs,
                                  min_area_px=0.0)
        if shapes and shapes[0].group_id is not None:
            gid += 1
        if shapes:
            out.append(shapes)
    return out


def reference_export(shapes: list[Shape], grid: SceneGrid) -> tuple[list, list, list]:
    """Plain loop: each parcel built on its own with labelme's own ``shape_to_mask``; its holes (later
    ``_background_`` shapes) found through a spatial index of their boxes.

    Each shape of the parcel is drawn by ``labelme.utils.shape_to_mask`` on a canvas the size of the parcel's
    box (vertices truncated before moving them there, as PIL truncates them on the whole image), every
    background drawn after it carves, the parcel is the union, rasterio ``shapes`` polygonises it. (The
    reference used ``labels.convention.labelme_to_edges`` before: it keeps only the ``make_valid`` area of a
    polygon that truncation makes self-crossing, and its footprint geometry misses a pixel on some slanted
    edges; on 10,000 parcels 20 areas came out 1-3 px off what labelme fills, while farmannot's export
    matched labelme.)
    """
    from labelme.utils import shape_to_mask
    from rasterio import features

    trunc = [np.trunc(np.asarray(s.points, dtype=np.float64)) for s in shapes]
    bg = [j for j, s in enumerate(shapes) if s.label == BACKGROUND_LABEL]
    tree = shapely.STRtree([shapely.box(*trunc[j].min(axis=0), *trunc[j].max(axis=0)) for j in bg])
    groups: dict = {}
    for i, s in enumerate(shapes):
        if s.label != BACKGROUND_LABEL:
            groups.setdefault((s.label, s.group_id) if s.group_id is not None else i, []).append(i)
    geoms, areas, perims = [], [], []
    a, b, c, d, e, f = grid.transform
    for members in groups.values():
        pts = np.concatenate([trunc[i] for i in members])
        (c0, r0), (c1, r1) = np.maximum(pts.min(axis=0), 0).astype(int), pts.max(axis=0).astype(int) + 1
        c1, r1 = min(c1, grid.width), min(r1, grid.height)
        if c1 <= c0 or r1 <= r0:
            continue
        size = (r1 - r0, c1 - c0)
        local = lambda j: (trunc[j] - [c0, r0]).tolist()  # noqa: E731
        mask = np.zeros(size, bool)
        for i in members:
            m = shape_to_mask(size, local(i), shapes[i].shape_type)
            for k in tree.query(shapely.box(c0, r0, c1, r1)):
                j = bg[int(k)]
                if j > i:
                    m &= ~shape_to_mask(size, local(j), shapes[j].shape_type)
            mask |= m
        if not mask.any():
            continue
        polys = [shapely.geometry.shape(g) for g, _ in features.shapes(mask.astype(np.uint8), mask=mask)]
        g = shapely.affinity.translate(shapely.union_all(polys), c0, r0)
        w = shapely.affinity.affine_transform(g, [a, b, d, e, c, f])
        geoms.append(w)
        areas.append(w.area)
        perims.append(w.length)
    return geoms, areas, perims


def _ring_key(points: list) -> tuple:
    """A ring's vertices from its smallest one on: where a ring starts is not part of the shape (a clip of a
    parcel at the scene edge by GEOS ``intersection`` and by the vectorised clip start the same ring at
    different vertices)."""
    pts = [tuple(p) for p in points]
    k = pts.index(min(pts))
    return tuple(pts[k:] + pts[:k])


def best(fn, repeat: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="10,000 parcels, best of 3")
    ap.add_argument("--parcels", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=None)
    args = ap.parse_args()
    args.parcels = args.parcels or (10_000 if args.full else 4_000)
    args.repeat = args.repeat or (3 if args.full else 2)
    print(f"load average {os.getloadavg()[0]:.1f} at the start")
    geoms, grid = make_parcels(args.parcels)
    opts = ImportOptions(label="farmland")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "parcels.gpkg"
        pyogrio.raw.write(str(src), shapely.to_wkb(np.asarray(geoms, dtype=object)),
                          [np.arange(len(geoms)), np.full(len(geoms), "maize", dtype=object)], ["farm_no", "crop"],
                          crs="EPSG:4326", driver="GPKG", geometry_type="Unknown")

        t_fast, (feats, rep) = best(lambda: vectors_to_shapes(read_vectors(src), grid, opts), args.repeat)
        t_ref, ref = best(lambda: reference_import(src, grid, opts), args.repeat)
        assert len(feats) == len(ref), (len(feats), len(ref))
        for x, y in zip(feats, ref):
            assert [_ring_key(s.points) for s in x] == [_ring_key(s.points) for s in y]
            assert [s.description for s in x] == [s.description for s in y]
        print(f"import {args.parcels} parcels ({rep.shapes} shapes, {rep.holes} holes, {rep.multipart} multi-part, "
              f"{rep.repaired} repaired, {rep.outside} outside)")
        print(f"  farmannot vectors_to_shapes: {t_fast:.3f} s  ({args.parcels / t_fast:,.0f} parcels/s)")
        print(f"  per-feature loop:            {t_ref:.3f} s  ({args.parcels / t_ref:,.0f} parcels/s)")
        print(f"  ratio: {t_ref / t_fast:.2f}x")

        shapes = [s for ss in feats for s in ss]
        geo = AnnotationGeo(Path(tmp) / "scene.json", None, grid.crs, grid.transform, "scene")  # type: ignore[arg-type]

        class _Ann:  # the parts of an Annotation that build_parcel_table reads
            farmannot: dict = {}
            image_width, image_height = grid.width, grid.height

        _Ann.shapes = shapes
        geo.annotation = _Ann()  # type: ignore[assignment]
        out = Path(tmp) / "parcels_out.gpkg"
        t_fast_e, table = best(lambda: build_parcel_table([geo]), args.repeat)
        t_ref_e, (rg, rar, _) = best(lambda: reference_export(shapes, grid), args.repeat)
        assert len(table) == len(rg)
        np.testing.assert_allclose(table.columns["area_m2"], rar, rtol=1e-9)
        t_write, _ = best(lambda: write_layers(out, "gpkg", [Layer("parcels", table.geometry, table.columns,
                                                                   table.crs)]), args.repeat)
        print(f"export {len(table)} parcels (holes, groups, map coordinates, area, perimeter, caption columns)")
        print(f"  farmannot build_parcel_table: {t_fast_e:.3f} s  ({len(table) / t_fast_e:,.0f} parcels/s)")
        print(f"  per-parcel loop:              {t_ref_e:.3f} s  ({len(table) / t_ref_e:,.0f} parcels/s)")
        print(f"  ratio: {t_ref_e / t_fast_e:.2f}x")
        print(f"  GeoPackage write (both paths use it): {t_write:.3f} s; farmannot end to end "
              f"{len(table) / (t_fast_e + t_write):,.0f} parcels/s")

if __name__ == "__main__":
    main()
