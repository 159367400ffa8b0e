"""The peers' own code reads build-dataset's layouts: GTPBD's evaluation script and SPEX's loading code
(restated, cited), pycocotools, torchgeo and rasterio; the DEM tiles are align-dem's registered DEM; file
modes follow the umask."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from PIL import Image
from rasterio.windows import Window

from farmannot.dataset.build import build_dataset
from farmannot.dataset.config import load_config


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from projectgen import make_project

    root = tmp_path_factory.mktemp("peers")
    project = make_project(root / "project")
    old = os.umask(0o022)
    try:
        build_dataset(project, root / "out", load_config(None, {"tile_size": 32}), progress=False)
    finally:
        os.umask(old)
    return project, root / "out", pd.read_parquet(root / "out" / "manifest.parquet")


def _tif(path):
    with rasterio.open(path) as src:
        return src.read(1), src.crs, src.transform, src.dtypes[0]


def _tile_dir(out, row):
    return out / "gtpbd-mm" / row["split"] / row["region"]


@pytest.mark.slow
def test_every_file_follows_the_umask(built):
    _, out, _ = built
    wrong = {str(p.relative_to(out)): oct(stat.S_IMODE(p.stat().st_mode))
             for p in out.rglob("*") if stat.S_IMODE(p.stat().st_mode) != (0o755 if p.is_dir() else 0o644)}
    assert not wrong
    assert len(list(out.rglob("*"))) > 500


def test_gtpbd_release_tree_and_encodings(built):
    _, out, df = built
    assert sorted(p.name for p in (out / "gtpbd-mm").iterdir()) == ["test", "train", "val"]
    for _, row in df.iterrows():  # {split}/{region}/ as GTPBD releases it
        d = _tile_dir(out, row)
        assert (d / "images" / f"{row['tile_id']}.png").exists()
        for kind in ("mask_labels", "boundary_labels", "parcel_labels"):
            assert (d / kind / f"{row['tile_id']}.tif").exists()
    row = df.set_index("tile_id").loc["a1_0_0"]
    d = out / "gtpbd-mm" / row["split"] / row["region"]
    mask, crs, tr, dtype = _tif(d / "mask_labels" / "a1_0_0.tif")
    assert dtype == "uint8" and crs.to_epsg() == 32618 and list(tr)[:6] == list(row["transform"])
    expect = np.zeros((32, 32), np.uint8)
    expect[4:29, 4:32] = 1
    np.testing.assert_array_equal(mask, expect)
    boundary = _tif(d / "boundary_labels" / "a1_0_0.tif")[0]
    parcels = _tif(d / "parcel_labels" / "a1_0_0.tif")[0]
    assert set(np.unique(boundary)) == {0, 1} and set(np.unique(parcels)) == {0, 1}
    assert boundary[10, 29] == 1 and boundary[10, 30] == 1      # the shared edge, both sides
    from skimage.measure import label

    assert label(parcels, connectivity=2).max() == 2             # the two touching parcels stay apart
    ign = _tif(d / "mask_labels" / "a1_32_32.tif")[0]
    assert (ign[20:32, 20:32] == 255).all()


def test_gtpbd_evaluation_script_scores_the_labels_perfect_against_themselves(built, tmp_path):
    """GTPBD's evaluation script (restated in ``tests/gtpbd_judge.py``: its file pairing, rasterio reading and
    value-1 parcels) over the ``parcel_labels`` GeoTIFFs as predictions and as ground truth."""
    from gtpbd_judge import score_folders
    from skimage.measure import label

    _, out, df = built
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    for _, row in df[df["boundary_fraction"] > 0].iterrows():  # tiles that have boundaries
        src = _tile_dir(out, row) / "parcel_labels" / f"{row['tile_id']}.tif"
        shutil.copy(src, gt_dir / src.name)
        shutil.copy(src, pred_dir / src.name)
    scores = score_folders(pred_dir, gt_dir)
    assert scores["images"] >= 10
    for key in ("P", "R", "OA", "mIoU", "OIS", "ODS"):
        assert scores[key] == pytest.approx(1.0, abs=1e-9), (key, scores)
    for key in ("GOC", "GUC", "GTC"):
        assert scores[key] == 0.0, (key, scores)
    # the judge can fail: erase one parcel from one prediction
    name = sorted(p.name for p in pred_dir.iterdir())[0]
    with rasterio.open(pred_dir / name, "r+") as dst:
        arr = dst.read(1)
        dst.write(np.where(label(arr, connectivity=2) == 1, 0, arr).astype(np.uint8), 1)
    scores = score_folders(pred_dir, gt_dir)
    assert scores["R"] < 1.0 and scores["OIS"] < 1.0


def test_dem_tiles_are_align_dems_registered_dem(built, tmp_path):
    project, out, df = built
    from farmannot.terrain.scene import write_aligned_dem

    report = write_aligned_dem(project / "dems" / "c1-dem.tif", project / "scenes" / "c1.tif",
                               tmp_path / "aligned.tif")
    shift = (report["registration"]["dx"], report["registration"]["dy"]) if report["registration"]["applied"] \
        else (0.0, 0.0)
    rows = df[df["scene"] == "c1"]
    assert len(rows) == 4
    assert rows["dem_shift_dx_px"].tolist() == [pytest.approx(shift[0], abs=1e-4)] * 4
    assert rows["dem_shift_dy_px"].tolist() == [pytest.approx(shift[1], abs=1e-4)] * 4
    with rasterio.open(tmp_path / "aligned.tif") as ref:
        for _, row in rows.iterrows():
            want = ref.read(1, window=Window(row["col_off"], row["row_off"], 32, 32))
            got, _, tr, _ = _tif(_tile_dir(out, row) / "dem" / f"{row['tile_id']}.tif")
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
            assert list(tr)[:6] == list(row["transform"])
    rep = json.loads((out / "build_report.json").read_text(encoding="utf-8"))
    c1 = next(s for s in rep["scenes"] if s["scene"] == "c1")
    assert c1["dem_shift_px"] == [pytest.approx(v, abs=1e-4) for v in shift] and "dem_registration" in c1


# --- SPEX ---------------------------------------------------------------------------------------------------
# A loader written from SPEX's released training code (github.com/MiliLab/SPEX at
# 799f20aae95d967aec96d701a81f3b17368ea46c, llava/train/train.py, LazySupervisedDataset): the data file is
# read with json.load; process_image opens os.path.join(image_folder, record["image"]) with PIL and
# .convert("RGB"); process_gt_image reads os.path.join(gt_image_folder, record["gt_image"]) unchanged with
# Pillow (mmcv.imfrombytes, backend "pillow"), .squeeze().astype(np.int64), then cv2.resize to 512 x 512
# nearest; preprocess_multimodal moves the single "<image>" token of a turn to its start.


def spex_load(data_path: Path, image_folder: Path, gt_image_folder: Path):
    import cv2

    with open(data_path) as file:
        records = json.load(file)
    for rec in records:
        image = Image.open(os.path.join(image_folder, rec["image"])).convert("RGB")
        gt = np.asarray(Image.open(os.path.join(gt_image_folder, rec["gt_image"]))).squeeze().astype(np.int64)
        gt = cv2.resize(gt.astype(np.float32), (512, 512), interpolation=cv2.INTER_NEAREST).astype(np.int64)
        convs = rec["conversations"]
        for turn in convs:
            if len(re.findall("<image>", turn["value"])) == 1 and not turn["value"].startswith("<image>"):
                raise AssertionError("SPEX would move the image token")
        yield rec, image, gt


def test_spex_training_code_loads_the_spie_export(built):
    _, out, df = built
    n = 0
    for split in ("train", "val", "test"):
        base = out / "spie" / split
        for rec, image, gt in spex_load(out / "spie" / f"{split}.json", base / "img", base / "label"):
            n += 1
            assert image.size == (32, 32)
            assert set(np.unique(gt)) <= {0, 1}                  # a binary target, as SPEX trains
            assert [t["from"] for t in rec["conversations"]] == ["human", "gpt"]
            assert rec["conversations"][0]["value"].startswith("<image>\nBased on the provided image")
            tile = rec["id"].rsplit("_", 1)[0]
            row = df.set_index("tile_id").loc[tile]
            assert rec["category"] == "vegetation"               # farmland is vegetation by default
            # the target is the annotated farmland, not the Otsu map
            mask = _tif(_tile_dir(out, row) / "mask_labels" / f"{tile}.tif")[0]
            small = np.asarray(Image.open(base / "label" / rec["gt_image"]))
            np.testing.assert_array_equal(small, (mask == 1).astype(np.uint8))
            prior = np.asarray(Image.open(base / rec["spectral_prior"]))
            assert set(np.unique(prior)) <= {0, 1}
            with rasterio.open(base / rec["image_multispectral"]) as ms:
                assert ms.count == 4 and ms.crs.to_epsg() == 32618
                assert list(ms.descriptions) == ["red", "green", "blue", "nir"] or ms.count == 4
    assert n == len(df)                                          # one vegetation record per tile


# --- GIS readers -----------------------------------------------------------------------------------------------


def test_png_tiles_are_placed_by_rasterio(built):
    _, out, df = built
    row = df.set_index("tile_id").loc["b1_32_0"]
    for path in (out / "farmseg-vl" / row["split"] / "img" / "b1_32_0.png",
                 out / "farmseg-vl" / row["split"] / "lbl" / "b1_32_0.png",
                 out / "coco" / row["split"] / "images" / "b1_32_0.png",
                 _tile_dir(out, row) / "images" / "b1_32_0.png"):
        with rasterio.open(path) as src:
            assert src.crs.to_epsg() == 32618, path
            assert list(src.transform)[:6] == list(row["transform"]), path


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["gtpbd-mm", "farmseg-vl"])
def test_torchgeo_mosaics_the_tiles_into_labelmes_scene_labels(built, layout):
    """torchgeo 0.8's ``RasterDataset`` over a layout's image and label folders, queried on a whole scene's
    bounds: it places the four tiles by their georeferencing (GeoTIFF, or PNG with world file) and the
    label it returns is labelme's ``shapes_to_label`` of the scene's annotation (gtpbd-mm: 1 farmland,
    255 ignore; farmseg-vl: non-zero farmland); each image tile comes back where it lies in the scene."""
    from torchgeo.datasets import RasterDataset

    project, out, df = built
    rows = df[df["scene"] == "a1"]
    split, region = rows["split"].iloc[0], rows["region"].iloc[0]
    if layout == "gtpbd-mm":
        base, images, labels, glob = out / layout / split / region, "images", "mask_labels", "*.tif"
    else:
        base, images, labels, glob = out / layout / split, "img", "lbl", "*.png"

    class Images(RasterDataset):
        filename_glob = "*.png"

    class Labels(RasterDataset):
        filename_glob = glob
        is_image = False

    a, _, c, _, e, f = rows.set_index("tile_id").loc["a1_0_0", "transform"][:6]
    sample = (Images(paths=str(base / images)) & Labels(paths=str(base / labels)))[c:c + a * 64, f + e * 64:f]
    cls, _ = _labelme_instances(project, "a1")
    want = cls if layout == "gtpbd-mm" else (cls == 1)
    got = sample["mask"].numpy().squeeze()
    assert got.shape == (64, 64) and (cls == 255).any() and (cls == 1).any()
    np.testing.assert_array_equal(got, want)
    image = sample["image"].numpy()
    for _, row in rows.iterrows():
        tile = np.asarray(Image.open(base / images / f"{row['tile_id']}.png").convert("RGB"))
        np.testing.assert_array_equal(image[:, row["row_off"]:row["row_off"] + 32, row["col_off"]:row["col_off"] + 32],
                                      np.moveaxis(tile, -1, 0))


def test_pycocotools_reads_the_instances(built):
    from pycocotools.coco import COCO

    _, out, df = built
    coco = COCO(str(out / "coco" / "train.json"))
    by_id = df.set_index("tile_id")
    for img_id, img in coco.imgs.items():
        tile = Path(img["file_name"]).stem
        row = by_id.loc[tile]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[img_id]))
        assert len(anns) == row["parcel_count"]
        union = np.zeros((img["height"], img["width"]), bool)
        for ann in anns:
            m = coco.annToMask(ann).astype(bool)
            assert ann["area"] == m.sum()
            assert not (union & m).any()                         # parcels do not overlap
            union |= m
        mask = _tif(_tile_dir(out, row) / "mask_labels" / f"{tile}.tif")[0]
        np.testing.assert_array_equal(union[mask != 255], (mask == 1)[mask != 255])


def _labelme_instances(project, scene):
    """labelme 6.3's own converter on a scene's annotation file: (class, instance) arrays of the scene."""
    from labelme.utils import shapes_to_label

    raw = json.loads((project / "annotations" / f"{scene}.json").read_text(encoding="utf-8"))
    return shapes_to_label((raw["imageHeight"], raw["imageWidth"]), raw["shapes"],
                           {"_background_": 0, "farmland": 1, "__ignore__": 255})


def test_each_coco_instance_is_one_labelme_instance_of_its_tile(built):
    """pycocotools decodes every annotation to exactly the pixels of one labelme instance (a shape, or the
    shapes of one group_id) inside the tile, where labelme's class is farmland; areas and boxes are those
    pixels'; every instance in the tile is there once."""
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    project, out, df = built
    by_id = df.set_index("tile_id")
    scenes = {}
    n_rle = n_ann = 0
    for split in ("train", "val", "test"):
        coco = COCO(str(out / "coco" / f"{split}.json"))
        farmland = [c["id"] for c in coco.loadCats(coco.getCatIds())]
        assert len(farmland) == 1
        for img_id, img in coco.imgs.items():
            row = by_id.loc[Path(img["file_name"]).stem]
            if row["scene"] not in scenes:
                scenes[row["scene"]] = _labelme_instances(project, row["scene"])
            cls, ins = scenes[row["scene"]]
            win = (slice(row["row_off"], row["row_off"] + img["height"]),
                   slice(row["col_off"], row["col_off"] + img["width"]))
            cls, ins = cls[win], ins[win]
            want = {int(k): ins == k for k in np.unique(ins[cls == 1])}
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[img_id]))
            got = []
            for ann in anns:
                m = coco.annToMask(ann).astype(bool)
                match = [k for k, w in want.items() if np.array_equal(w & (cls == 1), m)]
                assert len(match) == 1, (img["file_name"], ann["id"])
                got.append(match[0])
                assert ann["category_id"] == farmland[0] and ann["iscrowd"] == 0
                assert ann["area"] == m.sum() == mask_utils.area(mask_utils.encode(np.asfortranarray(m, np.uint8)))
                rows, cols = np.nonzero(m)
                assert ann["bbox"] == [cols.min(), rows.min(), cols.max() - cols.min() + 1, rows.max() - rows.min() + 1]
                n_rle += isinstance(ann["segmentation"], dict)
            assert sorted(got) == sorted(want), img["file_name"]
            n_ann += len(anns)
    assert n_ann >= 3 * len(df) // 2 and n_rle >= 1           # several parcels per tile; the holed one as RLE


def test_gtpbd_objects_are_labelmes_parcels(built):
    """GTPBD's script finds objects in ``parcel_labels`` with ``skimage.measure.label(connectivity=2)``: each
    such object lies inside one labelme instance (``shapes_to_label`` of the scene, farmland class), so
    touching parcels never merge, and every instance with pixels off its edge in the tile has an object."""
    from skimage.measure import label

    project, out, df = built
    touching = 0
    for _, row in df.iterrows():
        cls, ins = _labelme_instances(project, row["scene"])
        win = (slice(row["row_off"], row["row_off"] + 32), slice(row["col_off"], row["col_off"] + 32))
        ins = np.where(cls[win] == 1, ins[win], 0)
        objects = label(_tif(_tile_dir(out, row) / "parcel_labels" / f"{row['tile_id']}.tif")[0] == 1,
                        connectivity=2)
        for k in range(1, objects.max() + 1):
            owners = np.unique(ins[objects == k])
            assert len(owners) == 1 and owners[0] > 0, (row["tile_id"], k, owners)
        found = set(np.unique(ins[objects > 0])) - {0}
        for k in set(np.unique(ins)) - {0}:
            if (ins == k).sum() > 4 * np.sqrt((ins == k).sum()) + 4:    # big enough to have an inside
                assert k in found, (row["tile_id"], k)
        pairs = [(ins[:, :-1], ins[:, 1:]), (ins[:-1], ins[1:])]
        touching += any(((x > 0) & (y > 0) & (x != y)).any() for x, y in pairs)
    assert touching >= 5                                         # two parcels share an edge on a1 .. c1


def test_cocoeval_scores_the_instances_perfect_against_themselves(built):
    """pycocotools' COCOeval (segm) with the ground truth as detections: AP and AR 1.0 on each split, so the
    file holds everything an evaluation reads (image ids, categories, areas, iscrowd, polygons and RLE);
    dropping one detection lowers the recall."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    _, out, _ = built

    def evaluate(gt, dets):
        with contextlib.redirect_stdout(io.StringIO()):
            ev = COCOeval(gt, gt.loadRes([dict(d) for d in dets]), "segm")   # loadRes adds keys to its input
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        return ev.stats

    for split in ("train", "val", "test"):
        gt = COCO(str(out / "coco" / f"{split}.json"))
        dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "segmentation": gt.annToRLE(a),
                 "score": 1.0} for a in gt.loadAnns(gt.getAnnIds())]     # results take RLE only
        assert len(dets) >= 4
        stats = evaluate(gt, dets)
        assert stats[0] == pytest.approx(1.0) and stats[8] == pytest.approx(1.0), (split, stats)
        assert evaluate(gt, dets[1:])[8] < 1.0


def test_terraced_scene_gets_gtpbd_mms_terraced_text(tmp_path):
    from projectgen import KEYWORDS, make_project, write_annotation

    project = make_project(tmp_path / "p", scenes=[("t1", "terraces")], dem_for=None)
    write_annotation(project / "annotations" / "t1.json", "../scenes/t1.tif",
                     keywords={**KEYWORDS, "terrain": "terraced", "landscape": "hills", "layout": "contour_tiers"})
    out = tmp_path / "o"
    build_dataset(project, out, load_config(None, {"tile_size": 32, "split": "1:0:0", "card": False}),
                  progress=False)
    df = pd.read_parquet(out / "manifest.parquet")
    assert set(df["gtpbd_text_family"]) == {"terraced"}
    text = (out / "gtpbd-mm" / "train" / "terraces" / "text" / "t1_0_0.txt").read_text(encoding="utf-8")
    assert text.startswith("The terraced parcels are stacked in tiers along the contour lines")
    cap = json.loads((out / "farmseg-vl" / "train" / "json" / "t1_0_0.json").read_text(encoding="utf-8"))
    assert cap["img_description_eg"].startswith("This remote sensing image")  # FarmSeg-VL keeps its own family
