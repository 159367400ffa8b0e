"""Screenshots of `farmannot annotate` in its main states, grabbed offscreen (no display needed).

Run from the repository root: ``QT_QPA_PLATFORM=offscreen .venv/bin/python docs/img/make_screenshots.py``, or
under a real X server to see the fonts an annotator sees: ``xvfb-run -s "-screen 0 1920x1080x24"
.venv/bin/python docs/img/make_screenshots.py`` (with the packages the README lists). ``--only NAME,...`` makes
only those (``main``, ``grid``, ``suspects``). Each PNG is kept under 300 KB (256 colours, then fewer).
SAM runs with random weights here (no checkpoint can be downloaded on the build machine), so its shapes
are speckled: with a real checkpoint (sam_vit_b_01ec64.pth) they follow field edges.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_TEMPS: list[str] = []


def _temp_dir(prefix: str) -> str:
    """A temporary folder removed when the script ends (HOME, the copied data, the audit)."""
    path = tempfile.mkdtemp(prefix=prefix)
    _TEMPS.append(path)
    return path


atexit.register(lambda: [shutil.rmtree(p, ignore_errors=True) for p in _TEMPS])
os.environ["HOME"] = _temp_dir("farmannot-shots-")

from PyQt5 import QtCore, QtWidgets  # noqa: E402

app = QtWidgets.QApplication([])

from farmannot.sam.cache import EmbeddingCache  # noqa: E402
from farmannot.sam.model import SamConfig  # noqa: E402
from farmannot.sam.session import SamSession  # noqa: E402
from farmannot_labelme.window import AnnotateOptions, FarmannotMainWindow  # noqa: E402

CONFIG = {"display_label_popup": False, "labels": ["farmland", "water", "building"], "auto_save": False}


def pump(seconds: float = 0.3) -> None:
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        time.sleep(0.01)


MAX_BYTES = 300_000


def shot(win: QtWidgets.QWidget, name: str) -> None:
    """Grab ``win`` into ``docs/img/NAME``: 256 colours (text stays sharp), fewer until under 300 KB."""
    from PIL import Image

    pump()
    path = OUT / name
    win.grab().save(str(path))
    with Image.open(path) as im:
        rgb = im.convert("RGB")
    for colours in (256, 128, 64, 32):
        small = rgb.quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        small.save(path, optimize=True)
        if path.stat().st_size < MAX_BYTES:
            break
    print("wrote", path, f"{path.stat().st_size // 1000} KB, {colours} colours")


def window(folder: Path, session: SamSession | None, path: Path | None = None) -> FarmannotMainWindow:
    win = FarmannotMainWindow(config_overrides=dict(CONFIG), file_or_dir=str(path or folder),
                              farmannot=AnnotateOptions(session=session))
    win.resize(1440, 900)
    win._docks.flag_dock.hide()  # no image flags in this project: more room for the caption
    win.fit_docks()
    win.show()
    pump()
    return win


def main() -> None:
    work = Path(_temp_dir("farmannot-shots-data-"))
    scenes = REPO / "sample_data" / "scenes"
    shutil.copy(scenes / "LC08_L1TP_224078_20200518_20200518_01_RT_subset.tif", work)
    shutil.copy(scenes / "rgbn-cul-de-sac.tif", work / "zz_cul_de_sac_rgbn.tif")
    # a small random encoder at SAM's full 1024 px input: a few seconds per embedding on a CPU
    session = SamSession.random(SamConfig(256, 4, 4, (3,), img_size=1024), seed=0,
                                cache=EmbeddingCache(work / "cache"))

    # 1. a 16-bit Landsat scene opens: scene-wide stretch, auto-filled month and location, SAM embedding
    #    computed in the background (the status bar says so)
    win = window(work, session)
    shot(win, "annotate-open-geotiff.png")
    while win.sam_bridge.busy():
        pump(0.1)

    # 2. SAM: a click with labelme's AI-Points tool -> polygons (random weights: speckled parts)
    win.sam_bridge.min_area_px = 300.0
    win._switch_canvas_mode(edit=False, create_mode="ai_points_to_shape")
    labels = win._docks.unique_label_list
    labels.setCurrentItem(labels.item(0))  # "farmland"
    canvas = win._canvas_widgets.canvas
    shapes = canvas._shapes_from_ai_points([QtCore.QPointF(600, 150)], [1])
    canvas.shapes.extend(shapes)
    canvas.backup_shapes()
    canvas.new_shape.emit()  # labelme labels the new shapes with the selected label
    shot(win, "annotate-sam-polygons.png")

    # 3. caption: suggestions with evidence, accept, remaining keywords picked -> EN/ZH preview
    dock = win.caption_dock
    dock.run_suggest()
    shot(win, "annotate-caption-suggested.png")
    dock.accept_suggestions()
    for key, picker in dock.pickers.items():
        if key not in dock.keywords and isinstance(picker, QtWidgets.QComboBox):
            picker.setCurrentIndex(1)
    shot(win, "annotate-caption-complete.png")
    win.mark_clean()
    win.close()

    # 4. band choice: NIR, red, green on the 4-band scene (same scene-wide stretch for every view)
    win = window(work, None, work / "zz_cul_de_sac_rgbn.tif")
    win.display_dock.raise_()
    win.display_dock.combos[0].setCurrentIndex(3)
    win.display_dock.combos[1].setCurrentIndex(0)
    win.display_dock.combos[2].setCurrentIndex(1)
    win.display_dock.stretch.setCurrentIndex(1)
    win.display_dock.apply_button.click()
    shot(win, "annotate-false-colour-no-checkpoint.png")
    win.mark_clean()
    win.close()


def grid() -> None:
    """6. a large scene as a grid of views with drafts: the sample Landsat subset opened with a low grid threshold
    (9 views), drafts from the sample's own parcels (scores made up), the first half accepted."""
    import json

    from shapely.geometry import Polygon

    from farmannot.predict.drafts import PROPOSAL_FLAG, draft_annotation

    work = Path(_temp_dir("farmannot-shots-grid-"))
    name = "LC08_L1TP_224078_20200518_20200518_01_RT_subset"
    scene = work / f"{name}.tif"
    shutil.copy(REPO / "sample_data" / "scenes" / scene.name, scene)
    parcels = json.loads((REPO / "sample_data" / "annotations" / f"{name}.json").read_text())["shapes"]
    polys = [Polygon(s["points"]) for s in parcels if s["label"] == "farmland" and len(s["points"]) >= 3]
    polys = [p for p in polys if p.is_valid and p.area > 600]  # the larger parcels: a readable canvas
    drafts = [(p, round(0.95 - 0.4 * k / len(polys), 3)) for k, p in enumerate(polys)]
    out = work / f"{name}.json"
    draft_annotation(scene, out, drafts, method="sam-proposals")
    raw = json.loads(out.read_text())
    for s in raw["shapes"][::2]:  # every other draft already accepted: both colours show
        s["flags"] = {k: v for k, v in s["flags"].items() if k != PROPOSAL_FLAG}
    out.write_text(json.dumps(raw))
    win = FarmannotMainWindow(config_overrides=dict(CONFIG), file_or_dir=str(out), farmannot=AnnotateOptions(
        extra={"scene_grid": {"threshold": 512, "view": 320, "overlap": 64, "thumbnail": 200}}))
    win.resize(1440, 900)
    win._docks.flag_dock.hide()
    win.fit_docks()
    win.show()
    pump()
    grid_dock = win.scene_grid_dock
    grid_dock.show_view(4)  # the centre view
    grid_dock.raise_()
    pump()
    win.fit_docks()  # again, now that the grid's thumbnail is in its dock
    pump()
    shot(win, "scene_grid.png")
    shot(grid_dock, "scene_grid_dock.png")
    drafts_dock = win.drafts_dock
    drafts_dock.list.setCurrentRow(0)  # the best draft selected: selected on the canvas too
    pump()
    shot(win, "drafts.png")
    shot(drafts_dock, "drafts_dock.png")
    win.mark_clean()
    win.close()


def suspects() -> None:
    """5. ``annotate --suspects``: a short real audit of the sample project (2 folds, a tiny U-Net, 4 epochs;
    about a minute on a CPU), then the dock on the worst suspect."""
    import torch

    from farmannot.dataset.build import build_dataset
    from farmannot.dataset.config import load_config
    from farmannot.train.audit import run_audit
    from farmannot.train.config import TrainConfig
    from farmannot_labelme.suspects_dock import load_suspects

    torch.set_num_threads(2)
    work = Path(_temp_dir("farmannot-shots-audit-"))
    project = work / "project"
    shutil.copytree(REPO / "sample_data", project, ignore=shutil.ignore_patterns("*.py"))
    build_dataset(project, work / "ds", load_config(project / "build.yaml", {"card": False}), progress=False)
    tiny = {"model": "unet", "encoder": "tu-mobilenetv3_small_050",
            "arch_kwargs": {"encoder_depth": 3, "decoder_channels": [32, 16, 8]}}
    run_audit(work / "ds", work / "audit", TrainConfig(epochs=4, batch_size=8, workers=0, **tiny), folds=2, top=10,
              progress=False)
    win = FarmannotMainWindow(config_overrides=dict(CONFIG), farmannot=AnnotateOptions(
        extra={"suspects": load_suspects(work / "audit")}))
    win.resize(1440, 900)
    win._docks.flag_dock.hide()
    win.fit_docks()
    win.show()
    pump()
    win.suspects_dock.raise_()
    shot(win, "annotate-suspects.png")
    win.mark_clean()
    win.close()


if __name__ == "__main__":
    only = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else ["main", "grid", "suspects"]
    if "main" in only:
        main()
    if "grid" in only:
        grid()
    if "suspects" in only:
        suspects()
