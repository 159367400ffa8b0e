"""import-vectors: known pixel answers on a UTM scene, the real Itaipu polygons, and every bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import rasterio.features
import shapely
from shapely.geometry import Polygon, box
from vector_fixtures import (
    EDGE_FIELD_CLIPPED,
    FIELD_WITH_HOLE,
    TWO_PART_FIELD,
    pixel_to_lonlat,
    write_scene,
    write_vectors,
)

from farmannot.errors import InputError
from farmannot.io.labelme_json import Shape, load_annotation
from farmannot.labels.rasterize import class_raster
from farmannot.vectors.geometry import parse_description
from farmannot.vectors.importer import ImportOptions, import_vectors, parse_label_map

ITAIPU = "real-scenes/landsat8-itaipu"


def _poly(shape) -> Polygon:
    return Polygon(shape.points)


def _same(a, b, tol=1e-3) -> bool:
    return a.symmetric_difference(b).area < tol * max(a.area, 1) and shapely.hausdorff_distance(a, b) < 0.01


def test_known_pixel_answers(tmp_path, utm_scene, lonlat_parcels):
    out = tmp_path / "ann.json"
    rep = import_vectors(lonlat_parcels, utm_scene, out, ImportOptions(label_field="crop", simplify_px=0))
    ann = load_annotation(out)
    shapes = ann.shapes
    by_src: dict[int, list] = {}
    for s in shapes:
        d = parse_description(s.description)
        by_src.setdefault(int(d["source_id"].rsplit(":", 1)[1]), []).append(s)
    # Pixel convention: a pixel-edge outline is shrunk by 0.35 px, so labelme's truncation puts each vertex on
    # the centre of the border pixel inside it (10.35 -> 10, 49.65 -> 49). The hole is a region of its own
    # (a later _background_ shape), so it shrinks too: edges 20..30 -> 20.35..29.65, filling pixels 20..29.
    hole_field = by_src[0]
    assert [s.label for s in hole_field] == ["maize", "_background_"]
    assert _same(_poly(hole_field[0]), box(10.35, 10.35, 49.65, 49.65))
    assert _same(_poly(hole_field[1]), box(20.35, 20.35, 29.65, 29.65))
    assert shapes.index(hole_field[1]) > shapes.index(hole_field[0])
    # two-part field: two shapes sharing one group id, nobody else has it
    parts = by_src[1]
    assert len(parts) == 2 and parts[0].group_id is not None and parts[0].group_id == parts[1].group_id
    assert sum(s.group_id == parts[0].group_id for s in shapes) == 2
    got = sorted((_poly(s) for s in parts), key=lambda p: p.bounds)
    assert _same(got[0], box(60.35, 10.35, 69.65, 19.65)) and _same(got[1], box(80.35, 10.35, 89.65, 19.65))
    # field over the right edge: clipped at x = 120 (EDGE_FIELD_CLIPPED), then shrunk
    assert EDGE_FIELD_CLIPPED.bounds == (100, 60, 120, 80)
    assert _same(_poly(by_src[2][0]), box(100.35, 60.35, 119.65, 79.65))
    # bowtie: repaired into its two triangles (each base 30, height 15: 225 px^2), reported; each triangle
    # shrunk by 0.35 px is similar to it with scale (r - 0.35) / r, r its inradius = area / semi-perimeter
    bow = by_src[3]
    assert rep.repaired == 1
    r = 225 / (15 + 15 * 2 ** 0.5)
    want = 2 * 225 * ((r - 0.35) / r) ** 2
    assert shapely.union_all([_poly(s) for s in bow]).area == pytest.approx(want, rel=1e-3)
    # outside field, point and line: not imported; points and lines reported by type
    assert 4 not in by_src and 5 not in by_src and 6 not in by_src
    assert rep.outside == 1 and rep.not_polygon == {"Point": 1, "LineString": 1}
    assert rep.features == 7 and rep.imported == 4
    assert "skipped points/lines: 1 LineString, 1 Point" in rep.summary()
    # attributes and the source id travel in the description
    d = parse_description(hole_field[0].description)
    assert d["attributes"] == {"crop": "maize", "farm_no": 11}
    assert d["source_id"] == "parcels.geojson:parcels:0"
    # scene georeferencing recorded, image path relative to the annotation
    assert ann.farmannot["scene"]["crs"] == "EPSG:32633"
    assert ann.image_path == "scene.tif" and (ann.image_width, ann.image_height) == (120, 120)


def test_equator_meridian_vertex_lands_on_its_pixel(tmp_path, utm_scene):
    # UTM definition: (15 E, 0 N) is easting 500 000, northing 0 in zone 33 -> pixel corner (20, 100) of the
    # scene; the equator and the central meridian map to the grid's axes, so the triangle's right angle sits on
    # that corner with its legs along x (east) and up (north). Shrunk by 0.35 px, the vertex moves to
    # (20.35, 99.65), which labelme truncates to (20, 99): the pixel whose bottom-left corner it is.
    tri = Polygon([(15.0, 0.0), (15.001, 0.0), (15.0, 0.001)])
    vec = write_vectors(tmp_path / "tri.gpkg", [tri], {"name": ["t"]}, driver="GPKG")
    import_vectors(vec, utm_scene, tmp_path / "a.json", ImportOptions(simplify_px=0))
    pts = np.array(load_annotation(tmp_path / "a.json").shapes[0].points)
    assert np.abs(pts - [20.35, 99.65]).sum(axis=1).min() < 1e-3


def test_simplify_tolerance_holds(tmp_path, utm_scene):
    circle = shapely.Point(60, 60).buffer(30, quad_segs=64)
    vec = write_vectors(tmp_path / "c.geojson", [pixel_to_lonlat(circle)], {"id": [1]})
    import_vectors(vec, utm_scene, tmp_path / "a.json", ImportOptions(simplify_px=0.5))
    shape = load_annotation(tmp_path / "a.json").shapes[0]
    assert len(shape.points) < 200  # 257 vertices in, far fewer out
    assert shapely.hausdorff_distance(_poly(shape).exterior, circle.exterior) <= 0.5 + 1e-3


def test_label_default_and_map(tmp_path, utm_scene, lonlat_parcels):
    out = tmp_path / "a.json"
    import_vectors(lonlat_parcels, utm_scene, out, ImportOptions(label_field="crop",
                                                                 label_map=parse_label_map("maize=farmland")))
    labels = {s.label for s in load_annotation(out).shapes}
    assert labels == {"farmland", "soy", "wheat", "_background_"}
    import_vectors(lonlat_parcels, utm_scene, out, ImportOptions(), overwrite=True)
    assert {s.label for s in load_annotation(out).shapes} == {"farmland", "_background_"}
    with pytest.raises(InputError, match="OLD=NEW"):
        parse_label_map("maize")


def test_real_itaipu_polygons(shared_data, tmp_path):
    folder = shared_data / ITAIPU
    scene = folder / "LC08_L1TP_224078_20200518_20200518_01_RT.TIF"
    gpkg = folder / "LC08_L1TP_224078_20200518_20200518_01_RT_polygons.gpkg"
    out = tmp_path / "itaipu.json"
    rep = import_vectors(gpkg, scene, out, ImportOptions(label_field="name"))
    ann = load_annotation(out)
    assert rep.imported == 4
    assert sorted(s.label for s in ann.shapes) == ["crop", "developed", "tree", "water"]
    # the Landsat product id in the scene's name gives the acquisition date (2020-05-18, per the data manifest)
    assert ann.farmannot["scene"]["date"] == "2020-05-18"
    assert ann.farmannot["scene"]["crs"] == "EPSG:32621"
    import pyogrio.raw

    wkb = pyogrio.raw.read(gpkg)[2]
    with rasterio.open(scene) as src:
        transform, height, width = src.transform, src.height, src.width
    src_geoms = shapely.from_wkb(wkb)
    wrong = wrong_raw = bias = total = 0
    for s, g in zip(ann.shapes, src_geoms):
        # every source vertex, mapped by rasterio's own rowcol, is within 0.5 px (simplification) + 0.7 px
        # (the 0.35 px shrink, at most doubled at a corner by the mitre limit) of the imported ring
        xy = shapely.get_coordinates(g)
        rows, cols = rasterio.transform.rowcol(transform, xy[:, 0], xy[:, 1], op=lambda v: v)
        cols_rows = np.column_stack([cols, rows])
        ring = Polygon(s.points).exterior
        assert max(ring.distance(shapely.Point(p)) for p in cols_rows) <= 1.2
        assert parse_description(s.description)["source_id"].startswith(gpkg.name + ":land_cover:")
        # the imported shape, rasterised by labelme's rules, against rasterio's rasterising of the source polygon
        ref = rasterio.features.rasterize([(g, 1)], out_shape=(height, width), transform=transform) == 1
        got = class_raster([s], height, width, {s.label: 1}) == 1
        pix = Polygon(np.column_stack(rasterio.transform.rowcol(transform, *xy.T, op=lambda v: v)[::-1]))
        raw = class_raster([Shape(s.label, shapely.get_coordinates(pix)[:-1].tolist())], height, width,
                           {s.label: 1}) == 1  # the polygon copied into labelme unconverted, as before the fix
        wrong += int((got != ref).sum())
        wrong_raw += int((raw != ref).sum())
        bias += int(got.sum()) - int(ref.sum())
        total += int(ref.sum())
    # measured: 39 wrong pixels of 683 with the conversion, 88 unconverted (all of them one-sided: too many)
    assert total > 600 and wrong_raw > 0.1 * total
    assert wrong < 0.5 * wrong_raw and abs(bias) < 0.02 * total


# ---------------------------------------------------------------------------------------- bad inputs
def test_no_crs_needs_assume_crs(tmp_path, utm_scene):
    vec = write_vectors(tmp_path / "nocrs.geojson", [pixel_to_lonlat(FIELD_WITH_HOLE)], {"id": [1]}, crs=None)
    # GeoJSON without crs is read as WGS84 by GDAL (RFC 7946); a Shapefile without .prj has no CRS at all
    shp = write_vectors(tmp_path / "nocrs.shp", [pixel_to_lonlat(FIELD_WITH_HOLE)], {"id": [1]}, crs=None)
    with pytest.raises(InputError, match=r"nocrs\.shp: the file declares no CRS; pass --assume-crs"):
        import_vectors(shp, utm_scene, tmp_path / "a.json")
    rep = import_vectors(shp, utm_scene, tmp_path / "a.json", ImportOptions(assume_crs="EPSG:4326"))
    assert rep.imported == 1
    with pytest.raises(InputError, match="not a CRS"):
        import_vectors(shp, utm_scene, tmp_path / "b.json", ImportOptions(assume_crs="EPSG:nonsense"))
    assert vec.exists()


def test_no_overlap_gives_both_extents(tmp_path, utm_scene):
    far = shapely.box(20.0, 10.0, 20.01, 10.01)
    vec = write_vectors(tmp_path / "far.geojson", [far], {"id": [1]})
    with pytest.raises(InputError) as err:
        import_vectors(vec, utm_scene, tmp_path / "a.json")
    msg = str(err.value)
    assert "no polygon overlaps the scene" in msg
    assert "scene extent: (499800, -200, 501000, 1000)" in msg
    assert "Vector extent in the scene CRS EPSG:32633" in msg
    assert not (tmp_path / "a.json").exists()


def test_only_points_and_lines(tmp_path, utm_scene):
    vec = write_vectors(tmp_path / "pts.geojson", [pixel_to_lonlat(shapely.Point(5, 5))], {"id": [1]})
    with pytest.raises(InputError, match="no polygon overlaps"):
        import_vectors(vec, utm_scene, tmp_path / "a.json")


def test_missing_label_field_lists_fields(tmp_path, utm_scene, lonlat_parcels):
    with pytest.raises(InputError, match=r"no field 'kind' for --label-field; the fields are: crop, farm_no"):
        import_vectors(lonlat_parcels, utm_scene, tmp_path / "a.json", ImportOptions(label_field="kind"))


def test_scene_and_file_errors(tmp_path, utm_scene, lonlat_parcels):
    bare = write_scene(tmp_path / "bare.tif", crs=None)
    with pytest.raises(InputError, match="the scene has no CRS"):
        import_vectors(lonlat_parcels, bare, tmp_path / "a.json")
    with pytest.raises(InputError, match="no such file"):
        import_vectors(tmp_path / "missing.gpkg", utm_scene, tmp_path / "a.json")
    junk = tmp_path / "junk.gpkg"
    junk.write_text("not a geopackage")
    with pytest.raises(InputError, match="not a readable vector file"):
        import_vectors(junk, utm_scene, tmp_path / "a.json")
    two = tmp_path / "two.gpkg"
    write_vectors(two, [pixel_to_lonlat(FIELD_WITH_HOLE)], {"id": [1]}, driver="GPKG", layer="a")
    write_vectors(two, [pixel_to_lonlat(FIELD_WITH_HOLE)], {"id": [2]}, driver="GPKG", layer="b", append=True)
    with pytest.raises(InputError, match=r"holds 2 layers \(a, b\); choose one with --layer"):
        import_vectors(two, utm_scene, tmp_path / "a.json")
    assert import_vectors(two, utm_scene, tmp_path / "a.json", ImportOptions(layer="b")).imported == 1
    with pytest.raises(InputError, match="pass --merge"):
        import_vectors(two, utm_scene, tmp_path / "a.json", ImportOptions(layer="a"))
    pq = tmp_path / "plain.parquet"
    import pyarrow as pa
    import pyarrow.parquet as papq

    papq.write_table(pa.table({"x": [1]}), pq)
    with pytest.raises(InputError, match="without GeoParquet 'geo' metadata"):
        import_vectors(pq, utm_scene, tmp_path / "c.json")


def test_merge_adds_without_duplicates(tmp_path, utm_scene, lonlat_parcels):
    out = tmp_path / "a.json"
    import_vectors(lonlat_parcels, utm_scene, out, ImportOptions(label_field="crop"))
    first = load_annotation(out)
    n = len(first.shapes)
    # a person corrects the first shape; a re-import with --merge must neither duplicate nor undo it
    first.shapes[0].points[0] = [11.0, 11.0]
    from farmannot.io.labelme_json import save_annotation

    save_annotation(first, out)
    rep = import_vectors(lonlat_parcels, utm_scene, out, ImportOptions(label_field="crop"), merge=True)
    again = load_annotation(out)
    assert len(again.shapes) == n and rep.duplicates == 4 and rep.imported == 0
    assert again.shapes[0].points[0] == [11.0, 11.0]
    before = out.read_bytes()
    import_vectors(lonlat_parcels, utm_scene, out, ImportOptions(label_field="crop"), merge=True)
    assert out.read_bytes() == before  # a re-run gives the same bytes
    # new features are added after the existing shapes, with group ids past the existing ones
    extra = write_vectors(tmp_path / "extra.geojson", [pixel_to_lonlat(TWO_PART_FIELD)], {"crop": ["rice"]})
    rep = import_vectors(extra, utm_scene, out, ImportOptions(label_field="crop"), merge=True)
    merged = load_annotation(out)
    assert rep.imported == 1 and len(merged.shapes) == n + 2
    old_gids = {s.group_id for s in merged.shapes[:n] if s.group_id is not None}
    new_gids = {s.group_id for s in merged.shapes[n:]}
    assert len(new_gids) == 1 and not (new_gids & old_gids)
    imports = json.loads(out.read_text())["farmannot"]["provenance"]["imported_vectors"]
    assert [i["source"] for i in imports] == ["parcels.geojson", "extra.geojson"]  # merges adding nothing: no entry


def test_island_in_a_hole_is_drawn_after_the_hole(tmp_path, utm_scene):
    from farmannot.vectors.exporter import ExportOptions, export_vectors

    island = shapely.box(22, 22, 28, 28)  # first in the file, inside the donut's hole
    vec = write_vectors(tmp_path / "d.geojson", [pixel_to_lonlat(island), pixel_to_lonlat(FIELD_WITH_HOLE)],
                        {"crop": ["rice", "maize"]})
    out = tmp_path / "a.json"
    import_vectors(vec, utm_scene, out, ImportOptions(label_field="crop", simplify_px=0))
    assert [s.label for s in load_annotation(out).shapes] == ["maize", "_background_", "rice"]
    rep = export_vectors(out, tmp_path / "p.gpkg", ExportOptions())
    import pyogrio.raw

    areas = sorted(shapely.area(shapely.from_wkb(pyogrio.raw.read(tmp_path / "p.gpkg")[2])))
    assert rep.parcels == 2 and areas == pytest.approx([36 * 100.0, 1500 * 100.0], rel=1e-6)


def test_imported_holes_rasterise_as_background(tmp_path, utm_scene, lonlat_parcels):
    """The project's rasteriser paints the imported hole as background and keeps both parts of the group."""
    from rasterio.windows import Window

    from farmannot.labels.rasterize import plan_labels, rasterize_mask, rasterize_parcels

    out = tmp_path / "a.json"
    import_vectors(lonlat_parcels, utm_scene, out, ImportOptions(label="farmland", simplify_px=0))
    plan = plan_labels(load_annotation(out).shapes, 120, 120)
    mask = rasterize_mask(plan, Window(0, 0, 120, 120))
    parcels = rasterize_parcels(plan, Window(0, 0, 120, 120))
    assert mask[15, 15] == 1 and mask[25, 25] == 0 and mask[45, 45] == 1  # field, its hole, field again
    assert mask[15, 65] == 1 and mask[15, 85] == 1 and mask[15, 75] == 0  # the two parts, the gap between
    assert parcels[15, 65] == parcels[15, 85] != 0  # one parcel id for the group
    assert mask[70, 110] == 1 and mask[70, 119] == 1  # the edge field, clipped at the scene border
    # outlines on pixel edges come back pixel for pixel (the bowtie's slanted sides, rows 70..99, aside)
    want = np.zeros((120, 120), np.uint8)
    want[10:50, 10:50] = 1
    want[20:30, 20:30] = 0
    want[10:20, 60:70] = want[10:20, 80:90] = 1
    want[60:80, 100:120] = 1
    keep = np.ones((120, 120), bool)
    keep[70:100, 10:40] = False
    assert (mask[keep] == want[keep]).all()


def test_scene_linked_into_the_project_keeps_image_path_inside(tmp_path, utm_scene, lonlat_parcels):
    """A link to the scene placed in the project folder (what the outside-imagePath error advises): imagePath
    names the link, as given, so caption and export-vectors accept the annotation without --allow-outside."""
    from click.testing import CliRunner

    from farmannot.cli.main import cli

    project = tmp_path / "project"
    project.mkdir()
    (project / "scene.tif").symlink_to(utm_scene)
    out = project / "ann.json"
    import_vectors(lonlat_parcels, project / "scene.tif", out, ImportOptions())
    assert load_annotation(out).image_path == "scene.tif"
    res = CliRunner().invoke(cli, ["export-vectors", str(out), "-o", str(tmp_path / "p.gpkg"), "--no-progress"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["caption", str(out), "--json"])
    assert res.exit_code == 0, res.output
