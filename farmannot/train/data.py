"""Reading the dataset layouts written by ``build-dataset`` into dict samples for training.

Layouts:

- ``gtpbd-mm`` (``DATASET/gtpbd-mm/<split>/<region>/<kind>/NAME.<ext>``, as GTPBD released it): ``images``
  (RGB PNG), ``mask_labels`` (0 background / 1 parcel / 255 ignore), ``boundary_labels`` (0/1),
  ``parcel_labels`` (0/1 parcel interiors), ``dem`` (float32 GeoTIFF, NaN nodata; may be absent), ``text``
  (UTF-8 caption); ``image_tif`` (every band) when built with ``geotiff``.
- ``farmseg-vl`` (``DATASET/farmseg-vl/<split>/<kind>/NAME.<ext>``): ``img``, ``lbl`` (non-zero =
  farmland), ``json`` (``img_description_eg``).

``DATASET/manifest.parquet`` gives each tile's ``scene`` and ``region`` (tiles not in it get ``unknown``).
A sample is a plain dict: ``image`` (C x H x W float, normalised), ``mask`` (H x W float 0/1), ``valid``
(H x W bool, False on ignore pixels), optional ``boundary``, ``dem`` (2 x H x W: elevation relative to the
tile mean over a scale, and a valid flag), ``text`` (sentence embedding), ``clauses`` + ``clause_mask``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from farmannot.dataset.layouts import READERS, farmseg_vl
from farmannot.dataset.manifest import MANIFEST
from farmannot.dataset.split import SPLITS
from farmannot.errors import InputError
from farmannot.train.preprocess import Preprocess

#: the layouts training reads (their folders and label values are the layout modules')
LAYOUTS = tuple(READERS)
_IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg")


@dataclass
class TileRecord:
    """Where one tile's files are, and its scene and region."""

    name: str
    split: str
    image: Path
    mask: Path
    boundary: Path | None = None
    dem: Path | None = None
    text_file: Path | None = None
    scene: str = "unknown"
    region: str = "unknown"
    extra: dict[str, Any] = field(default_factory=dict)


def resolve_dataset(path: str | Path) -> tuple[str, Path, Path]:
    """Find the layout folder a DATASET_DIR argument means.

    Args:
        path: the dataset root (gtpbd-mm is picked if present, else farmseg-vl) or a layout folder.

    Returns:
        ``(layout name, layout folder, dataset root)``.

    Raises:
        InputError: when no known layout is found.
    """
    p = Path(path)
    if not p.is_dir():
        raise InputError(f"{p}: dataset folder not found; give the folder build-dataset wrote.")
    if p.name in LAYOUTS:
        return p.name, p, p.parent
    for name in LAYOUTS:
        if (p / name).is_dir():
            return name, p / name, p
    raise InputError(f"{p}: no gtpbd-mm/ or farmseg-vl/ layout inside; give the dataset root or a layout folder.")


def read_manifest(root: Path) -> dict[str, dict[str, str]]:
    """``tile_id -> {'scene', 'region', 'split'}`` from ``manifest.parquet`` (empty when absent)."""
    f = root / MANIFEST
    if not f.exists():
        return {}
    import pandas as pd

    try:
        df = pd.read_parquet(f, columns=None)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise InputError(f"{f}: cannot read the manifest ({exc}); rebuild the dataset.") from exc
    if "tile_id" not in df.columns:
        raise InputError(f"{f}: no 'tile_id' column; rebuild the dataset with build-dataset.")
    out = {}
    window = [c for c in ("row_off", "col_off", "width", "height") if c in df.columns]
    for row in df.to_dict("records"):
        rec = {k: str(row.get(k, "unknown")) for k in ("scene", "region", "split")}
        rec.update({k: int(row[k]) for k in window if row[k] == row[k]})  # the tile's window in its scene
        out[str(row["tile_id"])] = rec
    return out


def _find(folder: Path, name: str, suffixes: tuple[str, ...]) -> Path | None:
    for s in suffixes:
        f = folder / f"{name}{s}"
        if f.exists():
            return f
    return None


def list_tiles(dataset: str | Path, splits: str | tuple[str, ...] = "train") -> tuple[str, list[TileRecord]]:
    """All tiles of the given split(s), sorted by split then name.

    Args:
        dataset: dataset root or layout folder.
        splits: one split name, ``all``, or a tuple of split names.

    Returns:
        ``(layout name, records)``.

    Raises:
        InputError: when a split folder is missing or a tile has no label.
    """
    layout, folder, root = resolve_dataset(dataset)
    reader = READERS[layout]
    kinds = reader.READ_KINDS
    manifest = read_manifest(root)
    wanted = SPLITS if splits == "all" else ((splits,) if isinstance(splits, str) else tuple(splits))
    records: list[TileRecord] = []
    for split in wanted:
        sdir = folder / split
        if not sdir.is_dir():
            if splits == "all":
                continue
            raise InputError(f"{sdir}: split folder missing; choose one of the splits the dataset has.")
        tile_dirs = reader.tile_folders(sdir)  # gtpbd-mm nests a folder per region inside each split
        images = sorted((f for d in tile_dirs for f in (d / kinds["image"]).glob("*")
                         if f.suffix.lower() in _IMAGE_SUFFIXES), key=lambda f: f.stem)
        for img in images:
            name = img.stem
            tdir = img.parent.parent
            mask = _find(tdir / kinds["mask"], name, (".png", ".tif"))
            if mask is None:
                raise InputError(f"{img}: no label {kinds['mask']}/{name}.tif or .png; rebuild the dataset.")
            meta = manifest.get(name, {})
            rec = TileRecord(name=name, split=split, image=img, mask=mask, scene=meta.get("scene", "unknown"),
                             region=meta.get("region", "unknown"),
                             extra={k: meta[k] for k in ("row_off", "col_off", "width", "height") if k in meta})
            if "boundary" in kinds:
                rec.boundary = _find(tdir / kinds["boundary"], name, (".tif", ".png"))
            if "dem" in kinds:
                rec.dem = _find(tdir / kinds["dem"], name, (".tif", ".tiff"))
            rec.text_file = _find(tdir / kinds["text"], name, (".txt", ".json"))
            records.append(rec)
    if not records:
        raise InputError(f"{folder}: no tiles in split(s) {', '.join(wanted)}.")
    return layout, records


def check_inputs(records: list[TileRecord], inputs: str, layout: str, dataset: str | Path) -> None:
    """Refuse a model input the dataset does not have, naming the layout to build.

    Raises:
        InputError: ``text`` inputs and no tile has a caption file, or ``dem`` and no tile has a DEM tile.
    """
    if "dem" in inputs.split("+") and not any(r.dem is not None for r in records):
        raise InputError(
            f"{dataset}: --inputs {inputs} needs DEM tiles, but none of the {len(records)} {layout} training tiles "
            f"has one (gtpbd-mm/SPLIT/REGION/dem/NAME.tif). Build the gtpbd-mm layout with a DEM per scene "
            f"(scenes.csv column 'dem' or dems/SCENE.tif, docs/build-dataset.md), or train with --inputs image+text.")
    if "text" in inputs.split("+") and not any(r.text_file is not None for r in records):
        where = "farmseg-vl/SPLIT/json/NAME.json" if layout == "farmseg-vl" else "gtpbd-mm/SPLIT/REGION/text/NAME.txt"
        raise InputError(
            f"{dataset}: --inputs {inputs} needs captions, but none of the {len(records)} {layout} training tiles "
            f"has one ({where}). Rebuild with 'farmannot build-dataset' (captions are written for the gtpbd-mm "
            f"and farmseg-vl layouts), or train with --inputs image.")


def read_caption(rec: TileRecord) -> str:
    """The English caption of a tile ('' when it has none)."""
    f = rec.text_file
    if f is None:
        return ""
    if f.suffix == ".json":
        try:
            return str(json.loads(f.read_text(encoding="utf-8")).get(farmseg_vl.CAPTION_EN, ""))
        except json.JSONDecodeError as exc:
            raise InputError(f"{f}: not valid JSON ({exc}); rebuild the dataset.") from exc
    return f.read_text(encoding="utf-8").strip()


def read_image(path: Path) -> np.ndarray:
    """An image tile as ``H x W x C`` float32 in its stored value range (PNG via OpenCV, GeoTIFF via rasterio)."""
    if path.suffix.lower() in (".tif", ".tiff"):
        import rasterio

        with rasterio.open(path) as ds:
            arr = ds.read().astype(np.float32)
        return np.nan_to_num(np.moveaxis(arr, 0, -1), nan=0.0)
    import cv2

    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise InputError(f"{path}: cannot read the image; the file is damaged or not an image.")
    if arr.ndim == 2:
        arr = arr[..., None]
    elif arr.shape[2] >= 3:
        arr = np.concatenate([arr[..., 2::-1], arr[..., 3:]], axis=2)  # BGR(A) -> RGB(A)
    return arr.astype(np.float32)


def read_label(path: Path) -> np.ndarray:
    """A single-band label raster (PNG or GeoTIFF) as an integer array."""
    if path.suffix.lower() in (".tif", ".tiff"):
        import rasterio

        with rasterio.open(path) as ds:
            return ds.read(1)
    import cv2

    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise InputError(f"{path}: cannot read the label; the file is damaged or not an image.")
    return arr if arr.ndim == 2 else arr[..., 0]


def read_dem(path: Path | None, shape: tuple[int, int]) -> np.ndarray:
    """The DEM tile as float32 with NaN for nodata (all NaN when the tile has no DEM)."""
    if path is None:
        return np.full(shape, np.nan, np.float32)
    import rasterio

    with rasterio.open(path) as ds:
        dem = ds.read(1, masked=True).astype(np.float32).filled(np.nan)
    if dem.shape != shape:
        raise InputError(f"{path}: DEM is {dem.shape}, image is {shape}; rebuild the dataset to align them.")
    return dem


def target_from_label(label: np.ndarray, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """``(mask 0/1 uint8, valid bool)`` as the layout defines its labels (gtpbd-mm: 255 = ignore; farmseg-vl:
    non-zero = farmland)."""
    return READERS[layout].target(label)


def compute_preprocess(records: list[TileRecord], max_tiles: int = 64) -> Preprocess:
    """The run's preprocessing from (at most ``max_tiles``, evenly spread) training tiles: per-channel image
    mean/std (stored value range) and the DEM relief scale (metres)."""
    step = max(1, len(records) // max_tiles)
    sums = sq = None
    n = 0
    rel = []
    for rec in records[::step][:max_tiles]:
        img = read_image(rec.image)
        img = img.reshape(-1, img.shape[-1]).astype(np.float64)
        sums = img.sum(0) if sums is None else sums + img.sum(0)
        sq = (img ** 2).sum(0) if sq is None else sq + (img ** 2).sum(0)
        n += img.shape[0]
        if rec.dem is not None:
            dem = read_dem(rec.dem, read_label(rec.mask).shape)
            if np.isfinite(dem).any():
                rel.append((dem - np.nanmean(dem))[np.isfinite(dem)])
    mean = sums / n
    std = np.sqrt(np.maximum(sq / n - mean ** 2, 1e-12))
    dem_scale = float(np.std(np.concatenate(rel))) if rel else 1.0
    return Preprocess.from_stats({"mean": [float(x) for x in mean], "std": [float(max(x, 1e-6)) for x in std],
                                  "dem_scale": max(dem_scale, 1e-3)})
