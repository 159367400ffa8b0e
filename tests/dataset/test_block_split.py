"""Spatial-block split: blocks never span splits, every scene reaches every split it can, no shared pixels."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from farmannot.dataset.build import build_dataset
from farmannot.dataset.config import load_config
from farmannot.dataset.split import assign_blocks, buffer_train
from farmannot.errors import FarmannotError
from farmannot.io.windows import tile_offsets, window_block


def test_nine_equal_blocks_by_hand():
    # one scene, 9 blocks of 4 tiles, 7:2:1 -> wanted 25.2 / 7.2 / 3.6 tiles. Each block goes to the split
    # furthest below its wanted count: 5 x train (gap 25.2 -> 5.2), val (7.2 > 5.2), train (5.2 > 3.6),
    # test (3.6 > 3.2 > 1.2), val (3.2 > 1.2 > -0.4): 6 / 2 / 1 blocks.
    blocks = {f"s/b{i}": 4 for i in range(9)}
    a, shares = assign_blocks({"s": blocks}, (7, 2, 1))
    counts = pd.Series(a).value_counts().to_dict()
    assert counts == {"train": 6, "val": 2, "test": 1}
    assert shares == pytest.approx({"train": 24 / 36, "val": 8 / 36, "test": 4 / 36})


def test_every_scene_split_on_its_own():
    scenes = {s: {f"{s}/b{i}": 1 for i in range(10)} for s in ("x", "y", "z")}
    a, shares = assign_blocks(scenes, (7, 2, 1), seed=5)
    for s in scenes:
        per = pd.Series({b: a[b] for b in scenes[s]}).value_counts().to_dict()
        assert per == {"train": 7, "val": 2, "test": 1}
    assert assign_blocks(scenes, (7, 2, 1), seed=5)[0] == a  # deterministic


def test_single_block_scene_goes_to_train_and_bad_ratio_is_an_error():
    a, _ = assign_blocks({"big": {f"big/b{i}": 1 for i in range(10)}, "tiny": {"tiny/b0": 3}}, (7, 2, 1),
                         tolerance=0.2)
    assert a["tiny/b0"] == "train"
    with pytest.raises(FarmannotError, match="closest achievable ratio is 100:0:0"):
        assign_blocks({"one": {"one/b0": 5}}, (7, 2, 1))
    # 4 blocks of 9 tiles per scene at 7:2:1: each scene gives 3 to train and 1 to val, test stays empty
    # (10 % short, inside the tolerance): an empty requested split is an error all the same
    big = {s: {f"{s}/b{i}": 9 for i in range(4)} for s in ("p", "q")}
    with pytest.raises(FarmannotError, match="test would be empty"):
        assign_blocks(big, (7, 2, 1), tolerance=0.2)


@pytest.mark.parametrize("tile,block", [(16, 2), (20, 2), (32, 3), (50, 1)])
def test_shifted_last_tile_stays_in_the_block_it_overlaps(tile, block):
    for length in range(tile, 9 * tile):
        offs = tile_offsets(length, tile)
        for a, b in itertools.combinations(offs, 2):
            if abs(a - b) < tile:  # overlapping tiles (only the shifted last one overlaps)
                assert window_block(a, 0, tile, block) == window_block(b, 0, tile, block), (length, a, b)


@pytest.fixture(scope="module")
def block_built(tmp_path_factory):
    from projectgen import make_project

    root = tmp_path_factory.mktemp("blk")
    project = make_project(root / "project")
    cfg = load_config(None, {"tile_size": 20, "group_by": "block", "block_tiles": 2, "split": "2:1:1",
                             "layouts": "gtpbd-mm", "card": True})
    summary = build_dataset(project, root / "out", cfg, progress=False)
    return root / "out", summary, pd.read_parquet(root / "out" / "manifest.parquet")


@pytest.mark.slow
def test_blocks_never_span_splits_and_scenes_reach_every_split(block_built):
    out, summary, df = block_built
    assert len(df) == 5 * 16  # 64 px scenes, 20 px tiles at 0, 20, 40, 44
    assert df.groupby("group")["split"].nunique().max() == 1
    assert df["group"].nunique() == 5 * 4
    # 4 blocks of 4 tiles per scene at 2:1:1 -> 2 train, 1 val, 1 test in every scene
    per_scene = df.groupby(["scene", "split"]).size().unstack(fill_value=0)
    assert (per_scene[["train", "val", "test"]].values == [8, 4, 4]).all()
    for _, row in df.iterrows():
        assert (out / "gtpbd-mm" / row["split"] / row["region"] / "images" / f"{row['tile_id']}.png").exists()
    assert "spatial blocks of 2 x 2 tiles" in (out / "DATASET_CARD.md").read_text()
    from PIL import Image

    from farmannot.dataset.card_plots import SPLIT_COLOURS

    with Image.open(out / "card" / "split_map.png") as im:  # every split's colour is drawn on the map
        rgb = np.asarray(im.convert("RGB")).reshape(-1, 3).astype(int)
    for colour in SPLIT_COLOURS.values():
        want = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(rgb - want).max(axis=1) < 40).sum() > 500


def test_no_pixel_is_in_two_splits(block_built):
    _, _, df = block_built
    for scene, g in df.groupby("scene"):
        owner = np.full((64, 64), "", dtype=object)
        for _, r in g.iterrows():
            win = owner[r["row_off"]:r["row_off"] + r["height"], r["col_off"]:r["col_off"] + r["width"]]
            clash = (win != "") & (win != r["split"])
            assert not clash.any(), f"{scene}: tile {r['tile_id']} shares pixels with another split"
            win[...] = r["split"]


def test_block_grouping_refuses_overlap():
    with pytest.raises(FarmannotError, match="overlap 0"):
        load_config(None, {"tile_size": 32, "overlap": 8, "group_by": "block"}).validate()


def test_buffer_train_by_hand():
    # a 3 x 4 grid: one test tile at (1, 1); buffer 1 leaves out the 8 train tiles around it, not (1, 3)
    cells = [(r, c) for r in range(3) for c in range(4)]
    splits = ["train"] * 12
    splits[5] = "test"  # (1, 1)
    splits[3] = "val"  # (0, 3)
    out = buffer_train(cells, splits, 1)
    left_out = {cells[i] for i, s in enumerate(out) if s == ""}
    assert left_out == {(0, 0), (0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1), (2, 2), (1, 3)}
    assert out[5] == "test" and out[3] == "val"  # evaluation tiles are never left out
    assert buffer_train(cells, splits, 0) == splits


@pytest.mark.slow
def test_block_buffer_build(tmp_path):
    from projectgen import make_project

    project = make_project(tmp_path / "project")
    cfg = load_config(None, {"tile_size": 16, "group_by": "block", "block_tiles": 2, "block_buffer": 1,
                             "split": "2:1:1", "layouts": "gtpbd-mm", "card": True})
    summary = build_dataset(project, tmp_path / "out", cfg, progress=False)
    df = pd.read_parquet(tmp_path / "out" / "manifest.parquet")
    assert summary.buffered > 0 and len(df) == 5 * 16 - summary.buffered
    assert (df["split"] == "train").sum() >= 5 * 3  # 2 train blocks of 4 per scene: at least 3 far enough away
    for _, g in df.groupby("scene"):
        held = g[g["split"] != "train"]
        for _, t in g[g["split"] == "train"].iterrows():  # no kept train tile touches a val/test tile
            gap = np.maximum(abs(held["row_off"] - t["row_off"]), abs(held["col_off"] - t["col_off"])) // 16
            assert (gap > 1).all()
    assert f"{summary.buffered} train tile(s) within 1 tile(s)" in (tmp_path / "out" / "DATASET_CARD.md").read_text()
