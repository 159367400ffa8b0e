"""Fixtures for the labelme plugin: offscreen Qt, HOME in a temp dir, a tiny SAM checkpoint, an image folder.

Windows run with labelme's default settings, autosave on (every edit is written at once), as annotators get
them; a test of labelme's "Save annotations?" question turns it off with ``make_window(config={...})``.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("labelme")

from farmannot.sam.cache import EmbeddingCache  # noqa: E402
from farmannot.sam.model import TINY, random_sam, save_checkpoint  # noqa: E402
from farmannot.sam.session import SamSession  # noqa: E402

CONFIG = {"display_label_popup": False, "labels": ["farmland", "water"]}  # autosave: labelme's default (on)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    return save_checkpoint(random_sam(TINY, seed=0), tmp_path_factory.mktemp("ckpt") / "tiny-sam.pth")


@pytest.fixture()
def images(tmp_path, sample_data):
    """A folder with a 4-band GeoTIFF and a PNG."""
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(sample_data / "scenes" / "rgbn-cul-de-sac-suba.tif", folder / "a_scene.tif")
    rgb = np.zeros((64, 96, 3), np.uint8)
    rgb[10:50, 20:70] = (40, 160, 60)
    Image.fromarray(rgb).save(folder / "b_field.png")
    return folder


@pytest.fixture()
def session(tiny_checkpoint, tmp_path):
    return SamSession.from_checkpoint(tiny_checkpoint, cache=EmbeddingCache(tmp_path / "cache"))


@pytest.fixture()
def make_window(qtbot, qt_home):
    from farmannot_labelme.window import AnnotateOptions, FarmannotMainWindow

    made = []

    def make(path=None, session=None, config=None, **opts):
        win = FarmannotMainWindow(config_overrides={**CONFIG, **(config or {})},
                                  file_or_dir=str(path) if path else None,
                                  farmannot=AnnotateOptions(session=session, **opts))
        win.resize(1400, 900)
        made.append(win)
        return win

    yield make
    for win in made:
        win.mark_clean()  # else closing asks "save changes?" in a modal dialog
        win.close()
        win.sam_bridge.close()
        win.deleteLater()


@pytest.fixture()
def wait_ready(qtbot):
    """Wait until the window's SAM embedding for the open image is in the cache."""

    def wait(win, timeout=30000):
        qtbot.waitUntil(lambda: not win.sam_bridge.busy() and win.sam_bridge.is_ready(), timeout=timeout)

    return wait
