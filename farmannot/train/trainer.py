"""The training loop: data, model, AdamW + warm-up/cosine, AMP and channels-last on CUDA, DDP under
torchrun, atomic checkpoints every epoch, exact resume, a CSV log and a plot.

Determinism: the data order (``DistributedSampler`` seeded by ``seed`` and the epoch), augmentations
(seeded by seed, epoch and tile index) and dropout (``torch.manual_seed`` per epoch) depend only on the
seed and the epoch, so resuming from ``last.pt`` reproduces an uninterrupted run's weights.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler, Sampler
from tqdm import tqdm

from farmannot.errors import FarmannotError
from farmannot.train.checkpoint import BEST, LAST, load_checkpoint, save_checkpoint, unwrap, write_config
from farmannot.train.config import TrainConfig
from farmannot.train.data import check_inputs, compute_preprocess, list_tiles, read_caption, resolve_dataset
from farmannot.train.history import plot_history, write_log
from farmannot.train.losses import bce_dice_loss
from farmannot.train.metrics.pixel import PixelCounts, pixel_scores
from farmannot.train.models import auxiliary_loss, build_model, prepare_config
from farmannot.train.models.catalog import text_encoder
from farmannot.train.models.clip_text import CaptionTokens
from farmannot.train.models.segmenter import model_inputs
from farmannot.train.preprocess import KEY as PREPROCESS
from farmannot.train.preprocess import Preprocess
from farmannot.train.samples import TileDataset
from farmannot.train.schedule import make_optimizer
from farmannot.train.text import TEXT_DIM, TEXT_MODEL, CaptionTable, Embedder

log = logging.getLogger(__name__)


class EpochSampler(Sampler):
    """Yields ``(epoch, index)`` so dataset copies in persistent workers know the epoch."""

    def __init__(self, inner: DistributedSampler) -> None:
        self.inner = inner
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.inner.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((self.epoch, i) for i in self.inner)

    def __len__(self) -> int:
        return len(self.inner)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; a clear error for CUDA without a GPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise FarmannotError("--device cuda: no CUDA GPU is visible; use --device cpu.")
    return torch.device(name)


def default_workers(device: torch.device) -> int:
    """DataLoader processes: on CUDA up to 8 (cores - 1); on CPU none, since torch's compute threads
    already use every core and decoding a tile costs well under 1 % of a CPU training step."""
    if device.type != "cuda":
        return 0
    return max(0, min(8, (os.cpu_count() or 1) - 1))


def dist_info() -> tuple[int, int, int]:
    """``(rank, world size, local rank)`` from torchrun's environment (0, 1, 0 without it)."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0)))


def caption_table(records, dataset_root: Path, run_dir: Path, embedder: Embedder | None,
                  model: str = "unet") -> CaptionTable | CaptionTokens:
    """Caption embeddings of the tiles, cached under the dataset (or the run folder if read-only); CLIP token
    ids for models that hold a CLIP text encoder."""
    captions = {r.name: read_caption(r) for r in records}
    if text_encoder(model) == "clip":
        return CaptionTokens(captions)
    cache = dataset_root / ".farmannot-cache" / f"captions-{TEXT_MODEL}.npz"
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        probe = cache.parent / ".write-test"
        probe.touch()
        probe.unlink()
    except OSError:
        cache = run_dir / f"captions-{TEXT_MODEL}.npz"
    return CaptionTable(captions, cache, embedder)


def make_loader(ds: TileDataset, batch_size: int, shuffle: bool, seed: int, rank: int, world: int,
                workers: int, pin: bool, drop_last: bool = False) -> DataLoader:
    """A loader over ``ds`` that shards across DDP ranks and keeps the device fed."""
    sampler = EpochSampler(DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=shuffle, seed=seed,
                                              drop_last=drop_last))
    kw = {"persistent_workers": True, "prefetch_factor": 4} if workers > 0 else {}
    return DataLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=workers, pin_memory=pin,
                      drop_last=drop_last, **kw)


def run_epoch(model, loader, optimizer, scheduler, scaler, device, amp_dtype, channels_last: bool,
              progress: bool = False, desc: str = "train") -> tuple[float, int, float]:
    """One training epoch. Returns ``(mean loss, images, seconds)``; synchronises with the device only
    every 20 steps (progress bar) and at the end."""
    model.train()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    non_blocking = device.type == "cuda"
    total = torch.zeros((), device=device)
    n_img = 0
    t0 = time.perf_counter()
    bar = tqdm(loader, desc=desc, unit="batch", leave=False, disable=not progress, file=sys.stderr)
    for step, batch in enumerate(bar):
        inputs = model_inputs(batch, device, non_blocking, fmt)
        target = batch["mask"].to(device, non_blocking=non_blocking)
        valid = batch["valid"].to(device, non_blocking=non_blocking)
        ctx = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else nullcontext()
        with ctx:
            logits = model(**inputs)
        loss = bce_dice_loss(logits, target, valid)
        aux = auxiliary_loss(model, target, valid)
        if aux is not None:
            loss = loss + aux
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None and scaler.is_enabled():
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        scheduler.step()
        total += loss.detach() * target.shape[0]
        n_img += target.shape[0]
        if progress and step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return float(total.item()) / max(1, n_img), n_img, time.perf_counter() - t0


@torch.no_grad()
def validate(model, loader, device, amp_dtype, threshold: float) -> dict[str, float]:
    """Validation loss and pixel IoU / F1 of the parcel class."""
    model.eval()
    counts = PixelCounts()
    loss_sum, n = 0.0, 0
    for batch in loader:
        inputs = model_inputs(batch, device)
        target = batch["mask"].to(device)
        valid = batch["valid"].to(device)
        ctx = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else nullcontext()
        with ctx:
            logits = model(**inputs)
        loss_sum += float(bce_dice_loss(logits, target, valid)) * target.shape[0]
        n += target.shape[0]
        pred = (torch.sigmoid(logits.float()).reshape(target.shape) > threshold) & valid
        t = (target > 0) & valid
        counts = counts + PixelCounts(int((pred & t).sum()), int((pred & ~t).sum()), int((~pred & t).sum()),
                                      int((~pred & ~t & valid).sum()))
    s = pixel_scores(counts)
    return {"val_loss": loss_sum / max(1, n), "val_IoU": s["IoU"], "val_F1": s["F1"]}


def _amp_dtype(cfg: TrainConfig, device: torch.device):
    if not cfg.amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def train(cfg: TrainConfig, run_dir: str | Path, resume: bool = False, progress: bool = True,
          embedder: Embedder | None = None, stop_after: int | None = None,
          tiles: tuple[list, list] | None = None) -> dict:
    """Train a model and write the run folder.

    Args:
        cfg: the options.
        run_dir: output folder (``config.json``, ``last.pt``, ``best.pt``, ``train_log.csv``, ``loss.png``).
        resume: continue from ``run_dir/last.pt`` (options of the saved run win, except ``epochs``).
        progress: show progress bars (rank 0 only).
        embedder: caption embedder (default: the bundled sentence model), for text inputs.
        stop_after: stop after this many epochs in this call (to simulate an interruption).
        tiles: ``(training records, validation records)`` instead of the dataset's train/val splits
            (the audit's folds).

    Returns:
        A summary: epochs run, best epoch and score, last validation metrics, images/s.
    """
    run_dir = Path(run_dir)
    rank, world, local_rank = dist_info()
    distributed = world > 1
    device = resolve_device(cfg.device)
    if distributed and device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    main = rank == 0
    try:
        return _train(cfg, run_dir, resume, progress and main, embedder, stop_after, rank, world, device, main,
                      tiles)
    finally:
        if distributed and dist.is_initialized():
            dist.destroy_process_group()


def _train(cfg, run_dir, resume, progress, embedder, stop_after, rank, world, device, main, tiles) -> dict:
    layout, _, dataset_root = resolve_dataset(cfg.dataset)
    if tiles is not None:
        train_recs, val_recs = tiles
    else:
        layout, train_recs = list_tiles(cfg.dataset, "train")
        try:
            _, val_recs = list_tiles(cfg.dataset, "val")
        except FarmannotError:
            val_recs = []
    state = None
    if resume and (run_dir / LAST).exists():
        state = load_checkpoint(run_dir / LAST)
        saved = json.loads(state["config"])
        epochs = cfg.epochs
        cfg = TrainConfig(**{k: v for k, v in saved.items() if k in TrainConfig.__dataclass_fields__})
        cfg.epochs = epochs
        preprocess = Preprocess.from_config(saved, str(run_dir / LAST))
    elif resume and main:
        log.warning("%s: no last.pt to resume from; starting a new run", run_dir)
    if state is None:
        check_inputs(train_recs, cfg.inputs, layout, cfg.dataset)
        preprocess = compute_preprocess(train_recs)
    config = cfg.to_dict() | {"layout": layout, "in_channels": preprocess.channels,
                              PREPROCESS: preprocess.to_dict(), "text_dim": TEXT_DIM,
                              "text_model": TEXT_MODEL, "world_size": world,
                              "tile_size": _tile_size(train_recs[0])}
    config = prepare_config(config, saved if state is not None else None)
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_config(run_dir, config)

    captions = None
    if "text" in cfg.inputs:
        if main:
            captions = caption_table(train_recs + val_recs, dataset_root, run_dir, embedder, cfg.model)
        if world > 1:
            dist.barrier()
        if not main:
            captions = caption_table(train_recs + val_recs, dataset_root, run_dir, embedder, cfg.model)

    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    model = build_model(config, pretrained=state is None).to(device)
    channels_last = device.type == "cuda"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    workers = default_workers(device) if cfg.workers is None else cfg.workers
    pin = device.type == "cuda"
    train_ds = TileDataset(train_recs, layout, preprocess, cfg.inputs, captions, cfg.augment, cfg.seed)
    train_dl = make_loader(train_ds, cfg.batch_size, True, cfg.seed, rank, world, workers, pin,
                           drop_last=len(train_recs) >= cfg.batch_size * world)  # no batch of 1 (BatchNorm)
    val_dl = None
    if val_recs and main:
        val_ds = TileDataset(val_recs, layout, preprocess, cfg.inputs, captions, False, cfg.seed)
        val_dl = make_loader(val_ds, cfg.batch_size, False, cfg.seed, 0, 1, 0, pin)
    steps = len(train_dl) * cfg.epochs
    optimizer, scheduler = make_optimizer(model, cfg.lr, cfg.weight_decay, steps, int(cfg.warmup * steps))
    amp_dtype = _amp_dtype(cfg, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    start, best, best_epoch, history = 1, -1.0, 0, []
    if state is not None:
        unwrap(model).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        start, best, best_epoch = int(state["epoch"]) + 1, float(state["best"]), int(state["best_epoch"])
        history = list(state["history"])
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    config_json = json.dumps(config)
    ran = 0
    for epoch in range(start, cfg.epochs + 1):
        if stop_after is not None and ran >= stop_after:
            break
        torch.manual_seed(cfg.seed * 100003 + epoch)
        train_dl.sampler.set_epoch(epoch)
        loss, n_img, secs = run_epoch(model, train_dl, optimizer, scheduler, scaler, device, amp_dtype,
                                      channels_last, progress, desc=f"epoch {epoch}/{cfg.epochs}")
        if world > 1:
            t = torch.tensor([loss * n_img, n_img], dtype=torch.float64)
            dist.all_reduce(t)
            loss = float(t[0] / t[1])
            n_img = int(t[1])
        row = {"epoch": epoch, "train_loss": loss, "lr": scheduler.get_last_lr()[0], "seconds": secs,
               "images_per_s": n_img / max(secs, 1e-9)}
        if main:
            if val_dl is not None:
                row |= validate(unwrap(model), val_dl, device, amp_dtype, cfg.threshold)
                score = row["val_IoU"]
            else:
                score = -loss
            history.append(row)
            improved = score > best
            if improved:
                best, best_epoch = score, epoch
            ckpt = {"model": unwrap(model).state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "epoch": epoch,
                    "best": best, "best_epoch": best_epoch, "history": history, "config": config_json}
            # best.pt, then last.pt, then the log: a kill between two writes leaves last.pt at the previous
            # epoch, and the resume re-runs this epoch (seeded, same result) and writes all three again
            if improved:
                save_checkpoint(run_dir / BEST, {"model": ckpt["model"], "epoch": epoch, "best": best,
                                                 "config": config_json})
            save_checkpoint(run_dir / LAST, ckpt)
            write_log(run_dir / "train_log.csv", history)
            if epoch == cfg.epochs or (stop_after is not None and ran + 1 >= stop_after):
                plot_history(run_dir / "loss.png", history)
            if progress:
                tqdm.write(f"epoch {epoch}: loss {loss:.4f}"
                           + (f", val IoU {row['val_IoU']:.3f}" if "val_IoU" in row else "")
                           + f", {row['images_per_s']:.1f} images/s", file=sys.stderr)
        if world > 1:
            dist.barrier()
        ran += 1
    if main and ran == 0 and history:  # resumed after the last epoch's checkpoint: the log and plot follow it
        write_log(run_dir / "train_log.csv", history)
        plot_history(run_dir / "loss.png", history)
    last = history[-1] if history else {}
    return {"run_dir": str(run_dir), "epochs": last.get("epoch", 0), "best_epoch": best_epoch, "best": best,
            "last": last, "world_size": world}


def _tile_size(rec) -> int:
    from farmannot.train.data import read_label

    return int(read_label(rec.mask).shape[0])
