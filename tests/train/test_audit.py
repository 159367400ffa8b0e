"""The audit ranks planted label errors first on a small generated dataset."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from train_fixtures import REGIONS, TINY, write_gtpbd

from farmannot.errors import InputError
from farmannot.train.audit import assign_folds, disagreement, run_audit
from farmannot.train.config import TrainConfig
from farmannot.train.data import TileRecord, list_tiles

PLANTED = ("train_002", "val_001", "test_003")  # parcels erased, mask shifted, mask inverted


@pytest.mark.slow
def test_planted_label_errors_rank_first(tmp_path):
    ds = write_gtpbd(tmp_path / "ds", n_train=10, n_val=4, n_test=4, corrupt=PLANTED)
    cfg = TrainConfig(epochs=10, batch_size=4, workers=0, lr=1e-2, **TINY)
    rows = run_audit(ds, tmp_path / "audit", cfg, folds=3, top=5, progress=False)
    assert len(rows) == 18
    assert {r["tile_id"] for r in rows[:3]} == set(PLANTED)
    assert rows[2]["score"] > rows[3]["score"] + 0.1  # a clear gap to the first clean tile
    out = tmp_path / "audit"
    with open(out / "audit.csv") as fh:
        ranked = list(csv.DictReader(fh))
    assert [r["tile_id"] for r in ranked[:3]] == [r["tile_id"] for r in rows[:3]]
    suspects = (out / "suspects.txt").read_text().splitlines()
    assert len(suspects) == 5 and suspects[0].endswith(f"{rows[0]['tile_id']}.png")
    assert len(list((out / "overlays").glob("*.png"))) == 5 and (out / "audit.md").exists()
    assert "![scores](plots/scores.png)" in (out / "audit.md").read_text()
    from PIL import Image

    with Image.open(out / "plots" / "scores.png") as im:
        assert im.size[0] > 500 and len(np.unique(np.asarray(im.convert("L")))) > 10  # drawn, not blank
    assert len(list((out / "oof").glob("*.png"))) == 18
    # suspects.json: the same worst five; this dataset has no build_report.json and no windows in its manifest
    doc = json.loads((out / "suspects.json").read_text(encoding="utf-8"))
    assert doc["project"] is None and [s["rank"] for s in doc["suspects"]] == [1, 2, 3, 4, 5]
    assert [s["tile_id"] for s in doc["suspects"]] == [r["tile_id"] for r in rows[:5]]
    for s, r in zip(doc["suspects"], rows):
        assert s["annotation"] is None and s["window"] is None and s["scene"] == r["scene"]
        assert s["score"] == pytest.approx(r["score"], abs=1e-6) and (out / s["oof"]).is_file()


@pytest.mark.slow
def test_rerun_after_a_fix_retrains_only_the_folds_that_learn_from_it(tmp_path):
    import shutil

    ds = write_gtpbd(tmp_path / "ds", n_train=10, n_val=4, n_test=4, corrupt=PLANTED)
    clean = write_gtpbd(tmp_path / "clean", n_train=10, n_val=4, n_test=4)
    cfg = TrainConfig(epochs=10, batch_size=4, workers=0, lr=1e-2, **TINY)
    out = tmp_path / "audit"
    rows = run_audit(ds, out, cfg, folds=3, top=5, progress=False)
    fixed = "val_001"
    fold_of_fixed = next(r["fold"] for r in rows if r["tile_id"] == fixed)
    stamps = {k: (out / "folds" / f"fold{k}" / "last.pt").stat().st_mtime_ns for k in range(3)}
    mask = Path("gtpbd-mm") / "val" / REGIONS[1] / "mask_labels" / f"{fixed}.png"  # val_001: the second region
    shutil.copyfile(clean / mask, ds / mask)  # the fix
    again = run_audit(ds, out, cfg, folds=3, top=5, progress=False)
    for k in range(3):
        changed = (out / "folds" / f"fold{k}" / "last.pt").stat().st_mtime_ns != stamps[k]
        assert changed == (k != fold_of_fixed), k  # only folds that train on the fixed tile start over
    assert fixed not in {r["tile_id"] for r in again[:2]}
    assert {r["tile_id"] for r in again[:2]} == set(PLANTED) - {fixed}
    # nothing changed: every fold is reused as it is
    stamps = {k: (out / "folds" / f"fold{k}" / "last.pt").stat().st_mtime_ns for k in range(3)}
    run_audit(ds, out, cfg, folds=3, top=5, progress=False)
    assert all((out / "folds" / f"fold{k}" / "last.pt").stat().st_mtime_ns == stamps[k] for k in range(3))


@pytest.mark.slow
def test_a_suspect_found_right_stays_out_of_the_top_while_its_label_is_unchanged(tmp_path):
    import os

    from farmannot.train.review import REVIEWED, mark_reviewed

    ds = write_gtpbd(tmp_path / "ds", n_train=10, n_val=4, n_test=4, corrupt=PLANTED)
    cfg = TrainConfig(epochs=10, batch_size=4, workers=0, lr=1e-2, **TINY)
    out = tmp_path / "audit"
    rows = run_audit(ds, out, cfg, folds=3, top=3, progress=False)
    checked = rows[0]["tile_id"]
    mark = mark_reviewed(out, checked)
    assert mark["verdict"] == "label_ok" and (out / REVIEWED).exists()
    again = run_audit(ds, out, cfg, folds=3, top=3, progress=False)  # fold models reused
    assert again[-1]["tile_id"] == checked and again[-1]["reviewed"]
    assert checked not in (out / "suspects.txt").read_text() and len(json.loads(
        (out / "suspects.json").read_text())["suspects"]) == 3
    label = next(r["label"] for r in again if r["tile_id"] == checked)
    st = os.stat(label)
    os.utime(label, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the label was edited since the check
    third = run_audit(ds, out, cfg, folds=3, top=3, progress=False)
    assert third[0]["tile_id"] == checked and not third[0]["reviewed"]
    with pytest.raises(InputError, match="no tile 'nope'"):
        mark_reviewed(out, "nope")


def test_disagreement_terms():
    y = np.zeros((20, 20), np.uint8)
    y[5:15, 5:15] = 1  # 100 px, inner boundary ring of 36 px
    same = disagreement(y.astype(float), y)
    assert same["score"] == pytest.approx(0.0, abs=1e-9)
    empty = disagreement(np.zeros((20, 20)), np.zeros((20, 20), np.uint8))
    assert empty["score"] == 0.0
    # a certain model, no smoothing: the region term is 1 - IoU, the boundary term 1 - F1
    missed = disagreement(y.astype(float), np.zeros_like(y), smoothing=0.0)
    assert missed["region_disagreement"] == 1.0 and missed["boundary_disagreement"] == 1.0
    shifted = np.roll(y, 5, axis=1)  # overlap 50 px, union 150 px
    assert disagreement(shifted.astype(float), y, smoothing=0.0)["region_disagreement"] == pytest.approx(1 - 50 / 150)
    # smoothing s = 5 % of 400 px = 20 px: region 100 / (100 + 20); boundary 36 / (36 + 4 sqrt(20))
    damped = disagreement(y.astype(float), np.zeros_like(y))
    assert damped["region_disagreement"] == pytest.approx(100 / 120)
    assert damped["boundary_disagreement"] == pytest.approx(36 / (36 + 4 * np.sqrt(20)))
    # confidence: a model at 0.5 never contradicts; at 0.75 against the label it counts half
    assert disagreement(np.where(y == 1, 0.5, 0.0), y, smoothing=0.0)["region_disagreement"] == 0.0
    lean = disagreement(np.where(y == 1, 0.75, 0.0), np.zeros_like(y), smoothing=0.0)
    assert lean["region_disagreement"] == pytest.approx(0.5)
    # a few hesitant pixels on an empty label score far below a confidently erased parcel
    speck = np.zeros((20, 20))
    speck[0:2, 0:2] = 0.6
    assert disagreement(speck, np.zeros_like(y))["score"] < 0.1 < 0.5 < damped["score"]


def test_folds_group_scenes(gtpbd_dataset):
    _, recs = list_tiles(gtpbd_dataset, "all")
    folds = assign_folds(recs, 3, by="scene")
    by_scene = {}
    for r, f in zip(recs, folds):
        by_scene.setdefault(r.scene, set()).add(f)
    assert all(len(v) == 1 for v in by_scene.values()) and set(folds) == {0, 1, 2}
    with pytest.raises(InputError):
        assign_folds(recs[:2], 3)


def _grid(scene: str, n: int, tile: int = 32) -> list[TileRecord]:
    return [TileRecord(f"{scene}_{r}_{c}", "train", Path("i.png"), Path("m.png"), scene=scene, region="r",
                       extra={"row_off": r * tile, "col_off": c * tile, "width": tile, "height": tile})
            for r in range(n) for c in range(n)]


def test_block_folds_reach_every_scene_and_keep_blocks_whole():
    recs = _grid("big", 6) + _grid("small", 4) + _grid("tiny", 1)  # 9, 4 and 1 block(s) of 2 x 2 tiles
    folds = assign_folds(recs, 3, seed=1)
    by_block: dict = {}
    for r, f in zip(recs, folds):
        if r.scene != "tiny":
            by_block.setdefault((r.scene, r.extra["row_off"] // 64, r.extra["col_off"] // 64), set()).add(f)
    assert all(len(v) == 1 for v in by_block.values())  # a block is never split over folds
    for scene in ("big", "small"):  # every fold holds out part of every scene with enough blocks
        assert {f for r, f in zip(recs, folds) if r.scene == scene} == {0, 1, 2}
    big = [f for r, f in zip(recs, folds) if r.scene == "big"]
    assert sorted(big.count(k) for k in range(3)) == [12, 12, 12]  # 9 equal blocks: 3 per fold
    assert folds == assign_folds(recs, 3, seed=1)  # deterministic


def test_block_folds_deal_tiles_of_a_scene_with_too_few_blocks():
    recs = _grid("a", 2) + _grid("b", 2)  # one block each: dealt tile by tile
    folds = assign_folds(recs, 2)
    for scene in ("a", "b"):
        assert sorted(f for r, f in zip(recs, folds) if r.scene == scene) == [0, 0, 1, 1]
    no_window = [TileRecord(f"t{i}", "train", Path("i.png"), Path("m.png"), scene="s") for i in range(6)]
    assert sorted(assign_folds(no_window, 3)) == [0, 0, 1, 1, 2, 2]  # falls back to a tile deal
    with pytest.raises(InputError, match="unknown"):
        assign_folds(recs, 2, by="region")
    with pytest.raises(InputError, match="2 known scene.*3 whole-scene folds"):
        assign_folds(recs, 3, by="scene")
