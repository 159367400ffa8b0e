"""Run folders and checkpoints.

A run folder holds ``config.json`` (model, encoder, inputs, in_channels, text fusion, the input
preprocessing (:mod:`farmannot.train.preprocess`), training options), ``last.pt`` (after every epoch: model, optimizer, scheduler, scaler, epoch,
best score, history) and ``best.pt`` (the best validation epoch). Checkpoints are written atomically and
read with ``torch.load(weights_only=True)``: they hold only tensors and plain Python values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from farmannot.errors import InputError
from farmannot.io.atomic import atomic_path, write_json

CONFIG = "config.json"
BEST = "best.pt"
LAST = "last.pt"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write a checkpoint dict atomically (temporary name, then rename)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``.

    Raises:
        InputError: missing or unreadable file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint not found; give a run folder written by 'farmannot train'.")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for damaged or unsafe files
        raise InputError(f"{path}: cannot load checkpoint ({exc}); it is damaged or not a farmannot checkpoint.") from exc


def write_config(run_dir: str | Path, config: dict) -> None:
    """Write ``config.json`` of a run."""
    write_json(Path(run_dir) / CONFIG, config)


def read_config(run_dir: str | Path) -> dict:
    """Read ``config.json`` of a run.

    Raises:
        InputError: missing or damaged file.
    """
    f = Path(run_dir) / CONFIG
    try:
        config = json.loads(f.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{f}: not found; give a run folder written by 'farmannot train'.") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{f}: damaged ({exc}); re-run 'farmannot train'.") from exc
    if not isinstance(config, dict):
        raise InputError(f"{f}: damaged (a JSON {type(config).__name__}, not an object); re-run 'farmannot train'.")
    return config


def resolve_checkpoint(run_dir_or_checkpoint: str | Path) -> tuple[Path, Path]:
    """``(checkpoint file, run folder)``: a folder means its ``best.pt`` (else ``last.pt``)."""
    p = Path(run_dir_or_checkpoint)
    if p.is_dir():
        for name in (BEST, LAST):
            if (p / name).is_file():
                return p / name, p
        raise InputError(f"{p}: no best.pt or last.pt; train first or give a checkpoint file.")
    return p, p.parent


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain model inside DDP / compile wrappers."""
    while hasattr(model, "module"):
        model = model.module
    return getattr(model, "_orig_mod", model)


def load_model(run_dir_or_checkpoint: str | Path, device: str | torch.device = "cpu"
               ) -> tuple[torch.nn.Module, dict]:
    """Build a trained model for inference.

    Args:
        run_dir_or_checkpoint: a run folder (uses ``best.pt``, else ``last.pt``) or a ``.pt`` file inside one.
        device: where to put the model.

    Returns:
        ``(model in eval mode, config)``. The config holds ``model``, ``encoder``, ``inputs``,
        ``in_channels``, ``preprocess`` (read it with
        :meth:`farmannot.train.preprocess.Preprocess.from_config`; runs written before it hold ``stats``),
        ``tile_size``, ``threshold``. Call the model as ``model(image, text=..., clauses=..., clause_mask=...,
        dem=...)`` with inputs prepared by that ``Preprocess``; it returns parcel logits ``B x 1 x H x W``.
    """
    from farmannot.train.models import build_model

    ckpt_path, run_dir = resolve_checkpoint(run_dir_or_checkpoint)
    state = load_checkpoint(ckpt_path, map_location="cpu")
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise InputError(f"{ckpt_path}: not a checkpoint of 'farmannot train' (no 'model' weights; a SAM or other "
                         "model's file?); give a run folder written by 'farmannot train'.")
    config = json.loads(state["config"]) if "config" in state else read_config(run_dir)
    model = build_model(config)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise InputError(f"{ckpt_path}: weights do not fit the model in its config ({exc}).") from exc
    return model.to(device).eval(), config
