"""Where each layout puts a tile's files, and the encoders that turn arrays into those files' bytes.

Layouts (paths relative to the output folder; NAME = ``{scene_stem}_{row_off}_{col_off}``):

* ``gtpbd-mm/{split}/{image,mask,boundary,parcel,dem,text}/NAME.{png,png,png,png,tif,txt}`` (+ ``image_tif/``
  with every band and the georeferencing when ``geotiff`` is on)
* ``farmseg-vl/{split}/{img,lbl,json}/NAME.{png,png,json}`` (the released FarmSeg-VL layout)
* ``spie/{split}/image/NAME.png``, ``spie/{split}/map/NAME_{category}.png``, records in ``spie/{split}.jsonl``
* ``coco/{split}/images/NAME.png``, instances in ``coco/{split}.json``
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from PIL import Image
from rasterio.io import MemoryFile

from farmannot.io.atomic import write_bytes


PNG_LEVEL = 1


def png_bytes(arr: np.ndarray) -> bytes:
    """A PNG of a 2-D uint8/uint16 array or a (3, rows, cols) uint8 RGB array (no timestamps: same bytes)."""
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


def geotiff_bytes(data: np.ndarray, crs, transform, nodata=None) -> bytes:
    """A tiled, deflate-compressed GeoTIFF of ``data`` (bands, rows, cols) with its georeferencing."""
    count, h, w = data.shape
    profile = {"driver": "GTiff", "width": w, "height": h, "count": count, "dtype": data.dtype.name,
               "crs": crs, "transform": transform, "nodata": nodata, "compress": "deflate"}
    with MemoryFile() as mem:
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
    """Write ``data`` to ``out/rel`` atomically unless the file already holds exactly these bytes.

    Returns:
        ``(sha256, written)``.
    """
    digest = sha256(data)
    path = out / rel
    if path.exists() and path.stat().st_size == len(data) and file_sha256(path) == digest:
        return digest, False
    write_bytes(path, data)
    return digest, True


@dataclass
class TileFiles:
    """The encoded files of one tile, before they are placed in layouts."""

    image_png: bytes
    mask_png: bytes
    boundary_png: bytes
    parcel_png: bytes
    lbl_png: bytes
    caption_en: str
    caption_zh: str
    dem_tif: bytes | None = None
    image_tif: bytes | None = None
    spie_maps: dict[str, bytes] = field(default_factory=dict)


def layout_files(layouts: tuple[str, ...], split: str, name: str, f: TileFiles) -> dict[str, dict[str, bytes]]:
    """layout -> {relative path: bytes} for one tile."""
    out: dict[str, dict[str, bytes]] = {}
    if "gtpbd-mm" in layouts:
        b = f"gtpbd-mm/{split}"
        g = {f"{b}/image/{name}.png": f.image_png, f"{b}/mask/{name}.png": f.mask_png,
             f"{b}/boundary/{name}.png": f.boundary_png, f"{b}/parcel/{name}.png": f.parcel_png,
             f"{b}/text/{name}.txt": (f.caption_en + "\n").encode("utf-8")}
        if f.dem_tif is not None:
            g[f"{b}/dem/{name}.tif"] = f.dem_tif
        if f.image_tif is not None:
            g[f"{b}/image_tif/{name}.tif"] = f.image_tif
        out["gtpbd-mm"] = g
    if "farmseg-vl" in layouts:
        b = f"farmseg-vl/{split}"
        text = json.dumps({"img_description_eg": f.caption_en, "img_description_cn": f.caption_zh},
                          ensure_ascii=False, indent=2) + "\n"
        out["farmseg-vl"] = {f"{b}/img/{name}.png": f.image_png, f"{b}/lbl/{name}.png": f.lbl_png,
                             f"{b}/json/{name}.json": text.encode("utf-8")}
    if "spie" in layouts:
        b = f"spie/{split}"
        s = {f"{b}/image/{name}.png": f.image_png}
        for cat, data in f.spie_maps.items():
            s[f"{b}/map/{name}_{cat}.png"] = data
        out["spie"] = s
    if "coco" in layouts:
        out["coco"] = {f"coco/{split}/images/{name}.png": f.image_png}
    return out
