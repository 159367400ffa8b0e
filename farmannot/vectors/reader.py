"""Reading vector files: GeoPackage, Shapefile, GeoJSON, FlatGeobuf (pyogrio) and GeoParquet (pyarrow).

Everything comes back as one :class:`VectorTable` of shapely geometries and numpy field arrays, with one
clear :class:`~farmannot.errors.InputError` for every way a file can be unusable.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyogrio
import pyogrio.raw
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from pyproj import CRS
from pyproj.exceptions import CRSError

from farmannot.errors import InputError

#: Suffixes read as GeoParquet with pyarrow (GDAL builds often lack the Parquet driver).
PARQUET_SUFFIXES = (".parquet", ".geoparquet")


@dataclass
class VectorTable:
    """Features of one layer.

    Attributes:
        path: The file.
        layer: The layer name (the file stem for single-layer formats).
        geometry: Object array of shapely geometries (None where a feature has none).
        fids: Feature ids as the file gives them (GeoPackage fid, 0-based row for others).
        fields: Attribute columns, by name, in file order.
        crs: The CRS as ``AUTHORITY:CODE`` or WKT, or None when the file declares none.
    """

    path: Path
    layer: str
    geometry: np.ndarray
    fids: np.ndarray
    fields: dict[str, np.ndarray]
    crs: str | None

    def __len__(self) -> int:
        return len(self.geometry)


def parse_crs(text: str, what: str) -> CRS:
    """Parse ``EPSG:4326``, ``4326`` or any pyproj input, or raise :class:`InputError` naming ``what``."""
    text = str(text).strip()
    try:
        return CRS.from_user_input(f"EPSG:{text}" if text.isdigit() else text)
    except CRSError:
        raise InputError(f"{what}: {text!r} is not a CRS pyproj knows; give e.g. EPSG:4326.") from None


def _crs_string(crs: CRS) -> str:
    auth = crs.to_authority()
    return f"{auth[0]}:{auth[1]}" if auth else crs.to_wkt()


def _geometries(path: Path, wkb: np.ndarray) -> np.ndarray:
    """Shapely geometries of WKB values; a broken one (an unclosed ring) is one clear line naming the file."""
    try:
        return shapely.from_wkb(wkb)
    except shapely.errors.GEOSException as exc:
        raise InputError(f"{path}: a feature's geometry is broken ({exc}); repair it in QGIS (Vector > Geometry "
                         "Tools > Fix Geometries) or close its rings.") from None


def read_vectors(path: str | os.PathLike, layer: str | None = None) -> VectorTable:
    """Read every feature of one layer of a vector file.

    Args:
        path: GeoPackage, Shapefile, GeoJSON, FlatGeobuf or GeoParquet file.
        layer: Layer name; required when a file holds more than one layer.

    Raises:
        InputError: missing or unreadable file, ambiguous or missing layer, GeoParquet without ``geo`` metadata.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path.")
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return _read_geoparquet(path)
    try:
        layers = pyogrio.list_layers(path)
    except (DataSourceError, DataLayerError, OSError) as exc:
        raise InputError(f"{path}: not a readable vector file ({exc}); give a GeoPackage, Shapefile, GeoJSON, "
                         "FlatGeobuf or GeoParquet file.") from None
    names = [str(n) for n in layers[:, 0]] if len(layers) else []
    if not names:
        raise InputError(f"{path}: the file holds no vector layer.")
    if layer is None:
        if len(names) > 1:
            raise InputError(f"{path}: holds {len(names)} layers ({', '.join(names)}); choose one with --layer.")
        layer = names[0]
    elif layer not in names:
        raise InputError(f"{path}: no layer {layer!r}; layers are: {', '.join(names)}.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            meta, fids, wkb, field_data = pyogrio.raw.read(
                path, layer=layer, return_fids=True, datetime_as_string=True)
    except (DataSourceError, DataLayerError, OSError) as exc:
        raise InputError(f"{path}: cannot read layer {layer!r} ({exc}).") from None
    crs = meta.get("crs")
    with warnings.catch_warnings():  # numpy's "invalid value" on a NaN vertex: the geometry check reports it
        warnings.simplefilter("ignore", RuntimeWarning)
        geoms = _geometries(path, wkb) if wkb is not None else np.full(len(fids), None, dtype=object)
    fields = {str(name): np.asarray(col) for name, col in zip(meta["fields"], field_data)}
    return VectorTable(path, layer, np.asarray(geoms, dtype=object), np.asarray(fids), fields, crs or None)


def _read_geoparquet(path: Path) -> VectorTable:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc}).") from None
    meta = table.schema.metadata or {}
    if b"geo" not in meta:
        raise InputError(f"{path}: Parquet file without GeoParquet 'geo' metadata; it holds no geometry column "
                         "farmannot can find. Write it as GeoParquet (geopandas to_parquet, GDAL, fiboa).")
    try:
        geo = json.loads(meta[b"geo"])
        col = geo["primary_column"]
        colmeta = geo["columns"][col]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: malformed GeoParquet 'geo' metadata ({exc}).") from None
    if colmeta.get("encoding", "WKB").upper() != "WKB":
        raise InputError(f"{path}: geometry encoding {colmeta.get('encoding')!r} is not supported; use WKB.")
    # GeoParquet: a missing "crs" means OGC:CRS84 (longitude, latitude); an explicit null means unknown.
    if "crs" not in colmeta:
        crs: str | None = "OGC:CRS84"
    elif colmeta["crs"] is None:
        crs = None
    else:
        try:
            crs = _crs_string(CRS.from_json_dict(colmeta["crs"]) if isinstance(colmeta["crs"], dict)
                              else CRS.from_user_input(colmeta["crs"]))
        except CRSError as exc:
            raise InputError(f"{path}: unreadable CRS in the GeoParquet metadata ({exc}).") from None
    geoms = _geometries(path, np.asarray(table.column(col).to_pylist(), dtype=object))
    fields = {name: np.asarray(table.column(name).to_pylist(), dtype=object)
              for name in table.column_names if name != col}
    return VectorTable(path, path.stem, np.asarray(geoms, dtype=object), np.arange(len(geoms)), fields, crs)
