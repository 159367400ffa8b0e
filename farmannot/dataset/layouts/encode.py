"""Arrays -> file bytes (PNG, georeferenced PNG, GeoTIFF) and the checked atomic write every layout uses.

Every encoder is deterministic (no timestamps), so a rebuild of unchanged tiles gives the same bytes and
:func:`write_checked` leaves the files alone. Tile files are written atomically but not flushed to disk one
by one: the work unit that wrote them makes them durable as a batch before its resume record names them
(:func:`farmannot.dataset.records.make_durable`).
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from pathlib import Path

import numpy as np
import rasterio
from PIL import Image
from rasterio.io import MemoryFile

from farmannot.io.atomic import write_bytes
from farmannot.io.raster import quiet_without_crs

#: Sidecars GDAL writes beside a georeferenced PNG ``NAME.png``: the world file and the PAM file with the CRS.
PNG_SIDECARS = (".wld", ".png.aux.xml")


PNG_LEVEL = 1


def png_bytes(arr: np.ndarray) -> bytes:
    """A PNG of a 2-D uint8/uint16 array or a (3, rows, cols) uint8 RGB array (no georeferencing)."""
    a = np.asarray(arr)
    if a.ndim == 3:
        a = np.ascontiguousarray(np.moveaxis(a, 0, -1))
    elif a.dtype == np.uint16:
        a = a.astype("<u2")
    buf = io.BytesIO()
    # zlib level 1, measured on 256 px Landsat tiles (docs/BENCHMARKS.md, "PNG level"): 2.4x faster to
    # encode than level 6 for 11 % more bytes (label PNGs of a few KiB, RGB +9 %); level 6 was half the build
    Image.fromarray(a).save(buf, format="PNG", compress_level=PNG_LEVEL)
    return buf.getvalue()


def georeferenced_png(arr: np.ndarray, crs, transform) -> dict[str, bytes]:
    """``{'.png': ..., '.wld': ..., '.png.aux.xml': ...}``: a PNG that GDAL readers (rasterio, torchgeo, QGIS)
    place in its CRS from the world file and the PAM sidecar, as GDAL's PNG driver writes them.

    Without a CRS only the PNG is returned (a plain image has nothing to place).
    """
    a = np.asarray(arr)
    if crs is None:
        return {".png": png_bytes(a)}
    a = a if a.ndim == 3 else a[None]
    count, h, w = a.shape
    with tempfile.TemporaryDirectory(prefix="farmannot-png-") as tmp:
        path = Path(tmp) / "t.png"
        # GDAL's PNG driver at the zlib level measured for png_bytes (its default, 6, took 3x the time)
        with rasterio.open(path, "w", driver="PNG", width=w, height=h, count=count, dtype=a.dtype.name, crs=crs,
                           transform=transform, WORLDFILE="YES", ZLEVEL=PNG_LEVEL) as dst:
            dst.write(a)
        return {".png": path.read_bytes(), ".wld": (Path(tmp) / "t.wld").read_bytes(),
                ".png.aux.xml": (Path(tmp) / "t.png.aux.xml").read_bytes()}


def geotiff_bytes(data: np.ndarray, crs, transform, nodata=None) -> bytes:
    """A deflate-compressed GeoTIFF of ``data`` (bands, rows, cols) with its georeferencing."""
    count, h, w = data.shape
    profile = {"driver": "GTiff", "width": w, "height": h, "count": count, "dtype": data.dtype.name,
               "crs": crs, "transform": transform, "nodata": nodata, "compress": "deflate"}
    with MemoryFile() as mem, quiet_without_crs(crs):  # a PNG/JPEG scene's label tiles carry no CRS either
        with mem.open(**profile) as dst:
            dst.write(data)
        return bytes(mem.read())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str | None:
    try:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    except FileNotFoundError:
        return None


def write_checked(out: Path, rel: str, data: bytes) -> tuple[str, bool]:
    """Write ``data`` to ``out/rel`` atomically unless the file already holds exactly these bytes; not
    flushed to disk (the caller's batch is, :func:`farmannot.io.atomic.sync_files`).

    Returns:
        ``(sha256, written)``.
    """
    digest = sha256(data)
    path = out / rel
    if path.exists() and path.stat().st_size == len(data) and file_sha256(path) == digest:
        return digest, False
    write_bytes(path, data, sync=False)
    return digest, True
