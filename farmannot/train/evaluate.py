"""Evaluation: a trained run on a dataset split, or saved predictions against ground-truth masks.

Both paths feed :class:`~farmannot.train.metrics.MetricAccumulator` and hand the result to
:mod:`farmannot.train.report`, which writes ``metrics.json``, ``report.md``, plots and overlays.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from farmannot.errors import InputError
from farmannot.train.data import list_tiles, read_image, read_label, read_manifest, resolve_dataset, target_from_label
from farmannot.train.metrics import MetricAccumulator
from farmannot.train.overlay import write_png
from farmannot.train.report import write_report
from farmannot.train.text import Embedder

MASK_SUFFIXES = (".png", ".tif", ".tiff")


def evaluate_run(run: str | Path, dataset: str | Path, output: str | Path, split: str = "test",
                 protocol: str = "gtpbd", device: str = "cpu", batch_size: int = 8, bsds_levels: int = 99,
                 progress: bool = True, embedder: Embedder | None = None, overlays: int = 8) -> dict:
    """Predict every tile of ``split`` with a trained run and score it.

    Returns:
        The metrics summary (also written to ``output/metrics.json``).
    """
    from farmannot.train.checkpoint import load_model
    from farmannot.train.inference import predict_tiles
    from farmannot.train.trainer import caption_table, resolve_device

    dev = resolve_device(device)
    model, config = load_model(run, dev)
    layout, records = list_tiles(dataset, split)
    _, _, root = resolve_dataset(dataset)
    output = Path(output)
    captions = (caption_table(records, root, output, embedder, config["model"])
                if "text" in config.get("inputs", "image") else None)
    acc = MetricAccumulator(protocol, bsds_levels)
    thr = float(config.get("threshold", 0.5))
    images = {}
    for rec, prob in tqdm(predict_tiles(model, config, records, layout, captions, dev, batch_size),
                          total=len(records), desc="evaluate", unit="tile", disable=not progress, file=sys.stderr):
        gt, valid = target_from_label(read_label(rec.mask), layout)
        pred = (prob > thr).astype(np.uint8)
        acc.add(rec.name, pred, gt, region=rec.region, valid=valid, score=prob)
        write_png(output / "predictions" / f"{rec.name}.png", pred)
        images[rec.name] = rec
    meta = {"run": str(run), "dataset": str(dataset), "split": split, "model": config["model"],
            "encoder": config.get("encoder"), "inputs": config.get("inputs"), "threshold": thr}

    def load(name):  # re-read for the few overlays rather than keep every tile in memory
        rec = images[name]
        gt, _ = target_from_label(read_label(rec.mask), layout)
        return read_image(rec.image), gt, read_label(output / "predictions" / f"{name}.png")

    return write_report(output, acc, meta, load, overlays)


def _read_score(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """``(binary prediction, score or None)``: float rasters in [0, 1] are scores (parcel = score >= 0.5)."""
    arr = read_label(path)
    if np.issubdtype(arr.dtype, np.floating):
        arr = np.nan_to_num(arr.astype(np.float32), nan=0.0)
        if arr.min() < 0 or arr.max() > 1:
            raise InputError(f"{path}: float prediction outside [0, 1]; save scores in [0, 1] or a 0/1 mask.")
        return (arr >= 0.5).astype(np.uint8), arr
    return (arr != 0).astype(np.uint8), None


def evaluate_folders(pred_dir: str | Path, gt_dir: str | Path, output: str | Path, protocol: str = "gtpbd",
                     ignore_value: int | None = None, manifest: str | Path | None = None,
                     images_dir: str | Path | None = None, bsds_levels: int = 99, progress: bool = True,
                     overlays: int = 8, on_error=None) -> dict:
    """Score saved predictions against GT masks, paired by file name (stem).

    Masks are PNG or GeoTIFF; non-zero = parcel (the GTPBD script counts only value 1 as parcel; we map
    every non-zero value to 1 first). ``ignore_value`` pixels of the GT leave the pixel metrics and count as
    background for edge and object metrics. A prediction without GT is skipped, as the script does; a GT
    without prediction is reported and skipped.

    ``on_error(path, exc)``: called for a pair that cannot be read or does not match (``--keep-going``: the
    pair is left out and the rest scored); without it the first bad pair raises.
    """
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    for d in (pred_dir, gt_dir):
        if not d.is_dir():
            raise InputError(f"{d}: folder not found.")
    preds = {p.stem: p for p in sorted(pred_dir.iterdir()) if p.suffix.lower() in MASK_SUFFIXES}
    gts = {p.stem: p for p in sorted(gt_dir.iterdir()) if p.suffix.lower() in MASK_SUFFIXES}
    names = sorted(set(preds) & set(gts))
    if not names:
        raise InputError(f"{pred_dir}: no prediction has a ground-truth mask of the same name in {gt_dir}.")
    regions = {}
    if manifest:
        mpath = Path(manifest)
        regions = {k: v["region"] for k, v in read_manifest(mpath.parent if mpath.is_file() else mpath).items()}
    acc = MetricAccumulator(protocol, bsds_levels)
    scored, failed = [], []
    for name in tqdm(names, desc="evaluate", unit="mask", disable=not progress, file=sys.stderr):
        try:
            pred, score = _read_score(preds[name])
            g = read_label(gts[name])
            if pred.shape != g.shape:
                raise InputError(f"{preds[name]}: {pred.shape[1]} x {pred.shape[0]} px, its ground truth {gts[name]} "
                                 f"{g.shape[1]} x {g.shape[0]} px; pairs are scored pixel for pixel: predict on the "
                                 "image that mask was drawn on (same tile, same size), or give the mask of this "
                                 "prediction the same file name.")
        except Exception as exc:  # noqa: BLE001 - one pair's failure, isolated when the caller asks for it
            if on_error is None:
                raise
            on_error(preds[name], exc)
            failed.append(name)
            continue
        valid = None if ignore_value is None else g != ignore_value
        gt = ((g != 0) & (valid if valid is not None else True)).astype(np.uint8)
        acc.add(name, pred, gt, region=regions.get(name, "all"), valid=valid, score=score)
        scored.append(name)
    if not scored:
        raise InputError(f"{pred_dir}: none of the {len(names)} prediction/ground-truth pairs could be scored.")
    meta = {"pred": str(pred_dir), "gt": str(gt_dir), "pairs": len(scored), "failed": failed,
            "predictions_without_gt": len(set(preds) - set(gts)), "gt_without_prediction": len(set(gts) - set(preds))}

    def load(name):
        pred, _ = _read_score(preds[name])
        gt = (read_label(gts[name]) != 0).astype(np.uint8)
        img = None
        if images_dir is not None:
            for s in (".png", ".tif", ".jpg"):
                f = Path(images_dir) / f"{name}{s}"
                if f.exists():
                    img = read_image(f)
        if img is None:
            img = np.repeat((gt * 80 + 60)[..., None], 3, axis=-1).astype(np.float32)
        return img, gt, pred

    return write_report(Path(output), acc, meta, load, overlays)
