"""``DATASET_CARD.md`` and its plots (matplotlib, Agg): what is in the dataset, where, and how it was made."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from farmannot import __version__
from farmannot.dataset.split import SPLITS
from farmannot.io.atomic import atomic_path, write_text

if TYPE_CHECKING:
    from farmannot.dataset.build import BuildSummary
    from farmannot.dataset.config import BuildConfig

CARD = "DATASET_CARD.md"
PLOTS = "card"
SEASONS = ("spring", "summer", "autumn", "winter", "unknown")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "svg.hashsalt": "farmannot", "axes.spines.top": False,
                         "axes.spines.right": False})
    return plt


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)


def _stacked(ax, table: pd.DataFrame, title: str, ylabel: str = "tiles") -> None:
    bottom = np.zeros(len(table))
    for col in table.columns:
        ax.bar(table.index.astype(str), table[col].to_numpy(), bottom=bottom, label=str(col))
        bottom += table[col].to_numpy()
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, frameon=False)
    ax.tick_params(axis="x", rotation=20)


def plot_split(df: pd.DataFrame, path: Path) -> None:
    plt = _plt()
    t = pd.crosstab(df["region"], df["split"]).reindex(columns=[s for s in SPLITS if s in set(df["split"])])
    fig, ax = plt.subplots(figsize=(6, 3.2))
    _stacked(ax, t, "Tiles per region and split")
    _save(fig, path)


def plot_season(df: pd.DataFrame, path: Path) -> None:
    plt = _plt()
    season = df["season"].fillna("unknown")
    t = pd.crosstab(df["region"], season).reindex(columns=[s for s in SEASONS if s in set(season)])
    fig, ax = plt.subplots(figsize=(6, 3.2))
    _stacked(ax, t, "Season of acquisition by region")
    _save(fig, path)


def plot_distribution_shape(df: pd.DataFrame, path: Path) -> None:
    """Like FarmSeg-VL's Fig. 6: farmland distribution and parcel shape keywords by region, farmland share."""
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for ax, key, title in ((axes[0], "kw_distribution", "Distribution by region"),
                           (axes[1], "kw_shape", "Parcel shape by region")):
        if key in df:
            _stacked(ax, pd.crosstab(df["region"], df[key].fillna("none")), title)
    regions = sorted(df["region"].unique())
    axes[2].boxplot([df.loc[df["region"] == r, "farmland_fraction"].to_numpy() for r in regions],
                    tick_labels=regions)
    axes[2].set_title("Farmland share of each tile")
    axes[2].set_ylim(0, 1)
    axes[2].tick_params(axis="x", rotation=20)
    _save(fig, path)


KEYWORD_COLUMNS = ("shape", "boundary", "month", "sowing", "distribution", "terrain", "landscape",
                   "buildings", "water", "vegetation")


def plot_keywords(df: pd.DataFrame, path: Path) -> None:
    plt = _plt()
    keys = [k for k in KEYWORD_COLUMNS if f"kw_{k}" in df]
    cols = 5
    rows = max(1, -(-len(keys) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(13, 2.6 * rows), squeeze=False)
    for ax, key in zip(axes.ravel(), keys):
        counts = df[f"kw_{key}"].fillna("unknown").value_counts().sort_index()
        ax.barh(counts.index.astype(str), counts.to_numpy(), color="tab:green")
        ax.set_title(key)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(keys):]:
        ax.axis("off")
    fig.suptitle("Keyword frequencies (tiles)")
    fig.tight_layout()
    _save(fig, path)


def _tile_arrays(out: Path, row: pd.Series) -> tuple[np.ndarray | None, np.ndarray | None]:
    from PIL import Image

    paths = json.loads(row["paths"])
    img = lbl = None
    for layout, (ik, mk) in (("gtpbd-mm", ("/image/", "/mask/")), ("farmseg-vl", ("/img/", "/lbl/")),
                             ("spie", ("/image/", None)), ("coco", ("/images/", None))):
        files = paths.get(layout, [])
        ims = [p for p in files if ik in p and p.endswith(".png")]
        if not ims:
            continue
        img = np.asarray(Image.open(out / ims[0]).convert("RGB"))
        ms = [p for p in files if mk and mk in p]
        if ms:
            lbl = np.asarray(Image.open(out / ms[0]))
        break
    return img, lbl


def sample_rows(df: pd.DataFrame, n: int = 6) -> pd.DataFrame:
    """Per region in turn, the tiles with the most farmland (deterministic)."""
    ranked = df.sort_values(["farmland_fraction", "tile_id"], ascending=[False, True])
    picks, by_region = [], {r: g for r, g in ranked.groupby("region", sort=True)}
    k = 0
    while len(picks) < n and any(k < len(g) for g in by_region.values()):
        for g in by_region.values():
            if k < len(g) and len(picks) < n:
                picks.append(g.iloc[k])
        k += 1
    return pd.DataFrame(picks)


def plot_samples(out: Path, df: pd.DataFrame, path: Path) -> int:
    plt = _plt()
    rows = sample_rows(df)
    if rows.empty:
        return 0
    fig, axes = plt.subplots(2, 3, figsize=(12, 9.5), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (_, row) in zip(axes.ravel(), rows.iterrows()):
        img, lbl = _tile_arrays(out, row)
        if img is None:
            continue
        ax.imshow(img)
        if lbl is not None:
            over = np.zeros((*lbl.shape, 4), np.float32)
            over[(lbl > 0) & (lbl < 255)] = (1.0, 0.85, 0.0, 0.35)
            over[lbl == 255] = (1.0, 0.0, 1.0, 0.35)
            ax.imshow(over)
        text = textwrap.fill(str(row["caption_en"])[:260] + ("..." if len(str(row["caption_en"])) > 260 else ""),
                             62)
        ax.set_title(f"{row['tile_id']} ({row['region']}, {row['split']})", fontsize=8)
        ax.text(0, 1.0, text, transform=ax.transAxes, fontsize=6.5, va="top", ha="left", wrap=True,
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
    fig.suptitle("Sample tiles: farmland overlaid in yellow, ignored areas in magenta; English caption")
    fig.tight_layout()
    _save(fig, path)
    return len(rows)


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
    plot_season(df, plots / "season_by_region.png")
    plot_distribution_shape(df, plots / "distribution_shape_by_region.png")
    plot_keywords(df, plots / "keyword_frequencies.png")
    n_samples = plot_samples(out, df, plots / "sample_tiles.png")
    report = json.loads((out / "build_report.json").read_text(encoding="utf-8"))
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
        "tiles match." + (" GeoTIFF tiles with every band and the georeferencing in `gtpbd-mm/*/image_tif/`."
                          if cfg.geotiff else ""),
        "- **Labels** (rasterised from the labelme polygons with labelme's own pixel rules; later shapes paint "
        "over earlier ones): `mask` 0 background / 1 farmland / 255 ignore (`__ignore__` shapes); `boundary` "
        f"0/1, the inner {cfg.boundary_width} px edge of each parcel, so touching parcels stay apart; `parcel` "
        "uint16 instance ids numbered per tile. `_background_` shapes carve holes. FarmSeg-VL's `lbl` is 1 for "
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
        "gtpbd-mm/{split}/{image,mask,boundary,parcel,dem,text}/NAME.{png,png,png,png,tif,txt}",
        "farmseg-vl/{split}/{img,lbl,json}/NAME.{png,png,json}",
        "spie/{split}.jsonl      + spie/{split}/image/NAME.png, spie/{split}/map/NAME_CATEGORY.png",
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
