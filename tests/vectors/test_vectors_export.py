"""export-vectors: hand-computed parcels, every format reopened with pyogrio, and the round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyogrio
import pyogrio.raw
import pytest
import shapely
from pyproj import CRS

from farmannot.errors import InputError
from farmannot.io.labelme_json import load_annotation, save_annotation
from farmannot.vectors.exporter import ExportOptions, export_vectors
from farmannot.vectors.geometry import shapes_to_parcels
from farmannot.vectors.importer import ImportOptions, import_vectors

from vector_fixtures import HAND_PARCELS, SCENE_CRS, hand_annotation, write_scene

PARCEL_FIELDS = ["parcel_id", "label", "group_id", "area_m2", "perim_m", "scene", "date", "annotation",
                 "source_id", "attributes", "caption_en", "caption_zh", "kw_month", "kw_water"]


@pytest.fixture()
def hand(tmp_path) -> Path:
    write_scene(tmp_path / "scene.tif")
    path = tmp_path / "field.json"
    save_annotation(hand_annotation(), path)
    return path


def _read(path, layer=None):
    meta, _, wkb, data = pyogrio.raw.read(path, layer=layer, return_fids=True)
    return meta, shapely.from_wkb(wkb), dict(zip(meta["fields"], data))


def test_gpkg_parcels_match_hand_values(hand, tmp_path):
    out = tmp_path / "parcels.gpkg"
    rep = export_vectors(hand, out, ExportOptions(fmt="gpkg"))
    assert rep.parcels == 4 and rep.skipped_shapes == {"point": 1}
    assert [str(n) for n in pyogrio.list_layers(out)[:, 0]] == ["parcels"]
    meta, geoms, f = _read(out)
    assert CRS.from_user_input(meta["crs"]) == CRS.from_user_input(SCENE_CRS)
    assert list(meta["fields"]) == PARCEL_FIELDS
    np.testing.assert_allclose(f["area_m2"], [a for a, _ in HAND_PARCELS], rtol=1e-9)
    np.testing.assert_allclose(f["perim_m"], [p for _, p in HAND_PARCELS], rtol=1e-9)
    # areas against shapely's areas of the written geometries in the scene CRS (metres)
    np.testing.assert_allclose(f["area_m2"], shapely.area(geoms), rtol=1e-9)
    # the hole is back, the two parts are one MultiPolygon, the early _background_ did not carve P4
    assert shapely.get_num_interior_rings(shapely.get_parts(geoms[0])).tolist() == [1]
    assert len(shapely.get_parts(geoms[1])) == 2 and f["group_id"][1] == 7
    assert shapely.get_num_interior_rings(shapely.get_parts(geoms[3])).sum() == 0
    assert list(f["parcel_id"]) == ["field/1", "field/2", "field/3", "field/4"]
    assert set(f["scene"]) == {"scene"} and set(f["date"]) == {"2020-05-18"}
    assert f["caption_en"][0] == "The farmland is blocky." and f["caption_zh"][0] == "耕地呈块状。"
    assert f["kw_month"][0] == "may" and f["kw_water"][0] == "absent"
    # P1 spans px 10..50: eastings 499800 + 100 .. + 500, northings 1000 - 100 .. - 500
    assert list(shapely.bounds(geoms[0])) == [499_900.0, 500.0, 500_300.0, 900.0]
    # a re-run gives the same bytes
    first = out.read_bytes()
    export_vectors(hand, out, ExportOptions(fmt="gpkg"))
    assert out.read_bytes() == first


def test_geojson_is_rfc7946(hand, tmp_path):
    out = tmp_path / "parcels.geojson"
    export_vectors(hand, out, ExportOptions(fmt="geojson"))
    doc = json.loads(out.read_text())
    assert "crs" not in doc  # RFC 7946: WGS84 longitude/latitude, no crs member
    meta, geoms, f = _read(out)
    assert CRS.from_user_input(meta["crs"]).equals(CRS.from_epsg(4326), ignore_axis_order=True)
    lon, lat = shapely.get_coordinates(geoms).mean(axis=0)
    assert 14.99 < lon < 15.01 and 0 < lat < 0.01  # the scene sits on 15 E, just north of the equator
    # RFC 7946 ring orientation: exteriors counter-clockwise
    g0 = doc["features"][0]["geometry"]
    ring = g0["coordinates"][0][0] if g0["type"] == "MultiPolygon" else g0["coordinates"][0]
    assert shapely.LinearRing(ring).is_ccw
    np.testing.assert_allclose(f["area_m2"], [a for a, _ in HAND_PARCELS], rtol=1e-9)  # measured in the scene CRS


def test_shapefile_and_flatgeobuf(hand, tmp_path):
    shp = tmp_path / "out" / "parcels.shp"
    export_vectors(hand, shp, ExportOptions(fmt="shp"))
    assert {p.suffix for p in shp.parent.iterdir()} >= {".shp", ".shx", ".dbf", ".prj", ".cpg"}
    assert not [p for p in shp.parent.iterdir() if p.name.startswith(".")]  # no temporary left behind
    meta, geoms, f = _read(shp)
    assert all(len(n) <= 10 for n in meta["fields"]) and "caption_en" in meta["fields"]
    assert CRS.from_user_input(meta["crs"]) == CRS.from_user_input(SCENE_CRS)
    assert f["perim_m"][0] == pytest.approx(2000.0)
    fgb = tmp_path / "parcels.fgb"
    export_vectors(hand, fgb, ExportOptions(fmt="fgb"))
    meta, geoms, f = _read(fgb)
    assert list(meta["fields"]) == PARCEL_FIELDS and len(geoms) == 4


def test_scene_header_used_without_farmannot_scene(tmp_path):
    write_scene(tmp_path / "scene.tif")
    path = tmp_path / "plain.json"
    save_annotation(hand_annotation(scene=False), path)
    rep = export_vectors(path, tmp_path / "p.gpkg", ExportOptions())
    assert rep.crs == "EPSG:32633" and rep.parcels == 4


def test_folder_keep_going_and_label_filter(hand, tmp_path):
    (tmp_path / "broken.json").write_text('{"shapes": [ oops')
    with pytest.raises(InputError, match="broken.json: not valid JSON"):
        export_vectors(tmp_path, tmp_path / "all.gpkg", ExportOptions())
    rep = export_vectors(tmp_path, tmp_path / "all.gpkg", ExportOptions(keep_going=True))
    assert rep.parcels == 4 and len(rep.failed) == 1
    with pytest.raises(InputError, match="hold no parcels with label"):
        export_vectors(hand, tmp_path / "none.gpkg", ExportOptions(labels={"rice"}))
    with pytest.raises(InputError, match="no such file"):
        export_vectors(tmp_path / "nope.json", tmp_path / "x.gpkg", ExportOptions())
    with pytest.raises(InputError, match="--crs: 'EPSG:99999999' is not a CRS"):
        export_vectors(hand, tmp_path / "x.gpkg", ExportOptions(crs="EPSG:99999999"))
    rep = export_vectors(hand, tmp_path / "x.gpkg", ExportOptions(crs="3857"))
    assert rep.crs == "EPSG:3857"
    np.testing.assert_allclose(_read(tmp_path / "x.gpkg")[2]["area_m2"], [a for a, _ in HAND_PARCELS])


def test_mixed_scene_crs_goes_to_wgs84(hand, tmp_path):
    other = load_annotation(hand)
    other.farmannot["scene"]["crs"] = "EPSG:32634"
    save_annotation(other, tmp_path / "other.json")
    rep = export_vectors(tmp_path, tmp_path / "mixed.gpkg", ExportOptions())
    assert rep.crs == "EPSG:4326" and rep.parcels == 8


def _parcel_geoms(path):
    return [p.geometry for p in shapes_to_parcels(load_annotation(path).shapes)[0]]


@pytest.mark.parametrize("fmt,suffix", [("gpkg", ".gpkg"), ("geojson", ".geojson"), ("fiboa", ".parquet"),
                                        ("shp", ".shp"), ("fgb", ".fgb")])
def test_round_trip_within_half_a_pixel(hand, tmp_path, fmt, suffix):
    out = tmp_path / f"rt{suffix}"
    export_vectors(hand, out, ExportOptions(fmt=fmt))
    back = tmp_path / f"back_{fmt}.json"
    import_vectors(out, tmp_path / "scene.tif", back, ImportOptions())
    before, after = _parcel_geoms(hand), _parcel_geoms(back)
    assert len(before) == len(after) == 4
    for a, b in zip(before, after):
        assert shapely.hausdorff_distance(a, b) <= 0.5
        assert a.symmetric_difference(b).area < 0.5 * a.length
    shapes = load_annotation(back).shapes
    assert [s.label for s in shapes].count("_background_") == 1  # the hole came back as a later shape
    assert len({s.group_id for s in shapes if s.group_id is not None}) == 1  # the two parts share a group


def test_geographic_scene_measures_in_metres(sample_data, tmp_path):
    """A scene in EPSG:4326 (real RMNP image): areas are geodesic, checked against shapely in UTM 13N."""
    from pyproj import Transformer

    from vector_fixtures import write_vectors

    scene = sample_data / "scenes" / "rmnp-rgb.tif"
    field = shapely.Polygon([(-105.80, 40.30), (-105.78, 40.30), (-105.78, 40.32), (-105.80, 40.31)],
                            [[(-105.795, 40.305), (-105.790, 40.305), (-105.790, 40.310)]])
    vec = write_vectors(tmp_path / "f.geojson", [field], {"label": ["farmland"]})
    ann = tmp_path / "rmnp.json"
    import_vectors(vec, scene, ann, ImportOptions(simplify_px=0))
    out = tmp_path / "rmnp.gpkg"
    export_vectors(ann, out, ExportOptions(allow_outside=True))
    meta, geoms, f = _read(out)
    assert CRS.from_user_input(meta["crs"]) == CRS.from_epsg(4326)
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32613", always_xy=True)
    utm = shapely.transform(field, lambda xy: np.column_stack(to_utm.transform(xy[:, 0], xy[:, 1])))
    assert f["area_m2"][0] == pytest.approx(utm.area, rel=2e-3)  # UTM scale error near 105 W is < 0.1 %
    assert f["perim_m"][0] == pytest.approx(utm.length, rel=2e-3)
