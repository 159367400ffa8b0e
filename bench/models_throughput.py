"""Benchmark: training throughput of each ``--model`` against the U-Net baseline, one run, same machine.

Every model is built through the registry (``farmannot.train.models.build_model``) with the options a lab
would use and trained for a few steps on in-memory random batches (forward, BCE + Dice plus the model's
auxiliary loss, backward, AdamW step). The models are built first and timed in turns, one chunk of steps
each per round, so load from other jobs on a shared machine falls on all of them alike; images/s of each
model's best chunk (other jobs only ever slow a chunk down), peak GPU memory on CUDA. No weights are
downloaded: SAM and CLIP parts start from random weights of the published shapes (ViT-B SAM, ViT-B-16 CLIP
text), frozen as they would be when loaded from checkpoints (ETTerra: image and text encoders; tsmnet-text:
text encoder).

Run: ``python bench/models_throughput.py [--device cpu|cuda] [--size 256] [--batch 4] [--steps 3]
[--chunks 2] [--models unet,pspnet,...]``; prints a Markdown table (results in docs/BENCHMARKS.md).
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
            caption = "Terraced parcels on a steep slope with scattered trees."
            out["text"] = torch.from_numpy(tokenize([caption] * batch))
        else:
            out["text"] = torch.nn.functional.normalize(torch.randn(batch, 384, generator=g), dim=1)
            out["clauses"] = torch.randn(batch, 8, 384, generator=g)
            out["clause_mask"] = torch.tensor([[1] * 3 + [0] * 5] * batch).bool()
    if "dem" in inputs:
        out["dem"] = torch.randn(batch, 2, size, size, generator=g)
    return {k: v.to(device) for k, v in out.items()}


class Subject:
    """One model ready to train on a fixed in-memory batch."""

    def __init__(self, name: str, options: dict, batch: int, size: int, device) -> None:
        import torch

        from farmannot.train.models import build_model, prepare_config
        from farmannot.train.schedule import make_optimizer

        torch.manual_seed(0)
        self.name, self.device = name, device
        self.config = prepare_config({"in_channels": 3, "inputs": "image", "sam_image_size": size, **options})
        self.model = build_model(self.config).to(device).train()
        self.params = sum(p.numel() for p in self.model.parameters())
        self.trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        self.opt, self.sched = make_optimizer(self.model, 1e-4, 1e-4, 1000, 10)
        self.x = batch_for(self.config, batch, size, device)
        self.y = (torch.rand(batch, size, size, device=device) > 0.5).float()
        self.valid = torch.ones(batch, size, size, dtype=torch.bool, device=device)
        self.batch = batch
        self.rates: list[float] = []
        self.mem = float("nan")
        self.step()  # warm-up

    def step(self) -> None:
        from farmannot.train.losses import bce_dice_loss
        from farmannot.train.models import auxiliary_loss

        loss = bce_dice_loss(self.model(**self.x), self.y, self.valid)
        aux = auxiliary_loss(self.model, self.y, self.valid)
        if aux is not None:
            loss = loss + aux
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()

    def chunk(self, steps: int) -> None:
        import torch

        cuda = self.device.type == "cuda"
        if cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        t0 = time.perf_counter()
        for _ in range(steps):
            self.step()
        if cuda:
            torch.cuda.synchronize(self.device)
            self.mem = torch.cuda.max_memory_allocated(self.device) / 2 ** 30
        self.rates.append(steps * self.batch / (time.perf_counter() - t0))


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
    subjects = [Subject(n, MODELS[n], args.batch, args.size, device) for n in names]
    for _ in range(args.chunks):
        for sub in subjects:
            sub.chunk(args.steps)
    rows = [{"model": s.name, "inputs": s.config.get("inputs", "image"), "params_m": s.params / 1e6,
             "trainable_m": s.trainable / 1e6, "images_s": max(s.rates), "mem_gib": s.mem} for s in subjects]
    base = next((r["images_s"] for r in rows if r["model"] == "unet"), None)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"device {device}, {torch.get_num_threads()} threads, tiles {args.size} px, batch {args.batch}, "
          f"best of {args.chunks} rounds x {args.steps} steps, load average at the end {load:.1f}\n")
    print("| model | inputs | parameters (M) | trainable (M) | images/s | vs U-Net | peak GPU memory (GiB) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        ratio = f"{r['images_s'] / base:.2f}" if base else "-"
        mem = "-" if r["mem_gib"] != r["mem_gib"] else f"{r['mem_gib']:.2f}"
        print(f"| {r['model']} | {r['inputs']} | {r['params_m']:.1f} | {r['trainable_m']:.1f} | "
              f"{r['images_s']:.2f} | {ratio} | {mem} |")


if __name__ == "__main__":
    main()
