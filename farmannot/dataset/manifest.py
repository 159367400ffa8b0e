"""The dataset's index files: the manifest (one row per tile, Parquet), the build report, and the per-split
SPIE and COCO files built from the manifest rows. Every reader of a built dataset finds them through here."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from farmannot.dataset.split import SPLITS
from farmannot.io.atomic import atomic_path, write_json, write_text

if TYPE_CHECKING:  # pandas and pyarrow load when a manifest is made or read, not with the names below
    import pandas as pd

MANIFEST = "manifest.parquet"
#: what build-dataset read and wrote: options, per-scene annotation paths, parcels, warnings
BUILD_REPORT = "build_report.json"


def manifest_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Rows (internal ``_`` keys dropped) in a stable order: scene, then row, then column offset."""
    import pandas as pd

    public = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    df = pd.DataFrame(public)
    if df.empty:
        return df
    return df.sort_values(["scene", "row_off", "col_off"], kind="stable").reset_index(drop=True)


def write_manifest(out: Path, rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Write ``manifest.parquet`` atomically (same rows -> same bytes) and return the frame."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = manifest_frame(rows)
    table = pa.Table.from_pandas(df, preserve_index=False)
    with atomic_path(out / MANIFEST) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return df


def read_manifest(out: str | Path) -> pd.DataFrame:
    import pandas as pd

    return pd.read_parquet(Path(out) / MANIFEST)


def read_build_report(out: str | Path) -> dict[str, Any]:
    """``build_report.json`` of a dataset as a dict.

    Raises:
        OSError: the file is missing or unreadable; ValueError: it is not JSON.
    """
    return json.loads((Path(out) / BUILD_REPORT).read_text(encoding="utf-8"))


def _ordered(rows: Sequence[dict[str, Any]], split: str) -> list[dict[str, Any]]:
    return sorted((r for r in rows if r["split"] == split), key=lambda r: (r["scene"], r["row_off"], r["col_off"]))


def write_spie(out: Path, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """``spie/{split}.json``: SPEX's training list, one record per (tile, category) with ground truth (see
    :mod:`farmannot.dataset.layouts.spie`)."""
    counts = {}
    for split in SPLITS:
        recs = [rec for r in _ordered(rows, split) for rec in r["_spie"]]
        write_text(out / "spie" / f"{split}.json", json.dumps(recs, ensure_ascii=False, indent=1) + "\n")
        counts[split] = len(recs)
    return counts


def write_coco(out: Path, rows: Sequence[dict[str, Any]], category: str = "farmland") -> dict[str, int]:
    """``coco/{split}.json``: instance annotations from each tile's parcel raster."""
    counts = {}
    for split in SPLITS:
        images, anns = [], []
        for img_id, r in enumerate(_ordered(rows, split), start=1):
            images.append({"id": img_id, "file_name": f"{split}/images/{r['tile_id']}.png",
                           "width": r["width"], "height": r["height"]})
            for inst in r["_coco"]:
                anns.append({"id": len(anns) + 1, "image_id": img_id, "category_id": 1,
                             "segmentation": inst["segmentation"], "area": inst["area"], "bbox": inst["bbox"],
                             "iscrowd": 0})
        write_json(out / "coco" / f"{split}.json", {
            "info": {"description": f"farmannot {split} split: one instance per parcel", "version": "1"},
            "licenses": [], "images": images, "annotations": anns,
            "categories": [{"id": 1, "name": category, "supercategory": category}],
        }, indent=None)
        counts[split] = len(anns)
    return counts
