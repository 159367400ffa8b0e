"""How the demo annotations in this folder were made (run from the repository root to redo them).

    .venv/bin/python sample_data/annotations/make_annotations.py

For each scene: farmland zones were drawn by hand after looking at the scene (coordinates below, in
pixels); inside a zone the scene-stretched RGB image is over-segmented (scikit-image Felzenszwalb), segments
that look like fields (not water, not dark forest, not bright river bed or roofs, big enough) become one
parcel polygon each (OpenCV contours through boundary-pixel centres, Douglas-Peucker 1 px), and hand-placed
``_background_`` (villages, roads) and ``__ignore__`` shapes (areas a person could not call) follow them, so
they paint over the parcels (labelme's rule). The caption keywords were chosen by looking at each scene.
These are demo labels, not survey data: boundaries follow image segments, not field records.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from rasterio import features
from shapely.geometry import Polygon
from skimage.segmentation import felzenszwalb

from farmannot.io.raster import open_raster, scene_info
from farmannot.io.stretch import scene_stretch

ROOT = Path(__file__).resolve().parents[1]

HAITI_KW = {"shape": "striped", "boundary": "straight", "sowing": "partially_covered",
            "distribution": "dispersed", "terrain": "flat", "landscape": "plain", "buildings": "scattered",
            "water": "absent", "vegetation": "scattered_trees_and_forests"}
HAITI_ZONES = [  # full-scene pixel coordinates (x, y)
    [(412, 0), (515, 0), (515, 68), (458, 100), (445, 95), (425, 65), (410, 30)],   # strip fields NE of the road
    [(362, 0), (400, 0), (402, 40), (395, 60), (370, 55), (360, 25)],               # fields west of the road
    [(465, 105), (515, 80), (515, 150), (470, 150)],                                  # fields SE of the junction
    [(215, 54), (264, 54), (264, 85), (215, 80)],                                     # green plots N of the town
    [(205, 212), (242, 212), (242, 250), (205, 250)],                                 # bare (harvested?) plot
]
HAITI_BACKGROUND = [  # roads and the village at the junction, painted over the parcels
    [(398, 0), (404, 0), (458, 112), (452, 116)],
    [(452, 98), (515, 64), (515, 70), (456, 104)],
    [(440, 95), (475, 95), (475, 125), (440, 125)],
]
HAITI_IGNORE = [  # smallholder gardens mixed with houses between the gullies: not callable at 5 m
    [(150, 300), (200, 250), (240, 215), (280, 200), (290, 230), (250, 275), (200, 320), (160, 330)],
]

PARANA_KW = {"shape": "blocky", "boundary": "straight", "sowing": "partially_covered",
             "distribution": "concentrated_contiguous", "terrain": "undulating", "landscape": "plateau",
             "buildings": "scattered", "water": "lake_reservoir", "vegetation": "scattered_trees_and_forests"}
PARANA_ZONES = [[(0, 0), (768, 0), (768, 768), (0, 768)]]  # fields everywhere on land; water/forest by colour
PARANA_BACKGROUND = [  # towns
    [(160, 690), (270, 690), (270, 768), (160, 768)],
    [(40, 160), (95, 160), (95, 215), (40, 215)],
]
PARANA_IGNORE: list = []

RMNP_KW = {"shape": "irregular", "boundary": "curved", "sowing": "partially_covered",
           "distribution": "scattered", "terrain": "undulating", "landscape": "basin", "buildings": "scattered",
           "water": "lake_reservoir", "vegetation": "forest"}
RMNP_ZONES = [[(12, 285), (105, 285), (118, 330), (100, 362), (12, 362)]]  # Middle Park meadows SW of Lake Granby
RMNP_BACKGROUND: list = []
RMNP_IGNORE = [[(128, 140), (142, 140), (145, 240), (130, 240)]]  # Kawuneeche valley meadows: wet meadow or hay?


def _rgb(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open_raster(path) as src:
        info = scene_info(src)
        bm = info.band_map
        idx = [bm["red"], bm["green"], bm["blue"]]
        st = scene_stretch(src, idx)
        valid = src.dataset_mask() > 0
        rgb = st.apply(src.read(idx).astype(np.float32), valid)
    return np.moveaxis(rgb, 0, -1), valid


def _zone_mask(zones, shape, offset=(0, 0)) -> np.ndarray:
    geoms = [Polygon([(x - offset[0], y - offset[1]) for x, y in z]) for z in zones]
    if not geoms:
        return np.zeros(shape, bool)
    return features.rasterize([(g, 1) for g in geoms], out_shape=shape).astype(bool)


def _field_like(rgb: np.ndarray, kind: str) -> np.ndarray:
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    bright = (r + g + b) / 3
    if kind == "parana":
        water = (b > r + 15) & (b > g - 5)
        forest = (bright < 40) & (g >= r)
        return ~water & ~forest & (bright > 40)
    if kind == "rmnp":
        return (bright > 95) & (bright < 200) & ~((b > r) & (bright < 60))
    return (bright > 35) & (bright < 150)  # haiti: not the bright river bed or roofs, not deep shade


def parcels(rgb, valid, zone, kind, min_px, scale) -> list[list[list[float]]]:
    seg = felzenszwalb(rgb, scale=scale, sigma=0.6, min_size=max(8, min_px // 2))
    ok = _field_like(rgb, kind) & valid & zone
    polys = []
    for sid in np.unique(seg):
        m = seg == sid
        n = int(m.sum())
        if n < min_px or (ok & m).sum() < 0.75 * n:
            continue
        m = cv2.morphologyEx((m & zone).astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for c in contours:
            c = cv2.approxPolyDP(c, 1.0, True)[:, 0, :]
            if len(c) >= 3 and cv2.contourArea(c.astype(np.float32)) >= min_px * 0.6:
                polys.append([[float(x), float(y)] for x, y in c])
    return sorted(polys, key=lambda p: (min(v[1] for v in p), min(v[0] for v in p)))


def annotation(image: Path, kw, zones, background, ignore, kind, min_px, scale, offset=(0, 0), note=""):
    rgb, valid = _rgb(image)
    h, w = valid.shape
    shapes = [{"label": "farmland", "points": p, "shape_type": "polygon", "description": note}
              for p in parcels(rgb, valid, _zone_mask(zones, (h, w), offset), kind, min_px, scale)]
    for label, group in (("_background_", background), ("__ignore__", ignore)):
        for z in group:
            shapes.append({"label": label, "shape_type": "polygon", "description": "hand-placed",
                           "points": [[float(x - offset[0]), float(y - offset[1])] for x, y in z]})
    return {
        "version": "6.3.1", "flags": {},
        "shapes": [{"label": s["label"], "points": s["points"], "group_id": None, "description": s["description"],
                    "shape_type": s["shape_type"], "flags": {}, "mask": None} for s in shapes],
        "imagePath": f"../scenes/{image.name}", "imageData": None, "imageHeight": h, "imageWidth": w,
        "farmannot": {"schema": 1, "caption": {"family": "farmseg", "keywords": {
            k: {"value": v, "source": "confirmed", "evidence": {"by": "looking at the scene"}, "confidence": 1.0}
            for k, v in kw.items()}}},
    }


def main() -> None:
    scenes = ROOT / "scenes"
    jobs = [
        ("rgbn-cul-de-sac.tif", HAITI_KW, HAITI_ZONES, HAITI_BACKGROUND, HAITI_IGNORE, "haiti", 40, 60, (0, 0)),
        # the suba scene is a window of the same image whose origin is at column -12, row 54 of the full one
        ("rgbn-cul-de-sac-suba.tif", HAITI_KW, HAITI_ZONES, HAITI_BACKGROUND, HAITI_IGNORE, "haiti", 40, 60,
         (-12, 54)),
        ("LC08_L1TP_224078_20200518_20200518_01_RT_subset.tif", PARANA_KW, PARANA_ZONES, PARANA_BACKGROUND,
         PARANA_IGNORE, "parana", 60, 150, (0, 0)),
        ("rmnp-rgb.tif", RMNP_KW, RMNP_ZONES, RMNP_BACKGROUND, RMNP_IGNORE, "rmnp", 12, 40, (0, 0)),
    ]
    for name, kw, zones, bg, ign, kind, min_px, scale, off in jobs:
        obj = annotation(scenes / name, kw, zones, bg, ign, kind, min_px, scale, off)
        out = Path(__file__).parent / f"{Path(name).stem}.json"
        out.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        n = sum(s["label"] == "farmland" for s in obj["shapes"])
        print(f"{out.name}: {n} parcels, {len(obj['shapes']) - n} hand-placed shapes")


if __name__ == "__main__":
    main()
