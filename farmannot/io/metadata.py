"""Scene metadata for captions: the shooting date and the geographic centre of an image or tile.

The date comes, in order of trust, from an explicit override, acquisition tags in the GeoTIFF, the product's
metadata file (Landsat ``*_MTL.txt``), the product-style file name (Landsat, Sentinel-2, Gaofen), the TIFF
``DateTime`` tag (often the processing date: low confidence), or any ``YYYYMMDD`` / ``YYYY-MM-DD`` in the
name (low confidence). Every answer says where it came from.

The centre is computed with pyproj from the grid (CRS, affine transform, size), so tiles get their own centre.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from affine import Affine
from pyproj import CRS
from pyproj.exceptions import CRSError

from farmannot.errors import InputError
from farmannot.io.grid import SceneGrid, crs_transformer


@dataclass(frozen=True)
class DateFound:
    """A shooting date and its provenance.

    Attributes:
        date: The acquisition date.
        source: ``override``, ``tag``, ``mtl``, ``landsat_name``, ``sentinel2_name``, ``gaofen_name``,
            ``tiff_datetime`` or ``name_date``.
        detail: The tag, file or name fragment it was read from.
        confidence: 1.0 for acquisition records, lower for guesses.
    """

    date: dt.date
    source: str
    detail: str
    confidence: float = 1.0


# Acquisition-date tags seen in GeoTIFFs written by GDAL drivers, vendors and processing chains (upper case).
_ACQ_TAGS = ("ACQUISITION_DATE", "ACQUISITIONDATE", "ACQUISITIONDATETIME", "DATE_ACQUIRED", "SENSING_TIME",
             "SENSING_DATE", "DATATAKE_SENSING_START", "PRODUCT_START_TIME", "IMAGING_DATE", "IMAGINGDATE",
             "START_TIME", "SCENE_DATE", "DATETIME_ACQUIRED", "CAPTURE_DATE", "DATE_OBS")

_LANDSAT = re.compile(r"L[COTEM]0[1-9]_L[12][A-Z]{2}_\d{6}_(\d{8})_\d{8}_\d{2}_(?:RT|T1|T2|A1|A2)", re.I)
_LANDSAT_PRE = re.compile(r"(?<![A-Z0-9])L[COTEM][1-9]\d{6}(\d{4})(\d{3})[A-Z]{3}\d{2}", re.I)
_S2_PRODUCT = re.compile(r"S2[A-D]_MSIL(?:1C|2A)_(\d{8})T\d{6}", re.I)
_S2_TILEFILE = re.compile(r"(?<![A-Z0-9])T\d{2}[A-Z]{3}_(\d{8})T\d{6}", re.I)
_S2_COG = re.compile(r"S2[A-D]_\d{1,2}[A-Z]{3}_(\d{8})_\d+_L(?:1C|2A)", re.I)
_GAOFEN = re.compile(r"GF\d{1,2}[A-Z]?_[A-Z]{2,4}\d?_[EW]\d{1,3}(?:\.\d+)?_[NS]\d{1,2}(?:\.\d+)?_(\d{8})_L\d", re.I)
_ANY_DATE = re.compile(r"(?<!\d)((?:19|20)\d{2})([-_]?)(0[1-9]|1[0-2])\2(0[1-9]|[12]\d|3[01])(?!\d)")
_ISO_IN_TEXT = re.compile(r"((?:19|20)\d{2})[-:/](\d{2})[-:/](\d{2})")


def _ymd(text: str) -> dt.date | None:
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def parse_date_text(text: str) -> dt.date | None:
    """First ``YYYY-MM-DD`` / ``YYYY:MM:DD`` / ``YYYYMMDD`` date in ``text`` (None if none is valid)."""
    m = _ISO_IN_TEXT.search(text)
    if m:
        try:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            pass
    m = _ANY_DATE.search(text)
    return _ymd(m.group(1) + m.group(3) + m.group(4)) if m else None


def date_from_tags(tags: Mapping[str, str]) -> DateFound | None:
    """Shooting date from GeoTIFF metadata tags (acquisition tags first, then ``TIFFTAG_DATETIME``)."""
    upper = {str(k).upper(): str(v) for k, v in tags.items()}
    for key in _ACQ_TAGS:
        if key in upper and (d := parse_date_text(upper[key])):
            return DateFound(d, "tag", key)
    if "TIFFTAG_DATETIME" in upper and (d := parse_date_text(upper["TIFFTAG_DATETIME"])):
        return DateFound(d, "tiff_datetime", "TIFFTAG_DATETIME (may be the processing date)", 0.4)
    return None


def date_from_mtl(text: str) -> DateFound | None:
    """Shooting date from a Landsat ``MTL.txt`` (``DATE_ACQUIRED``, or ``ACQUISITION_DATE`` in old files)."""
    m = re.search(r"^\s*(DATE_ACQUIRED|ACQUISITION_DATE)\s*=\s*\"?(\d{4}-\d{2}-\d{2})", text, re.M)
    if not m:
        return None
    try:
        return DateFound(dt.date.fromisoformat(m.group(2)), "mtl", m.group(1))
    except ValueError:
        return None


def date_from_name(name: str) -> DateFound | None:
    """Shooting date from a product-style file name.

    Recognises Landsat Collection 1/2 product ids (``LC08_L1TP_224078_20200518_20200518_01_RT``: the first
    date is the acquisition), pre-collection Landsat scene ids (``LC82240782020139LGN00``: year and day of
    year), Sentinel-2 product names (``S2A_MSIL2A_20200518T135111_...``), Sentinel-2 tile files
    (``T21JYM_20200518T135111_B04.jp2``), Sentinel-2 COG ids (``S2A_21JYM_20200518_0_L2A``) and Gaofen
    names (``GF2_PMS1_E113.6_N40.1_20160308_L1A0001472278``). Failing those, any ``YYYYMMDD`` or
    ``YYYY-MM-DD`` in the name, with low confidence.
    """
    base = Path(name).name
    for pattern, source in ((_LANDSAT, "landsat_name"), (_S2_PRODUCT, "sentinel2_name"),
                            (_S2_TILEFILE, "sentinel2_name"), (_S2_COG, "sentinel2_name"), (_GAOFEN, "gaofen_name")):
        m = pattern.search(base)
        if m and (d := _ymd(m.group(1))):
            return DateFound(d, source, m.group(0))
    m = _LANDSAT_PRE.search(base)
    if m:
        year, doy = int(m.group(1)), int(m.group(2))
        if 1 <= doy <= 366:
            d = dt.date(year, 1, 1) + dt.timedelta(days=doy - 1)
            if d.year == year:
                return DateFound(d, "landsat_name", m.group(0))
    m = _ANY_DATE.search(base)
    if m and (d := _ymd(m.group(1) + m.group(3) + m.group(4))):
        return DateFound(d, "name_date", m.group(0), 0.6)
    return None


def acquisition_date(tags: Mapping[str, str] | None = None, filename: str = "", mtl_text: str | None = None,
                     override: str | dt.date | None = None) -> DateFound | None:
    """The best shooting date from every source given (see the module docstring for the order)."""
    if override is not None:
        if isinstance(override, dt.date):
            return DateFound(override, "override", "given")
        try:
            return DateFound(dt.date.fromisoformat(str(override).strip()), "override", "given")
        except ValueError:
            raise InputError(f"date {override!r} must be YYYY-MM-DD.") from None
    from_tags = date_from_tags(tags or {})
    if from_tags and from_tags.source == "tag":
        return from_tags
    if mtl_text and (d := date_from_mtl(mtl_text)):
        return d
    from_name = date_from_name(filename) if filename else None
    candidates = [c for c in (from_name, from_tags) if c is not None]
    return max(candidates, key=lambda c: c.confidence) if candidates else None


def find_mtl(raster_path: str | os.PathLike) -> Path | None:
    """The Landsat ``*_MTL.txt`` beside a raster that belongs to the same product (its id prefixes the name).

    A metadata file of another product in the same folder (same path/row, other date) is not used.
    """
    p = Path(raster_path)
    for mtl in sorted(p.parent.glob("*_MTL.txt")):
        product = mtl.name[: -len("_MTL.txt")]
        if p.name.upper().startswith(product.upper()):
            return mtl
    return None


def centre_lonlat(crs: str | CRS | None, transform: Affine | tuple[float, ...], width: int,
                  height: int) -> tuple[float, float]:
    """Longitude and latitude (EPSG:4326) of the centre of a ``width`` x ``height`` grid.

    Raises:
        InputError: no CRS (the image is not georeferenced) or a CRS pyproj cannot use.
    """
    if crs is None or str(crs) == "":
        raise InputError("the image has no coordinate reference system; give a georeferenced scene (--scene) "
                         "or set location by hand (--set location='25.34°S, 54.53°W').")
    try:
        to_lonlat = crs_transformer(crs, "EPSG:4326")
    except CRSError as exc:
        raise InputError(f"unusable CRS {crs!r} ({exc}).") from None
    aff = transform if isinstance(transform, Affine) else Affine(*tuple(transform)[:6])
    x, y = aff @ (width / 2.0, height / 2.0)
    lon, lat = (x, y) if to_lonlat is None else to_lonlat.transform(x, y)
    return float(lon), float(lat)


def read_scene_metadata(path: str | os.PathLike) -> SceneGrid:
    """Header facts of a raster file: CRS, transform, size, tags (default and IMAGERY domains), MTL text."""
    from farmannot.io.raster import open_raster

    with open_raster(path) as src:
        tags = dict(src.tags())
        try:
            tags.update(src.tags(ns="IMAGERY"))
        except Exception:  # noqa: BLE001 - a driver without that domain
            pass
        meta = SceneGrid(
            crs=src.crs.to_string() if src.crs else None,
            transform=tuple(src.transform)[:6],
            width=src.width,
            height=src.height,
            tags=tags,
            filename=Path(path).name,
        )
    mtl = find_mtl(path)
    if mtl is not None:
        meta = dataclasses.replace(meta, mtl_text=mtl.read_text(encoding="utf-8", errors="replace"))
    return meta
