"""Dataset layouts, manifest regions, label semantics, augmentations and the caption embedding cache."""

import numpy as np
import pytest
import torch

from farmannot.errors import InputError
from farmannot.train.augment import flip_rotate
from farmannot.train.data import compute_preprocess, list_tiles, resolve_dataset
from farmannot.train.samples import TileDataset
from farmannot.train.text import CaptionTable, caption_clauses


def test_resolve_and_list_gtpbd(gtpbd_dataset):
    assert resolve_dataset(gtpbd_dataset)[0] == "gtpbd-mm"
    assert resolve_dataset(gtpbd_dataset / "gtpbd-mm")[2] == gtpbd_dataset
    layout, recs = list_tiles(gtpbd_dataset, "val")
    assert layout == "gtpbd-mm" and [r.name for r in recs] == [f"val_{i:03d}" for i in range(4)]
    assert [r.region for r in recs] == ["north", "south", "north", "south"]  # from manifest.parquet
    assert recs[1].dem is None and recs[0].dem is not None
    assert len(list_tiles(gtpbd_dataset, "all")[1]) == 16
    with pytest.raises(InputError, match="no gtpbd-mm"):
        resolve_dataset(gtpbd_dataset / "gtpbd-mm" / "val")


def test_samples_ignore_and_farmseg_nonzero(gtpbd_dataset, farmseg_dataset, embedder):
    layout, recs = list_tiles(gtpbd_dataset, "train")
    stats = compute_preprocess(recs)
    cap = CaptionTable({r.name: "Blocky farmland." for r in recs}, None, embedder)
    s = TileDataset(recs, layout, stats, "image+text+dem", cap)[0]
    assert s["image"].shape == (3, 32, 32) and abs(float(s["image"].mean())) < 1.0
    assert not s["valid"][0, :8].any() and s["valid"][1:].all()  # 255 = ignore
    assert set(torch.unique(s["mask"]).tolist()) <= {0.0, 1.0}
    assert s["dem"].shape == (2, 32, 32) and s["dem"][1, 0, 0] == 0 and s["dem"][1, 5, 5] == 1
    assert s["text"].shape == (384,) and s["clause_mask"].sum() == 2  # sentence + its one clause
    fl, frecs = list_tiles(farmseg_dataset, "train")
    fs = TileDataset(frecs, fl, compute_preprocess(frecs))[0]
    assert fl == "farmseg-vl" and fs["mask"].max() == 1 and fs["valid"].all()  # lbl 255 = farmland here


def test_augmentation_moves_image_and_mask_together():
    img = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4)
    mask = (img[0] > 7).astype(np.float32)
    rng = np.random.default_rng(5)
    seen = set()
    for _ in range(12):
        out = flip_rotate({"image": img, "mask": mask}, rng)
        np.testing.assert_array_equal(out["mask"], (out["image"][0] > 7).astype(np.float32))
        seen.add(out["image"][0].tobytes())
    assert len(seen) > 3


def test_caption_cache_embeds_once(tmp_path, embedder):
    calls = []

    def counting(texts):
        calls.append(list(texts))
        return embedder(texts)

    caps = {"a": "The farmland is blocky, the terrain is flat.", "b": "Striped fields."}
    assert caption_clauses(caps["a"]) == [caps["a"], "The farmland is blocky", "the terrain is flat"]
    t1 = CaptionTable(caps, tmp_path / "c.npz", counting)
    t2 = CaptionTable(caps, tmp_path / "c.npz", counting)
    assert len(calls) == 1 and t1.embedded_now > 0 and t2.embedded_now == 0
    np.testing.assert_array_equal(t1.lookup("a")[1], t2.lookup("a")[1])


def test_real_sentence_model_embeds_captions_by_meaning(tmp_path):
    caps = {"a": "The terrain is terraced and mountainous.", "b": "Terraced fields on mountain slopes.",
            "c": "Scattered blocky ponds beside buildings."}
    t = CaptionTable(caps, tmp_path / "c.npz")
    a, b, c = (t.lookup(k)[0] for k in "abc")
    assert a.shape == (384,) and np.linalg.norm(a) == pytest.approx(1.0, abs=1e-4)
    assert float(a @ b) > float(a @ c) + 0.1
