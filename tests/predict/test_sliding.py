import warnings

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from farmannot.predict.blend import ramp
from farmannot.predict.scene import predict_scene
from farmannot.predict.sliding import SlidingPlan, sliding_predict


def test_ramp_is_positive_symmetric_and_flat_in_the_middle():
    r = ramp(10, 3)
    assert (r > 0).all() and np.allclose(r, r[::-1])
    assert r.tolist()[3:7] == [1, 1, 1, 1]
    assert r[0] == pytest.approx(0.25)
    assert (ramp(5, 0) == 1).all()


def run_plan(img, patch, overlap, predict):
    h, w = img.shape
    plan = SlidingPlan.make(w, h, patch, overlap)
    out = np.full((1, h, w), -1.0, np.float32)
    written = []

    def read(win):
        r, c, hh, ww = int(win.row_off), int(win.col_off), int(win.height), int(win.width)
        return img[None, r:r + hh, c:c + ww].astype(np.float32), np.ones((hh, ww), bool)

    def write(row, rows, valid):
        written.append((row, rows.shape[1]))
        out[:, row:row + rows.shape[1]] = rows

    sliding_predict(plan, read, predict, write, 1, batch_size=3)
    return out, written


@pytest.mark.parametrize("shape,patch,overlap", [((70, 90), 32, 8), ((64, 64), 64, 0), ((20, 100), 32, 16)])
def test_identity_model_gives_back_the_input_exactly(shape, patch, overlap):
    img = np.random.default_rng(0).random(shape).astype(np.float32)
    out, written = run_plan(img, patch, overlap, lambda x: x)
    np.testing.assert_allclose(out[0], img, rtol=1e-5, atol=1e-6)
    # rows are written once each, in order, covering the scene
    starts = [r for r, _ in written]
    assert starts == sorted(starts) and sum(n for _, n in written) == shape[0]


def test_blending_is_smooth_across_seams():
    # A model that answers a constant per patch (its mean position): without blending the output jumps
    # at patch seams; with blending neighbouring pixels never differ by more than the jump / overlap.
    img = np.tile(np.arange(96, dtype=np.float32), (32, 1))
    out, _ = run_plan(img, 32, 16, lambda x: np.broadcast_to(x.mean(axis=(2, 3), keepdims=True), x.shape).copy())
    steps = np.abs(np.diff(out[0], axis=1))
    assert steps.max() < 16 / 8  # patch means differ by 16 between neighbours; spread over 16 px


def test_memory_is_a_strip_not_the_scene():
    h, w, patch = 2000, 64, 32
    sizes = []

    def read(win):
        return np.zeros((1, int(win.height), int(win.width)), np.float32), np.ones((int(win.height), int(win.width)), bool)

    def write(row, rows, valid):
        sizes.append(rows.shape[1])

    sliding_predict(SlidingPlan.make(w, h, patch, 8), read, lambda x: x, write, 1)
    assert sum(sizes) == h and max(sizes) <= patch


def test_predict_scene_writes_a_georeferenced_probability_raster(tmp_path):
    data = np.full((2, 50, 70), 50, np.uint8)  # background: probability 0.25
    data[0, 10:30, 20:60] = 200
    data[:, 45:, :] = 0
    src_path = tmp_path / "scene.tif"
    tr = from_origin(600000, 5000000, 2, 2)
    with rasterio.open(src_path, "w", driver="GTiff", width=70, height=50, count=2, dtype="uint8",
                       crs="EPSG:32633", transform=tr, nodata=0) as dst:
        data[1] = np.where(data[0] > 0, 1, 5)
        data[:, 45:, :] = 0
        dst.write(data)
    out = tmp_path / "pred.tif"
    rep = predict_scene(src_path, out, lambda x: x[:, :1] / 200.0, ["parcel_probability"], band_indexes=[1, 2],
                        normalise=lambda x, valid: x, patch=32, overlap=8, progress=False)
    with rasterio.open(out) as p:
        assert p.crs.to_epsg() == 32633 and p.transform == tr and (p.width, p.height) == (70, 50)
        assert p.descriptions == ("parcel_probability", "class")
        prob, cls = p.read(1), p.read(2)
    assert np.isnan(prob[45:]).all() and np.isnan(cls[45:]).all()  # nodata respected
    assert (cls[10:30, 20:60] == 1).all() and np.nansum(cls) == 20 * 40
    assert rep.parcel_fraction == pytest.approx(800 / (45 * 70))


def test_predict_scene_on_a_png_scene_writes_quietly(tmp_path):
    """A PNG scene (no georeferencing): the prediction has the scene's size, the right pixels, and rasterio's
    NotGeoreferencedWarning does not reach the terminal."""
    from PIL import Image

    img = np.full((40, 60, 3), 50, np.uint8)
    img[5:25, 10:50] = 200
    Image.fromarray(img).save(tmp_path / "scene.png")
    out = tmp_path / "pred.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("error", rasterio.errors.NotGeoreferencedWarning)
        predict_scene(tmp_path / "scene.png", out, lambda x: x[:, :1] / 200.0, ["parcel_probability"],
                      band_indexes=[1, 2, 3], normalise=lambda x, valid: x, patch=32, overlap=8, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(out) as p:
            assert p.crs is None and (p.width, p.height) == (60, 40)
            cls = p.read(2)
    assert np.array_equal(cls == 1, img[..., 0] == 200)
