"""build-dataset on generated projects: every layout's files and values, manifest, split, card."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import rasterio
from PIL import Image

from farmannot.dataset.build import build_dataset
from farmannot.dataset.config import load_config

SPIE_START = ("Based on the provided image and the attributes of the {} regions, please provide a detailed "
              "description of them:")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from projectgen import make_project

    root = tmp_path_factory.mktemp("b")
    project = make_project(root / "project")
    out = root / "out"
    summary = build_dataset(project, out, load_config(None, {"tile_size": 32}), progress=False)
    return project, out, summary, pd.read_parquet(out / "manifest.parquet")


def _png(path):
    with Image.open(path) as im:
        return im.mode, np.asarray(im)


@pytest.mark.slow
def test_manifest_rows_and_columns(built):
    _, out, summary, df = built
    assert len(df) == summary.tiles == 5 * 4
    need = {"tile_id", "scene", "region", "split", "row_off", "col_off", "width", "height", "crs", "transform",
            "center_lat", "center_lon", "date", "season", "farmland_fraction", "parcel_count", "keywords",
            "caption_en", "caption_zh", "paths", "checksums"}
    assert need <= set(df.columns)
    assert list(df["tile_id"][:4]) == ["a1_0_0", "a1_0_32", "a1_32_0", "a1_32_32"]
    r = df.set_index("tile_id").loc["a1_0_0"]
    assert r["date"] == "2021-01-15" and r["season"] == "winter" and r["crs"] == "EPSG:32618"
    assert list(r["transform"]) == [5.0, 0.0, 500000.0, 0.0, -5.0, 2050000.0]
    # the tile centre (80 m east, 80 m south of the corner) in UTM 18N, by pyproj
    from pyproj import Transformer

    lon, lat = Transformer.from_crs("EPSG:32618", "EPSG:4326", always_xy=True).transform(500080.0, 2049920.0)
    assert r["center_lat"] == pytest.approx(lat) and r["center_lon"] == pytest.approx(lon)
    import hashlib

    for rel, digest in json.loads(r["checksums"]).items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest


def test_split_keeps_regions_whole(built):
    _, _, summary, df = built
    assert df.groupby("region")["split"].nunique().max() == 1
    got = dict(df.groupby("region")["split"].first())
    assert got["north"] == "train" and {got["east"], got["south"]} == {"val", "test"}  # 4 tiles each: a tie
    assert summary.achieved == pytest.approx({"train": 0.6, "val": 0.2, "test": 0.2})


def _tif(path):
    with rasterio.open(path) as src:
        return src.read(1)


def test_gtpbd_mm_labels_by_hand(built):
    _, out, _, _ = built
    base = out / "gtpbd-mm" / "train" / "north"
    mask = _tif(base / "mask_labels" / "a1_0_0.tif")
    expect = np.zeros((32, 32), np.uint8)
    expect[4:29, 4:32] = 1                      # parcels 1 and 2: rows 4..28, columns 4..31 of this tile
    np.testing.assert_array_equal(mask, expect)
    boundary = _tif(base / "boundary_labels" / "a1_0_0.tif")
    assert boundary[10, 29] == 1 and boundary[10, 30] == 1 and boundary[10, 15] == 0  # touching edge, both sides
    parcel = _tif(base / "parcel_labels" / "a1_0_0.tif")
    np.testing.assert_array_equal(parcel, mask * (1 - boundary))  # parcel interiors: off the edge ring
    hole = _tif(base / "mask_labels" / "a1_32_0.tif")
    assert (hole[10:21, 15:26] == 0).all() and hole[5, 10] == 1  # the _background_ hole (rows 42..52)
    ign = _tif(base / "mask_labels" / "a1_32_32.tif")
    assert (ign[20:32, 20:32] == 255).all()     # __ignore__ rectangle painted last
    mode, img = _png(base / "images" / "a1_0_0.png")
    assert mode == "RGB" and img.dtype == np.uint8
    text = (base / "text" / "a1_0_0.txt").read_text(encoding="utf-8")
    assert text.startswith("This remote sensing image was taken in January (winter)")  # no layout: FarmSeg


def test_dem_only_where_the_scene_has_one(built):
    _, out, _, df = built
    dems = sorted(p.name for p in (out / "gtpbd-mm").rglob("dem/*.tif"))
    assert dems == ["c1_0_0.tif", "c1_0_32.tif", "c1_32_0.tif", "c1_32_32.tif"]
    split = df.set_index("tile_id").loc["c1_0_0", "split"]
    with rasterio.open(out / "gtpbd-mm" / split / "south" / "dem" / "c1_0_0.tif") as src:
        assert src.count == 1 and src.dtypes[0] == "float32" and np.isnan(src.nodata)
        assert src.crs.to_epsg() == 32618 and src.transform.c == 504000.0
        z = src.read(1)
    # the DEM is 100 + 0.5 * col + 0.25 * row (values at pixel centres) on a 10 m grid starting 20 m before
    # the scene: scene pixel (0, 0) is centred 22.5 m into the DEM, 1.75 DEM pixels past the first centre
    assert z[0, 0] == pytest.approx(100 + 0.75 * 1.75, abs=1e-3)
    assert df.loc[df["scene"] == "c1", "dem_coverage"].eq(1.0).all()
    assert df.loc[df["scene"] != "c1", "dem_coverage"].isna().all()


def test_farmseg_vl_released_layout(built):
    _, out, _, df = built
    base = out / "farmseg-vl"
    for split, n in (("train", 12), ("val", 4), ("test", 4)):
        for sub, ext in (("img", "png"), ("img", "wld"), ("lbl", "png"), ("lbl", "png.aux.xml"), ("json", "json")):
            assert len(list((base / split / sub).glob(f"*.{ext}"))) == n
    cap = json.loads((base / "train" / "json" / "a1_0_0.json").read_text(encoding="utf-8"))
    assert set(cap) == {"img_description_eg", "img_description_cn"}
    assert cap["img_description_cn"].startswith("该遥感影像拍摄于1月")
    _, lbl = _png(base / "train" / "lbl" / "a1_32_32.png")
    mask = _tif(out / "gtpbd-mm" / "train" / "north" / "mask_labels" / "a1_32_32.tif")
    np.testing.assert_array_equal(lbl, ((mask > 0) & (mask < 255)).astype(np.uint8))


def test_spie_records_and_maps(built):
    _, out, _, df = built
    recs = json.loads((out / "spie" / "train.json").read_text(encoding="utf-8"))
    assert len(recs) == 12                      # farmland is vegetation ground truth; no water/building labels
    rec = recs[0]
    assert rec["id"] == "a1_0_0_vegetation" and rec["gt_image"] == "a1_0_0_vegetation.png"
    human = rec["conversations"][0]["value"]
    assert human.startswith("<image>\n" + SPIE_START.format("vegetation") + "[{'Size of area'")
    _, prior = _png(out / "spie" / "train" / rec["spectral_prior"])
    assert set(np.unique(prior)) <= {0, 1}
    # NIR is bright on the parcels: the vegetation prior is the parcel block of this tile
    assert prior[10, 10] == 1 and prior[1, 1] == 0
    _, gt = _png(out / "spie" / "train" / "label" / rec["gt_image"])
    assert gt[10, 10] == 1 and gt[1, 1] == 0 and set(np.unique(gt)) == {0, 1}
    assert (out / "spie" / "train" / "img" / rec["image"]).exists()


def test_coco_instances_from_parcels(built):
    _, out, _, df = built
    coco = json.loads((out / "coco" / "train.json").read_text(encoding="utf-8"))
    assert len(coco["images"]) == 12 and coco["categories"][0]["name"] == "farmland"
    first = [a for a in coco["annotations"] if a["image_id"] == 1]
    assert coco["images"][0]["file_name"] == "train/images/a1_0_0.png"
    assert len(first) == int(df.set_index("tile_id").loc["a1_0_0", "parcel_count"]) == 2
    a = first[0]
    assert a["bbox"] == [4, 4, 26, 25] and a["area"] == 26 * 25
    xs, ys = a["segmentation"][0][0::2], a["segmentation"][0][1::2]
    assert (min(xs), min(ys), max(xs), max(ys)) == (4, 4, 30, 29)  # pixel-edge polygon around the bbox


def test_repairs_reported(built):
    _, out, _, _ = built
    rep = json.loads((out / "build_report.json").read_text(encoding="utf-8"))
    s = rep["scenes"][0]
    assert s["scene"] == "a1" and s["repaired"][0]["shape"] == "shape 4 ('farmland')"


def test_card_with_plots(built):
    _, out, _, _ = built
    card = (out / "DATASET_CARD.md").read_text(encoding="utf-8")
    for plot in ("tiles_by_region_split", "split_map", "season_by_region", "distribution_shape_by_region",
                 "keyword_frequencies", "sample_tiles"):
        assert f"card/{plot}.png" in card
        with Image.open(out / "card" / f"{plot}.png") as im:
            assert im.size[0] > 300
    assert "| train | 12 | 70% | 60% | north |" in card and "## Sample tiles" in card


def test_rebuild_gives_the_same_bytes_card_included(built):
    project, out, _, _ = built
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    s = build_dataset(project, out, load_config(None, {"tile_size": 32}), progress=False)
    after = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert s.resumed_scenes == 5 and before == after


def test_sample_data_demo_project(sample_data, tmp_path):
    """The demo project builds (its annotations, scenes.csv and build.yaml are consistent)."""
    cfg = load_config(sample_data / "build.yaml", {"layouts": "gtpbd-mm", "card": False})
    s = build_dataset(sample_data, tmp_path / "out", cfg, progress=False)
    df = pd.read_parquet(tmp_path / "out" / "manifest.parquet")
    assert not s.errors and set(df["region"]) == {"Haiti", "Parana", "Colorado"}
    assert df.groupby("group")["split"].nunique().max() == 1  # spatial blocks (one tile each) kept whole
    for split in ("train", "val", "test"):  # each scene split on its own: every region in every split
        assert set(df.loc[df["split"] == split, "region"]) == {"Haiti", "Parana", "Colorado"}
    cov = df.loc[df["region"] == "Colorado", "dem_coverage"]  # the real DEM covers part of the image
    assert cov.notna().all() and cov.max() == 1.0 and cov.min() < 0.5
    assert df.loc[df["region"] == "Parana", "farmland_fraction"].mean() > 0.3


def test_coco_parcel_with_a_hole_is_rle(built):
    _, out, _, df = built
    coco = json.loads((out / "coco" / "train.json").read_text(encoding="utf-8"))
    img = next(i for i in coco["images"] if i["file_name"].endswith("/a1_32_0.png"))
    anns = [a for a in coco["annotations"] if a["image_id"] == img["id"]]
    rle = [a for a in anns if isinstance(a["segmentation"], dict)]
    assert len(rle) == 1                                   # parcel 3 with its _background_ hole
    seg = rle[0]["segmentation"]
    counts = np.asarray(seg["counts"])
    assert seg["size"] == [32, 32] and counts.sum() == 32 * 32
    flat = np.repeat(np.arange(len(counts)) % 2, counts).astype(bool)   # decode: column-major runs
    mask = flat.reshape(32, 32, order="F")
    from skimage.measure import label

    interiors = label(_tif(out / "gtpbd-mm" / "train" / "north" / "parcel_labels" / "a1_32_0.tif"), connectivity=2)
    pid = int(np.bincount(interiors[interiors > 0]).argmax())  # parcel 3's interior, its edge ring left out
    boundary = _tif(out / "gtpbd-mm" / "train" / "north" / "boundary_labels" / "a1_32_0.tif")
    np.testing.assert_array_equal(mask & (boundary == 0), interiors == pid)
    assert rle[0]["area"] == int(mask.sum()) and not mask[15, 20]      # the hole is not in the mask
