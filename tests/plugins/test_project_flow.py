"""The annotator's fixes reach the project: labelme's autosave (on, its default) writes the annotation
build-dataset reads, never a file beside the scenes (annotation_home.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PyQt5 import QtWidgets

from farmannot.errors import InputError
from farmannot_labelme.annotation_home import AnnotationHome, is_project

SCENE = "rgbn-cul-de-sac-suba"


@pytest.fixture()
def project(tmp_path, sample_data):
    """A one-scene copy of the sample project (its scene, annotation and scenes.csv)."""
    proj = tmp_path / "project"
    (proj / "scenes").mkdir(parents=True)
    (proj / "annotations").mkdir()
    shutil.copy(sample_data / "scenes" / f"{SCENE}.tif", proj / "scenes")
    shutil.copy(sample_data / "annotations" / f"{SCENE}.json", proj / "annotations")
    (proj / "scenes.csv").write_text(f"scene,region\n{SCENE}.tif,Haiti\n", encoding="utf-8")
    return proj


def _labelme_mask(annotation: dict, shapes: list[dict]) -> np.ndarray:
    """labelme's own rasteriser on ``shapes`` (farmland = 1)."""
    from labelme.utils import shapes_to_label

    cls, _ = shapes_to_label((annotation["imageHeight"], annotation["imageWidth"]), shapes,
                             {"_background_": 0, "farmland": 1, "__ignore__": 2})
    return cls == 1


def _build(project: Path, out: Path) -> tuple[np.ndarray, pd.DataFrame]:
    """build-dataset (COCO layout, 64 px tiles); the scene's farmland as pycocotools reads the tiles back."""
    from pycocotools.coco import COCO

    from farmannot.dataset.build import build_dataset
    from farmannot.dataset.config import load_config

    build_dataset(project, out, load_config(None, {"tile_size": 64, "layouts": ["coco"], "split": "1:0:0"}),
                  progress=False, echo=lambda s: None)
    manifest = pd.read_parquet(out / "manifest.parquet")
    coco = COCO(str(out / "coco" / "train.json"))
    h, w = int(manifest.row_off.max()) + 64, int(manifest.col_off.max()) + 64
    scene = np.zeros((h, w), bool)
    for img in coco.loadImgs(coco.getImgIds()):
        tile = manifest.set_index("tile_id").loc[Path(img["file_name"]).stem]
        r, c = int(tile.row_off), int(tile.col_off)
        for a in coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]])):
            m = coco.annToMask(a).astype(bool)
            scene[r:r + m.shape[0], c:c + m.shape[1]] |= m
    return scene, manifest


def _drafts_file(project: Path, folder: Path, box) -> Path:
    """A predict/propose-style drafts file for the scene: one farmland parcel flagged ``proposal``."""
    x0, y0, x1, y1 = box
    ann = json.loads((project / "annotations" / f"{SCENE}.json").read_text(encoding="utf-8"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{SCENE}-drafts.json"
    shape = {"label": "farmland", "points": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]], "group_id": None,
             "description": json.dumps({"attributes": {"score": 0.9}}), "shape_type": "polygon",
             "flags": {"proposal": True}, "mask": None}
    doc = {"version": "6.3.1", "flags": {}, "shapes": [shape, ann["shapes"][0]],  # one already in the project
           "imagePath": str(Path("..") / "project" / "scenes" / f"{SCENE}.tif"), "imageData": None,
           "imageHeight": ann["imageHeight"], "imageWidth": ann["imageWidth"]}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_home_decides_where_annotations_live(project, tmp_path):
    scene = project / "scenes" / f"{SCENE}.tif"
    ann = project / "annotations" / f"{SCENE}.json"
    home = AnnotationHome()
    assert is_project(project) and not is_project(project / "scenes")
    assert home.project_of(scene) == project.resolve()
    assert home.save_path(scene) == str(ann.resolve())
    plan = home.plan(str(scene))
    assert Path(plan.open) == ann.resolve() and Path(plan.save_to) == ann.resolve()
    # a scene without an annotation gets annotations/STEM.json, not scenes/STEM.json
    shutil.copy(scene, project / "scenes" / "new.tif")
    assert home.save_path(project / "scenes" / "new.tif") == str((project / "annotations" / "new.json").resolve())
    # drafts outside the project open with the project's annotation; shapes already there are not added twice
    drafts = _drafts_file(project, tmp_path / "predict", (1, 1, 5, 5))
    plan = home.plan(str(drafts))
    assert Path(plan.open) == ann.resolve() and Path(plan.save_to) == ann.resolve()
    assert [s["flags"] for s in plan.extra_shapes] == [{"proposal": True}]
    # outside any project: labelme's rule (--output, else beside the image)
    loose = tmp_path / "loose" / "x.png"
    assert AnnotationHome().save_path(loose) == str(loose.with_suffix(".json"))
    assert AnnotationHome(output_dir=tmp_path / "out").save_path(loose) == str(tmp_path / "out" / "x.json")


@pytest.mark.slow
def test_autosaved_fixes_reach_build_dataset(project, tmp_path, make_window, qtbot, monkeypatch):
    ann_path = project / "annotations" / f"{SCENE}.json"
    original = json.loads(ann_path.read_text(encoding="utf-8"))
    before, before_manifest = _build(project, tmp_path / "ds0")

    # `farmannot annotate PROJECT`: the scenes, each with its annotation from annotations/
    win = make_window(project)
    assert win._actions.save_auto.isChecked()  # labelme's default
    qtbot.waitUntil(lambda: win._image_path is not None, timeout=10000)
    assert Path(win._label_file_path).resolve() == ann_path.resolve()
    assert len(win._docks.label_list) == len(original["shapes"])
    assert win._docks.file_list.item(0).checkState() == 2  # ticked: it has its annotation
    assert json.loads(ann_path.read_text(encoding="utf-8")) == original  # opening writes nothing

    # 1. delete a field (labelme's Delete, its "Permanently delete?" answered Yes)
    canvas = win._canvas_widgets.canvas
    field = next(s for s in canvas.shapes if s.label == "farmland")
    removed = _labelme_mask(original, [original["shapes"][0]])
    assert before[:removed.shape[0], :removed.shape[1]][removed].any()
    canvas.select_shapes([field])
    monkeypatch.setattr(QtWidgets.QMessageBox, "warning", lambda *a, **k: QtWidgets.QMessageBox.Yes)
    win.delete_selected_shapes()
    saved = json.loads(ann_path.read_text(encoding="utf-8"))
    assert len(saved["shapes"]) == len(original["shapes"]) - 1

    # 2. a caption keyword changed in the dock
    picker = win.caption_dock.pickers["shape"]
    picker.setCurrentIndex(picker.findData("blocky"))
    saved = json.loads(ann_path.read_text(encoding="utf-8"))
    assert saved["farmannot"]["caption"]["keywords"]["shape"]["value"] == "blocky"

    # 3. drafts from predict/ open with the project's annotation; accepting one saves it there
    cls_empty = _empty_box(saved)
    drafts = _drafts_file(project, tmp_path / "predict", cls_empty)
    drafts_bytes = drafts.read_bytes()
    win._load_file(str(drafts))
    assert Path(win._label_file_path).resolve() == ann_path.resolve()
    dock = win.drafts_dock
    qtbot.waitUntil(lambda: dock.list.count() == 1, timeout=5000)
    dock.accept_all()
    saved = json.loads(ann_path.read_text(encoding="utf-8"))
    assert len(saved["shapes"]) == len(original["shapes"])  # one deleted, one accepted, the duplicate not added
    assert not any((s.get("flags") or {}).get("proposal") for s in saved["shapes"])
    assert drafts.read_bytes() == drafts_bytes  # the drafts file is left as it was
    x0, y0, x1, y1 = cls_empty
    assert not before[y0 + 1:y1, x0 + 1:x1].any()

    # nothing written beside the scenes
    assert sorted(p.name for p in (project / "scenes").iterdir()) == [f"{SCENE}.tif"]
    after, after_manifest = _build(project, tmp_path / "ds1")
    assert not after[:removed.shape[0], :removed.shape[1]][removed].any()  # the deleted field is gone
    assert after[y0 + 1:y1, x0 + 1:x1].all()  # the accepted draft is farmland
    assert set(after_manifest["kw_shape"]) == {"blocky"} and set(before_manifest["kw_shape"]) == {"striped"}


def _empty_box(annotation: dict, size: int = 12) -> tuple[int, int, int, int]:
    """A square without farmland in ``annotation`` (labelme's rasteriser), away from the scene edge."""
    cls = _labelme_mask(annotation, annotation["shapes"])
    h, w = cls.shape
    for y in range(h // 4, h - size - 1, 4):
        for x in range(w // 4, w - size - 1, 4):
            if not np.any(cls[y:y + size + 1, x:x + size + 1]):
                return x, y, x + size, y + size
    raise AssertionError("no empty square in the sample annotation")


def test_new_scene_of_a_project_is_saved_in_annotations(project, make_window, qtbot):
    shutil.copy(project / "scenes" / f"{SCENE}.tif", project / "scenes" / "zz_new.tif")
    win = make_window(project / "scenes")  # the README's `annotate PROJECT/scenes` finds the project too
    qtbot.waitUntil(lambda: win._image_path is not None, timeout=10000)
    win._load_file(str(project / "scenes" / "zz_new.tif"))
    qtbot.waitUntil(lambda: Path(win._image_path).name == "zz_new.tif", timeout=10000)
    assert len(win._docks.label_list) == 0
    picker = win.caption_dock.pickers["terrain"]
    picker.setCurrentIndex(picker.findData("flat"))  # any edit autosaves
    saved = project / "annotations" / "zz_new.json"
    assert saved.is_file()
    assert json.loads(saved.read_text(encoding="utf-8"))["imagePath"] == "../scenes/zz_new.tif"
    assert sorted(p.suffix for p in (project / "scenes").iterdir()) == [".tif", ".tif"]


def test_terrain_suggestions_use_the_scene_dem_build_dataset_uses(tmp_path, sample_data, make_window, qtbot):
    """A project scene's DEM (scenes.csv column 'dem', in dems/) reaches the caption dock's suggestions."""
    from farmannot.dataset.project import scene_dem

    proj = tmp_path / "colorado"
    for sub in ("scenes", "annotations", "dems"):
        (proj / sub).mkdir(parents=True)
    shutil.copy(sample_data / "scenes" / "rmnp-rgb.tif", proj / "scenes")
    shutil.copy(sample_data / "annotations" / "rmnp-rgb.json", proj / "annotations")
    shutil.copy(sample_data / "dems" / "rmnp-dem.tif", proj / "dems")
    (proj / "scenes.csv").write_text("scene,region,dem\nrmnp-rgb.tif,Colorado,rmnp-dem.tif\n", encoding="utf-8")
    image = proj / "scenes" / "rmnp-rgb.tif"
    assert scene_dem(proj, image) == proj / "dems" / "rmnp-dem.tif"
    (proj / "scenes.csv").write_text("scene,region,dem\nrmnp-rgb.tif,Colorado,missing.tif\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing.tif"):
        scene_dem(proj, image)
    (proj / "scenes.csv").write_text("scene,region\nrmnp-rgb.tif,Colorado\n", encoding="utf-8")
    assert scene_dem(proj, image) is None  # no column and no dems/rmnp-rgb.tif

    (proj / "scenes.csv").write_text("scene,region,dem\nrmnp-rgb.tif,Colorado,rmnp-dem.tif\n", encoding="utf-8")
    win = make_window(proj)
    qtbot.waitUntil(lambda: win._image_path is not None, timeout=10000)
    assert win.farmannot_dem(win._image_path) == str(proj / "dems" / "rmnp-dem.tif")
    keywords = win._fa_suggest({})
    # the terrain keyword is suggested from the DEM's slope and relief (the image alone cannot say)
    assert keywords["terrain"].source == "suggested"
    assert "slope_median" in keywords["terrain"].evidence
    (proj / "scenes.csv").write_text("scene,region\nrmnp-rgb.tif,Colorado\n", encoding="utf-8")
    (proj / "dems" / "rmnp-dem.tif").unlink()
    assert win.farmannot_dem(win._image_path) is None
    assert "terrain" not in (win._fa_suggest({}) or {})  # no DEM: no terrain guess from the image


def test_project_scene_is_the_file_lists_entry_and_the_next_one_is_embedded(project, sample_data, make_window,
                                                                             session, qtbot, wait_ready):
    """A project annotation names its scene "../scenes/X.tif": the open image is the file list's own path, so the
    next scene's embedding is computed in advance (it was not: the path kept its "annotations/.." detour)."""
    from farmannot.sam.imagery import render_picture

    shutil.copy(sample_data / "scenes" / "rmnp-rgb.tif", project / "scenes" / "zz_next.tif")  # other pixels
    win = make_window(project, session=session)
    qtbot.waitUntil(lambda: win._image_path is not None, timeout=10000)
    first = project / "scenes" / f"{SCENE}.tif"
    assert win.image_list == [str(first), str(project / "scenes" / "zz_next.tif")]
    assert win._image_path == str(first) and ".." not in win.windowTitle()
    wait_ready(win)
    qtbot.waitUntil(lambda: not win.sam_bridge.busy(), timeout=30000)
    # the next scene as the canvas will show it (farmannot's renderer, the window's default display)
    next_key = session.key_for(render_picture(project / "scenes" / "zz_next.tif").rgb)
    qtbot.waitUntil(lambda: next_key in session.cache, timeout=30000)
    # saving still names the scene relative to the annotation, as build-dataset reads it
    picker = win.caption_dock.pickers["shape"]
    picker.setCurrentIndex(picker.findData("blocky"))  # it was "striped": an edit, autosaved
    saved = json.loads((project / "annotations" / f"{SCENE}.json").read_text(encoding="utf-8"))
    assert saved["farmannot"]["caption"]["keywords"]["shape"]["value"] == "blocky"
    assert saved["imagePath"] == f"../scenes/{SCENE}.tif"
    assert saved["farmannot"]["scene"]["path"] == f"../scenes/{SCENE}.tif"
