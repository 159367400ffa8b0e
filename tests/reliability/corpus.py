"""A generated corpus of bad inputs: each writer makes one kind of broken or hostile file, small and fast.

Every case is one that once took a command down (a traceback, or a --keep-going run that lost its good
inputs). Sizes stay tiny on disk: a decompression bomb is a few kilobytes of zlib.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import rasterio
from projectgen import KEYWORDS, SHAPES, write_annotation, write_scene
from rasterio.transform import from_origin


def nested_json(path: Path, depth: int = 200_000) -> Path:
    """Valid JSON nested deeper than Python's recursion limit (RecursionError in ``json.load``)."""
    path.write_text('{"version": "6.3.1", "shapes": ' + "[" * depth + "]" * depth + "}", encoding="utf-8")
    return path


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A 1-bit PNG of ``width`` x ``height`` zero pixels: kilobytes on disk, hundreds of megapixels decoded."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + (width + 7) // 8)
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def mask_bomb_annotation(path: Path, image_rel: str, width: int = 20_000, height: int = 20_000) -> Path:
    """A labelme annotation whose one mask shape is a PNG bomb."""
    write_annotation(path, image_rel)
    obj = json.loads(path.read_text(encoding="utf-8"))
    obj["shapes"].append({"label": "farmland", "points": [[1, 1], [20, 20]], "group_id": None, "description": "",
                          "shape_type": "mask", "flags": {},
                          "mask": base64.b64encode(png_bomb(width, height)).decode("ascii")})
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def nan_vertex_annotation(path: Path, image_rel: str) -> Path:
    """An annotation with a NaN vertex (Python's json writes and reads ``NaN``)."""
    shapes = [dict(s) for s in SHAPES]
    shapes[0] = {**shapes[0], "points": [[4, 4], [float("nan"), 4], [30, 28], [4, 28]]}
    write_annotation(path, image_rel, shapes=shapes)
    return path


def unclosed_ring_annotation(path: Path, image_rel: str) -> Path:
    """A polygon of two points (labelme cannot close it into a ring)."""
    shapes = [dict(s) for s in SHAPES]
    shapes[0] = {**shapes[0], "points": [[4, 4], [30, 4]]}
    write_annotation(path, image_rel, shapes=shapes)
    return path


def bad_keyword_annotation(path: Path, image_rel: str) -> Path:
    """A confirmed caption keyword outside the vocabulary (``water: lava``)."""
    write_annotation(path, image_rel, keywords={**KEYWORDS, "water": "lava"})
    return path


def truncated_tif(path: Path, seed: int = 0) -> Path:
    """A GeoTIFF cut in half (a copy that stopped early)."""
    write_scene(path, seed)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def plain_png(path: Path) -> Path:
    """A PNG with no georeferencing (no CRS, no transform)."""
    rng = np.random.default_rng(0)
    with rasterio.open(path, "w", driver="PNG", width=64, height=64, count=3, dtype="uint8") as dst:
        dst.write(rng.integers(0, 255, (3, 64, 64), dtype=np.uint8))
    return path


def float_scene(path: Path, fill: float, size: int = 64) -> Path:
    """A 4-band float32 scene filled with ``fill`` (NaN or Inf: all nodata without a nodata value)."""
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=4, dtype="float32",
                       crs="EPSG:32618", transform=from_origin(500000, 2050000, 5, 5)) as dst:
        dst.write(np.full((4, size, size), fill, np.float32))
        dst.descriptions = ("red", "green", "blue", "nir")
    return path
