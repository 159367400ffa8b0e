"""``DATASET_CARD.md``: what is in the dataset, where, and how it was made (plots in :mod:`card_plots`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from farmannot import __version__
from farmannot.dataset.card_plots import (
    plot_distribution_shape,
    plot_keywords,
    plot_samples,
    plot_season,
    plot_split,
    plot_split_map,
)
from farmannot.dataset.manifest import read_build_report
from farmannot.dataset.split import SPLITS
from farmannot.io.atomic import write_text

if TYPE_CHECKING:
    from farmannot.dataset.build import BuildSummary
    from farmannot.dataset.config import BuildConfig

CARD = "DATASET_CARD.md"
PLOTS = "card"


def _md_table(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(str(c) for c in df.columns) + " |"
    sep = "| " + " | ".join("---" for _ in df.columns) + " |"
    body = ["| " + " | ".join(str(v) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def _splits_of(values: pd.Series) -> str:
    """The splits present, in train/val/test order (a scene or region spans several with block grouping)."""
    present = set(values)
    return ", ".join(s for s in SPLITS if s in present)


def _grouping_text(cfg: "BuildConfig", buffered: int) -> str:
    if cfg.group_by == "block":
        edge = cfg.block_tiles * cfg.tile_size
        text = (f"Grouped by spatial blocks of {cfg.block_tiles} x {cfg.block_tiles} tiles ({edge} x {edge} px; no "
                f"block appears in two splits), each scene's blocks split on their own, seed {cfg.seed}. Every "
                "split holds tiles of the same regions, so scores measure unseen ground in known regions. ")
        if cfg.block_buffer:
            text += (f"{buffered} train tile(s) within {cfg.block_buffer} tile(s) of a val or test tile were left "
                     "out (block buffer), so no model trains right beside the ground it is scored on; the "
                     "achieved shares are counted before that. ")
        else:
            text += "Neighbouring blocks touch, so some spatial correlation crosses the split (no block buffer). "
        return text + "Group by `region` to test transfer to unseen regions."
    return f"Grouped by `{cfg.group_by}` (no {cfg.group_by} appears in two splits), seed {cfg.seed}."


def _scene_table(df: pd.DataFrame, report: dict) -> pd.DataFrame:
    rep = {s["scene"]: s for s in report["scenes"]}
    rows = []
    for scene, g in df.groupby("scene", sort=True):
        r = rep.get(scene, {})
        rows.append({
            "scene": scene, "region": g["region"].iloc[0], "split": _splits_of(g["split"]), "tiles": len(g),
            "CRS": g["crs"].iloc[0] or "none", "date": g["date"].iloc[0] if pd.notna(g["date"].iloc[0]) else "-",
            "DEM": "yes" if g["dem_coverage"].notna().any() else "-", "parcels": r.get("parcels", "-"),
            "repaired / clipped": f"{len(r.get('repaired', []))} / {len(r.get('clipped', []))}",
        })
    return pd.DataFrame(rows)


def write_card(out: Path, df: pd.DataFrame, cfg: "BuildConfig", summary: "BuildSummary") -> Path:
    """Write the plots under ``card/`` and ``DATASET_CARD.md``; same inputs give the same bytes."""
    plots = out / PLOTS
    lines = ["# Dataset card", ""]
    if df.empty:
        lines += ["No tiles were produced (see errors.json)."]
        write_text(out / CARD, "\n".join(lines) + "\n")
        return out / CARD
    plot_split(df, plots / "tiles_by_region_split.png")
    plot_split_map(df, plots / "split_map.png")
    plot_season(df, plots / "season_by_region.png")
    plot_distribution_shape(df, plots / "distribution_shape_by_region.png")
    plot_keywords(df, plots / "keyword_frequencies.png")
    n_samples = plot_samples(out, df, plots / "sample_tiles.png")
    report = read_build_report(out)
    scene_parcels = {s["scene"]: s.get("parcels", 0) for s in report["scenes"]}
    regions = df.groupby("region").agg(
        scenes=("scene", "nunique"), tiles=("tile_id", "count"), split=("split", _splits_of),
        farmland_share=("farmland_fraction", "mean"),
        parcels=("scene", lambda s: sum(scene_parcels.get(n, 0) for n in s.unique())),
        dates=("date", lambda s: ", ".join(sorted({str(v) for v in s if pd.notna(v) and v})) or "not recorded"),
    ).reset_index()
    regions["farmland_share"] = regions["farmland_share"].map(lambda v: f"{v:.2f}")
    regions = regions.rename(columns={"farmland_share": "mean farmland share", "parcels": "parcels (scenes)"})
    splits = pd.DataFrame([{
        "split": s, "tiles": int((df["split"] == s).sum()),
        "requested": f"{cfg.split[i] / sum(cfg.split):.0%}", "achieved": f"{summary.achieved.get(s, 0):.0%}",
        "regions": ", ".join(sorted(df.loc[df["split"] == s, "region"].unique())) or "-",
    } for i, s in enumerate(SPLITS)])
    n_rep = sum(len(s.get("repaired", [])) for s in report["scenes"])
    n_clip = sum(len(s.get("clipped", [])) for s in report["scenes"])
    n_drop = sum(len(s.get("dropped", [])) for s in report["scenes"])
    dem_tiles = int(df["dem_coverage"].notna().sum()) if "dem_coverage" in df else 0
    dem_cov = float(df["dem_coverage"].dropna().mean()) if dem_tiles else 0.0
    lines += [
        f"{len(df)} tiles of {cfg.tile_size} x {cfg.tile_size} px (overlap {cfg.overlap} px) from "
        f"{df['scene'].nunique()} scenes in {df['region'].nunique()} regions, built by farmannot {__version__} "
        f"in the layouts {', '.join(cfg.layouts)}. Every tile is one row of `manifest.parquet`.",
        "",
        "## Contents",
        "",
        "- **Images**: 8-bit RGB PNG, stretched with one percentile stretch per scene (2-98 %), so neighbouring "
        "tiles match." + (" GeoTIFF tiles with every band and the georeferencing in `gtpbd-mm/*/*/image_tif/`."
                          if cfg.geotiff else ""),
        "- **Labels** (rasterised from the labelme polygons with labelme's own pixel rules; later shapes paint "
        "over earlier ones): `mask_labels` 0 background / 1 farmland / 255 ignore (`__ignore__` shapes); "
        f"`boundary_labels` 0/1, the inner {cfg.boundary_width} px edge of each parcel, so touching parcels stay "
        "apart; `parcel_labels` 0/1 parcel interiors, one 8-connected part per parcel (GTPBD's encoding); COCO "
        "holds one instance per parcel. `_background_` shapes carve holes. FarmSeg-VL's `lbl` is 1 for "
        "farmland and 0 elsewhere (ignored areas included: that layout has no ignore value).",
        "- **Captions**: the scene's confirmed keywords (11 FarmSeg-VL key elements), with month from the "
        "acquisition date, location from the tile centre, and buildings / water / vegetation checked on each "
        "tile's bands (a land cover is only named after the check finds it). English and Chinese. Tiles whose "
        "scene has no recorded date have no month sentence.",
        "- **SPIE**: per tile and land cover the bands allow (NDVI, NDWI, NDBI), Otsu's extraction map, the "
        "instruction with the region attributes, and a response generated from those attributes.",
        f"- **DEM**: {dem_tiles} tiles carry a float32 GeoTIFF DEM warped onto the tile grid (NaN = no data)"
        + (f"; on average {dem_cov:.0%} of their pixels have an elevation." if dem_tiles else "."),
        "",
        "## Splits",
        "",
        _grouping_text(cfg, summary.buffered),
        "",
        _md_table(splits),
        "",
        "![tiles per region and split](card/tiles_by_region_split.png)",
        "",
        "![where each split lies in each scene](card/split_map.png)",
        "",
        "## Regions",
        "",
        _md_table(regions),
        "",
        "![season by region](card/season_by_region.png)",
        "",
        "![distribution and shape by region](card/distribution_shape_by_region.png)",
        "",
        "## Scenes",
        "",
        _md_table(_scene_table(df, report)),
        "",
        "## Keywords",
        "",
        "Each tile's keywords are in the manifest (`keywords`, `kw_*`). Counts over tiles:",
        "",
        "![keyword frequencies](card/keyword_frequencies.png)",
        "",
    ]
    if n_samples:
        ex = df.sort_values(["farmland_fraction", "tile_id"], ascending=[False, True]).iloc[0]
        lines += ["## Sample tiles", "", "![sample tiles](card/sample_tiles.png)", "",
                  f"Captions of `{ex['tile_id']}`:", "", f"> {ex['caption_en']}", ">", f"> {ex['caption_zh']}", ""]
    lines += [
        "## Label quality notes",
        "",
        f"- {n_rep} invalid polygon(s) (self-crossing, spikes) filled as labelme fills them, {n_clip} clipped "
        "to their image, "
        f"{n_drop} shape(s) left out (not areas, or empty after repair); details per scene in "
        "`build_report.json`.",
        f"- {summary.dropped} tile(s) dropped by the filters (max nodata share {cfg.max_nodata}, min farmland "
        f"share {cfg.min_farmland}).",
        f"- {len(summary.errors)} scene(s) failed" + (" (see `errors.json`)." if summary.errors else "."),
        "",
        "## Files",
        "",
        "```",
        "manifest.parquet        one row per tile: ids, scene, region, split, window, CRS, transform, centre",
        "                        lat/lon, date, season, farmland share, parcel count, keywords, captions,",
        "                        output paths and SHA-256 checksums",
        "build_report.json       options, split assignment, repairs per scene",
        "gtpbd-mm/{split}/{region}/{images,mask_labels,boundary_labels,parcel_labels,dem,text}/NAME.*",
        "farmseg-vl/{split}/{img,lbl,json}/NAME.{png,png,json}",
        "spie/{split}.json       + spie/{split}/{img,label,spectral_prior,multispectral}/",
        "coco/{split}.json       + coco/{split}/images/NAME.png",
        "```",
        "",
        "NAME is `{scene}_{row_off}_{col_off}`.",
        "",
        "## Loading",
        "",
        "```python",
        "import json",
        "import pandas as pd",
        "tiles = pd.read_parquet(\"manifest.parquet\")        # one row per tile",
        "train = tiles[tiles.split == \"train\"]",
        "paths = train.paths.map(json.loads)                   # layout -> files of each tile",
        "```",
        "",
        "The FarmSeg-VL, GTPBD-MM, SPIE and COCO folders follow those datasets' own layouts, so their loaders "
        "read them unchanged; `farmannot train` reads `gtpbd-mm/`.",
        "",
        "## Reproduce",
        "",
        "The same project folder and options give byte-identical files (any number of workers). Options:",
        "",
        "```json",
        json.dumps(cfg.fingerprint(), indent=2, sort_keys=True),
        "```",
        "",
        "Source scenes keep their own licences; see the project's scene documentation.",
    ]
    write_text(out / CARD, "\n".join(lines) + "\n")
    return out / CARD
