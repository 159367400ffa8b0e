"""Where each layout puts a tile's files (one module per layout) and the encoders they share.

Layouts (paths relative to the output folder; NAME = ``{scene_stem}_{row_off}_{col_off}``):

* :mod:`.gtpbd_mm`: ``gtpbd-mm/{split}/{region}/{images,mask_labels,boundary_labels,parcel_labels,dem,text}/``
* :mod:`.farmseg_vl`: ``farmseg-vl/{split}/{img,lbl,json}/`` (the released FarmSeg-VL layout)
* :mod:`.spie`: ``spie/{split}/{img,label,spectral_prior,multispectral}/``, records in ``spie/{split}.json``
* :mod:`.coco`: ``coco/{split}/images/``, instances in ``coco/{split}.json``

A new layout is one module here with ``NAME`` and ``files(tile)`` (and, if ``farmannot train`` should read
it, ``READ_KINDS``, ``tile_folders`` and ``target``), registered in :data:`WRITERS` (and :data:`READERS`).

Raster tiles are georeferenced: GeoTIFF, or PNG with GDAL's world file and ``.aux.xml`` beside it.
"""

from __future__ import annotations

from farmannot.dataset.layouts import coco, farmseg_vl, gtpbd_mm, spie
from farmannot.dataset.layouts.encode import (
    PNG_SIDECARS,
    file_sha256,
    georeferenced_png,
    geotiff_bytes,
    png_bytes,
    sha256,
    write_checked,
)
from farmannot.dataset.layouts.tile import SpieSample, Tile, region_folder

#: every layout build-dataset writes, in the default order
NAMES = (farmseg_vl.NAME, gtpbd_mm.NAME, spie.NAME, coco.NAME)
WRITERS = {gtpbd_mm.NAME: gtpbd_mm.files, farmseg_vl.NAME: farmseg_vl.files, spie.NAME: spie.files,
           coco.NAME: coco.files}
#: the layouts ``farmannot train`` reads, in the order it looks for them in a dataset root
READERS = {gtpbd_mm.NAME: gtpbd_mm, farmseg_vl.NAME: farmseg_vl}
#: per layout, the folder of its RGB images and of its label rasters (None: no label raster per tile)
PREVIEW_FOLDERS = {gtpbd_mm.NAME: (gtpbd_mm.IMAGES, gtpbd_mm.MASKS),
                   farmseg_vl.NAME: (farmseg_vl.IMAGES, farmseg_vl.LABELS),
                   spie.NAME: (spie.IMAGES, None), coco.NAME: (coco.IMAGES, None)}

__all__ = [
    "NAMES",
    "PREVIEW_FOLDERS",
    "READERS",
    "WRITERS",
    "PNG_SIDECARS",
    "SpieSample",
    "Tile",
    "file_sha256",
    "georeferenced_png",
    "geotiff_bytes",
    "layout_files",
    "png_bytes",
    "region_folder",
    "sha256",
    "write_checked",
]


def layout_files(layouts: tuple[str, ...], tile: Tile) -> dict[str, dict[str, bytes]]:
    """layout -> {relative path: bytes} for one tile (layouts in the order given)."""
    return {name: WRITERS[name](tile) for name in layouts}
