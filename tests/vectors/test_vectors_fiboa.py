"""fiboa GeoParquet checked against the published fiboa core schema (v0.2.0) and the GeoParquet encoding.

The schema below is transcribed from https://fiboa.github.io/specification/v0.2.0/schema.yaml (fiboa Schema
types written as JSON Schema: float -> number, date-time -> string/date-time, geometry -> GeoJSON object with
the Polygon / MultiPolygon types). The core requires ``id`` and ``geometry`` per feature (``schemas`` lives in
the collection, i.e. the Parquet ``fiboa`` metadata); farmannot's profile also requires area, perimeter and
the determination properties. The Parquet types are those of the fiboa GeoParquet data type mapping
(float -> FLOAT, string -> STRING, date-time -> TIMESTAMP(ms, UTC), geometry -> WKB BYTE_ARRAY), and core
columns are not nullable, as the reference validator demands.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from pyproj import CRS
from shapely.geometry import mapping

from farmannot.errors import InputError
from farmannot.io.labelme_json import load_annotation, save_annotation
from farmannot.vectors.exporter import ExportOptions, export_vectors

from vector_fixtures import HAND_PARCELS, hand_annotation, write_scene

FIBOA_CORE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["id", "geometry", "area", "perimeter", "determination_method", "determination_datetime"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "collection": {"type": "string", "minLength": 1},
        "geometry": {"type": "object", "properties": {"type": {"enum": ["Polygon", "MultiPolygon"]}}},
        "area": {"type": "number", "exclusiveMinimum": 0, "maximum": 100000},
        "perimeter": {"type": "number", "exclusiveMinimum": 0, "maximum": 125000},
        "determination_datetime": {"type": "string", "format": "date-time"},
        "determination_method": {"type": "string", "enum": ["manual", "driven", "surveyed", "auto-operation",
                                                            "auto-imagery", "unknown"]},
        "determination_details": {"type": "string"},
    },
}
CORE_URL = "https://fiboa.github.io/specification/v0.2.0/schema.yaml"
PARQUET_TYPES = {"id": pa.string(), "geometry": pa.binary(), "area": pa.float32(), "perimeter": pa.float32(),
                 "determination_method": pa.string(), "determination_datetime": pa.timestamp("ms", tz="UTC"),
                 "collection": pa.string()}
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_TYPES = {"string": str, "number": (int, float), "object": dict}


def validate(instance, schema, path="$") -> list[str]:
    """The JSON Schema keywords the fiboa core schema uses: type, required, properties, enum, minLength,
    exclusiveMinimum, maximum, format date-time."""
    errors = []
    if "type" in schema and not isinstance(instance, _TYPES[schema["type"]]):
        return [f"{path}: {instance!r} is not of type {schema['type']}"]
    if "enum" in schema and instance not in schema["enum"]:
        errors.append(f"{path}: {instance!r} not in {schema['enum']}")
    if "minLength" in schema and len(instance) < schema["minLength"]:
        errors.append(f"{path}: shorter than {schema['minLength']}")
    if "exclusiveMinimum" in schema and not instance > schema["exclusiveMinimum"]:
        errors.append(f"{path}: {instance} <= {schema['exclusiveMinimum']}")
    if "maximum" in schema and instance > schema["maximum"]:
        errors.append(f"{path}: {instance} > {schema['maximum']}")
    if schema.get("format") == "date-time" and not _RFC3339.match(instance):
        errors.append(f"{path}: {instance!r} is not an RFC 3339 date-time")
    for key in schema.get("required", []):
        if key not in instance or instance[key] is None:
            errors.append(f"{path}: required property {key!r} missing")
    for key, sub in schema.get("properties", {}).items():
        if isinstance(instance, dict) and instance.get(key) is not None:
            errors.extend(validate(instance[key], sub, f"{path}.{key}"))
    return errors


def test_validator_catches_violations():
    good = {"id": "a", "geometry": {"type": "Polygon"}, "area": 1.0, "perimeter": 4.0,
            "determination_method": "manual", "determination_datetime": "2020-05-18T00:00:00Z"}
    assert validate(good, FIBOA_CORE_SCHEMA) == []
    for key, bad in [("id", ""), ("area", 0.0), ("area", 100001.0), ("perimeter", 125001.0),
                     ("determination_method", "administrative"), ("determination_datetime", "2020-05-18"),
                     ("geometry", {"type": "Point"})]:
        assert validate({**good, key: bad}, FIBOA_CORE_SCHEMA), key
    assert validate({k: v for k, v in good.items() if k != "id"}, FIBOA_CORE_SCHEMA)


@pytest.fixture()
def fiboa_file(tmp_path) -> Path:
    write_scene(tmp_path / "scene.tif")
    save_annotation(hand_annotation(), tmp_path / "field.json")
    out = tmp_path / "fields.parquet"
    rep = export_vectors(tmp_path / "field.json", out, ExportOptions(fmt="fiboa", collection="demo"))
    assert rep.parcels == 4
    return out


def test_rows_valid_against_core_schema(fiboa_file):
    table = pq.read_table(fiboa_file)
    rows = table.to_pylist()
    assert len(rows) == 4
    for row in rows:
        feature = dict(row)
        feature["geometry"] = mapping(shapely.from_wkb(row["geometry"]))
        feature["determination_datetime"] = row["determination_datetime"].isoformat().replace("+00:00", "Z")
        assert validate(feature, FIBOA_CORE_SCHEMA) == []
    assert len({r["id"] for r in rows}) == 4  # ids unique within the collection
    assert [r["group_id"] for r in rows] == [None, 7, None, None]
    for row, (area_m2, perim_m) in zip(rows, HAND_PARCELS):
        assert row["area"] == pytest.approx(area_m2 / 10_000, rel=1e-6)  # hectares
        assert row["perimeter"] == pytest.approx(perim_m, rel=1e-6)  # metres
        assert row["determination_method"] == "manual"
        assert row["determination_datetime"] == datetime.fromisoformat("2020-05-18T00:00:00+00:00")
        assert row["collection"] == "demo"
        # area matches the geometry (the core says the geometry is canonical)
        assert row["area"] == pytest.approx(shapely.from_wkb(row["geometry"]).area / 10_000, rel=1e-6)


def test_parquet_types_and_metadata(fiboa_file):
    schema = pq.read_schema(fiboa_file)
    for name, typ in PARQUET_TYPES.items():
        field = schema.field(name)
        assert field.type == typ, name
        assert not field.nullable, name
    meta = schema.metadata
    collection = json.loads(meta[b"fiboa"])
    assert collection["fiboa_version"] == "0.2.0" and CORE_URL in collection["schemas"]
    assert collection["id"] == "demo"
    geo = json.loads(meta[b"geo"])
    assert geo["version"] == "1.0.0" and geo["primary_column"] == "geometry"
    col = geo["columns"]["geometry"]
    assert col["encoding"] == "WKB" and set(col["geometry_types"]) <= {"Polygon", "MultiPolygon"}
    assert CRS.from_json_dict(col["crs"]) == CRS.from_epsg(32633)
    assert len(col["bbox"]) == 4


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
    assert {r["determination_method"] for r in rows} == {"unknown"}  # imported: origin not known
    assert rows[0]["determination_datetime"].isoformat() == "2021-07-01T10:30:00+00:00"
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
    assert all(r["area"] <= 100_000 for r in pq.read_table(tmp_path / "big.parquet").to_pylist())
