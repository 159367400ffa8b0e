"""Label audit: K-fold out-of-fold predictions for every tile and a per-tile disagreement score.

Each tile is predicted by a model that never saw it (trained on the other folds). Folds deal each scene's
spatial blocks over the folds (:func:`assign_folds`), so every fold model knows every scene's sensor and
landscape but not the ground it predicts; whole-scene folds are an option. Disagreement between the
out-of-fold probability ``p`` and the label ``y`` (valid pixels only), where ``s`` = ``smoothing`` x the
tile's valid pixels (5 %: a disagreement much smaller than that is noise at tile scale, not a label error):

- region term: confident contradiction ``e = max(0, 2|p - y| - 1)`` (0 where the model is at most 50 %
  sure against the label, 1 where it is certain) summed and divided by ``|P u Y| + s``, with ``P`` = ``p > 0.5``.
  A pixel the model only leans on counts little; a tile where it contradicts a large labelled area
  with confidence comes close to 1. Without smoothing and with a certain model this is ``1 - IoU``.
- boundary term ``(1 - F1)`` of the ``gtpbd`` boundary match at 2 px between ``P`` and ``y`` (1 when only
  one has a boundary, 0 when neither has), damped the same way: times ``n / (n + 4 sqrt(s))`` with ``n``
  the boundary pixels of both (the perimeter of a square of area ``s``).
- ``score`` = mean of the two. Tiles are ranked by score, worst first (ties: by the mean absolute
  difference ``|p - y|``, then by name).

On the sample dataset with eight planted errors (``bench/audit_planted.py``) the confident, smoothed terms
moved the planted tiles from a median rank of 39 of 74 to 5 (docs/train.md): the plain ``1 - soft IoU``
gave 1.0 to every tile where a hesitant model put a few pixels on an empty label.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from farmannot.dataset.manifest import read_build_report
from farmannot.errors import InputError
from farmannot.io.atomic import atomic_path, write_json, write_text
from farmannot.io.windows import window_block
from farmannot.train.config import TrainConfig
from farmannot.train.data import TileRecord, list_tiles, read_image, read_label, resolve_dataset, target_from_label
from farmannot.train.metrics.edge import gtpbd_edge_scores, mask_boundary
from farmannot.train.overlay import overlay, write_png
from farmannot.train.review import file_stamp, is_reviewed, read_reviewed
from farmannot.train.text import Embedder

FIELDS = ("rank", "tile_id", "split", "scene", "region", "score", "region_disagreement", "boundary_disagreement",
          "pixel_disagreement", "fold", "row_off", "col_off", "width", "height", "image", "label", "reviewed")


FOLD_BY = ("block", "scene", "tile")
#: Defaults of ``farmannot audit``: folds, block edge in tiles, epochs per fold model, suspects listed.
FOLDS = 5
BLOCK_TILES = 2
FOLD_EPOCHS = 10
TOP = 20
SMOOTHING = 0.05


def _deal(groups: dict[str, int], load: np.ndarray, rng: np.random.Generator) -> dict[str, int]:
    """Groups (largest first, the seed ordering equal sizes) each to the fold with the fewest tiles of this
    deal, ties to the fold with the fewest tiles overall; ``load`` (tiles per fold overall) is updated."""
    local = np.zeros_like(load)
    fold_of = {}
    for g in sorted(groups, key=lambda g: (-groups[g], rng.random(), g)):
        f = min(range(len(load)), key=lambda f: (local[f], load[f], f))
        fold_of[g] = f
        local[f] += groups[g]
        load[f] += groups[g]
    return fold_of


def assign_folds(records: list[TileRecord], k: int, seed: int = 0, by: str = "block",
                 block_tiles: int = BLOCK_TILES) -> list[int]:
    """Fold of each tile.

    - ``block``: spatial blocks of ``block_tiles`` x ``block_tiles`` tiles (from the manifest's window
      offsets), each scene's blocks dealt over the folds on their own, so every fold model has seen every
      scene but not the ground it predicts. A scene with fewer than ``k`` blocks is dealt tile by tile;
      tiles without a window in the manifest fall back to ``tile``.
    - ``scene``: whole scenes per fold (needs at least ``k`` scenes with known names): a stricter test, but a
      fold model may never have seen the sensor or region it predicts.
    - ``tile``: a seeded random deal of tiles.
    """
    if k < 2:
        raise InputError("--folds must be at least 2.")
    if by not in FOLD_BY:
        raise InputError(f"fold grouping {by!r} unknown; choose from {', '.join(FOLD_BY)}.")
    if len(records) < k:
        raise InputError(f"{len(records)} tile(s) cannot make {k} folds; lower --folds.")
    rng = np.random.default_rng(seed)
    scenes = sorted({r.scene for r in records})
    windowed = all("row_off" in r.extra and "col_off" in r.extra and r.scene != "unknown" for r in records)
    if by == "block" and windowed:
        keys = []
        for r in records:
            tile = int(max(r.extra.get("width", 1), r.extra.get("height", 1)))
            keys.append((r.scene, window_block(r.extra["row_off"], r.extra["col_off"], tile, block_tiles)))
        load = np.zeros(k)
        fold_of: dict = {}
        for s in scenes:
            sizes: dict = {}
            for key in keys:
                if key[0] == s:
                    sizes[key] = sizes.get(key, 0) + 1
            if len(sizes) < k:  # too few blocks to reach every fold: deal this scene's tiles one by one
                for i, key in enumerate(keys):
                    if key[0] == s:
                        keys[i] = (s, ("tile", i))
                sizes = {key: 1 for key in keys if key[0] == s}
            fold_of.update(_deal(sizes, load, rng))
        return [fold_of[key] for key in keys]
    if by == "scene":
        if len(scenes) < k or "unknown" in scenes:
            raise InputError(f"{len(scenes)} known scene(s) cannot make {k} whole-scene folds; lower --folds or "
                             "use --fold-by block.")
        sizes = {s: sum(r.scene == s for r in records) for s in scenes}
        fold_of = _deal(sizes, np.zeros(k), rng)
        return [fold_of[r.scene] for r in records]
    perm = rng.permutation(len(records))
    folds = [0] * len(records)
    for pos, i in enumerate(perm):
        folds[i] = pos % k
    return folds


def disagreement(prob: np.ndarray, label: np.ndarray, valid: np.ndarray | None = None,
                 smoothing: float = SMOOTHING) -> dict[str, float]:
    """Region, boundary and pixel disagreement of one tile and their combined ``score`` (see module doc)."""
    v = np.ones(label.shape, bool) if valid is None else valid
    p = np.where(v, prob, 0.0).astype(np.float64)
    y = np.where(v, label != 0, False)
    pred = (p > 0.5) & v
    s = smoothing * float(v.sum())
    confident = np.clip(2.0 * np.abs(p - y) - 1.0, 0.0, None) * v  # > 0 only where the model contradicts
    union = float((pred | y).sum())
    region = float(confident.sum()) / (union + s) if union + s > 0 else 0.0
    bp, by = mask_boundary(pred.astype(np.uint8)), mask_boundary(y.astype(np.uint8))
    n_edge = float(bp.sum() + by.sum())
    if n_edge == 0:
        boundary = 0.0
    else:
        raw = 1.0 if bp.any() != by.any() else 1.0 - gtpbd_edge_scores(
            pred.astype(np.uint8), y.astype(np.uint8), tolerances=(2,))["F1@2"]
        boundary = float(raw * n_edge / (n_edge + 4.0 * np.sqrt(s)))
    pixel = float(np.abs(p - y)[v].mean()) if v.any() else 0.0
    return {"score": 0.5 * (region + boundary), "region_disagreement": region,
            "boundary_disagreement": boundary, "pixel_disagreement": pixel}


FOLD_RECORD = "fold.json"
_RUN_ONLY = ("dataset", "device", "amp", "workers", "epochs")  # how a fold is run, not what it learns from


def tile_stamps(tiles: list[TileRecord]) -> dict[str, list[str | None]]:
    """Per tile, the :func:`file_stamp` of its image, label and optional inputs (taken once per audit)."""
    return {r.name: [file_stamp(p) for p in (r.image, r.mask, r.boundary, r.dem, r.text_file) if p is not None]
            for r in tiles}


def fold_fingerprint(cfg: TrainConfig, tiles: list[TileRecord],
                     stamps: dict[str, list[str | None]] | None = None) -> str:
    """What a fold model is trained from: the options that change its weights and, for every training tile,
    its name and the size and modification time of its image, label and optional inputs (``stamps`` from
    :func:`tile_stamps`; taken here when not given). A rebuilt dataset rewrites only the files whose bytes
    changed, so a fixed label changes the fingerprint of every fold that trains on it, and only those.
    ``epochs`` is left out: more epochs continue the same fold model."""
    stamps = tile_stamps(tiles) if stamps is None else stamps
    h = hashlib.sha256(json.dumps({k: v for k, v in cfg.to_dict().items() if k not in _RUN_ONLY},
                                  sort_keys=True, default=str).encode())
    for r in sorted(tiles, key=lambda r: r.name):
        h.update(json.dumps([r.name, stamps[r.name]]).encode())
    return h.hexdigest()


def _read_fingerprint(fold_dir: Path) -> str | None:
    try:
        return json.loads((fold_dir / FOLD_RECORD).read_text(encoding="utf-8")).get("fingerprint")
    except (FileNotFoundError, json.JSONDecodeError, AttributeError):
        return None


def run_audit(dataset: str | Path, output: str | Path, cfg: TrainConfig, folds: int = FOLDS, top: int = TOP,
              progress: bool = True, embedder: Embedder | None = None, fold_by: str = "block",
              block_tiles: int = BLOCK_TILES) -> list[dict]:
    """Out-of-fold predictions, scores and the audit report for every tile of every split.

    Writes ``audit.csv`` (all tiles ranked, with each tile's window in its scene when the manifest has it,
    so the annotator can find the spot in the scene's annotation), ``audit.md`` (the worst ``top`` with
    overlays and ``plots/scores.png``), ``overlays/``,
    ``oof/NAME.png`` (out-of-fold probability x 255), ``suspects.txt`` (image paths of the worst ``top``
    tiles, worst first), ``suspects.json`` (their scene annotations and windows, for
    ``farmannot annotate --suspects``, see :func:`suspects_document`) and ``folds/foldK/`` (the fold models).
    A re-run resumes each fold model whose training tiles and options are unchanged
    (:func:`fold_fingerprint`) and retrains the others, so fixing labels and auditing again just works.

    Returns:
        The ranked rows.
    """
    from farmannot.train.checkpoint import LAST, load_model
    from farmannot.train.inference import predict_tiles
    from farmannot.train.trainer import caption_table, resolve_device, train

    output = Path(output)
    layout, _, root = resolve_dataset(dataset)
    _, records = list_tiles(dataset, "all")
    fold_of = assign_folds(records, folds, cfg.seed, fold_by, block_tiles)
    stamps = tile_stamps(records)  # every tile's files stat'ed once, not once per fold that trains on it
    cfg = replace(cfg, dataset=str(dataset))
    device = resolve_device(cfg.device)
    captions = caption_table(records, root, output, embedder, cfg.model) if "text" in cfg.inputs else None
    rows: list[dict] = []
    for k in tqdm(range(folds), desc="folds", unit="fold", disable=not progress, file=sys.stderr):
        held = [r for r, f in zip(records, fold_of) if f == k]
        rest = [r for r, f in zip(records, fold_of) if f != k]
        if not held:
            continue
        fold_dir = output / "folds" / f"fold{k}"
        fp = fold_fingerprint(cfg, rest, stamps)
        resume = (fold_dir / LAST).exists()
        if resume and _read_fingerprint(fold_dir) != fp:  # labels fixed, tiles or options changed: start over
            if progress:
                tqdm.write(f"fold {k}: its training tiles or options changed since the last run; retraining",
                           file=sys.stderr)
            shutil.rmtree(fold_dir)
            resume = False
        fold_dir.mkdir(parents=True, exist_ok=True)
        write_json(fold_dir / FOLD_RECORD, {"fingerprint": fp})
        train(cfg, fold_dir, resume=resume, progress=False, embedder=embedder, tiles=(rest, []))
        model, config = load_model(fold_dir / LAST, device)
        for rec, prob in predict_tiles(model, config, held, layout, captions, device, cfg.batch_size):
            label, valid = target_from_label(read_label(rec.mask), layout)
            write_png(output / "oof" / f"{rec.name}.png", np.round(prob * 255).astype(np.uint8))
            rows.append({"tile_id": rec.name, "split": rec.split, "scene": rec.scene, "region": rec.region,
                         **disagreement(prob, label, valid), "fold": k, **rec.extra, "image": str(rec.image),
                         "label": str(rec.mask), "_rec": rec, "_prob": prob, "_label": label})
    marks = read_reviewed(output)  # suspects a person found right, while their label is unchanged: last
    for r in rows:
        r["reviewed"] = is_reviewed(marks, r["tile_id"], r["label"])
    rows.sort(key=lambda r: (r["reviewed"], -r["score"], -r["pixel_disagreement"], r["tile_id"]))
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    _write_outputs(output, rows, top, {"dataset": str(dataset), "folds": folds, "fold_by": fold_by,
                                       "model": cfg.model, "encoder": cfg.encoder, "inputs": cfg.inputs,
                                       "epochs": cfg.epochs,
                                       "reviewed (label found right, unchanged)": sum(r["reviewed"] for r in rows)})
    for r in rows:
        for key in ("_rec", "_prob", "_label"):
            r.pop(key, None)
    return rows


SUSPECTS = "suspects.json"


def suspects_document(dataset: str | Path, worst: list[dict]) -> dict:
    """``suspects.json``: the worst tiles with the scene annotation to fix and the tile's window in it.

    The annotation path is relative to the project folder build-dataset read (``build_report.json``
    names both); ``null`` where the report is absent or does not list the tile's scene. ``window`` is
    ``[col_off, row_off, width, height]`` in scene pixels (``null`` without a window in the manifest).
    ``farmannot annotate --suspects AUDIT_DIR`` opens them.
    """
    root = resolve_dataset(dataset)[2]
    report: dict = {}
    try:
        report = read_build_report(root)
    except (OSError, ValueError):
        pass  # a dataset not made by build-dataset: tiles without annotations
    annotation = {s.get("scene"): s.get("annotation") for s in report.get("scenes") or [] if isinstance(s, dict)}
    out = []
    for r in worst:
        keys = ("col_off", "row_off", "width", "height")
        window = [int(r[k]) for k in keys] if all(k in r for k in keys) else None
        out.append({"rank": r["rank"], "tile_id": r["tile_id"], "scene": r["scene"],
                    "annotation": annotation.get(r["scene"]), "window": window, "score": round(r["score"], 6),
                    "region_disagreement": round(r["region_disagreement"], 6),
                    "boundary_disagreement": round(r["boundary_disagreement"], 6), "oof": f"oof/{r['tile_id']}.png"})
    return {"dataset": str(dataset), "project": report.get("project"), "suspects": out}


def plot_scores(rows: list[dict], top: int, path: Path) -> None:
    """Score histogram per region with the ``top`` cut-off, and region vs boundary disagreement per tile."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regions = sorted({r["region"] for r in rows})
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4))
    a.hist([[r["score"] for r in rows if r["region"] == g] for g in regions], bins=20, range=(0, 1),
           stacked=True, label=regions)
    open_rows = [r for r in rows if not r.get("reviewed")]
    if 0 < top < len(open_rows):
        cut = open_rows[top - 1]["score"]
        a.axvline(cut, color="k", linestyle="--", linewidth=1)
        a.text(cut, a.get_ylim()[1] * 0.95, f" top {top}", fontsize=8, va="top")
    a.set(xlabel="score (0 agrees, 1 contradicts)", ylabel="tiles", title="Disagreement per tile")
    a.legend(fontsize=7, frameon=False)
    worst = {r["tile_id"] for r in open_rows[:top]}
    for flag, style in ((False, {"c": "#9a9a9a", "s": 10}), (True, {"c": "#c0392b", "s": 18})):
        pts = [(r["region_disagreement"], r["boundary_disagreement"]) for r in rows
               if (r["tile_id"] in worst) == flag]
        if pts:
            xs, ys = zip(*pts)
            b.scatter(xs, ys, label=f"top {top}" if flag else "others", **style)
    b.set(xlim=(0, 1), ylim=(0, 1), xlabel="region disagreement", ylabel="boundary disagreement",
          title="What disagrees")
    b.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, metadata={"Software": None})
    plt.close(fig)


def _write_outputs(output: Path, rows: list[dict], top: int, meta: dict) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in r.items()})
    write_text(output / "audit.csv", buf.getvalue())
    worst = [r for r in rows if not r.get("reviewed")][:top]  # a suspect found right is not suspect again
    write_text(output / "suspects.txt", "".join(f"{r['image']}\n" for r in worst))
    write_json(output / SUSPECTS, suspects_document(meta["dataset"], worst))
    lines = ["# Label audit", "", *(f"- {k}: `{v}`" for k, v in meta.items()), "",
             "Every tile was predicted by a model trained on the other folds. Score = mean of region "
             "disagreement (the model's confident contradiction of the label over the labelled or predicted "
             "area) and boundary disagreement (1 - boundary F1 at 2 px), both damped below 5 % of a tile; "
             "0 = the model agrees with the label, 1 = it contradicts it everywhere with certainty. "
             "Green: label outline / label-only parcel; "
             "magenta: model outline / model-only parcel. `suspects.txt` lists these tiles' images, worst first; "
             "`suspects.json` their scene annotations and windows (`farmannot annotate --suspects AUDIT_DIR`).",
             "", "![scores](plots/scores.png)", "",
             "| rank | tile | split | region | score | region | boundary | overlay |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in worst:
        img = read_image(r["_rec"].image)
        scale = max(1, 256 // max(r["_label"].shape))
        write_png(output / "overlays" / f"{r['rank']:03d}_{r['tile_id']}.png",
                  overlay(img, r["_label"], (r["_prob"] > 0.5).astype(np.uint8), scale))
        lines.append(f"| {r['rank']} | {r['tile_id']} | {r['split']} | {r['region']} | {r['score']:.3f} | "
                     f"{r['region_disagreement']:.3f} | {r['boundary_disagreement']:.3f} | "
                     f"![](overlays/{r['rank']:03d}_{r['tile_id']}.png) |")
    plot_scores(rows, top, output / "plots" / "scores.png")
    write_text(output / "audit.md", "\n".join(lines) + "\n")
    write_json(output / "audit.json", {"meta": meta, "tiles": [
        {k: v for k, v in r.items() if not k.startswith("_")} for r in rows]})
