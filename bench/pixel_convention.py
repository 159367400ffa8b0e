"""Which labelme vertex convention gives labelme the pixels back: a measurement, not a timing.

A mask (or a polygon on pixel edges) is written as labelme vertices by each candidate convention; labelme's
own converter (``labelme.utils.shape_to_mask``, holes painted over as later shapes) fills them; the pixels
that differ from the source are counted. Candidates:

* ``unconverted``: the pixel-edge vertices copied as they are;
* ``erode 0.5 + shift``: eroded by 0.5 px and moved by (-0.5, -0.5) (what the click path did before);
* ``shrink D``: shrunk by D px, vertices left for labelme to truncate (``labels.convention`` with D = 0.35).

Sources: rotated fields (synthetic, three sizes, 13 angles); the 57 drawn fields of the sample Landsat
annotation (``sample_data/``), each filled by labelme as the source mask; and, with ``--gpkg``/``--scene``,
the Itaipu land-cover polygons of the real Landsat scene. Three paths: traced masks exactly (simplify 0),
traced and simplified (1.5 px, the click default) and polygons as they are (imports; judged against
rasterio's pixel-centre rasterisation of the polygon).

Run: .venv/bin/python bench/pixel_convention.py [--gpkg FILE --scene FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import rasterio
import shapely
import shapely.affinity
from labelme.utils import shape_to_mask, shapes_to_label
from rasterio import features
from rasterio.transform import Affine
from shapely.geometry import Polygon, box

from farmannot.labels import convention
from farmannot.labels.polygonize import mask_to_polygons

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "annotations" / "LC08_L1TP_224078_20200518_20200518_01_RT_subset.json"
_MITRE = {"join_style": "mitre", "mitre_limit": 2.0}


def _rings(poly: Polygon) -> tuple[np.ndarray, list[np.ndarray]]:
    return np.asarray(poly.exterior.coords)[:-1], [np.asarray(r.coords)[:-1] for r in poly.interiors]


def unconverted(poly: Polygon) -> list:
    return [_rings(poly)]


def erode_shift(poly: Polygon) -> list:
    """The earlier click-path convention: each ring's region eroded by 0.5 px, then moved by half a pixel."""
    def er(p):
        g = shapely.buffer(p, -0.5, **_MITRE)
        return [shapely.affinity.translate(q, -0.5, -0.5) for q in shapely.get_parts(g) if q.area > 0]

    holes = [np.asarray(h.exterior.coords)[:-1] for r in poly.interiors for h in er(Polygon(r))]
    return [(np.asarray(p.exterior.coords)[:-1], holes) for p in er(Polygon(poly.exterior))]


def shrink(d: float):
    def fn(poly: Polygon) -> list:
        if d == convention.SHRINK_PX:  # the project's own function
            return [_rings(p) for p in shapely.get_parts(convention.edges_to_labelme(poly))]
        g = shapely.buffer(poly, -d, **_MITRE)
        return [_rings(p) for p in shapely.get_parts(g) if p.area > 0] or unconverted(poly)
    return fn


CANDIDATES = {"unconverted": unconverted, "erode 0.5 + shift": erode_shift,
              **{f"shrink {d}": shrink(d) for d in (0.25, 0.3, convention.SHRINK_PX, 0.4, 0.45, 0.5)}}


def labelme_fill(parts: list, hw: tuple[int, int]) -> np.ndarray:
    out = np.zeros(hw, bool)
    for ext, holes in parts:
        if len(ext) >= 3:
            out |= shape_to_mask(hw, ext.tolist(), "polygon")
        for h in holes:
            if len(h) >= 3:
                out &= ~shape_to_mask(hw, h.tolist(), "polygon")
    return out


def sources(gpkg: Path | None, scene: Path | None):
    """(name, geometry in pixel coordinates or None, source mask or None, image size)."""
    for angle in range(0, 90, 7):
        for w, h in ((22.3, 12.1), (60.2, 35.7), (9.4, 5.3)):
            yield "rotated", shapely.affinity.rotate(box(20.3, 20.1, 20.3 + w, 20.1 + h), angle, origin="center"), \
                None, (110, 110)
    ann = json.loads(SAMPLE.read_text())
    hw = (ann["imageHeight"], ann["imageWidth"])
    for s in ann["shapes"]:
        if s["shape_type"] == "polygon" and s["label"] != "_background_":
            cls, _ = shapes_to_label(hw, [s], {"_background_": 0, s["label"]: 1})
            yield "landsat sample", None, cls == 1, hw
    if gpkg and scene:
        import pyogrio.raw
        from pyproj import Transformer

        meta, _, wkb, _ = pyogrio.raw.read(gpkg, return_fids=True)
        with rasterio.open(scene) as src:
            inv, hw, crs = ~src.transform, (src.height, src.width), src.crs
        tr = Transformer.from_crs(meta["crs"], crs, always_xy=True)
        for g in shapely.from_wkb(wkb):
            yield "itaipu", shapely.transform(g, lambda xy: np.column_stack(inv * tr.transform(xy[:, 0], xy[:, 1]))), \
                None, hw


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gpkg", type=Path, help="The Itaipu land-cover GeoPackage.")
    ap.add_argument("--scene", type=Path, help="The Landsat scene the GeoPackage lies on.")
    args = ap.parse_args()
    wrong: dict[tuple[str, str, str], list[int]] = {}
    for name, geom, mask, hw in sources(args.gpkg, args.scene):
        if mask is None:
            mask = features.rasterize([(geom, 1)], out_shape=hw, transform=Affine.identity()) == 1
        paths = {f"traced, simplify {s}": [r.to_shapely() for r in mask_to_polygons(mask, simplify_px=s)]
                 for s in (0, 1.5)}
        if geom is not None:
            paths["polygon as it is"] = list(shapely.get_parts(geom))
        for path, polys in paths.items():
            ref = mask if path != "polygon as it is" else \
                features.rasterize([(geom, 1)], out_shape=hw, transform=Affine.identity()) == 1
            for cand, fn in CANDIDATES.items():
                got = labelme_fill([x for p in polys for x in fn(p)], hw)
                acc = wrong.setdefault((name, path, cand), [0, 0, 0])
                acc[0] += int((got != ref).sum())
                acc[1] += int(got.sum()) - int(ref.sum())
                acc[2] += int(ref.sum())
    print(f"{'source':15s} {'path':22s} {'candidate':18s} {'wrong px':>9s} {'bias':>7s} {'of':>8s}")
    for (name, path, cand), (w, b, n) in wrong.items():
        print(f"{name:15s} {path:22s} {cand:18s} {w:9d} {b:+7d} {n:8d}")


if __name__ == "__main__":
    main()
