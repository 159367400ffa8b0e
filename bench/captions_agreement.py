"""Agreement of caption suggestions with hand-chosen keywords on the sample scenes (table for docs/captions.md).

The hand-chosen keywords below were picked by looking at each tile as a PNG (scene-wide 2-98 % stretch),
before running the suggestions. The sample scenes come without farmland annotations, so the farmland mask of
the Landsat tiles is a rough stand-in (valid pixels that are neither dark bluish water nor dark forest,
specks removed); the geometry rows therefore test the rules on a crude mask, not on a person's polygons.
The Cul-de-Sac and Rocky Mountain tiles get no farmland mask: only surroundings, terrain and landscape.

Run: ``python bench/captions_agreement.py [--long]`` (prints a Markdown table and per-keyword agreement;
``--long`` gives one row per keyword with the suggestion's confidence).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.windows import Window

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from farmannot.captions import measures as ms  # noqa: E402
from farmannot.captions.annotation import read_index_bands, scene_nir_factor  # noqa: E402
from farmannot.captions.suggest import suggest_keywords  # noqa: E402
from farmannot.io.raster import open_raster, scene_info  # noqa: E402
from farmannot.terrain.align import align_dem  # noqa: E402
from farmannot.terrain.derive import pixel_size_m  # noqa: E402

SCENES = REPO / "sample_data" / "scenes"
LANDSAT = SCENES / "LC08_L1TP_224078_20200518_20200518_01_RT_subset.tif"
CULDESAC = SCENES / "rgbn-cul-de-sac.tif"
RMNP = SCENES / "rmnp-rgb.tif"
RMNP_DEM = REPO / "sample_data" / "dems" / "rmnp-dem.tif"

_I = dict(shape="blocky", boundary="straight")
# Itaipu, 3 x 3 tiles of 256 px (7.7 km): row, column -> keywords chosen by eye.
HAND_LANDSAT = {
    (0, 0): dict(_I, distribution="concentrated_contiguous", sowing="partially_covered", water="river",
                 vegetation="tree_belts", buildings="concentrated"),
    (0, 1): dict(_I, distribution="concentrated_contiguous", sowing="partially_covered", water="scattered_ponds",
                 vegetation="tree_belts", buildings="scattered"),
    (0, 2): dict(_I, distribution="dispersed", sowing="partially_covered", water="lake_reservoir",
                 vegetation="forest", buildings="absent"),
    (1, 0): dict(_I, distribution="concentrated_contiguous", sowing="partially_covered", water="lake_reservoir",
                 vegetation="scattered_trees_and_forests", buildings="scattered"),
    (1, 1): dict(_I, distribution="dispersed", sowing="partially_covered", water="lake_reservoir",
                 vegetation="scattered_trees_and_forests", buildings="absent"),
    (1, 2): dict(_I, distribution="dispersed", sowing="partially_covered", water="lake_reservoir",
                 vegetation="forest", buildings="absent"),
    (2, 0): dict(_I, distribution="concentrated_contiguous", sowing="partially_covered", water="absent",
                 vegetation="scattered_trees_and_forests", buildings="concentrated"),
    (2, 1): dict(_I, distribution="dispersed", sowing="partially_covered", water="lake_reservoir",
                 vegetation="forest", buildings="absent"),
    (2, 2): dict(distribution="scattered", shape="broken", boundary="straight", sowing="fully_covered",
                 water="lake_reservoir", vegetation="forest", buildings="absent"),
}
# Cul-de-Sac (5 m), west and east halves: a dense village; a dry river bed, an orchard/wood, fields.
HAND_CULDESAC = {
    (0, 0): dict(water="absent", vegetation="scattered_trees", buildings="concentrated"),
    (0, 1): dict(water="absent", vegetation="forest", buildings="scattered"),
}
# Rocky Mountain National Park, 2 x 2 tiles: forested mountains, Grand Lake in the south-west tile.
HAND_RMNP = {
    (0, 0): dict(terrain="sloping", landscape="mountains", water="absent", vegetation="forest"),
    (0, 1): dict(terrain="sloping", landscape="mountains", water="absent", vegetation="forest"),
    (1, 0): dict(terrain="sloping", landscape="mountains", water="lake_reservoir", vegetation="forest"),
    (1, 1): dict(terrain="sloping", landscape="mountains", water="absent", vegetation="forest"),
}


def stand_in_farmland(bands: dict[str, np.ndarray], px: float) -> np.ndarray:
    """Rough farmland for a stretched RGB tile: not water, not dark vegetation, specks removed."""
    water = ms.water_map(bands, 0.0, 0.35)[0]  # the first rule's dark bluish water: the mask stays the same
    bright = (bands["red"] + bands["green"] + bands["blue"]) / 3.0
    forest = bright < 0.2
    farm = np.isfinite(bright) & ~water & ~forest
    lab, _ = ms.label_components(farm, ms.min_pixels(20 * px * px, px), 4)
    return lab > 0


def tiles(path: Path, rows: int, cols: int, farmland: bool, dem: Path | None = None):
    with open_raster(path) as src:
        info = scene_info(src)
        nir_factor = scene_nir_factor(src, info)  # the scene soil reference, as `caption` and build-dataset use
        xs, ys = pixel_size_m(src.crs, src.transform, src.height)
        px = float(np.sqrt(xs * ys))
        th, tw = src.height // rows, src.width // cols
        for r in range(rows):
            for c in range(cols):
                win = Window(c * tw, r * th, tw, th)
                bands = read_index_bands(src, info, win)
                mask = stand_in_farmland(bands, px) if farmland else np.zeros((th, tw), bool)
                elev = None
                if dem is not None:
                    tr = src.window_transform(win)
                    elev = align_dem(dem, src.crs, Affine(*tuple(tr)[:6]), tw, th).elevation.astype(np.float64)
                yield (r, c), suggest_keywords(mask, bands, elev, px, nir_factor=nir_factor)


def main() -> None:
    rows = []
    compact: dict = {}
    stats: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # agree, disagree, none, not evaluated
    for name, path, grid, farm, dem, hand in (
        ("Itaipu (Landsat 8, 30 m)", LANDSAT, (3, 3), True, None, HAND_LANDSAT),
        ("Cul-de-Sac (RGBN, 5 m)", CULDESAC, (1, 2), False, None, HAND_CULDESAC),
        ("Rocky Mountain (RGB + DEM)", RMNP, (2, 2), False, RMNP_DEM, HAND_RMNP),
    ):
        for rc, sugg in tiles(path, *grid, farm, dem):
            for key, want in hand[rc].items():
                got = sugg.get(key)
                if farm and key in ("shape", "boundary"):
                    # the stand-in mask merges touching fields into one blob: no parcels to judge
                    stats[key][3] += 1
                    cell = f"n/a (stand-in mask; said {got.value})" if got else "n/a"
                elif got is None:
                    stats[key][2] += 1
                    cell = "—"
                else:
                    ok = got.value == want
                    stats[key][0 if ok else 1] += 1
                    cell = f"{got.value} ({got.confidence:.2f})" + ("" if ok else " ✗")
                rows.append(f"| {name} | {rc[0]},{rc[1]} | {key} | {want} | {cell} |")
                mark = "n/a" if cell.startswith("n/a") else ("—" if got is None else
                                                             ("✓" if got.value == want else f"✗ {got.value}"))
                compact.setdefault((name, rc), {})[key] = f"{want} {mark}"
    if "--long" in sys.argv:
        print("| scene | tile | keyword | hand-chosen | suggested (confidence) |")
        print("| --- | --- | --- | --- | --- |")
        print("\n".join(rows))
    else:
        keys = ["distribution", "sowing", "water", "vegetation", "buildings", "terrain", "landscape"]
        print("| scene | tile | " + " | ".join(keys) + " |")
        print("| --- | --- | " + " | ".join("---" for _ in keys) + " |")
        for (name, rc), cells in compact.items():
            print(f"| {name} | {rc[0]},{rc[1]} | " + " | ".join(cells.get(k, "") for k in keys) + " |")
    print()
    print("| keyword | agree | disagree | not suggested | not evaluated |")
    print("| --- | --- | --- | --- | --- |")
    tot = [0, 0, 0, 0]
    for key, counts in stats.items():
        print(f"| {key} | " + " | ".join(map(str, counts)) + " |")
        tot = [t + c for t, c in zip(tot, counts)]
    print("| **all** | " + " | ".join(map(str, tot)) + " |")


if __name__ == "__main__":
    main()
