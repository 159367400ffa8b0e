"""The FarmSeg-VL layout as released: ``farmseg-vl/{split}/{img,lbl,json}/NAME.{png,png,json}``.

``lbl`` is 1 on farmland, 0 elsewhere; ``json`` holds ``img_description_eg`` and ``img_description_cn``.
The PNGs carry their georeferencing beside them (``NAME.wld``, ``NAME.png.aux.xml``), which FarmSeg-VL
readers ignore and GIS readers use.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from farmannot.dataset.layouts.tile import Tile, with_stem

NAME = "farmseg-vl"
IMAGES, LABELS, TEXT = "img", "lbl", "json"
#: the English caption's key in ``json/NAME.json`` (FarmSeg-VL's own)
CAPTION_EN, CAPTION_ZH = "img_description_eg", "img_description_cn"
#: what a reader takes from each tile: kind -> folder (``farmannot train`` reads this layout)
READ_KINDS = {"image": IMAGES, "mask": LABELS, "text": TEXT}


def files(tile: Tile) -> dict[str, bytes]:
    b = f"{NAME}/{tile.split}"
    cap = tile.captions["farmseg"]
    text = json.dumps({CAPTION_EN: cap["en"], CAPTION_ZH: cap["zh"]}, ensure_ascii=False, indent=2) + "\n"
    out = with_stem(tile.rgb_png, f"{b}/{IMAGES}/{tile.name}")
    out.update(with_stem(tile.label_png(tile.farmland.astype(np.uint8)), f"{b}/{LABELS}/{tile.name}"))
    out[f"{b}/{TEXT}/{tile.name}.json"] = text.encode("utf-8")
    return out


def tile_folders(split_dir: Path) -> list[Path]:
    """The folders of one split that hold the kind folders: the split folder itself."""
    return [split_dir]


def target(label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mask 0/1 uint8, valid bool)`` of an ``lbl`` tile: non-zero = farmland, every pixel decided."""
    return (label != 0).astype(np.uint8), np.ones(label.shape, bool)
