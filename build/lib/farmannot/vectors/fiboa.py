"""fiboa GeoParquet: parcels as Field Boundaries for Agriculture features (core specification v0.2.0).

Written with pyarrow (GDAL builds often lack the Parquet driver) following GeoParquet 1.0.0:

- one row per parcel; geometry as WKB in the ``geometry`` column; the ``geo`` file metadata names it, its
  geometry types, bounding box and CRS (PROJJSON; the scene CRS, or OGC:CRS84 for longitude/latitude);
- the fiboa core columns ``id`` (string), ``area`` (hectares, FLOAT), ``perimeter`` (metres, FLOAT),
  ``determination_method`` (string, fiboa's values) and ``determination_datetime`` (timestamp, ms, UTC), none
  of them null; parcels outside fiboa's ranges (0 < area <= 100,000 ha, 0 < perimeter <= 125,000 m) are
  left out and counted;
- the collection in the ``fiboa`` file metadata: ``fiboa_version``, ``schemas`` (the core schema URL), ``id``;
- farmannot's own columns after them (label, scene, captions, caption keywords).
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

FIBOA_VERSION = "0.2.0"
FIBOA_SCHEMA_URL = f"https://fiboa.github.io/specification/v{FIBOA_VERSION}/schema.yaml"
GEOPARQUET_VERSION = "1.0.0"
MAX_AREA_HA = 100_000.0
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
    """The GeoParquet 1.0.0 ``geo`` metadata of one WKB geometry column."""
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
    area_ha = cols["area_m2"] / 10_000.0
    perim = cols["perim_m"]
    ok = (area_ha > 0) & (area_ha <= MAX_AREA_HA) & (perim > 0) & (perim <= MAX_PERIMETER_M)
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
        raise InputError(f"fiboa needs a determination date: {names} ha(s) no farmannot.scene.date; set the scene "
                         "date (farmannot caption) or pass --determination-datetime YYYY-MM-DD.")
    geoms = parcels.geometry[idx]
    fields = [
        pa.field("id", pa.string(), nullable=False),
        pa.field("geometry", pa.binary(), nullable=False),
        pa.field("area", pa.float32(), nullable=False),
        pa.field("perimeter", pa.float32(), nullable=False),
        pa.field("determination_method", pa.string(), nullable=False),
        pa.field("determination_datetime", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("collection", pa.string(), nullable=False),
    ]
    arrays = [
        pa.array([str(v) for v in cols["parcel_id"][idx]], pa.string()),
        pa.array(list(shapely.to_wkb(geoms, output_dimension=2)) if len(geoms) else [], pa.binary()),
        pa.array(area_ha[idx].astype(np.float32), pa.float32()),
        pa.array(perim[idx].astype(np.float32), pa.float32()),
        pa.array(methods, pa.string()),
        pa.array(stamps, pa.timestamp("ms", tz="UTC")),
        pa.array([collection] * len(idx), pa.string()),
    ]
    for name, col in cols.items():
        if name in ("parcel_id", "area_m2", "perim_m"):
            continue
        values = col[idx]
        typ = pa.int64() if values.dtype.kind == "i" else pa.float64() if values.dtype.kind == "f" else pa.string()
        vals = values.tolist()
        if name == "group_id":  # -1 means no group: null
            vals = [None if v == -1 else v for v in vals]
        fields.append(pa.field(name, typ, nullable=True))
        arrays.append(pa.array(vals, typ))
    collection_meta = {"fiboa_version": FIBOA_VERSION, "schemas": [FIBOA_SCHEMA_URL], "id": collection,
                       "fiboa_extensions": []}
    meta = {b"geo": json.dumps(geo_metadata(geoms, parcels.crs)).encode(),
            b"fiboa": json.dumps(collection_meta).encode()}
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
