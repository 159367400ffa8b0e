"""Audit -> fix the labels: suspects.json names each suspect's scene annotation and window; the dock opens them."""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from click.testing import CliRunner
from PIL import Image
from PyQt5 import QtWidgets
from rasterio.transform import from_origin
from shapely.geometry import box

from farmannot.cli.main import cli
from farmannot.errors import InputError
from farmannot_labelme.suspects_dock import load_suspects, oof_outline

REPO = Path(__file__).resolve().parents[2]
# the tiny model of tests/train/conftest.py: timm's smallest MobileNetV3 inside smp's U-Net
TINY = {"model": "unet", "encoder": "tu-mobilenetv3_small_050",
        "arch_kwargs": {"encoder_depth": 3, "decoder_channels": [32, 16, 8]}}
GRID = {"scene_grid": {"threshold": 200, "view": 160, "overlap": 32, "chip": 64, "chip_overlap": 16,
                       "thumbnail": 100}}


def _projectgen():
    if "projectgen" not in sys.modules:
        spec = importlib.util.spec_from_file_location("projectgen", REPO / "tests" / "dataset" / "projectgen.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        sys.modules["projectgen"] = mod
    return sys.modules["projectgen"]


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """A generated project (5 scenes of 64 px), its dataset (32 px tiles) and a 2-fold audit of it."""
    import torch

    from farmannot.dataset.build import build_dataset
    from farmannot.dataset.config import load_config
    from farmannot.train.audit import run_audit
    from farmannot.train.config import TrainConfig

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("suspects")
    project = _projectgen().make_project(root / "project")
    build_dataset(project, root / "ds", load_config(None, {"tile_size": 32}), progress=False)
    run_audit(root / "ds", root / "audit", TrainConfig(epochs=1, batch_size=8, workers=0, **TINY), folds=2, top=6,
              progress=False)
    return project, root / "ds", root / "audit"


@pytest.mark.slow
def test_suspects_json_names_annotation_and_window(audited):
    project, ds, audit = audited
    doc = json.loads((audit / "suspects.json").read_text(encoding="utf-8"))
    assert doc["project"] == str(project.resolve()) and doc["dataset"] == str(ds)
    with open(audit / "audit.csv") as fh:
        ranked = list(csv.DictReader(fh))
    manifest = pd.read_parquet(ds / "manifest.parquet").set_index("tile_id")
    sus = doc["suspects"]
    assert [s["rank"] for s in sus] == [1, 2, 3, 4, 5, 6]
    assert [s["tile_id"] for s in sus] == [r["tile_id"] for r in ranked[:6]]
    for s, r in zip(sus, ranked):
        m = manifest.loc[s["tile_id"]]
        assert s["scene"] == m["scene"] == r["scene"]
        assert s["annotation"] == f"annotations/{m['scene']}.json"  # where projectgen wrote it
        assert (project / s["annotation"]).is_file()
        assert s["window"] == [int(m["col_off"]), int(m["row_off"]), int(m["width"]), int(m["height"])]
        assert s["score"] == pytest.approx(float(r["score"]), abs=1e-6)
        assert (audit / s["oof"]).is_file()
    # the text list is kept as it was: tile images, worst first
    assert (audit / "suspects.txt").read_text().splitlines()[0].endswith(f"{sus[0]['tile_id']}.png")


def _visible(canvas, qtbot) -> tuple[float, float, float, float]:
    """The part of the image the canvas shows, in image pixel coordinates (from Qt's visible region)."""
    qtbot.waitUntil(lambda: not canvas.visibleRegion().isEmpty(), timeout=5000)
    vis = canvas.visibleRegion().boundingRect()
    off = canvas._compute_image_origin_offset()
    return (vis.left() / canvas.scale - off.x(), vis.top() / canvas.scale - off.y(),
            (vis.right() + 1) / canvas.scale - off.x(), (vis.bottom() + 1) / canvas.scale - off.y())


def test_dock_lists_suspects_and_opens_the_annotation_at_the_window(audited, make_window, qtbot):
    project, _, audit = audited
    loaded = load_suspects(audit)
    win = make_window(extra={"suspects": loaded})
    win.show()
    dock = win.suspects_dock
    doc = json.loads((audit / "suspects.json").read_text(encoding="utf-8"))["suspects"]
    texts = [dock.list.item(i).text() for i in range(dock.list.count())]
    assert texts == [f"{s['rank']}. {s['scene']}  score {s['score']:.3f}" for s in doc]
    # the first suspect opens by itself once the event loop runs
    qtbot.waitUntil(lambda: dock.current == 0, timeout=5000)
    # pick one away from the scene origin so centring matters
    k = next(i for i, s in enumerate(doc) if s["window"][:2] != [0, 0])
    dock.list.setCurrentRow(k)
    s = doc[k]
    assert Path(win._label_file_path).resolve() == (project / s["annotation"]).resolve()
    assert (win._image.width(), win._image.height()) == (64, 64)  # the whole scene, not the tile
    canvas = win._canvas_widgets.canvas
    x0, y0, x1, y1 = _visible(canvas, qtbot)
    col, row, w, h = s["window"]
    assert x0 <= col + 0.5 and y0 <= row + 0.5 and x1 >= col + w - 0.5 and y1 >= row + h - 0.5, (x0, y0, x1, y1)
    assert canvas.scale > 1.5  # zoomed in on the 32 px tile, not the whole 64 px scene fitted
    assert len(win._docks.label_list) == 6  # the scene's shapes, editable as usual
    # next / previous
    dock.next_button.click()
    assert dock.current == k + 1 and dock.list.currentRow() == k + 1
    dock.step(-1)
    assert dock.current == k


def test_unsaved_changes_prompt_is_respected(audited, make_window, qtbot, monkeypatch):
    project, _, audit = audited
    loaded = load_suspects(audit)
    win = make_window(extra={"suspects": loaded}, config={"auto_save": False})  # labelme --no-auto-save
    dock = win.suspects_dock
    doc = json.loads((audit / "suspects.json").read_text(encoding="utf-8"))["suspects"]
    assert dock.open_suspect(0)
    other = next(i for i, s in enumerate(doc) if s["annotation"] != doc[0]["annotation"])
    win.mark_dirty()
    asked = []

    def cancel(*args, **kwargs):
        asked.append(args)
        return QtWidgets.QMessageBox.Cancel

    monkeypatch.setattr(QtWidgets.QMessageBox, "question", cancel)
    dock.list.setCurrentRow(other)
    assert asked  # labelme's own "Save annotations?" question
    assert Path(win._label_file_path).resolve() == (project / doc[0]["annotation"]).resolve()
    assert dock.current == 0 and dock.list.currentRow() == 0
    monkeypatch.setattr(QtWidgets.QMessageBox, "question", lambda *a, **k: QtWidgets.QMessageBox.Discard)
    dock.list.setCurrentRow(other)
    assert Path(win._label_file_path).resolve() == (project / doc[other]["annotation"]).resolve()


def _write_suspects(audit: Path, project: Path | None, entries: list[dict]) -> None:
    audit.mkdir(parents=True, exist_ok=True)
    (audit / "suspects.json").write_text(json.dumps(
        {"dataset": "ds", "project": None if project is None else str(project), "suspects": entries}), encoding="utf-8")


def _entry(annotation, window=(0, 0, 32, 32), rank=1, tile="t"):
    return {"rank": rank, "tile_id": tile, "scene": "s", "annotation": annotation, "window": list(window),
            "score": 0.9, "region_disagreement": 0.9, "boundary_disagreement": 0.9, "oof": f"oof/{tile}.png"}


def test_paths_leaving_the_project_are_refused(tmp_path):
    project = tmp_path / "project"
    (project / "annotations").mkdir(parents=True)
    (project / "annotations" / "a.json").write_text("{}")
    (tmp_path / "outside.json").write_text("{}")  # exists, but outside the project
    _write_suspects(tmp_path / "audit", project, [_entry("../outside.json")])
    with pytest.raises(InputError, match="leaves"):
        load_suspects(tmp_path / "audit")
    _write_suspects(tmp_path / "audit", project, [_entry(str(tmp_path / "outside.json"))])
    with pytest.raises(InputError, match="leaves"):
        load_suspects(tmp_path / "audit")
    bad_oof = _entry("annotations/a.json")
    bad_oof["oof"] = "../../x.png"
    _write_suspects(tmp_path / "audit", project, [bad_oof])
    with pytest.raises(InputError, match="out-of-fold map"):
        load_suspects(tmp_path / "audit")
    _write_suspects(tmp_path / "audit", project, [_entry("annotations/a.json")])
    proj, (s,) = load_suspects(tmp_path / "audit")
    assert proj == project and s.annotation == (project / "annotations" / "a.json").resolve()


def test_missing_project_names_the_option(tmp_path):
    _write_suspects(tmp_path / "audit", tmp_path / "moved-away", [_entry("annotations/a.json")])
    with pytest.raises(InputError, match="--project"):
        load_suspects(tmp_path / "audit")
    _write_suspects(tmp_path / "audit", None, [_entry("annotations/a.json")])
    with pytest.raises(InputError, match="--project"):
        load_suspects(tmp_path / "audit")
    other = tmp_path / "elsewhere"
    (other / "annotations").mkdir(parents=True)
    (other / "annotations" / "a.json").write_text("{}")
    assert load_suspects(tmp_path / "audit", project=other)[0] == other  # --project wins


def test_cli_bad_suspects_folder_is_one_line_error(tmp_path):
    res = CliRunner().invoke(cli, ["annotate", "--suspects", str(tmp_path / "nope")], obj={})
    assert res.exit_code != 0 and "Traceback" not in res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "suspects.json" in lines[0] and "nope" in lines[0]


def test_cli_passes_loaded_suspects_to_the_window(audited, monkeypatch):
    import farmannot_labelme.launch as launch_mod

    project, _, audit = audited
    seen = {}
    monkeypatch.setattr(launch_mod, "launch", lambda args, options: seen.update(args=args, options=options))
    res = CliRunner().invoke(cli, ["annotate", "--suspects", str(audit), "--no-log-times"], obj={})
    assert res.exit_code == 0, res.output
    proj, suspects = seen["options"].extra["suspects"]
    assert proj == project.resolve()  # recorded by build-dataset, found without --project
    assert [s.rank for s in suspects] == [1, 2, 3, 4, 5, 6]


def test_oof_outline_in_scene_pixels(tmp_path):
    prob = np.zeros((16, 16), np.uint8)
    prob[4:8, 2:10] = 255  # a 8 x 4 px parcel at x 2..9, y 4..7
    Image.fromarray(prob).save(tmp_path / "t.png")
    (ring,) = oof_outline(tmp_path / "t.png", (100, 200, 32, 32))  # tile shown at 2x in the scene
    # OpenCV traces pixel centres: x 2..9, y 4..7 -> centres +0.5, scaled 2x, offset by the window
    xs, ys = ring[:, 0], ring[:, 1]
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (100 + 2.5 * 2, 100 + 9.5 * 2, 200 + 4.5 * 2, 200 + 7.5 * 2)
    assert oof_outline(tmp_path / "missing.png", (0, 0, 8, 8)) == []


@pytest.mark.parametrize("grid", [True, False], ids=["scene-grid", "whole-scene"])
def test_large_scene_shows_the_view_holding_the_window(make_window, tmp_path, qtbot, grid):
    from farmannot.predict.drafts import draft_annotation

    project = tmp_path / "project"
    (project / "scenes").mkdir(parents=True)
    (project / "annotations").mkdir()
    data = np.full((3, 300, 400), 40, np.uint8)
    scene = project / "scenes" / "big.tif"
    with rasterio.open(scene, "w", driver="GTiff", width=400, height=300, count=3, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(500000, 5000000, 1, 1)) as dst:
        dst.write(data)
    ann = project / "annotations" / "big.json"
    draft_annotation(scene, ann, [(box(300, 200, 360, 260), 0.8)], method="sam-proposals")
    raw = json.loads(ann.read_text())
    raw["imagePath"] = "../scenes/big.tif"
    ann.write_text(json.dumps(raw))
    audit = tmp_path / "audit"
    _write_suspects(audit, project, [_entry("annotations/big.json", window=(320, 220, 32, 32), tile="big_220_320")])
    (audit / "oof").mkdir()
    prob = np.zeros((32, 32), np.uint8)
    prob[8:24, 8:24] = 255
    Image.fromarray(prob).save(audit / "oof" / "big_220_320.png")
    win = make_window(extra={"suspects": load_suspects(audit), **(GRID if grid else {})})
    win.show()
    dock = win.suspects_dock
    assert dock.open_suspect(0)
    vx0, vy0 = 0.0, 0.0
    if grid:
        view = win.scene_grid_dock.current
        assert win.scene_grid_dock.scene is not None and view is not None  # grid mode
        vx0, vy0, vx1, vy1 = view.bounds()
        assert vx0 <= 320 and vy0 <= 220 and vx1 >= 352 and vy1 >= 252  # the shown view holds the window
        assert view.index != 0
    else:
        assert win.scene_grid_dock.scene is None and win._image.width() == 400
    r = dock.window_rect((320, 220, 32, 32))
    assert (r.x(), r.y(), r.width()) == (320 - vx0, 220 - vy0, 32)  # outlined in canvas coordinates
    canvas = win._canvas_widgets.canvas
    x0, y0, x1, y1 = _visible(canvas, qtbot)
    assert x0 <= r.left() and y0 <= r.top() and x1 >= r.right() and y1 >= r.bottom(), (x0, y0, x1, y1)
    assert x1 - x0 < canvas.pixmap.width() - 20  # zoomed in: the window's part of the picture, centred
    # the tile's centre sits near the middle of what is shown
    assert abs((x0 + x1) / 2 - r.center().x()) < 2 or x1 >= canvas.pixmap.width() - 1
    assert dock._outlines and not canvas.grab().isNull()  # paints without error
    shutil.rmtree(audit)  # the dock keeps what it loaded
    assert dock.suspects[0].window == (320, 220, 32, 32)


def test_label_is_right_marks_the_suspect_and_moves_on(audited, make_window, qtbot, tmp_path):
    import shutil

    from farmannot.train.review import is_reviewed, read_reviewed

    _, _, audit = audited
    mine = tmp_path / "audit"
    shutil.copytree(audit, mine)  # marks go into the audit folder: keep the shared one clean
    win = make_window(extra={"suspects": load_suspects(mine)})
    win.show()
    dock = win.suspects_dock
    qtbot.waitUntil(lambda: dock.current == 0, timeout=5000)
    first = dock.suspects[0]
    assert dock.mark_right()
    assert dock.current == 1 and dock.list.item(0).text().startswith("\u2713 ")
    marks = read_reviewed(mine)
    label = marks[first.tile_id]["label"]
    assert list(marks) == [first.tile_id] and is_reviewed(marks, first.tile_id, label)
    dock.right_button.click()  # the button does the same for the next one
    assert set(read_reviewed(mine)) == {first.tile_id, dock.suspects[1].tile_id}


def test_buttons_stay_put_and_a_mark_can_be_taken_back(audited, make_window, qtbot, tmp_path):
    import shutil

    from farmannot.train.review import read_reviewed

    _, _, audit = audited
    mine = tmp_path / "audit"
    shutil.copytree(audit, mine)
    win = make_window(extra={"suspects": load_suspects(mine)})
    win.show()
    dock = win.suspects_dock
    qtbot.waitUntil(lambda: dock.current == 0, timeout=5000)
    buttons = (dock.prev_button, dock.next_button, dock.right_button, dock.unmark_button)

    def places():
        QtWidgets.QApplication.processEvents()
        return [b.mapTo(dock, b.rect().topLeft()) for b in buttons] + [b.size() for b in buttons]

    qtbot.waitExposed(win)
    qtbot.wait(100)  # the first layout pass is done
    at_first = places()
    dock.info.setText("a long line of text " * 30)  # it wraps below; the buttons stay where they are
    assert places() == at_first
    assert not dock.unmark_button.isEnabled()
    first = dock.suspects[0]
    assert dock.mark_right() and dock.current == 1
    assert places() == at_first
    dock.prev_button.click()
    assert dock.current == 0 and dock.unmark_button.isEnabled()
    dock.unmark_button.click()
    assert first.tile_id not in read_reviewed(mine)
    assert not dock.list.item(0).text().startswith("\u2713") and not dock.unmark_button.isEnabled()
    assert dock.mark_right()  # marked again, and a new dock over the same audit shows the tick
    again = make_window(extra={"suspects": load_suspects(mine)})
    assert again.suspects_dock.list.item(0).text().startswith("\u2713 ")
