"""Benchmark: training throughput of each ``--model`` against the U-Net baseline, one run, same machine.

Every model is built through the registry (``farmannot.train.models.build_model``) with the options a lab
would use and trained for a few steps on in-memory random batches (forward, BCE + Dice plus the model's
auxiliary loss, backward, AdamW step): images/s of the best chunk of steps (other jobs on a shared machine
only ever slow a chunk down), peak GPU memory on CUDA. No weights are downloaded: SAM and CLIP parts start
from random weights of the published shapes (ViT-B SAM, ViT-B-16 CLIP text), frozen as they would be when
loaded from checkpoints (ETTerra: image and text encoders; tsmnet-text: text encoder).

Run: ``python bench/models_throughput.py [--device cpu|cuda] [--size 256] [--batch 4] [--steps 3]
[--models unet,pspnet,...]``; prints a Markdown table (results in docs/BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODELS = {
    "unet": {"model": "unet", "encoder": "resnet18"},
    "pspnet": {"model": "pspnet", "encoder": "resnet18"},
    "upernet": {"model": "upernet", "encoder": "resnet18"},
    "deeplabv3plus": {"model": "deeplabv3plus", "encoder": "resnet18"},
    "segformer": {"model": "segformer", "encoder": "mit_b0"},
    "tsmnet-text": {"model": "tsmnet-text", "encoder": "resnet18", "inputs": "image+text"},
    "etterra": {"model": "etterra", "encoder": "vit_b", "inputs": "image+text+dem",
                "freeze": ["image-encoder", "text-encoder"]},
}


def batch_for(config: dict, batch: int, size: int, device):
    import torch

    from farmannot.train.models.clip_text import tokenize

    g = torch.Generator().manual_seed(0)
    out = {"image": torch.randn(batch, 3, size, size, generator=g)}
    inputs = config.get("inputs", "image")
    if "text" in inputs:
        if config["model"] == "etterra":
            out["text"] = torch.from_numpy(tokenize(["Terraced parcels on a steep slope with scattered trees."] * batch))
        else:
            out["text"] = torch.nn.functional.normalize(torch.randn(batch, 384, generator=g), dim=1)
            out["clauses"] = torch.randn(batch, 8, 384, generator=g)
            out["clause_mask"] = torch.tensor([[1] * 3 + [0] * 5] * batch).bool()
    if "dem" in inputs:
        out["dem"] = torch.randn(batch, 2, size, size, generator=g)
    return {k: v.to(device) for k, v in out.items()}


def measure(name: str, options: dict, batch: int, size: int, steps: int, chunks: int, device) -> dict:
    import torch

    from farmannot.train.losses import bce_dice_loss
    from farmannot.train.models import auxiliary_loss, build_model, prepare_config
    from farmannot.train.schedule import make_optimizer

    torch.manual_seed(0)
    config = prepare_config({"in_channels": 3, "inputs": "image", "sam_image_size": size, **options})
    model = build_model(config).to(device).train()
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    opt, sched = make_optimizer(model, 1e-4, 1e-4, 1000, 10)
    x = batch_for(config, batch, size, device)
    y = (torch.rand(batch, size, size, device=device) > 0.5).float()
    valid = torch.ones(batch, size, size, dtype=torch.bool, device=device)

    def step():
        loss = bce_dice_loss(model(**x), y, valid)
        aux = auxiliary_loss(model, y, valid)
        if aux is not None:
            loss = loss + aux
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()

    step()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    rates = []
    for _ in range(chunks):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        rates.append(steps * batch / (time.perf_counter() - t0))
    mem = torch.cuda.max_memory_allocated(device) / 2 ** 30 if device.type == "cuda" else float("nan")
    return {"model": name, "inputs": config.get("inputs", "image"), "params_m": params / 1e6,
            "trainable_m": trainable / 1e6, "images_s": max(rates), "mem_gib": mem}


def main() -> None:
    import os

    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--chunks", type=int, default=2)
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args()
    device = torch.device(args.device)
    names = [m for m in args.models.split(",") if m]
    rows = [measure(n, MODELS[n], args.batch, args.size, args.steps, args.chunks, device) for n in names]
    base = next((r["images_s"] for r in rows if r["model"] == "unet"), None)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"device {device}, {torch.get_num_threads()} threads, tiles {args.size} px, batch {args.batch}, "
          f"best of {args.chunks} x {args.steps} steps, load average {load:.1f}\n")
    print("| model | inputs | parameters (M) | trainable (M) | images/s | vs U-Net | peak GPU memory (GiB) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        ratio = f"{r['images_s'] / base:.2f}" if base else "-"
        mem = "-" if r["mem_gib"] != r["mem_gib"] else f"{r['mem_gib']:.2f}"
        print(f"| {r['model']} | {r['inputs']} | {r['params_m']:.1f} | {r['trainable_m']:.1f} | "
              f"{r['images_s']:.2f} | {ratio} | {mem} |")


if __name__ == "__main__":
    main()
