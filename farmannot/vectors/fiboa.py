"""fiboa GeoParquet: parcels as Field Boundaries for Agriculture features (fiboa specification v0.3.0).

fiboa 0.3 is a profile of Vecorel 0.1 (its core schema names ``id``, ``collection``, ``geometry``); the file
is what ``fiboa validate`` of fiboa-cli 0.21 accepts. Written with pyarrow (GDAL builds often lack the Parquet
driver) following GeoParquet 1.1.0:

- one row per parcel; geometry as WKB in the ``geometry`` column; the ``geo`` file metadata names it, its
  geometry types, bounding box and CRS (PROJJSON; the scene CRS, or OGC:CRS84 for longitude/latitude);
- the columns ``id`` (string), ``collection`` (string), ``geometry``: required, so not nullable; then
  ``metrics:area`` (square metres, FLOAT), ``metrics:perimeter`` (metres, FLOAT), ``determination:method``
  (string, fiboa's values), ``determination:datetime`` (timestamp, ms, UTC): optional in the schema, so
  nullable (farmannot fills them all); parcels outside fiboa's ranges (0 < area <= 1,000,000,000 m2,
  0 < perimeter <= 125,000 m) are left out and counted;
- the collection in the ``collection`` file metadata: ``schemas`` (``{collection id: [Vecorel core URL,
  fiboa URL]}``), ``collection`` (the id) and ``schemas:custom``, the Vecorel schema of farmannot's own
  columns (label, scene, captions, caption keywords), which follow the fiboa ones.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import shapely
from pyproj import CRS

from farmannot.errors import InputError
from farmannot.io.atomic import atomic_path
from farmannot.vectors.parcels import FIBOA_METHODS, ParcelTable

FIBOA_VERSION = "0.3.0"
FIBOA_SCHEMA_URL = f"https://fiboa.org/specification/v{FIBOA_VERSION}/schema.yaml"
VECOREL_VERSION = "0.1.0"
VECOREL_SCHEMA_URL = f"https://vecorel.org/specification/v{VECOREL_VERSION}/schema.yaml"
SDL_URL = "https://vecorel.org/sdl/v0.2.0/schema.json"
GEOPARQUET_VERSION = "1.1.0"
MAX_AREA_M2 = 1_000_000_000.0
MAX_PERIMETER_M = 125_000.0
_GEOM_NAMES = {3: "Polygon", 6: "MultiPolygon"}


@dataclass
class FiboaReport:
    """What a fiboa export wrote and left out."""

    written: int
    out_of_range: list[str]


def parse_datetime(text: str) -> datetime:
    """An ISO date or date-time as an aware UTC datetime (a date means its midnight UTC)."""
    try:
        dt = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"determination date {text!r} is not an ISO date (YYYY-MM-DD) or date-time.") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def geoparquet_crs(crs: str) -> dict:
    """PROJJSON for the ``geo`` metadata; EPSG:4326 is written as OGC:CRS84 (longitude, latitude order)."""
    c = CRS.from_user_input(crs)
    if c == CRS.from_epsg(4326):
        c = CRS.from_user_input("OGC:CRS84")
    return c.to_json_dict()


def geo_metadata(geoms: np.ndarray, crs: str, column: str = "geometry") -> dict:
    """The GeoParquet 1.1.0 ``geo`` metadata of one WKB geometry column."""
    types = sorted({_GEOM_NAMES.get(int(t), "GeometryCollection") for t in shapely.get_type_id(geoms)})
    bbox = [float(v) for v in shapely.total_bounds(geoms)] if len(geoms) else [0.0, 0.0, 0.0, 0.0]
    return {"version": GEOPARQUET_VERSION, "primary_column": column,
            "columns": {column: {"encoding": "WKB", "geometry_types": types, "crs": geoparquet_crs(crs),
                                 "bbox": bbox}}}


def fiboa_table(parcels: ParcelTable, *, collection: str, determination_datetime: str | None = None,
                determination_method: str | None = None) -> tuple[pa.Table, FiboaReport]:
    """Build the fiboa Arrow table (with ``geo`` and ``fiboa`` metadata) of a parcel table.

    Raises:
        InputError: a parcel without a scene date and no ``determination_datetime`` given, or an unknown method.
    """
    if determination_method is not None and determination_method not in FIBOA_METHODS:
        raise InputError(f"--determination-method {determination_method!r} is not a fiboa value; use one of "
                         f"{', '.join(FIBOA_METHODS)}.")
    cols = parcels.columns
    area = cols["area_m2"]
    perim = cols["perim_m"]
    ok = (area > 0) & (area <= MAX_AREA_M2) & (perim > 0) & (perim <= MAX_PERIMETER_M)
    out_of_range = [str(p) for p in cols["parcel_id"][~ok]]
    idx = np.flatnonzero(ok)
    methods, stamps, missing = [], [], []
    for i in idx:
        method, date = parcels.determination[i]
        methods.append(determination_method or method)
        when = determination_datetime or date
        if not when:
            missing.append(str(cols["annotation"][i]))
            stamps.append(None)
        else:
            stamps.append(parse_datetime(when))
    if missing:
        names = ", ".join(sorted(set(missing))[:5])
        raise InputError(f"fiboa needs a determination date: no farmannot.scene.date in {names}; set the scene "
                         "date (farmannot caption --date YYYY-MM-DD --write) or pass --determination-datetime "
                         "YYYY-MM-DD.")
    geoms = parcels.geometry[idx]
    fields = [
        pa.field("id", pa.string(), nullable=False),
        pa.field("collection", pa.string(), nullable=False),
        pa.field("geometry", pa.binary(), nullable=False),
        pa.field("metrics:area", pa.float32()),
        pa.field("metrics:perimeter", pa.float32()),
        pa.field("determination:method", pa.string()),
        pa.field("determination:datetime", pa.timestamp("ms", tz="UTC")),
    ]
    arrays = [
        pa.array([str(v) for v in cols["parcel_id"][idx]], pa.string()),
        pa.array([collection] * len(idx), pa.string()),
        pa.array(list(shapely.to_wkb(geoms, output_dimension=2)) if len(geoms) else [], pa.binary()),
        pa.array(area[idx].astype(np.float32), pa.float32()),
        pa.array(perim[idx].astype(np.float32), pa.float32()),
        pa.array(methods, pa.string()),
        pa.array(stamps, pa.timestamp("ms", tz="UTC")),
    ]
    custom: dict[str, dict] = {}
    for name, col in cols.items():
        if name in ("parcel_id", "area_m2", "perim_m"):
            continue
        values = col[idx]
        kind = "int64" if values.dtype.kind == "i" else "double" if values.dtype.kind == "f" else "string"
        typ = {"int64": pa.int64(), "double": pa.float64(), "string": pa.string()}[kind]
        vals = values.tolist()
        fields.append(pa.field(name, typ, nullable=True))
        if name == "group_id":  # -1 means no group: null. Left out of the custom schema: fiboa-cli 0.21 reads
            vals = [None if v == -1 else v for v in vals]  # a nullable integer column as floats and would
            arrays.append(pa.array(vals, typ))  # reject 7.0 as int64; undeclared is a warning, not an error
            continue
        arrays.append(pa.array(vals, typ))
        custom[name] = {"type": kind}
    collection_meta = {
        "schemas": {collection: [VECOREL_SCHEMA_URL, FIBOA_SCHEMA_URL]},
        "collection": collection,
        "schemas:custom": {"$schema": SDL_URL, "required": [], "collection": {}, "properties": custom},
    }
    meta = {b"geo": json.dumps(geo_metadata(geoms, parcels.crs)).encode(),
            b"collection": json.dumps(collection_meta).encode()}
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=meta))
    return table, FiboaReport(len(idx), out_of_range)


def write_fiboa(path: str | os.PathLike, parcels: ParcelTable, *, collection: str | None = None,
                determination_datetime: str | None = None,
                determination_method: str | None = None) -> FiboaReport:
    """Write parcels as a fiboa GeoParquet file, atomically (see the module docstring for the layout)."""
    path = Path(path)
    table, report = fiboa_table(parcels, collection=collection or path.stem,
                                determination_datetime=determination_datetime,
                                determination_method=determination_method)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return report
