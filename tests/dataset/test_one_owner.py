"""The dataset on disk has one owner: layout folders, the manifest and the build report are spelled only in
``farmannot.dataset`` (layouts/ and manifest.py); every other module reads datasets through them."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from farmannot.dataset import layouts
from farmannot.dataset.config import LAYOUTS
from farmannot.train.data import LAYOUTS as TRAIN_LAYOUTS
from farmannot.train.data import target_from_label

PACKAGE = Path(__file__).resolve().parents[2]
OWNERS = {"farmannot/dataset/manifest.py", "farmannot/dataset/layouts"}
# names whose spelling belongs to the dataset owner (quoted, so prose in docstrings does not count)
OWNED = re.compile(r"""["'](manifest\.parquet|build_report\.json|mask_labels|boundary_labels|parcel_labels)["'/]""")


def _code_files():
    for root in ("farmannot", "plugins"):
        for f in sorted((PACKAGE / root).rglob("*.py")):
            rel = f.relative_to(PACKAGE).as_posix()
            if not any(rel == o or rel.startswith(o + "/") for o in OWNERS):
                yield rel, f.read_text(encoding="utf-8")


def test_no_module_outside_the_owner_spells_the_dataset_files():
    offenders = []
    for rel, text in _code_files():
        # help texts and card prose may name the files; code paths must not build them from literals
        for n, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if OWNED.search(stripped) and not stripped.startswith(("#", '"', "'", "f\"", "help=")):
                offenders.append(f"{rel}:{n}: {stripped}")
    assert offenders == []


def test_every_layout_is_registered_once_and_readers_are_complete():
    assert LAYOUTS == ("farmseg-vl", "gtpbd-mm", "spie", "coco")  # the default order build-dataset writes
    assert set(layouts.NAMES) == set(layouts.WRITERS) == set(layouts.PREVIEW_FOLDERS)
    assert TRAIN_LAYOUTS == ("gtpbd-mm", "farmseg-vl")  # the order training looks for them in a dataset root
    for name, module in layouts.READERS.items():
        assert module.NAME == name
        assert {"image", "mask", "text"} <= set(module.READ_KINDS)
        assert callable(module.tile_folders) and callable(module.target)


def test_layout_label_values_as_the_released_datasets_define_them():
    label = np.array([[0, 1, 255], [2, 1, 0]], np.uint8)
    # GTPBD: 1 parcel, 255 ignored, anything else background
    mask, valid = target_from_label(label, "gtpbd-mm")
    assert mask.tolist() == [[0, 1, 0], [0, 1, 0]]
    assert valid.tolist() == [[True, True, False], [True, True, True]]
    # FarmSeg-VL: non-zero is farmland, every pixel counts
    mask, valid = target_from_label(label, "farmseg-vl")
    assert mask.tolist() == [[0, 1, 1], [1, 1, 0]]
    assert valid.all()
