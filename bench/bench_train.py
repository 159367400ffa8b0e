"""Benchmark: training throughput of ``farmannot train``'s loop against a bare torch loop, one run.

A synthetic ``gtpbd-mm`` dataset (RGB PNG tiles with rectangle parcels, masks with an ignore strip) is
written to a temporary folder. Both paths train the same model (registry ``build_model``, same config),
batch size, tile size, AdamW and BCE + Dice loss on the same device, with the same AMP / channels-last
settings on CUDA:

- ``farmannot``: :func:`farmannot.train.trainer.train` for ``--epochs`` epochs (PNG decoding, ignore mask,
  normalisation, flips/rotations in DataLoader workers, warm-up/cosine schedule, checkpoint + CSV log
  every epoch); images/s of each epoch's loop from ``train_log.csv``, first epoch dropped (warm-up), and
  the wall-clock rate of the whole run including validation and checkpoints.
- ``bare``: chunks of one epoch's steps on batches already in device memory (``torch.randn`` images and
  random 0/1 masks): forward, loss, backward, ``optimizer.step()``; no data loading at all; run before
  and after the farmannot run.

The best epoch and the best chunk are compared: on a shared machine other jobs only ever slow a chunk down.

Sizes: ``--quick`` (the default) 32 tiles and 3 epochs (two bare chunks before and after), a few minutes on
2 busy cores; ``--full`` 64 tiles and 4 epochs.

Run: ``.venv/bin/python bench/bench_train.py [--full] [--device cpu|cuda] [--tiles N] [--size S] [--batch B]``;
prints a Markdown table and the ratio (target >= 0.90).
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_dataset(root: Path, n: int, size: int, seed: int = 0) -> None:
    import cv2

    rng = np.random.default_rng(seed)
    for split, count in (("train", n), ("val", max(2, n // 8))):
        base = root / "gtpbd-mm" / split / "region"
        (base / "images").mkdir(parents=True)
        (base / "mask_labels").mkdir(parents=True)
        for i in range(count):
            mask = np.zeros((size, size), np.uint8)
            for _ in range(4):
                h, w = rng.integers(size // 8, size // 2, 2)
                y, x = rng.integers(0, size - h), rng.integers(0, size - w)
                mask[y:y + h, x:x + w] = 1
            img = np.clip(rng.normal(60, 12, (size, size, 3)) + mask[..., None] * [90, 120, 40], 0, 255)
            label = mask.copy()
            label[:2] = 255
            cv2.imwrite(str(base / "images" / f"{split}_{i:04d}.png"), img.astype(np.uint8))
            cv2.imwrite(str(base / "mask_labels" / f"{split}_{i:04d}.png"), label)


def bare_loop(config: dict, steps: int, batch: int, size: int, device, amp_dtype, channels_last: bool,
              chunks: int = 1) -> list[float]:
    """Images/s of a plain loop over in-memory random batches (after 3 warm-up steps), per chunk of steps."""
    import torch

    from farmannot.train.losses import bce_dice_loss
    from farmannot.train.models import build_model

    torch.manual_seed(0)
    model = build_model(config).to(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=fmt)
    y = (torch.rand(batch, size, size, device=device) > 0.5).float()
    valid = torch.ones(batch, size, size, dtype=torch.bool, device=device)
    model.train()

    def step():
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            out = model(x)
        loss = bce_dice_loss(out, y, valid)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    rates = []
    for _ in range(chunks):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(steps * batch / (time.perf_counter() - t0))
    return rates


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--full", action="store_true", help="64 tiles, 4 epochs")
    ap.add_argument("--tiles", type=int, default=None)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--model", default="unet")
    ap.add_argument("--encoder", default="resnet18")
    ap.add_argument("--amp", action="store_true")
    args = ap.parse_args()
    args.tiles = args.tiles or (64 if args.full else 32)
    args.epochs = args.epochs or (4 if args.full else 3)

    import os

    import torch

    from farmannot.train.config import TrainConfig
    from farmannot.train.trainer import _amp_dtype, train

    device = torch.device(args.device)
    steps_per_epoch = args.tiles // args.batch
    probe = {"model": args.model, "encoder": args.encoder, "in_channels": 3, "inputs": "image"}
    amp_dtype = _amp_dtype(TrainConfig(amp=args.amp), device)
    # bare loop before and after the farmannot run, averaged: the machine's load drifts
    # one chunk = one epoch's steps; the best chunk and the best epoch are compared (on a shared machine
    # other jobs slow some epochs down, never speed one up)
    bare_runs = bare_loop(probe, steps_per_epoch, args.batch, args.size, device, amp_dtype,
                          device.type == "cuda", chunks=args.epochs - 1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ds"
        write_dataset(root, args.tiles, args.size)
        cfg = TrainConfig(dataset=str(root), model=args.model, encoder=args.encoder, epochs=args.epochs,
                          batch_size=args.batch, device=args.device, amp=args.amp, workers=args.workers)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        train(cfg, Path(tmp) / "run", progress=False)
        wall = time.perf_counter() - t0
        mem = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
        with open(Path(tmp) / "run" / "train_log.csv") as fh:
            rows = list(csv.DictReader(fh))
        epoch_rates = [float(r["images_per_s"]) for r in rows[1:]]
        loop = max(epoch_rates)
    overall = args.epochs * steps_per_epoch * args.batch / wall
    bare_runs += bare_loop(probe, steps_per_epoch, args.batch, args.size, device, amp_dtype,
                           device.type == "cuda", chunks=args.epochs - 1)
    bare = max(bare_runs)
    print(f"device {device}, torch threads {torch.get_num_threads()}, model {args.model}/{args.encoder}, "
          f"{args.tiles} tiles of {args.size} px, batch {args.batch}, {args.epochs} epochs, amp {args.amp}, "
          f"load average {os.getloadavg()[0]:.1f} at the end",
          file=sys.stderr)
    print("| path | images/s |\n| --- | --- |")
    print(f"| farmannot train loop, best of epochs 2-{args.epochs} "
          f"({', '.join(f'{r:.1f}' for r in epoch_rates)}) | {loop:.1f} |")
    print(f"| farmannot train, whole run incl. start-up, validation, checkpoints | {overall:.1f} |")
    print(f"| bare torch loop, in-memory batches, best chunk ({', '.join(f'{r:.1f}' for r in bare_runs)}) "
          f"| {bare:.1f} |")
    print(f"| ratio loop / bare | {loop / bare:.2f} |")
    if mem is not None:
        print(f"| peak GPU memory (farmannot) | {mem:.2f} GiB |")


if __name__ == "__main__":
    main()
