"""The COCO layout: ``coco/{split}/images/NAME.png`` (georeferenced), instances in ``coco/{split}.json``."""

from __future__ import annotations

from farmannot.dataset.layouts.tile import Tile, with_stem

NAME = "coco"
IMAGES = "images"


def files(tile: Tile) -> dict[str, bytes]:
    return with_stem(tile.rgb_png, f"{NAME}/{tile.split}/{IMAGES}/{tile.name}")
