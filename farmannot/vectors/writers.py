"""Writing parcel and tile layers: GeoPackage, GeoJSON (RFC 7946), Shapefile, FlatGeobuf with pyogrio.

Every file is written under a temporary name beside the output and renamed (Shapefile: every sidecar), so a
crash leaves no half file. GeoPackage timestamps are pinned, so a re-run gives the same bytes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyogrio
import pyogrio.raw
import shapely

from farmannot.errors import InputError
from farmannot.io.atomic import atomic_path

#: format name -> (GDAL driver, file suffix)
OGR_FORMATS: dict[str, tuple[str, str]] = {
    "gpkg": ("GPKG", ".gpkg"),
    "geojson": ("GeoJSON", ".geojson"),
    "shp": ("ESRI Shapefile", ".shp"),
    "fgb": ("FlatGeobuf", ".fgb"),
}
FORMATS = (*OGR_FORMATS, "fiboa")
#: Fixed timestamp GDAL writes into GeoPackages (gpkg_contents.last_change), for reproducible files.
_PINNED_DATE = "2000-01-01T00:00:00.000Z"
_SHP_SIDECARS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


@dataclass
class Layer:
    """One layer to write: geometries, attribute columns (in order) and the CRS."""

    name: str
    geometry: np.ndarray
    columns: dict[str, np.ndarray]
    crs: str


def format_from_path(path: str | os.PathLike) -> str | None:
    """The format a file name implies (``.gpkg`` -> gpkg, ``.parquet`` -> fiboa), or None."""
    suffix = Path(path).suffix.lower()
    for name, (_, suf) in OGR_FORMATS.items():
        if suffix == suf or (name == "geojson" and suffix == ".json"):
            return name
    if suffix in (".parquet", ".geoparquet"):
        return "fiboa"
    return None


def format_suffix(fmt: str) -> str:
    """The file suffix a format is named with (:func:`format_from_path`'s inverse): gpkg -> .gpkg, fiboa ->
    .parquet."""
    return ".parquet" if fmt == "fiboa" else OGR_FORMATS[fmt][1]


def shapefile_names(names: list[str]) -> dict[str, str]:
    """Field names cut to the Shapefile limit of 10 characters, made unique with a digit suffix."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for n in names:
        cut = n[:10]
        k = 1
        while cut.lower() in used:
            cut = f"{n[:10 - len(str(k))]}{k}"
            k += 1
        used.add(cut.lower())
        out[n] = cut
    return out


@contextlib.contextmanager
def _pinned_gdal_date() -> Iterator[None]:
    old = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": _PINNED_DATE})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": old})


def _geometry_type(geoms: np.ndarray) -> tuple[str, bool]:
    types = set(shapely.get_type_id(geoms).tolist()) if len(geoms) else {3}
    if types <= {3}:
        return "Polygon", False
    if types <= {3, 6}:
        return "MultiPolygon", True
    return "Unknown", False


def _write_layer(path: Path, driver: str, layer: Layer, fmt: str, append: bool) -> None:
    names = list(layer.columns)
    data = [layer.columns[n] for n in names]
    if fmt == "shp":
        mapping = shapefile_names(names)
        names = [mapping[n] for n in names]
    gtype, promote = _geometry_type(layer.geometry)
    opts: dict[str, str] = {}
    if fmt == "geojson":
        opts = {"RFC7946": "YES", "WRITE_NAME": "NO"}
    elif fmt == "fgb":
        opts = {"SPATIAL_INDEX": "NO"}  # an index would reorder features (Hilbert order): keep parcel order
    # group_id -1 means "no group": written as NULL
    field_mask = [np.asarray(col) == -1 if name == "group_id" else None
                  for name, col in zip(layer.columns, data)]
    if not any(m is not None for m in field_mask):
        field_mask = None
    pyogrio.raw.write(
        str(path), shapely.to_wkb(layer.geometry, output_dimension=2) if len(layer.geometry) else
        np.array([], dtype=object), data, names, field_mask=field_mask, layer=layer.name, driver=driver,
        geometry_type=gtype, crs=layer.crs, encoding="UTF-8" if fmt == "shp" else None, promote_to_multi=promote,
        append=append, layer_options=opts or None,
    )


def write_layers(path: str | os.PathLike, fmt: str, layers: list[Layer]) -> list[Path]:
    """Write ``layers`` to ``path`` in ``fmt`` (one of :data:`OGR_FORMATS`), atomically.

    A GeoPackage holds every layer; the single-layer formats write the first layer to ``path`` and each
    further layer ``NAME`` to ``<stem>_NAME<suffix>`` beside it.

    Returns:
        The files written (main files; Shapefile sidecars beside them).
    """
    if fmt not in OGR_FORMATS:
        raise InputError(f"unknown vector format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    driver, suffix = OGR_FORMATS[fmt]
    path = Path(path)
    written: list[Path] = []
    with _pinned_gdal_date():
        if fmt == "gpkg":
            with atomic_path(path) as tmp:
                tmp.unlink()
                for i, layer in enumerate(layers):
                    _write_layer(tmp, driver, layer, fmt, append=i > 0)
            return [path]
        for i, layer in enumerate(layers):
            target = path if i == 0 else path.with_name(f"{path.stem}_{layer.name}{path.suffix or suffix}")
            if fmt == "shp":
                _write_shapefile(target, driver, layer)
            else:
                with atomic_path(target) as tmp:
                    tmp.unlink()
                    _write_layer(tmp, driver, layer, fmt, append=False)
            written.append(target)
    return written


def _write_shapefile(target: Path, driver: str, layer: Layer) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{target.stem}.", dir=target.parent))
    try:
        tmp = tmpdir / f"{target.stem}.shp"
        _write_layer(tmp, driver, layer, "shp", append=False)
        produced = {p.suffix.lower(): p for p in tmpdir.iterdir()}
        # sidecars first, the .shp last: a reader never sees a .shp without its .dbf
        for suf in [s for s in _SHP_SIDECARS if s != ".shp"] + [".shp"]:
            if suf in produced:
                os.replace(produced[suf], target.with_suffix(suf))
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
