"""fiboa GeoParquet judged by fiboa-cli 0.21's own validator (``fiboa validate``), offline.

fiboa 0.3.0 (a Vecorel 0.1.0 profile) in GeoParquet 1.1.0: the validator checks the collection metadata in
the Parquet header, the schemas listed there, required columns, nullability (required columns not null,
optional ones nullable), Parquet types, the geometry column and every value against the schemas.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from fiboa_judge import fiboa_validate
from pyproj import CRS
from vector_fixtures import HAND_PARCELS, hand_annotation, write_scene

from farmannot.errors import InputError
from farmannot.io.labelme_json import load_annotation, save_annotation
from farmannot.vectors.exporter import ExportOptions, export_vectors

PARQUET_TYPES = {"id": pa.string(), "collection": pa.string(), "geometry": pa.binary(),
                 "metrics:area": pa.float32(), "metrics:perimeter": pa.float32(),
                 "determination:method": pa.string(), "determination:datetime": pa.timestamp("ms", tz="UTC")}
REQUIRED = {"id", "collection", "geometry"}


@pytest.fixture()
def fiboa_file(tmp_path) -> Path:
    write_scene(tmp_path / "scene.tif")
    save_annotation(hand_annotation(), tmp_path / "field.json")
    out = tmp_path / "fields.parquet"
    rep = export_vectors(tmp_path / "field.json", out, ExportOptions(fmt="fiboa", collection="demo"))
    assert rep.parcels == 4
    return out


def test_fiboa_cli_accepts_the_export(fiboa_file, monkeypatch):
    result = fiboa_validate(fiboa_file, monkeypatch)
    assert result.is_valid(), result.errors
    # farmannot's own columns carry a schema (schemas:custom) except group_id, which fiboa-cli 0.21 would read
    # as floats (a nullable integer column through pandas) and reject
    assert result.warnings == ["group_id: No schema defined"]


def test_fiboa_cli_rejects_what_it_should(fiboa_file, tmp_path, monkeypatch):
    """The judge can fail: an optional column declared not null, a core value out of its range, no header."""
    table = pq.read_table(fiboa_file)
    schema = table.schema
    i = schema.get_field_index("metrics:area")
    wrong_null = table.cast(schema.set(i, schema.field(i).with_nullable(False)))
    pq.write_table(wrong_null, tmp_path / "a.parquet")
    res = fiboa_validate(tmp_path / "a.parquet", monkeypatch)
    assert not res.is_valid() and any("Nullability differs" in str(e) for e in res.errors)
    j = schema.get_field_index("determination:method")
    bad = table.set_column(j, schema.field(j), pa.array(["guessed"] * len(table), pa.string()))
    pq.write_table(bad, tmp_path / "b.parquet")
    assert not fiboa_validate(tmp_path / "b.parquet", monkeypatch).is_valid()
    no_header = table.replace_schema_metadata({b"geo": schema.metadata[b"geo"]})
    pq.write_table(no_header, tmp_path / "c.parquet")
    res = fiboa_validate(tmp_path / "c.parquet", monkeypatch)
    assert any("Collection metadata is missing" in str(e) for e in res.errors)


def test_values(fiboa_file):
    rows = pq.read_table(fiboa_file).to_pylist()
    assert len(rows) == 4
    assert len({r["id"] for r in rows}) == 4  # ids unique within the collection
    assert [r["group_id"] for r in rows] == [None, 7, None, None]
    for row, (area_m2, perim_m) in zip(rows, HAND_PARCELS):
        assert row["metrics:area"] == pytest.approx(area_m2, rel=1e-6)  # square metres
        assert row["metrics:perimeter"] == pytest.approx(perim_m, rel=1e-6)  # metres
        assert row["determination:method"] == "manual"
        assert row["determination:datetime"] == datetime.fromisoformat("2020-05-18T00:00:00+00:00")
        assert row["collection"] == "demo"
        # area matches the geometry (the specification says the geometry is canonical)
        assert row["metrics:area"] == pytest.approx(shapely.from_wkb(row["geometry"]).area, rel=1e-6)


def test_parquet_types_and_metadata(fiboa_file):
    schema = pq.read_schema(fiboa_file)
    for name, typ in PARQUET_TYPES.items():
        field = schema.field(name)
        assert field.type == typ, name
        assert field.nullable == (name not in REQUIRED), name
    collection = json.loads(schema.metadata[b"collection"])
    assert collection["schemas"] == {"demo": ["https://vecorel.org/specification/v0.1.0/schema.yaml",
                                              "https://fiboa.org/specification/v0.3.0/schema.yaml"]}
    assert collection["schemas:custom"]["properties"]["caption_en"] == {"type": "string"}
    geo = json.loads(schema.metadata[b"geo"])
    assert geo["version"] == "1.1.0" and geo["primary_column"] == "geometry"
    col = geo["columns"]["geometry"]
    assert col["encoding"] == "WKB" and set(col["geometry_types"]) <= {"Polygon", "MultiPolygon"}
    assert CRS.from_json_dict(col["crs"]) == CRS.from_epsg(32633)
    assert len(col["bbox"]) == 4


def test_lonlat_export_valid(tmp_path, monkeypatch):
    write_scene(tmp_path / "scene.tif")
    save_annotation(hand_annotation(), tmp_path / "field.json")
    out = tmp_path / "ll.parquet"
    export_vectors(tmp_path / "field.json", out, ExportOptions(fmt="fiboa", crs="EPSG:4326"))
    res = fiboa_validate(out, monkeypatch)
    assert res.is_valid(), res.errors
    crs = json.loads(pq.read_schema(out).metadata[b"geo"])["columns"]["geometry"]["crs"]
    assert crs["id"] == {"authority": "OGC", "code": "CRS84"}


def test_method_from_provenance_and_missing_date(tmp_path):
    write_scene(tmp_path / "scene.tif")
    ann = hand_annotation()
    ann.farmannot["provenance"]["imported_vectors"] = [{"source": "x.gpkg"}]
    del ann.farmannot["scene"]["date"]
    save_annotation(ann, tmp_path / "f.json")
    with pytest.raises(InputError, match="fiboa needs a determination date"):
        export_vectors(tmp_path / "f.json", tmp_path / "o.parquet", ExportOptions(fmt="fiboa"))
    export_vectors(tmp_path / "f.json", tmp_path / "o.parquet",
                   ExportOptions(fmt="fiboa", determination_datetime="2021-07-01T10:30:00Z"))
    rows = pq.read_table(tmp_path / "o.parquet").to_pylist()
    assert {r["determination:method"] for r in rows} == {"unknown"}  # imported: origin not known
    assert rows[0]["determination:datetime"].isoformat() == "2021-07-01T10:30:00+00:00"
    with pytest.raises(InputError, match="not a fiboa value"):
        export_vectors(tmp_path / "f.json", tmp_path / "o.parquet",
                       ExportOptions(fmt="fiboa", determination_datetime="2021-07-01",
                                     determination_method="guessed"))
    assert load_annotation(tmp_path / "f.json").farmannot["provenance"]["imported_vectors"]


def test_out_of_range_parcels_left_out(tmp_path):
    write_scene(tmp_path / "scene.tif")
    ann = hand_annotation()
    ann.farmannot["scene"]["transform"] = [2000.0, 0.0, 0.0, 0.0, -2000.0, 0.0]  # 2 km pixels: 1 px = 400 ha
    save_annotation(ann, tmp_path / "big.json")
    rep = export_vectors(tmp_path / "big.json", tmp_path / "big.parquet", ExportOptions(fmt="fiboa"))
    # P1 1,560 px = 624,000 ha > 100,000 ha; P2 perimeter 88 px = 176 km and P3 64 px = 128 km > 125 km;
    # P4 (121 px = 48,400 ha, 44 px = 88 km) fits
    assert rep.out_of_range == ["big/1", "big/2", "big/3"] and rep.parcels == 1
    assert all(r["metrics:area"] <= 1e9 for r in pq.read_table(tmp_path / "big.parquet").to_pylist())
