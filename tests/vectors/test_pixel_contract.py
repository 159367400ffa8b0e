"""The pixel contract (``farmannot.labels.convention``) on every path that writes or reads vertices, each
judged by labelme's own loader and converter (``LabelFile``, ``labelme.utils.shapes_to_label``) and
rasterio's rasteriser.

The SAM click path (mask -> ``to_labelme_rings`` -> labelme's ``shape_to_mask``) is in
``tests/labels/test_convention.py``; here: a proposal written as a draft, a GeoPackage import, an export.
"""

from __future__ import annotations

import json

import numpy as np
import pyogrio.raw
import rasterio
import shapely
import shapely.affinity
from rasterio import features
from shapely.geometry import box
from vector_fixtures import SCENE_CRS, SCENE_SIZE, SCENE_TRANSFORM, hand_annotation, write_vectors

from farmannot.io.labelme_json import Shape, save_annotation
from farmannot.labels.polygonize import mask_to_polygons
from farmannot.vectors.exporter import ExportOptions, export_vectors
from farmannot.vectors.importer import ImportOptions, import_vectors

HW = (SCENE_SIZE, SCENE_SIZE)


def _labelme_farmland(path) -> np.ndarray:
    """labelme 6.3's own loader (``LabelFile``, which checks every shape and opens the image the file names)
    and converter on the file as written, not farmannot's reader."""
    from labelme._label_file import LabelFile
    from labelme.utils import shapes_to_label

    lf = LabelFile(str(path))
    assert [s["label"] for s in lf.shapes] == [s["label"] for s in json.loads(path.read_text())["shapes"]]
    cls, _ = shapes_to_label(HW, lf.shapes, {"_background_": 0, "farmland": 1})
    return cls == 1


def _fields_mask() -> np.ndarray:
    """Two rotated fields, one with a hole, as a mask (what SAM or a model hands on)."""
    a = shapely.affinity.rotate(box(12.3, 15.2, 62.7, 48.1), 23, origin="center")
    b = shapely.affinity.rotate(box(70.4, 60.2, 104.9, 101.3), -41, origin="center")
    mask = features.rasterize([(a, 1), (b, 1)], out_shape=HW) == 1
    mask[28:36, 30:41] = False  # a hole in the first field
    return mask


def test_proposal_draft_gives_the_mask_back(tmp_path):
    """Traced parts (pixel edges) written by ``draft_annotation``: labelme fills exactly the mask."""
    from vector_fixtures import write_scene

    from farmannot.predict.drafts import draft_annotation

    scene = write_scene(tmp_path / "scene.tif")
    mask = _fields_mask()
    drafts = [(r.to_shapely(), 0.9) for r in mask_to_polygons(mask, simplify_px=0)]
    assert len(drafts) == 2 and sum(len(r.interiors) for r, _ in drafts) == 1
    out = tmp_path / "drafts.json"
    draft_annotation(scene, out, drafts, method="sam-proposals")
    assert (_labelme_farmland(out) == mask).all()


def test_geopackage_import_gives_rasterios_pixels(tmp_path, utm_scene):
    """Fields on the scene's pixel edges, in a GeoPackage in the scene CRS: the imported shapes fill, by
    labelme's converter, exactly the pixels rasterio fills from the GeoPackage's own geometries."""
    mask = _fields_mask()
    px = [r.to_shapely() for r in mask_to_polygons(mask, simplify_px=0)]
    a, b, c, d, e, f = tuple(SCENE_TRANSFORM)[:6]
    world = [shapely.affinity.affine_transform(g, [a, b, d, e, c, f]) for g in px]
    gpkg = write_vectors(tmp_path / "fields.gpkg", world, {"label": ["farmland"] * len(world)}, crs=SCENE_CRS,
                         driver="GPKG")
    out = tmp_path / "imported.json"
    import_vectors(gpkg, utm_scene, out, ImportOptions(simplify_px=0))
    wkb = pyogrio.raw.read(gpkg)[2]
    ref = features.rasterize([(g, 1) for g in shapely.from_wkb(wkb)], out_shape=HW, transform=SCENE_TRANSFORM) == 1
    assert (ref == mask).all()  # the judge agrees with the source
    assert (_labelme_farmland(out) == ref).all()


def test_export_rasterises_to_labelmes_pixels(tmp_path, utm_scene):
    """Drawn shapes (fractional vertices, a self-crossing one, a later _background_): rasterio rasterising the
    exported GeoPackage on the scene grid fills exactly what labelme's converter fills from the file."""
    ann = hand_annotation()
    ann.shapes = [Shape("farmland", [[5.3, 5.2], [45.7, 9.1], [38.2, 52.9], [8.4, 40.3]]),
                  Shape("farmland", [[60.5, 60.2], [100.9, 95.3], [100.2, 60.7], [60.1, 95.6]]),  # a bow tie
                  Shape("_background_", [[20.5, 20.5], [30.5, 20.5], [25.5, 31.9]])]
    src = tmp_path / "drawn.json"
    save_annotation(ann, src)
    out = tmp_path / "drawn.gpkg"
    export_vectors(src, out, ExportOptions(fmt="gpkg"))
    meta, _, wkb, _ = pyogrio.raw.read(out, return_fids=True)
    assert rasterio.crs.CRS.from_user_input(meta["crs"]) == rasterio.crs.CRS.from_user_input(SCENE_CRS)
    geoms = shapely.from_wkb(wkb)
    got = features.rasterize([(g, 1) for g in geoms], out_shape=HW, transform=SCENE_TRANSFORM) == 1
    want = _labelme_farmland(src)
    assert want.sum() > 1500 and (got == want).all()


def test_draft_of_a_linked_scene_points_at_the_link(tmp_path):
    """Drafts (propose, predict --polygons) of a scene linked into the project name the link, as given."""
    from vector_fixtures import write_scene

    from farmannot.io.labelme_json import load_annotation, resolve_image_path
    from farmannot.predict.drafts import draft_annotation

    (tmp_path / "elsewhere").mkdir()
    scene = write_scene(tmp_path / "elsewhere" / "scene.tif")
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "scene.tif").symlink_to(scene)
    out = tmp_path / "project" / "drafts.json"
    draft_annotation(tmp_path / "project" / "scene.tif", out, [(box(2, 2, 9, 9), 0.9)], method="sam-proposals")
    ann = load_annotation(out)
    assert ann.image_path == "scene.tif" and ann.farmannot["scene"]["path"] == "scene.tif"
    assert resolve_image_path(ann, out).samefile(scene)  # inside the project folder, no --allow-outside
