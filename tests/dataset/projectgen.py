"""Generator of small test projects: several scenes and regions, a DEM, touching parcels, a hole, a bow-tie."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

SIZE = 64
KEYWORDS = {"shape": "blocky", "boundary": "straight", "sowing": "fully_covered",
            "distribution": "concentrated_contiguous", "terrain": "flat", "landscape": "plain",
            "buildings": "scattered", "water": "scattered_ponds", "vegetation": "scattered_trees"}

# Scene layout (pixel coordinates, labelme convention): two parcels sharing the edge x = 30, a parcel with
# a background hole, a self-intersecting bow-tie, an ignore rectangle.
SHAPES = [
    {"label": "farmland", "points": [[4, 4], [30, 4], [30, 28], [4, 28]], "shape_type": "polygon"},
    {"label": "farmland", "points": [[30, 4], [60, 4], [60, 28], [30, 28]], "shape_type": "polygon"},
    {"label": "farmland", "points": [[4, 34], [40, 34], [40, 60], [4, 60]], "shape_type": "polygon"},
    {"label": "_background_", "points": [[15, 42], [25, 42], [25, 52], [15, 52]], "shape_type": "polygon"},
    {"label": "farmland", "points": [[44, 34], [60, 58], [60, 34], [44, 58]], "shape_type": "polygon"},
    {"label": "__ignore__", "points": [[52, 52], [63, 63]], "shape_type": "rectangle"},
]


def scene_pixels(seed: int) -> np.ndarray:
    """4-band uint8 (red, green, blue, nir): bright NIR on parcels, a dark pond, noise."""
    rng = np.random.default_rng(seed)
    img = np.zeros((4, SIZE, SIZE), np.uint8)
    img[0], img[1], img[2], img[3] = 90, 80, 70, 85
    img[:, 4:29, 4:61] = np.array([50, 90, 40, 200], np.uint8)[:, None, None]
    img[:, 34:61, 4:41] = np.array([60, 100, 45, 190], np.uint8)[:, None, None]
    img[:, 44:52, 46:52] = np.array([20, 60, 90, 15], np.uint8)[:, None, None]  # pond
    noise = rng.integers(0, 6, img.shape, dtype=np.uint8)
    return img + noise


def write_scene(path: Path, seed: int, crs: str | None = "EPSG:32618", origin=(500000.0, 2050000.0)) -> None:
    profile = {"driver": "GTiff", "width": SIZE, "height": SIZE, "count": 4, "dtype": "uint8"}
    if crs:
        profile.update(crs=crs, transform=from_origin(origin[0], origin[1], 5.0, 5.0))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(scene_pixels(seed))
        dst.descriptions = ("red", "green", "blue", "nir")


def write_dem(path: Path, origin=(500000.0, 2050000.0), crs: str | None = "EPSG:32618") -> None:
    yy, xx = np.mgrid[0:40, 0:40].astype(np.float32)
    dem = 100.0 + 0.5 * xx + 0.25 * yy
    profile = {"driver": "GTiff", "width": 40, "height": 40, "count": 1, "dtype": "float32", "nodata": -9999.0}
    if crs:
        profile.update(crs=crs, transform=from_origin(origin[0] - 20, origin[1] + 20, 10.0, 10.0))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(dem[None])


def write_annotation(path: Path, image_rel: str, shapes=None, keywords=None, size=(SIZE, SIZE)) -> None:
    kws = KEYWORDS if keywords is None else keywords
    obj = {"version": "6.3.1", "flags": {}, "shapes": [
        {"label": s["label"], "points": s["points"], "group_id": None, "description": "",
         "shape_type": s["shape_type"], "flags": {}, "mask": None} for s in (SHAPES if shapes is None else shapes)],
        "imagePath": image_rel, "imageData": None, "imageHeight": size[1], "imageWidth": size[0],
        "farmannot": {"schema": 1, "caption": {"family": "farmseg", "keywords": {
            k: {"value": v, "source": "confirmed", "evidence": {}, "confidence": 1.0} for k, v in kws.items()}}}}
    path.write_text(json.dumps(obj, indent=2), encoding="utf-8")


SCENES = [("a1", "north"), ("a2", "north"), ("a3", "north"), ("b1", "east"), ("c1", "south")]


def make_project(root: Path, scenes=SCENES, dem_for: str | None = "c1") -> Path:
    """Write a project folder under ``root`` and return it."""
    (root / "scenes").mkdir(parents=True)
    (root / "annotations").mkdir()
    (root / "dems").mkdir()
    lines = ["scene,region,date,dem"]
    for i, (name, region) in enumerate(scenes):
        write_scene(root / "scenes" / f"{name}.tif", seed=i, origin=(500000.0 + 1000 * i, 2050000.0))
        write_annotation(root / "annotations" / f"{name}.json", f"../scenes/{name}.tif")
        dem = ""
        if name == dem_for:
            write_dem(root / "dems" / f"{name}-dem.tif", origin=(500000.0 + 1000 * i, 2050000.0))
            dem = f"{name}-dem.tif"
        lines.append(f"{name}.tif,{region},2021-0{1 + i}-15,{dem}")
    (root / "scenes.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root



def tree(out: Path) -> dict[str, bytes]:
    """Every file under ``out`` by its relative path, with its bytes (to compare two builds byte for byte)."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
