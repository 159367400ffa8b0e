"""The torch dataset of tiles: dict samples with the inputs a model setting needs."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from farmannot.train.augment import augmentation_rng, flip_rotate
from farmannot.train.data import TileRecord, read_dem, read_image, read_label, target_from_label
from farmannot.train.preprocess import Preprocess
from farmannot.train.text import CaptionTable

Inputs = Literal["image", "image+text", "image+text+dem"]
INPUTS: tuple[str, ...] = ("image", "image+text", "image+text+dem")


class TileDataset(Dataset):
    """Tiles as dict samples of tensors.

    Args:
        records: the tiles.
        layout: ``gtpbd-mm`` or ``farmseg-vl`` (decides how labels are read).
        preprocess: the run's input preprocessing (:class:`~farmannot.train.preprocess.Preprocess`).
        inputs: which inputs the model takes.
        captions: caption embeddings (needed for text inputs).
        augment: apply random flips and rotations.
        seed: seed of the augmentation draws (with the epoch and the index).
    """

    def __init__(self, records: list[TileRecord], layout: str, preprocess: Preprocess, inputs: str = "image",
                 captions: CaptionTable | None = None, augment: bool = False, seed: int = 0) -> None:
        if inputs not in INPUTS:
            raise ValueError(f"inputs must be one of {INPUTS}, got {inputs!r}")
        if "text" in inputs and captions is None:
            raise ValueError("text inputs need caption embeddings")
        self.records = records
        self.layout = layout
        self.preprocess = preprocess
        self.inputs = inputs
        self.captions = captions
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Augmentations depend on the epoch (call before each epoch, in every worker's copy)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        rec = self.records[index]
        image = self.preprocess.tile(read_image(rec.image))
        mask, valid = target_from_label(read_label(rec.mask), self.layout)
        arrays = {"image": image, "mask": mask.astype(np.float32), "valid": valid}
        if self.inputs == "image+text+dem":
            arrays["dem"] = self.preprocess.dem(read_dem(rec.dem, mask.shape))
        if self.augment:
            arrays = flip_rotate(arrays, augmentation_rng(self.seed, epoch, index))
        sample = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}
        sample["index"] = torch.tensor(index)
        if "text" in self.inputs:
            sent, clauses, cmask = self.captions.lookup(rec.name)
            sample["text"] = torch.from_numpy(sent)
            sample["clauses"] = torch.from_numpy(clauses)
            sample["clause_mask"] = torch.from_numpy(cmask)
        return sample
