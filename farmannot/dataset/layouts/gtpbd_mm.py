"""The GTPBD-MM layout as GTPBD released it, with GTPBD-MM's text and DEM beside.

``gtpbd-mm/{split}/{region}/`` holds, per tile ``NAME``:

- ``images/NAME.png`` (+ ``NAME.wld``, ``NAME.png.aux.xml``): the RGB picture, georeferenced (GTPBD-MM ships
  its PNG images with an XML file of geographic information);
- ``mask_labels/NAME.tif``: uint8, 0 background, the label-map value (1 = farmland) on parcels, 255 ignored;
- ``boundary_labels/NAME.tif``: uint8, 1 on parcel edges, 0 elsewhere;
- ``parcel_labels/NAME.tif``: uint8, 1 inside a parcel off its edge, 0 elsewhere: each 8-connected
  component is one parcel. GTPBD's evaluation script (``caculate_pixel_edge_object.py``) reads these: it
  lists ``*.tif``, takes pixel value 1 as parcel and labels objects with 8-connectivity;
- ``dem/NAME.tif``: float32 elevation registered to the image grid (NaN nodata), where the scene has a DEM;
- ``text/NAME.txt``: the terraced-family caption (GTPBD-MM's task text) where the scene's keywords hold
  ``layout``, else the FarmSeg-VL caption;
- ``image_tif/NAME.tif`` with every band, when ``geotiff`` is on.

The labels are GeoTIFFs on the tile's grid, so rasterio, torchgeo and QGIS place them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from farmannot.dataset.layouts.encode import geotiff_bytes
from farmannot.dataset.layouts.tile import Tile, region_folder, with_stem

NAME = "gtpbd-mm"
IMAGES, MASKS, BOUNDARIES, PARCELS, DEM, TEXT, IMAGE_TIF = ("images", "mask_labels", "boundary_labels",
                                                            "parcel_labels", "dem", "text", "image_tif")
#: ``mask_labels`` value of pixels no label decides (``__ignore__`` shapes)
IGNORE = 255
#: what a reader takes from each tile: kind -> folder (``farmannot train`` reads this layout)
READ_KINDS = {"image": IMAGES, "mask": MASKS, "boundary": BOUNDARIES, "dem": DEM, "text": TEXT}


def parcel_interiors(parcel: np.ndarray, boundary: np.ndarray) -> np.ndarray:
    """uint8 0/1: parcel pixels off the boundary (the inner edge ring keeps 8-neighbouring parcels apart)."""
    return ((parcel > 0) & (boundary == 0)).astype(np.uint8)


def text_family(captions: dict) -> str:
    return "terraced" if "terraced" in captions else "farmseg"


def files(tile: Tile) -> dict[str, bytes]:
    """``{path relative to the dataset: bytes}`` of one tile in this layout."""
    b = f"{NAME}/{tile.split}/{region_folder(tile.region)}"
    out = with_stem(tile.rgb_png, f"{b}/{IMAGES}/{tile.name}")
    out[f"{b}/{MASKS}/{tile.name}.tif"] = tile.label_tif(tile.mask)
    out[f"{b}/{BOUNDARIES}/{tile.name}.tif"] = tile.label_tif(tile.boundary)
    out[f"{b}/{PARCELS}/{tile.name}.tif"] = tile.label_tif(parcel_interiors(tile.parcel, tile.boundary))
    out[f"{b}/{TEXT}/{tile.name}.txt"] = (tile.captions[text_family(tile.captions)]["en"] + "\n").encode("utf-8")
    if tile.dem is not None:
        out[f"{b}/{DEM}/{tile.name}.tif"] = geotiff_bytes(tile.dem[None].astype(np.float32), tile.crs,
                                                          tile.transform, nodata=float("nan"))
    if tile.geotiff:
        out[f"{b}/{IMAGE_TIF}/{tile.name}.tif"] = tile.bands_tif
    return out


def tile_folders(split_dir: Path) -> list[Path]:
    """The folders of one split that hold the kind folders: one per region."""
    return sorted(d for d in split_dir.iterdir() if d.is_dir())


def target(label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mask 0/1 uint8, valid bool)`` of a ``mask_labels`` tile: 1 = farmland, :data:`IGNORE` = not decided."""
    valid = label != IGNORE
    return ((label == 1) & valid).astype(np.uint8), valid
