"""Benchmark: how long a SAM click blocks the annotator's window (GUI thread), offscreen.

A large picture (default 3000 x 3000 px, fields of 150-400 px drawn on it) and a tiny random-weight SAM (the
decoder's upsampling to the whole picture, the tracing and the cut-back against drawn fields cost what they
cost with any SAM). For each click:

- reference: labelme's path, the prompt's mask and polygons made on the GUI thread
  (labelme's own ``Canvas._shapes_from_ai_points``, what its ``_finalize`` and every preview repaint do);
- farmannot: ``canvas._finalize()`` hands the prompt to the click worker and returns; the field appears when
  the worker is done (time to the shape printed too).

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_annotate_click.py [--side 3000] [--clicks 8]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--side", type=int, default=3000)
    ap.add_argument("--clicks", type=int, default=8)
    ap.add_argument("--real-masks", action="store_true",
                    help="SAM's decoder runs, then its mask is replaced by the clicked field with a farmstead hole "
                         "and speckles over the whole picture (bench_click.speckles): a real-sized field")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="farmannot-click-bench-"))
    os.environ["HOME"] = str(tmp)

    from PIL import Image
    from PyQt5 import QtCore, QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    from farmannot.sam.cache import EmbeddingCache
    from farmannot.sam.model import TINY, random_sam, save_checkpoint
    from farmannot.sam.session import SamSession
    from farmannot_labelme.window import AnnotateOptions, FarmannotMainWindow

    rng = np.random.default_rng(0)
    side = args.side
    rgb = np.full((side, side, 3), (90, 80, 60), np.uint8)
    centres, rects = [], []
    for _ in range(60):
        w, h = rng.integers(150, 400, 2)
        x, y = rng.integers(0, side - w), rng.integers(0, side - h)
        rgb[y:y + h, x:x + w] = rng.integers(40, 220, 3)
        centres.append((x + w / 2, y + h / 2))
        rects.append((int(x), int(y), int(w), int(h)))
    Image.fromarray(rgb).save(tmp / "scene.png")
    ckpt = save_checkpoint(random_sam(TINY, seed=0), tmp / "tiny.pth")
    session = SamSession.from_checkpoint(ckpt, cache=EmbeddingCache(tmp / "cache"))
    if args.real_masks:
        decode = session.predict

        from bench_click import speckles as make_speckles

        speckles = make_speckles(side, 1)

        def predict(emb, points, labels):  # the decoder's work, then a real-sized field under the click
            _, score = decode(emb, points, labels)
            px, py = np.asarray(points, float)[0]
            x, y, w, h = next(r for r in rects if r[0] <= px < r[0] + r[2] and r[1] <= py < r[1] + r[3])
            mask = speckles.copy()
            mask[y:y + h, x:x + w] = True
            mask[y + h // 4:y + h // 4 + h // 5, x + w // 5:x + w // 5 + w // 5] = False  # a farmstead
            return mask, score

        session.predict = predict
    win = FarmannotMainWindow(config_overrides={"display_label_popup": False, "labels": ["farmland"]},
                              file_or_dir=str(tmp / "scene.png"), farmannot=AnnotateOptions(session=session))
    win.show()
    t0 = time.perf_counter()
    while not (win.sam_bridge.is_ready() and not win.sam_bridge.busy()):
        app.processEvents()
        time.sleep(0.01)
        if time.perf_counter() - t0 > 600:
            raise SystemExit("embedding did not finish")
    canvas = win._canvas_widgets.canvas
    from labelme.widgets import Canvas

    from farmannot_labelme import click_worker

    delivered = []
    deliver = click_worker.ClickWorker._deliver

    def timed(self, key, future):  # the GUI-thread part when the result arrives (labelme adds the shapes)
        t = time.perf_counter()
        deliver(self, key, future)
        delivered.append(time.perf_counter() - t)

    click_worker.ClickWorker._deliver = timed
    win._switch_canvas_mode(edit=False, create_mode="ai_points_to_shape")
    lst = win._docks.unique_label_list
    lst.setCurrentItem(lst.item(0))

    sync, blocked, to_shape = [], [], []
    for k in range(args.clicks):
        x, y = centres[k % len(centres)]
        pt = [QtCore.QPointF(x, y)]
        t = time.perf_counter()
        # labelme's own path (its Canvas method): decoder, mask -> shapes, all on the GUI thread
        Canvas._shapes_from_ai_points(canvas, pt, [1])
        sync.append(time.perf_counter() - t)
        # farmannot's: a fresh prompt (a point 1 px off, so no stored result), finished through labelme
        from labelme._shape import Shape

        shape = Shape(shape_type="points")
        shape.add_point(QtCore.QPointF(x + 1, y), label=1)
        canvas._current = shape
        n = len(canvas.shapes)
        t = time.perf_counter()
        canvas._finalize()
        blocked.append(time.perf_counter() - t)
        while len(canvas.shapes) == n and canvas._current is not None:
            app.processEvents()
            time.sleep(0.001)
        to_shape.append(time.perf_counter() - t)
    def ms(v: list[float]) -> str:
        return f"{statistics.median(v) * 1000:.0f} ms (max {max(v) * 1000:.0f})"

    masks = "real-sized fields with a hole, plus speckles" if args.real_masks else "speckled random-weight masks"
    print(f"picture {side} x {side} px, {args.clicks} clicks, {masks}, load {os.getloadavg()[0]:.1f}")
    print(f"reference (labelme: on the GUI thread) blocks the window: {ms(sync)}")
    print(f"farmannot (click worker) blocks the window:               {ms(blocked)} at the click, "
          f"{ms(delivered)} when the result arrives (labelme adding the shapes, autosave); field shown after "
          f"{ms(to_shape)}")
    print(f"shapes per click (the fields and their holes; kept apart): {len(canvas.shapes) / args.clicks:.1f}")
    print(f"ratio of window blocking: {statistics.median(sync) / max(statistics.median(blocked), 1e-6):.0f}x")
    win.mark_clean()
    win.close()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
