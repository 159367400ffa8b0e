"""The FarmSeg-VL layout as released: ``farmseg-vl/{split}/{img,lbl,json}/NAME.{png,png,json}``.

``lbl`` is 1 on farmland, 0 elsewhere; ``json`` holds ``img_description_eg`` and ``img_description_cn``.
The PNGs carry their georeferencing beside them (``NAME.wld``, ``NAME.png.aux.xml``), which FarmSeg-VL
readers ignore and GIS readers use.
"""

from __future__ import annotations

import json

import numpy as np

from farmannot.dataset.layouts.tile import Tile, with_stem

NAME = "farmseg-vl"


def files(tile: Tile) -> dict[str, bytes]:
    b = f"{NAME}/{tile.split}"
    cap = tile.captions["farmseg"]
    text = json.dumps({"img_description_eg": cap["en"], "img_description_cn": cap["zh"]},
                      ensure_ascii=False, indent=2) + "\n"
    out = with_stem(tile.rgb_png, f"{b}/img/{tile.name}")
    out.update(with_stem(tile.label_png(tile.farmland.astype(np.uint8)), f"{b}/lbl/{tile.name}"))
    out[f"{b}/json/{tile.name}.json"] = text.encode("utf-8")
    return out
