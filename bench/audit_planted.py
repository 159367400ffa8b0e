"""Does `farmannot audit` find deliberately corrupted labels in the real sample dataset?

Builds the demo dataset from ``sample_data/`` (or takes ``--dataset``), copies it, corrupts the masks of a
few tiles that hold farmland (four kinds of error a person makes: parcels forgotten, a layer shifted by a
quarter tile, farmland and background swapped, half the parcels forgotten), runs the audit on the clean
and on the corrupted copy with the same options and seed, and prints where the corrupted tiles rank.

It also ranks the same out-of-fold predictions (the audit's ``oof/NAME.png``) with cleanlab's
segmentation label-quality score (``cleanlab.segmentation.rank.get_label_quality_scores``, ``softmin``: a
soft minimum of each pixel's self-confidence, the predicted probability of its given label; lowest first),
ignore pixels given the predicted class so they count as agreement, and prints both rankings side by side.

Run: ``python bench/audit_planted.py [--epochs 8] [--folds 3] [--out DIR]`` (CPU, a few minutes).
The numbers go to docs/train.md ("Planted errors in the sample dataset") and docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from PIL import Image
from skimage.measure import label as cc_label
from skimage.segmentation import find_boundaries

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from farmannot.cli.train import arch_options  # noqa: E402
from farmannot.dataset.build import build_dataset  # noqa: E402
from farmannot.dataset.config import load_config  # noqa: E402
from farmannot.dataset.layouts import region_folder  # noqa: E402
from farmannot.train.audit import run_audit  # noqa: E402
from farmannot.train.config import TrainConfig  # noqa: E402

IGNORE = 255


def erase_all(mask: np.ndarray) -> np.ndarray:
    """Every parcel forgotten."""
    return np.where(mask == 1, 0, mask)


def shift_quarter(mask: np.ndarray) -> np.ndarray:
    """The whole label layer shifted right and down by a quarter tile (a mis-registered import)."""
    q = mask.shape[0] // 4
    out = np.zeros_like(mask)
    out[q:, q:] = mask[:-q, :-q]
    return out


def swap(mask: np.ndarray) -> np.ndarray:
    """Farmland and background swapped (a wrong class picked for the whole tile)."""
    return np.where(mask == 1, 0, np.where(mask == 0, 1, mask)).astype(mask.dtype)


def erase_half(mask: np.ndarray) -> np.ndarray:
    """Every other parcel (by connected region) forgotten: a subtle, partial error."""
    regions = cc_label(mask == 1, connectivity=1)
    drop = np.isin(regions, np.arange(2, regions.max() + 1, 2))
    return np.where(drop, 0, mask)


CORRUPTIONS = {"erase_all": erase_all, "shift_quarter": shift_quarter, "swap": swap, "erase_half": erase_half}


def pick_tiles(df: pd.DataFrame, per_kind: int, seed: int) -> dict[str, str]:
    """Tiles with enough farmland to corrupt, from every region that has some, round-robin over kinds."""
    rng = np.random.default_rng(seed)
    cand = df[df["farmland_fraction"] > 0.15].sample(frac=1.0, random_state=int(rng.integers(1 << 31)))
    cand = cand.sort_values("region", kind="stable")
    chosen, kinds = {}, list(CORRUPTIONS)
    by_region = [g["tile_id"].tolist() for _, g in cand.groupby("region")]
    i = 0
    while len(chosen) < per_kind * len(kinds) and any(by_region):
        pool = by_region[i % len(by_region)]
        if pool:
            chosen[pool.pop(0)] = kinds[len(chosen) % len(kinds)]
        i += 1
    return chosen


def corrupt(dataset: Path, df: pd.DataFrame, chosen: dict[str, str]) -> None:
    for tile_id, kind in chosen.items():
        row = df.loc[df["tile_id"] == tile_id].iloc[0]
        base = dataset / "gtpbd-mm" / row["split"] / region_folder(row["region"])
        mpath = base / "mask_labels" / f"{tile_id}.tif"
        with rasterio.open(mpath) as src:
            mask, profile = src.read(1), src.profile
        bad = CORRUPTIONS[kind](mask)
        assert (bad != mask).any(), f"{tile_id}: {kind} changed nothing"
        boundary = find_boundaries(np.where(bad == IGNORE, 0, bad), mode="inner").astype(np.uint8)
        for path, arr in ((mpath, bad), (base / "boundary_labels" / f"{tile_id}.tif", boundary)):
            with rasterio.open(path, "w", **profile) as dst:
                dst.write(arr.astype(np.uint8)[None])


def cleanlab_ranks(audit_dir: Path, dataset: Path, rows: list[dict]) -> dict[str, int]:
    """Rank of every tile by cleanlab's softmin label-quality score of the audit's out-of-fold predictions
    (1 = the lowest quality, the most likely label error)."""
    from cleanlab.segmentation.rank import get_label_quality_scores

    scores = {}
    for r in rows:
        with Image.open(audit_dir / "oof" / f"{r['tile_id']}.png") as im:
            prob = np.asarray(im, dtype=np.float32) / 255.0
        base = dataset / "gtpbd-mm" / r["split"] / region_folder(r["region"])
        with rasterio.open(base / "mask_labels" / f"{r['tile_id']}.tif") as src:
            mask = src.read(1)
        label = np.where(mask == IGNORE, prob >= 0.5, mask == 1).astype(np.int64)
        pred_probs = np.stack([1.0 - prob, prob])[None]
        image_scores, _ = get_label_quality_scores(label[None], pred_probs, method="softmin", verbose=False)
        scores[r["tile_id"]] = float(image_scores[0])
    order = sorted(scores, key=lambda t: (scores[t], t))
    return {t: i + 1 for i, t in enumerate(order)}


def summary(ranks: dict[str, int], chosen: dict[str, str], n: int) -> str:
    k = len(chosen)
    top_k = sum(1 for t in chosen if ranks[t] <= k)
    top_2k = sum(1 for t in chosen if ranks[t] <= 2 * k)
    return (f"in the top {k}: {top_k}/{k}; in the top {2 * k}: {top_2k}/{k}; median rank "
            f"{float(np.median([ranks[t] for t in chosen])):.1f} of {n}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, help="A dataset built from sample_data (default: build one).")
    ap.add_argument("--out", type=Path, help="Keep the audits here (default: a temporary folder).")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--per-kind", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        compare(args, args.out)
        return
    with tempfile.TemporaryDirectory(prefix="farmannot-audit-") as tmp:  # about 600 MB of audits, removed
        compare(args, Path(tmp))


def compare(args: argparse.Namespace, work: Path) -> None:
    clean = args.dataset
    if clean is None:
        clean = work / "dataset"
        cfg = load_config(REPO / "sample_data" / "build.yaml", {"layouts": "gtpbd-mm", "card": False})
        build_dataset(REPO / "sample_data", clean, cfg, progress=False)
    df = pd.read_parquet(clean / "manifest.parquet")
    chosen = pick_tiles(df, args.per_kind, args.seed)
    dirty = work / "corrupted"
    if dirty.exists():
        shutil.rmtree(dirty)
    shutil.copytree(clean, dirty)
    corrupt(dirty, df, chosen)
    tcfg = TrainConfig(model="unet", arch_kwargs=arch_options("unet", 3), epochs=args.epochs, batch_size=8,
                       device="cpu", workers=0, seed=args.seed)
    t0 = time.perf_counter()
    base = {r["tile_id"]: r for r in run_audit(clean, work / "audit-clean", tcfg, args.folds, top=10,
                                                progress=False)}
    rows = run_audit(dirty, work / "audit-corrupted", tcfg, args.folds, top=10, progress=False)
    seconds = time.perf_counter() - t0
    n, k = len(rows), len(chosen)
    ranks = {r["tile_id"]: r["rank"] for r in rows}
    top_k = sum(1 for r in rows[:k] if r["tile_id"] in chosen)
    top_2k = sum(1 for r in rows[:2 * k] if r["tile_id"] in chosen)
    print(f"{n} tiles, {k} corrupted, {args.folds} folds x {args.epochs} epochs, both audits {seconds:.0f} s\n")
    print("| tile | region | corruption | rank (of %d) | score clean -> corrupted |" % n)
    print("| --- | --- | --- | --- | --- |")
    for r in sorted(rows, key=lambda r: r["rank"]):
        if r["tile_id"] in chosen:
            b = base[r["tile_id"]]
            print(f"| {r['tile_id']} | {r['region']} | {chosen[r['tile_id']]} | {ranks[r['tile_id']]} | "
                  f"{b['score']:.3f} (rank {b['rank']}) -> {r['score']:.3f} |")
    median_rank = float(np.median([ranks[t] for t in chosen]))
    print(f"\ncorrupted tiles in the top {k}: {top_k}/{k}; in the top {2 * k}: {top_2k}/{k}; "
          f"median rank {median_rank:.1f} of {n} (random order: {(n + 1) / 2:.1f})")
    t1 = time.perf_counter()
    lab = cleanlab_ranks(work / "audit-corrupted", dirty, rows)
    print(f"\nsame out-of-fold predictions, two rankings ({time.perf_counter() - t1:.1f} s for cleanlab):")
    print(f"- farmannot audit (confident region + boundary disagreement): {summary(ranks, chosen, n)}")
    print(f"- cleanlab softmin label quality: {summary(lab, chosen, n)}")
    print("| tile | corruption | audit rank | cleanlab rank |\n| --- | --- | --- | --- |")
    for t in sorted(chosen, key=lambda t: ranks[t]):
        print(f"| {t} | {chosen[t]} | {ranks[t]} | {lab[t]} |")
    print(f"audits kept in {work}")


if __name__ == "__main__":
    main()
