"""``propose --text`` with example boxes: survey points and spectral regions per chip, judged by shapely
(point boxes) and scikit-image's Otsu + labelling (spectral regions); the CLI's drafts and its refusals."""

from __future__ import annotations

import numpy as np
import pyogrio.raw
import pytest
import rasterio
import shapely
from click.testing import CliRunner
from rasterio.transform import from_origin
from rasterio.windows import Window
from shapely.geometry import box

pytest.importorskip("sam3", reason="the sam3 package is not installed (pip install --no-deps sam3==0.1.4)")

from farmannot.cli.main import cli  # noqa: E402
from farmannot.io.labelme_json import load_annotation  # noqa: E402
from farmannot.sam.cache import EmbeddingCache  # noqa: E402
from farmannot.sam.chips import chip_grid  # noqa: E402
from farmannot.sam.sam3_backend import Sam3Backend  # noqa: E402
from farmannot.sam.sam3_model import TINY, random_sam3, save_sam3_checkpoint  # noqa: E402
from farmannot.sam.session import SamSession  # noqa: E402

CRS = "EPSG:32618"
TRANSFORM = from_origin(790000, 2050000, 5, 5)
CHIP, OVERLAP = 64, 16  # on the 120 x 96 scene: 6 chips, overlaps at columns 48-63 / 56-111 and rows 32-63


@pytest.fixture(scope="module")
def sam3_checkpoint(tmp_path_factory):
    return save_sam3_checkpoint(random_sam3(TINY, seed=1), TINY, tmp_path_factory.mktemp("ckpt3") / "tiny-sam3.pt")


@pytest.fixture(scope="module")
def session(sam3_checkpoint, tmp_path_factory):
    return SamSession.from_checkpoint(sam3_checkpoint, cache=EmbeddingCache(tmp_path_factory.mktemp("cache3")))


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """R, G, B, NIR: speckled vegetation (many small NDVI regions) and fields of different sizes."""
    rng = np.random.default_rng(4)
    data = (rng.random((4, 96, 120)) * 40 + 60).astype(np.uint8)
    data[3] = np.where(rng.random((96, 120)) < 0.08, 200, data[3])  # specks: more than 10 regions per chip
    fields = [(20, 60, 30, 90), (5, 15, 5, 30), (70, 90, 8, 20), (66, 94, 95, 117)]
    for (r0, r1, c0, c1) in fields:  # no speck within 2 px of a field: the fields' regions are the fields
        data[3, max(r0 - 2, 0):r1 + 2, max(c0 - 2, 0):c1 + 2] = 80
    for (r0, r1, c0, c1) in fields:
        data[3, r0:r1, c0:c1] = 210
        data[0, r0:r1, c0:c1] = 40
    path = tmp_path_factory.mktemp("scene") / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", width=120, height=96, count=4, dtype="uint8", crs=CRS,
                       transform=TRANSFORM) as dst:
        dst.write(data)
    return path


def _spy(monkeypatch) -> list:
    """Record the boxes every ``text_masks`` call gets (one call per chip, in grid order)."""
    calls = []
    original = Sam3Backend.text_masks

    def text_masks(self, rgb, emb, text, boxes=None):
        calls.append((rgb.shape[:2], None if boxes is None else np.asarray(boxes, float)))
        return original(self, rgb, emb, text, boxes=boxes)

    monkeypatch.setattr(Sam3Backend, "text_masks", text_masks)
    return calls


def _skimage_regions(path, win: Window) -> dict[tuple, int]:
    """The reference: NDVI of the window, scikit-image's Otsu, 8-connected labels; every region's bounding box
    (pixel edges x0, y0, x1, y1) -> its area."""
    from skimage.filters import threshold_otsu
    from skimage.measure import label, regionprops

    with rasterio.open(path) as src:
        red, nir = (src.read(b, window=win).astype(np.float64) for b in (1, 4))
    ndvi = (nir - red) / (nir + red)
    regions = regionprops(label(ndvi > threshold_otsu(ndvi), connectivity=2))
    out = {(r.bbox[1], r.bbox[0], r.bbox[3], r.bbox[2]): int(r.area) for r in regions}
    assert len(out) == len(regions)  # no two regions share a box: a box names its region
    return out


def test_spectral_boxes_are_the_chips_otsu_regions(session, scene, monkeypatch):
    from farmannot.sam.propose import ProposeOptions, propose_scene

    calls = _spy(monkeypatch)
    res = propose_scene(scene, session, ProposeOptions(chip=CHIP, overlap=OVERLAP, text="farmland parcel",
                                                       spectral_boxes="vegetation", veg_filter="none"),
                        sensor="rgbn")
    grid = chip_grid(120, 96, CHIP, OVERLAP)
    assert res.chips == len(grid) == len(calls) == 6
    for win, (shape, boxes) in zip(grid, calls, strict=True):
        ref = _skimage_regions(scene, win)
        assert shape == (64, 64) and len(ref) > 10  # the cut to the 10 largest is exercised
        areas = [ref[tuple(b)] for b in boxes.astype(int).tolist()]  # KeyError: a box of no region
        # the 10 largest regions, largest first (which of equal-area specks at the cut is a tie)
        assert areas == sorted(ref.values(), reverse=True)[:10]
    assert res.example_boxes == 60
    # the big field (columns 30-89, rows 20-59) is the largest region on the first chip: its box in chip pixels
    np.testing.assert_array_equal(calls[0][1][0], [30, 20, 64, 60])


def _write_points(path, xy_px):
    """Survey points at scene pixel-edge coordinates, written in the scene's CRS (rasterio's transform)."""
    world = [shapely.Point(TRANSFORM @ (x, y)) for x, y in xy_px]
    pyogrio.raw.write(str(path), shapely.to_wkb(np.asarray(world, dtype=object)),
                      [np.arange(len(world))], ["visit"], crs=CRS, driver="GPKG", geometry_type="Point")
    return path


def test_points_are_boxes_on_the_chips_that_hold_them_and_drafts_are_written(sam3_checkpoint, scene, tmp_path,
                                                                              monkeypatch):
    # a point in chip 0 only; one in the overlap of chips 0, 1 (columns 48-63) and 3, 4 (rows 32-63), one near
    # the scene's left edge (its box clipped), one off the scene
    xy = [(10.5, 12.5), (50.0, 40.0), (3.0, 80.0), (500.0, 500.0)]
    survey = _write_points(tmp_path / "survey.gpkg", xy)
    calls = _spy(monkeypatch)
    out = tmp_path / "scene.json"
    res = CliRunner().invoke(cli, ["propose", str(scene), "--sam-checkpoint", str(sam3_checkpoint), "--text",
                                   "farmland parcel", "--points", str(survey), "-o", str(out), "--chip", str(CHIP),
                                   "--overlap", str(OVERLAP), "--filter", "none", "--sensor", "rgbn",
                                   "--cache-dir", str(tmp_path / "c"), "--point-box", "20"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    grid = chip_grid(120, 96, CHIP, OVERLAP)
    for win, (_, boxes) in zip(grid, calls, strict=True):
        frame = box(win.col_off, win.row_off, win.col_off + win.width, win.row_off + win.height)
        want = [shapely.affinity.translate(box(x - 10, y - 10, x + 10, y + 10).intersection(frame),
                                           -win.col_off, -win.row_off).bounds
                for x, y in xy if frame.contains(shapely.Point(x, y))]
        if want:
            np.testing.assert_allclose(boxes, want)
        else:
            assert boxes is None  # a chip without points: the text alone, as before
    held = [len(b) if b is not None else 0 for _, b in calls]
    assert held == [2, 1, 0, 2, 1, 0]
    np.testing.assert_allclose(calls[3][1][1], [0, 38, 13, 58])  # (3, 80) on the chip at row 32: clipped at x=0
    assert "6 example box(es) with the text (3 point(s) on the scene, 1 off it)" in res.output
    ann = load_annotation(out)
    inputs = ann.farmannot["provenance"]["inputs"]
    assert ann.farmannot["provenance"]["method"] == "sam-text"
    assert inputs["points"] == str(survey) and inputs["point_box"] == 20 and "spectral_boxes" not in inputs
    assert all(s.flags.get("proposal") is True for s in ann.shapes)


def test_cli_spectral_boxes_write_drafts_and_bad_bands_are_one_line(sam3_checkpoint, scene, tmp_path):
    out = tmp_path / "scene.json"
    args = ["propose", str(scene), "--sam-checkpoint", str(sam3_checkpoint), "--text", "farmland parcel",
            "-o", str(out), "--chip", str(CHIP), "--overlap", str(OVERLAP), "--filter", "none",
            "--cache-dir", str(tmp_path / "c")]
    res = CliRunner().invoke(cli, [*args, "--spectral-boxes", "vegetation", "--sensor", "rgbn"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "60 example box(es) with the text" in res.output
    inputs = load_annotation(out).farmannot["provenance"]["inputs"]
    assert inputs["spectral_boxes"] == "vegetation" and inputs["text"] == "farmland parcel"
    # both sources together: each chip's point boxes and its 10 regions' boxes (6 + 60)
    survey = _write_points(tmp_path / "survey.gpkg", [(10.5, 12.5), (50.0, 40.0), (3.0, 80.0)])
    both = CliRunner().invoke(cli, [*args, "--spectral-boxes", "vegetation", "--points", str(survey), "--sensor",
                                    "rgbn", "--point-box", "20", "--overwrite"], catch_exceptions=False)
    assert both.exit_code == 0, both.output
    assert "66 example box(es) with the text (3 point(s) on the scene)" in both.output
    inputs = load_annotation(out).farmannot["provenance"]["inputs"]
    assert inputs["spectral_boxes"] == "vegetation" and inputs["points"] == str(survey)
    # building needs SWIR, which an RGBN scene has not: one line, before any chip
    bad = CliRunner().invoke(cli, [*args, "--spectral-boxes", "building", "--sensor", "rgbn", "-o",
                                   str(tmp_path / "b.json")])
    assert bad.exit_code != 0 and "Traceback" not in bad.output
    assert "--spectral-boxes building" in bad.output and "swir1" in bad.output and "chips:" not in bad.output
    assert not (tmp_path / "b.json").exists()


@pytest.mark.parametrize(("extra", "message"), [
    (["--spectral-boxes", "vegetation"], "--spectral-boxes gives example boxes for a text prompt: add --text"),
    (["--text", "field", "--points", "{survey}", "--label-field", "crop"], "--label-field only apply to --points "
                                                                           "without --text"),
    (["--text", "field", "--points", "{survey}", "--keep-apart"], "--overlap-parcels only apply"),
    (["--text", "field", "--point-box", "8"], "--point-box sizes the boxes around --points given with --text"),
])
def test_bad_combinations_are_one_clear_line(scene, tmp_path, extra, message):
    survey = _write_points(tmp_path / "survey.gpkg", [(10.5, 12.5)])
    args = [a.format(survey=survey) for a in extra]
    res = CliRunner().invoke(cli, ["propose", str(scene), "--sam-checkpoint", str(tmp_path / "none.pt"), "-o",
                                   str(tmp_path / "x.json"), *args])
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output
    assert not (tmp_path / "x.json").exists()
