"""Image vs image+text vs image+text+DEM on the sample dataset: the comparison the papers make, on CPU.

Builds the demo dataset from ``sample_data/`` (or takes ``--dataset``), trains the same small U-Net with
each ``--inputs`` setting and each seed, evaluates every run on the test split, and prints test IoU / F1 /
boundary ODS per setting (mean and range over the seeds). Text is each tile's caption embedded with the
bundled all-MiniLM-L6-v2 (FiLM on the decoder); the DEM is the tile's elevation (only the Colorado scene
has one; other tiles get the zero input with their validity channel off).

Run: ``python bench/inputs_compare.py [--epochs 15] [--seeds 0 1]`` (CPU, a few minutes).
Results go to docs/train.md ("Inputs compared on the sample dataset").
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from farmannot.cli.train import arch_options  # noqa: E402
from farmannot.dataset.build import build_dataset  # noqa: E402
from farmannot.dataset.config import load_config  # noqa: E402
from farmannot.train.config import TrainConfig  # noqa: E402
from farmannot.train.evaluate import evaluate_run  # noqa: E402
from farmannot.train.trainer import train  # noqa: E402

INPUTS = ("image", "image+text", "image+text+dem")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, help="A dataset built from sample_data (default: build one).")
    ap.add_argument("--out", type=Path, help="Keep runs here (default: a temporary folder).")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = ap.parse_args()
    if args.out is not None:
        compare(args, args.out)
        print(f"\nruns kept in {args.out}")
        return
    with tempfile.TemporaryDirectory(prefix="farmannot-inputs-") as tmp:  # about 600 MB of runs, removed
        compare(args, Path(tmp))


def compare(args: argparse.Namespace, work: Path) -> None:
    dataset = args.dataset
    if dataset is None:
        dataset = work / "dataset"
        cfg = load_config(REPO / "sample_data" / "build.yaml", {"layouts": "gtpbd-mm", "card": False})
        build_dataset(REPO / "sample_data", dataset, cfg, progress=False)
    results: dict[str, list[dict]] = {k: [] for k in INPUTS}
    t0 = time.perf_counter()
    for inputs in INPUTS:
        for seed in args.seeds:
            run = work / f"{inputs.replace('+', '-')}-s{seed}"
            cfg = TrainConfig(dataset=str(dataset), model="unet", arch_kwargs=arch_options("unet", 3),
                              inputs=inputs, epochs=args.epochs, batch_size=8, device="cpu", workers=0, seed=seed)
            train(cfg, run, progress=False)
            m = evaluate_run(run / "best.pt", dataset, run / "eval", progress=False, overlays=0)
            results[inputs].append(m["overall"])
    seconds = time.perf_counter() - t0
    print(f"sample dataset, U-Net depth 3, {args.epochs} epochs, seeds {args.seeds}, CPU: {seconds:.0f} s\n")
    print("| inputs | test IoU | test F1 | boundary ODS |")
    print("| --- | --- | --- | --- |")
    for inputs, ms in results.items():
        cells = []
        for key in ("IoU", "F1", "ODS"):
            v = 100 * np.array([float(m[key]) for m in ms])
            cells.append(f"{v.mean():.1f} ({v.min():.1f}-{v.max():.1f})")
        print(f"| {inputs} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
