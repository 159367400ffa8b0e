"""Tile-wise inference of a trained model (whole tiles, batched): parcel probabilities per tile."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from farmannot.train.data import TileRecord
from farmannot.train.models.segmenter import model_inputs
from farmannot.train.preprocess import Preprocess
from farmannot.train.samples import TileDataset
from farmannot.train.text import CaptionTable


@torch.no_grad()
def predict_tiles(model: torch.nn.Module, config: dict, records: list[TileRecord], layout: str,
                  captions: CaptionTable | None = None, device: str | torch.device = "cpu", batch_size: int = 8,
                  progress: bool = False, amp: bool = False) -> Iterator[tuple[TileRecord, np.ndarray]]:
    """Yield ``(record, parcel probability H x W float32)`` for every tile, in order."""
    device = torch.device(device)
    ds = TileDataset(records, layout, Preprocess.from_config(config), config.get("inputs", "image"), captions,
                     augment=False)
    dl = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=0)
    model.eval()
    dtype = torch.bfloat16 if amp and device.type == "cuda" else None
    for batch in tqdm(dl, desc="predict", unit="batch", disable=not progress, file=sys.stderr, leave=False):
        inputs = model_inputs(batch, device)
        with torch.autocast(device.type, dtype=dtype) if dtype else torch.autocast(device.type, enabled=False):
            logits = model(**inputs)
        probs = torch.sigmoid(logits.float())[:, 0].cpu().numpy()
        for idx, prob in zip(batch["index"].tolist(), probs):
            yield records[idx], prob
