"""The SAM model registry: which families and models farmannot runs, and loading any of them from a checkpoint.

Families: SAM (segment-anything: ``vit_b``, ``vit_l``, ``vit_h``), SAM 2.1 (and SAM 2) from the ``sam2``
package (``sam2.1_tiny``, ``sam2.1_small``, ``sam2.1_base_plus``, ``sam2.1_large``) and SAM 3 (``sam3``
package: concept prompts, :mod:`farmannot.sam.sam3_model`). :func:`load_model` reads a checkpoint the user gives with
``torch.load(weights_only=True)``, tells the family from its weight names, builds the model through that
family's module (:mod:`farmannot.sam.model`, :mod:`farmannot.sam.sam2_model`, :mod:`farmannot.sam.sam3_model`)
and returns a backend
(:mod:`farmannot.sam.backends`) with the model id that keys the embedding cache: model name and checkpoint
content hash. Nothing is ever downloaded.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from farmannot.errors import InputError
from farmannot.sam import model as sam1
from farmannot.sam import sam2_model, sam3_model


@dataclass(frozen=True)
class Family:
    """A model family: its package, model names, and the official checkpoint files."""

    name: str
    package: str
    models: tuple[str, ...]
    checkpoints: tuple[str, ...]
    install: str

    def installed(self) -> bool:
        return importlib.util.find_spec(self.package) is not None


FAMILIES: dict[str, Family] = {
    "sam": Family("SAM", "segment_anything", tuple(sam1.PRESETS),
                  ("sam_vit_b_01ec64.pth", "sam_vit_l_0b3195.pth", "sam_vit_h_4b8939.pth"), "pip install 'farmannot[gui]'"),
    "sam2": Family("SAM 2.1", "sam2", tuple(sam2_model.PRESETS), tuple(sam2_model.CHECKPOINT_NAMES.values()),
                   "pip install 'farmannot[sam2]'"),
    "sam3": Family("SAM 3", "sam3", tuple(sam3_model.PRESETS), ("sam3.pt",),
                   "pip install --no-deps sam3==0.1.4, as it pins numpy<2.4; see docs/annotate.md"),
}

#: ``--sam-model`` choices: every model a checkpoint can be checked against.
MODEL_NAMES: tuple[str, ...] = FAMILIES["sam"].models + FAMILIES["sam2"].models + FAMILIES["sam3"].models

#: Where concept (text) prompts come from (said once, in the error and in `farmannot info`).
SAM3_STATUS = ("Concept (text) prompts need a SAM 3 checkpoint (sam3.pt) and the `sam3` package, installed with "
               "`pip install --no-deps sam3==0.1.4` as it pins numpy<2.4; see docs/annotate.md")

#: Environment variable naming a folder of checkpoints `farmannot info` lists (besides $FARMANNOT_SAM_CHECKPOINT's).
CHECKPOINT_DIR_ENV = "FARMANNOT_SAM_CHECKPOINT_DIR"


def family_of_state(state: dict) -> str:
    """``sam``, ``sam2`` or ``sam3`` from a state dict's weight names; ``unknown`` otherwise."""
    if sam2_model.is_sam2_state(state):
        return "sam2"
    if "image_encoder.patch_embed.proj.weight" in state:
        return "sam"
    if any(k.startswith(("detector.backbone.", "backbone.vision_backbone.")) for k in state):
        return "sam3"
    return "unknown"


def read_checkpoint(path: Path) -> dict:
    """The checkpoint's top-level dict, read with ``torch.load(weights_only=True)``; clear errors otherwise."""
    import pickle

    import torch

    if not path.is_file():
        raise InputError(f"{path}: SAM checkpoint not found; pass --sam-checkpoint PATH to a checkpoint (e.g. "
                         f"sam_vit_b_01ec64.pth or sam2.1_hiera_tiny.pt) or set {sam1.CHECKPOINT_ENV}.")
    try:
        with open(path, "rb") as fh:
            obj = torch.load(fh, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
        raise InputError(f"{path}: not a loadable SAM checkpoint ({str(exc).splitlines()[0]}); give a "
                         "segment-anything or SAM 2.1 checkpoint such as sam2.1_hiera_tiny.pt.") from None
    if not isinstance(obj, dict):
        raise InputError(f"{path}: checkpoint holds a {type(obj).__name__}, expected a state dict.")
    return obj


def load_model(checkpoint: str | os.PathLike, model_name: str | None = None, device: str = "cpu"):
    """Load any supported checkpoint; ``(backend, config, model_id)``.

    Args:
        checkpoint: An official checkpoint file (segment-anything ``.pth``, SAM 2.1 ``.pt``) or one written by
            :func:`farmannot.sam.model.save_checkpoint` / :func:`farmannot.sam.sam2_model.save_sam2_checkpoint`.
        model_name: One of :data:`MODEL_NAMES` to check the file against; ``None`` reads it off the weights.
        device: ``cpu`` or ``cuda[:N]``.

    Raises:
        InputError: missing file, not a checkpoint of a supported family, or not ``model_name``.
    """
    from farmannot.sam.backends import backend_for

    path = Path(checkpoint).expanduser()
    obj = read_checkpoint(path)
    state = obj["model"] if isinstance(obj.get("model"), dict) else obj
    family = family_of_state(state)
    if family == "sam2":
        _require("sam2", path)
        module, config = sam2_model.load_sam2(path, obj, model_name, device=str(sam1._torch_device(device)))
    elif family == "sam":
        module, config = sam1.sam_from_state(path, state, model_name, device)
    elif family == "sam3":
        _require("sam3", path)
        module, config = sam3_model.load_sam3(path, obj, model_name, device=str(sam1._torch_device(device)))
    else:
        raise InputError(f"{path}: not a SAM, SAM 2 or SAM 2.1 checkpoint (no image encoder weights found).")
    return backend_for(module), config, f"{config.name}:{sam1.checkpoint_id(path)}"


def _require(family: str, path: Path) -> None:
    fam = FAMILIES[family]
    if not fam.installed():
        raise InputError(f"{path}: a {fam.name} checkpoint, but the `{fam.package}` package is not installed; "
                         f"{fam.install}.")


def random_backend(config, seed: int = 0):
    """A backend on a random-weight model of ``config`` (a SAM ``SamConfig``, ``Sam2Config`` or ``Sam3Config``)."""
    from farmannot.sam.backends import backend_for

    if isinstance(config, sam3_model.Sam3Config):
        return backend_for(sam3_model.random_sam3(config, seed))
    if isinstance(config, sam2_model.Sam2Config):
        return backend_for(sam2_model.random_sam2(config, seed))
    return backend_for(sam1.random_sam(config, seed))


def find_checkpoints(folders: list[Path] | None = None) -> list[tuple[str, Path]]:
    """``(family name, path)`` of official checkpoint files in ``folders`` (default: the folder of
    ``$FARMANNOT_SAM_CHECKPOINT``, ``$FARMANNOT_SAM_CHECKPOINT_DIR``, and the current folder)."""
    if folders is None:
        folders = [Path.cwd()]
        for env in (sam1.CHECKPOINT_ENV, CHECKPOINT_DIR_ENV):
            value = os.environ.get(env)
            if value:
                p = Path(value).expanduser()
                folders.append(p if p.is_dir() else p.parent)
    found, seen = [], set()
    for folder in folders:
        for fam in FAMILIES.values():
            for name in fam.checkpoints:
                p = (folder / name).resolve()
                if p.is_file() and p not in seen:
                    seen.add(p)
                    found.append((fam.name, p))
    return found
