"""Large scenes as views: coordinates, decimated reads, and SAM clicks on the chip that holds the field."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window
from skimage.measure import label as cc_label

from farmannot.errors import InputError
from farmannot.sam.cache import EmbeddingCache, cache_key, image_digest
from farmannot.sam.chip_embed import precompute_chips
from farmannot.sam.scene_views import (
    LargeScene,
    SceneView,
    shape_in_view,
    shape_to_scene,
    shape_to_view,
    split_shapes,
    view_grid,
)
from farmannot.sam.session import SamSession


def _write(path, data, **kw):
    count, h, w = data.shape
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=count, dtype=data.dtype,
                       crs="EPSG:32633", transform=from_origin(400000, 5000000, 1, 1), **kw) as dst:
        dst.write(data)
    return path


@pytest.fixture()
def fields_scene(tmp_path):
    """600 x 500 px, dark background, bright-green rectangular fields (hand-placed)."""
    data = np.full((3, 500, 600), 40, np.uint8)
    green = np.array([60, 220, 60], np.uint8)[:, None, None]
    data[:, 100:180, 200:300] = green  # field A: x 200-300, y 100-180 (crosses the chip edge x = 256)
    data[:, 190:450, 50:450] = green   # field B: 400 x 260 px, larger than a 256 px chip
    return _write(tmp_path / "fields.tif", data)


class BrightRegionSession:
    """Stands in for SAM (same calls): the mask is the bright-green 4-connected region under the first click."""

    def __init__(self):
        self.store = {}

    def key_for(self, rgb):
        return cache_key(image=image_digest(rgb), model="bright-region")

    def key_parts(self, rgb, **origin):
        return {"image": image_digest(rgb), "model": "bright-region", **origin}

    def cached(self, key):
        return self.store.get(key)

    def embed(self, rgb, key=None, parts=None):
        self.store[key] = rgb
        return rgb, False

    def predict(self, emb, points, labels):
        regions = cc_label(emb[..., 1] > 128, connectivity=1)
        x, y = np.floor(points[0]).astype(int)
        return regions == regions[y, x], 0.9


def test_views_cover_the_scene_and_coordinates_round_trip():
    views = view_grid(10000, 7000, view=4096, overlap=256, max_display=2048)
    assert {(v.row, v.col) for v in views} == {(r, c) for r in range(2) for c in range(3)}
    assert all(v.factor == 2.0 and v.shape == (2048, 2048) for v in views)
    v = SceneView(0, 0, 0, Window(3000, 1000, 4096, 4096), 1.0)
    np.testing.assert_allclose(v.to_scene([[10, 20]], centres=True), [[3010, 1020]])
    v2 = SceneView(0, 0, 0, Window(4000, 2000, 4096, 4096), 2.0)
    # view pixel (0, 0) covers scene pixels 4000-4001 x 2000-2001: its centre is (4000.5, 2000.5)
    np.testing.assert_allclose(v2.to_scene([[0, 0]], centres=True), [[4000.5, 2000.5]])
    np.testing.assert_allclose(v2.to_scene([[0, 0]]), [[4000, 2000]])
    pts = np.random.default_rng(0).random((20, 2)) * 4000
    for centres in (True, False):
        np.testing.assert_allclose(v2.to_scene(v2.to_view(pts, centres), centres), pts)
    shape = {"label": "farmland", "points": [[4100.0, 2100.0], [4300.0, 2100.0], [4300.0, 2400.0]],
             "shape_type": "polygon", "farmannot": {"holes": [[[4150.0, 2150.0], [4160.0, 2150.0], [4160.0, 2160.0]]]}}
    back = shape_to_scene(shape_to_view(shape, v2), v2)
    np.testing.assert_allclose(back["points"], shape["points"], atol=1e-3)
    np.testing.assert_allclose(back["farmannot"]["holes"][0], shape["farmannot"]["holes"][0], atol=1e-3)
    assert shape_in_view(shape, v2) and not shape_in_view(shape, SceneView(1, 0, 1, Window(0, 0, 4000, 2000)))
    inside, outside = split_shapes([shape, {"points": [[10.0, 10.0]], "label": "x"}], v2)
    assert len(inside) == 1 and len(outside) == 1 and inside[0]["points"][0] == [49.75, 49.75]


def test_click_on_a_field_across_a_chip_edge_comes_out_whole(fields_scene):
    scene = LargeScene(fields_scene, view=300, overlap=50, chip=256, chip_overlap=64)
    assert [int(w.col_off) for w in scene.chips[:3]] == [0, 192, 344]  # field A crosses chip 0's edge x=256
    res = scene.segment(BrightRegionSession(), [[250.5, 140.5]], [1])
    assert not res.downsampled
    poly = res.polygons[0].to_shapely()
    assert len(res.polygons) == 1 and poly.area == pytest.approx(100 * 80, rel=0.01)
    assert poly.bounds == pytest.approx((200, 100, 300, 180), abs=1)
    # the same click on the fixed tile it falls in (chip 0) would be square-cut at x = 256
    with rasterio.open(fields_scene) as src:
        tile = src.read(2, window=Window(0, 0, 256, 256))
    assert (cc_label(tile > 128, connectivity=1) == cc_label(tile > 128, connectivity=1)[140, 250]).sum() == 56 * 80


def test_an_object_larger_than_a_chip_is_downsampled_and_says_so(fields_scene):
    scene = LargeScene(fields_scene, view=300, overlap=50, chip=256, chip_overlap=64)
    res = scene.segment(BrightRegionSession(), [[100.5, 200.5], [400.5, 440.5]], [1, 1])
    assert res.downsampled and "downsampled" in res.message()
    assert res.polygons[0].to_shapely().area == pytest.approx(400 * 260, rel=0.05)


def _huge(path, w=20000, h=20000):
    """A 20,000 px scene (1.2 GB of pixels) that takes a few kB on disk: unwritten tiles stay sparse."""
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=3, dtype="uint8", tiled=True,
                       blockxsize=512, blockysize=512, sparse_ok=True, compress="deflate",
                       transform=from_origin(0, 20000, 1, 1), crs="EPSG:32633") as dst:
        dst.write(np.full((3, 512, 512), 200, np.uint8), window=Window(9000, 9000, 512, 512))
    return path


def test_opening_and_viewing_a_huge_scene_stays_small_in_process_memory(tmp_path):
    # resident memory of a fresh process (GDAL's own buffers included, which tracemalloc cannot see)
    path = _huge(tmp_path / "huge.tif")
    code = (
        "import resource, sys\n"
        "from farmannot.sam.scene_views import LargeScene\n"
        "rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024\n"
        "before = rss()\n"
        "scene = LargeScene(sys.argv[1], view=4096, overlap=256, max_display=2048)\n"
        "scene.view_picture(scene.view_at(9200, 9200)); scene.overview(256)\n"
        "print(rss() - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    grown = int(out.stdout.strip().splitlines()[-1])
    # the scene is 1.2 GB; its full-resolution mask alone would be 400 MB
    assert grown < 250e6, f"{grown / 1e6:.0f} MB"


def test_view_reads_never_hold_the_full_scene(tmp_path):
    w = h = 20000
    path = _huge(tmp_path / "huge.tif", w, h)
    scene = LargeScene(path, view=4096, overlap=256, max_display=1024)
    view = scene.view_at(9200, 9200)
    tracemalloc.start()
    rgb = scene.view_picture(view)
    thumb, f = scene.overview(256)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert rgb.shape == (1024, 1024, 3) and thumb.shape == (256, 256, 3) and f == pytest.approx(20000 / 256)
    # a full-resolution float read of this one view alone would be 4096^2 * 3 * 4 B = 201 MB
    assert peak < 100e6, f"peak {peak / 1e6:.0f} MB; the full scene is {3 * w * h / 1e6:.0f} MB"
    # the bright block shows at its decimated place in the view
    r, c = ((np.array([9256, 9256]) - [view.window.row_off, view.window.col_off]) / view.factor).astype(int)
    assert rgb[r, c].min() > 100 and rgb[0, 0].max() == 0


def test_a_precomputed_chip_cache_answers_the_click(fields_scene, tiny_checkpoint, tmp_path):
    session = SamSession.from_checkpoint(tiny_checkpoint, cache=EmbeddingCache(tmp_path / "cache"))
    computed, _ = precompute_chips(fields_scene, session, chip=256, overlap=64)
    assert computed == 9
    fresh = SamSession.from_checkpoint(tiny_checkpoint, cache=EmbeddingCache(tmp_path / "cache"))
    scene = LargeScene(fields_scene, chip=256, chip_overlap=64)
    res = scene.segment(fresh, [[40.5, 40.5]], [1], compute=False)  # a grid chip: cached
    assert res is not None and res.hit and not res.downsampled
    assert scene.segment(fresh, [[100.5, 200.5], [400.5, 440.5]], [1, 1], compute=False) is None  # centred chip


def test_display_stretch_is_the_scene_stretch(fields_scene, tmp_path):
    from farmannot.io.stretch import scene_stretch
    from farmannot.sam.chip_embed import display_stretch

    data = (np.random.default_rng(3).random((3, 300, 500)) * 3000).astype(np.uint16)
    data[:, :40, :60] = 0
    plain = _write(tmp_path / "plain.tif", data)
    with_nodata = _write(tmp_path / "nodata.tif", data, nodata=0)
    for path in (fields_scene, plain, with_nodata):
        with rasterio.open(path) as src:
            assert display_stretch(src, [1, 2, 3], max_side=128) == scene_stretch(src, [1, 2, 3], max_side=128)


def test_display_settings_reach_the_views_and_default_chips_stay_those_propose_embeds(fields_scene, tmp_path):
    from farmannot.io.stretch import DisplaySettings
    from farmannot.sam.chip_embed import chip_display

    # default settings on an 8-bit scene: the same stretched chips (hence cache keys) as propose's chip_display
    with rasterio.open(fields_scene) as src:
        plain = chip_display(src)
    assert LargeScene(fields_scene, settings=DisplaySettings()).display == plain
    # a collar-free uint16 scene with a forced nodata value and 10-90 %: the view follows both
    rng = np.random.default_rng(5)
    data = rng.integers(1000, 5000, (3, 200, 300)).astype(np.uint16)
    data[:, 50:80, 100:160] = 7  # a patch of the value the annotator calls nodata
    path = _write(tmp_path / "u16.tif", data)
    scene = LargeScene(path, view=200, overlap=0, settings=DisplaySettings(nodata=7, percentiles=(10, 90)))
    keep = ~np.all(data == 7, axis=0)
    ref = [np.percentile(b[keep].astype(np.float64), (10, 90)) for b in data]
    np.testing.assert_allclose(scene.display.stretch.low, [r[0] for r in ref], rtol=1e-6)
    np.testing.assert_allclose(scene.display.stretch.high, [r[1] for r in ref], rtol=1e-6)
    view = scene.views[0]
    rgb = scene.view_picture(view)
    assert rgb[60, 120].max() == 0  # the nodata patch shows black
    v = data[:, 10, 10].astype(np.float64)
    expected = np.clip(np.round((v - [r[0] for r in ref]) * 255 / np.subtract([r[1] for r in ref], [r[0] for r in ref])),
                       0, 255)
    np.testing.assert_array_equal(rgb[10, 10], expected.astype(np.uint8))
    scene.set_display(DisplaySettings(bands=(3, 2, 1), stretch="none"))
    assert scene.display.bands == [3, 2, 1]
    np.testing.assert_array_equal(scene.view_picture(view)[10, 10], np.clip(data[::-1, 10, 10], 0, 255))
    with pytest.raises(InputError, match="display bands"):
        scene.set_display(DisplaySettings(bands=(1, 2)))
