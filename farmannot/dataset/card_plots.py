"""The dataset card's plots (matplotlib, Agg): tiles per region and split, where each split lies in each
scene, seasons, distribution and shape, keyword frequencies, sample tiles. Same inputs give the same bytes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from farmannot.dataset.layouts import PREVIEW_FOLDERS
from farmannot.dataset.split import SPLITS
from farmannot.io.atomic import atomic_path

SEASONS = ("spring", "summer", "autumn", "winter", "unknown")
SPLIT_COLOURS = {"train": "#4c72b0", "val": "#dd8452", "test": "#55a868"}


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


def plot_split_map(df: pd.DataFrame, path: Path, max_scenes: int = 8) -> None:
    """Each scene's tiles at their place, coloured by split (tiles left out by filters or the block buffer
    stay blank), so a spatial split can be seen at a glance."""
    plt = _plt()
    from matplotlib.patches import Patch, Rectangle

    scenes = sorted(df["scene"].unique())[:max_scenes]
    cols = min(4, len(scenes))
    rows = -(-len(scenes) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for ax, scene in zip(axes.ravel(), scenes):
        g = df[df["scene"] == scene]
        for r in g.itertuples(index=False):
            ax.add_patch(Rectangle((r.col_off, r.row_off), r.width, r.height, facecolor=SPLIT_COLOURS[r.split],
                                   edgecolor="white", linewidth=0.6, alpha=0.9))
        ax.set_xlim(0, int((g["col_off"] + g["width"]).max()))
        ax.set_ylim(int((g["row_off"] + g["height"]).max()), 0)
        ax.set_aspect("equal")
        name = str(scene)
        ax.set_title(name if len(name) <= 34 else name[:31] + "...", fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in axes.ravel()[len(scenes):]:
        ax.axis("off")
    present = [s for s in SPLITS if s in set(df["split"])]
    fig.legend(handles=[Patch(facecolor=SPLIT_COLOURS[s], label=s) for s in present], loc="lower center",
               ncol=len(present), frameon=False, fontsize=8)
    fig.suptitle("Where each split lies (scene pixels)", fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 0.96))
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
    for layout, (image_dir, label_dir) in PREVIEW_FOLDERS.items():
        files = paths.get(layout, [])
        ik, mk = f"/{image_dir}/", label_dir and f"/{label_dir}/"
        ims = [p for p in files if ik in p and p.endswith(".png")]
        if not ims:
            continue
        img = np.asarray(Image.open(out / ims[0]).convert("RGB"))
        ms = [p for p in files if mk and mk in p and p.endswith((".png", ".tif"))]
        if ms:
            import rasterio

            with rasterio.open(out / ms[0]) as src:
                lbl = src.read(1)
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
