"""``farmannot caption`` end to end on a tiny georeferenced scene, checked with labelme 6.3's own loader."""

from __future__ import annotations

import json
import math

import numpy as np
import pyogrio
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.transform import from_origin

from farmannot.cli.main import cli
from farmannot.io.labelme_json import Annotation, Shape, load_annotation, save_annotation

SCENE = "LC08_L1TP_224078_20200518_20200518_01_RT_subset.tif"
W = H = 64
TRANSFORM = from_origin(729345.0, -2785995.0, 30.0, 30.0)  # UTM 21 N, Itaipu, southern hemisphere


def _project(tmp_path, with_dem=True):
    proj = tmp_path / "proj"
    proj.mkdir()
    rgbn = np.zeros((4, H, W), np.uint8)
    rgbn[0], rgbn[1], rgbn[2], rgbn[3] = 40, 60, 30, 160  # red, green, blue, nir: green crop everywhere
    rgbn[3, 48:, :] = 10  # the bottom rows are water (NDWI > 0)
    with rasterio.open(proj / SCENE, "w", driver="GTiff", width=W, height=H, count=4, dtype="uint8",
                       crs="EPSG:32621", transform=TRANSFORM) as dst:
        dst.write(rgbn)
        for i, d in enumerate(("red", "green", "blue", "nir"), start=1):
            dst.set_band_description(i, d)
    if with_dem:
        with rasterio.open(tmp_path / "dem.tif", "w", driver="GTiff", width=W, height=H, count=1,
                           dtype="float32", crs="EPSG:32621", transform=TRANSFORM) as dst:
            dst.write(np.full((1, H, W), 220.0, np.float32))
    shapes = [Shape("farmland", [[2, 2], [62, 2], [62, 20], [2, 20]]),
              Shape("farmland", [[2, 24], [62, 24], [62, 44], [2, 44]]),
              Shape("water", [[0, 48], [64, 48], [64, 64], [0, 64]])]
    ann = Annotation(shapes=shapes, image_path=SCENE, image_height=H, image_width=W)
    save_annotation(ann, proj / "scene.json")
    return proj


def test_vocab_lists_both_languages():
    res = CliRunner().invoke(cli, ["caption", "--vocab"])
    assert res.exit_code == 0
    assert "scattered_ponds" in res.output and "零星的块状坑塘" in res.output and "location" in res.output


def test_auto_fill_only_reports_missing(tmp_path):
    proj = _project(tmp_path)
    res = CliRunner().invoke(cli, ["caption", str(proj / "scene.json")])
    assert res.exit_code == 0, res.output
    assert "may" in res.output and "auto" in res.output and "25.18°S, 54.71°W" in res.output
    assert "missing: shape, boundary, sowing" in res.output
    assert "en:" not in res.output


def test_suggest_set_write_round_trip(tmp_path):
    from labelme._label_file import LabelFile

    proj = _project(tmp_path)
    path = proj / "scene.json"
    args = ["caption", str(path), "--dem", str(tmp_path / "dem.tif"), "--suggest", "--set", "buildings=absent",
            "--write", "--json"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    rec = json.loads([ln for ln in res.output.splitlines() if ln.startswith("{")][0])
    kw = rec["keywords"]
    assert rec["missing"] == []
    assert kw["month"]["value"] == "may" and kw["month"]["evidence"]["season"] == "autumn"
    assert kw["buildings"] == {"value": "absent", "source": "confirmed", "evidence": {"from": "--set"},
                               "confidence": 1.0}
    assert kw["water"]["value"] != "absent" and "shapes" in kw["water"]["evidence"]["method"]
    assert kw["terrain"]["value"] == "flat" and kw["landscape"]["value"] == "plain"
    assert kw["sowing"]["value"] == "fully_covered" and kw["sowing"]["evidence"]["index"] == "ndvi"
    assert kw["distribution"]["source"] == "suggested"
    assert rec["text"]["en"].startswith("This remote sensing image was taken in May (autumn). It is located at 25.")
    assert "耕地周围无建筑" in rec["text"]["zh"]
    # stored in the annotation; labelme 6.3 still opens it and keeps our key
    lf = LabelFile(str(path))
    farm = lf.other_data["farmannot"]
    assert farm["caption"]["text"] == rec["text"]
    assert farm["scene"]["crs"] == "EPSG:32621" and farm["scene"]["date"] == "2020-05-18"
    assert farm["scene"]["transform"] == pytest.approx(list(TRANSFORM)[:6])
    assert len(lf.shapes) == 3
    first = path.read_bytes()
    # a re-run with the same inputs gives the same bytes; a person's choice survives a later --suggest
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert path.read_bytes() == first
    assert CliRunner().invoke(cli, ["caption", str(path), "--suggest", "--write"]).exit_code == 0
    assert load_annotation(path).farmannot["caption"]["keywords"]["buildings"]["source"] == "confirmed"


def test_lang_and_terraced_family(tmp_path):
    proj = _project(tmp_path)
    sets = ["--set", "layout=contour_tiers", "--set", "terrain=terraced", "--set", "landscape=hills",
            "--set", "buildings=scattered", "--set", "vegetation=absent"]
    res = CliRunner().invoke(cli, ["caption", str(proj / "scene.json"), "--suggest", "--family", "terraced",
                                   "--lang", "zh", *sets])
    assert res.exit_code == 0, res.output
    assert "zh: 梯田地块沿等高线层层分布" in res.output and "en:" not in res.output


@pytest.mark.parametrize("args, fragment", [
    (["--set", "water=lake"], "'lake' is not a water value"),
    (["--set", "water"], "KEY=VALUE"),
    (["--date", "18/05/2020"], "YYYY-MM-DD"),
])
def test_bad_options_give_one_line_errors(tmp_path, args, fragment):
    proj = _project(tmp_path, with_dem=False)
    res = CliRunner().invoke(cli, ["caption", str(proj / "scene.json"), *args])
    assert res.exit_code != 0 and fragment in res.output
    assert "Traceback" not in res.output


def test_image_path_outside_project_refused(tmp_path):
    proj = _project(tmp_path, with_dem=False)
    sub = proj / "ann"
    sub.mkdir()
    ann = load_annotation(proj / "scene.json")
    ann.image_path = f"../{SCENE}"
    save_annotation(ann, sub / "up.json")
    res = CliRunner().invoke(cli, ["caption", str(sub / "up.json")])
    assert res.exit_code != 0 and "outside the project folder" in res.output
    assert CliRunner().invoke(cli, ["caption", str(sub / "up.json"), "--allow-outside"]).exit_code == 0
    # as part of the project folder it is inside
    res = CliRunner().invoke(cli, ["caption", str(proj), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert res.output.count("may") >= 2


def test_folder_keep_going(tmp_path):
    proj = _project(tmp_path, with_dem=False)
    (proj / "broken.json").write_text("{not json", encoding="utf-8")
    res = CliRunner().invoke(cli, ["caption", str(proj)])
    assert res.exit_code != 0 and "broken.json" in res.output
    res = CliRunner().invoke(cli, ["caption", str(proj), "--keep-going", "--write"])
    assert res.exit_code == 1
    assert "1 of 2 annotation(s) failed" in res.output
    assert "caption" in load_annotation(proj / "scene.json").farmannot


def test_terrain_from_a_dem_in_another_crs(tmp_path):
    proj = _project(tmp_path, with_dem=False)
    # a sloping DEM in geographic degrees covering the scene: 10 degrees of slope east to west
    with rasterio.open(proj / SCENE) as src:
        b = rasterio.warp.transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    n = 200
    tr = from_origin(b[0] - 0.01, b[3] + 0.01, (b[2] - b[0] + 0.02) / n, (b[3] - b[1] + 0.02) / n)
    xs_m = np.arange(n) * tr.a * 111320.0 * math.cos(math.radians((b[1] + b[3]) / 2))
    z = np.tile(xs_m * math.tan(math.radians(10.0)), (n, 1)).astype(np.float32)
    with rasterio.open(tmp_path / "dem4326.tif", "w", driver="GTiff", width=n, height=n, count=1,
                       dtype="float32", crs="EPSG:4326", transform=tr) as dst:
        dst.write(z[None])
    res = CliRunner().invoke(cli, ["caption", str(proj / "scene.json"), "--suggest", "--dem",
                                   str(tmp_path / "dem4326.tif"), "--json"])
    assert res.exit_code == 0, res.output
    kw = json.loads([ln for ln in res.output.splitlines() if ln.startswith("{")][0])["keywords"]
    assert kw["terrain"]["value"] == "sloping"
    assert kw["terrain"]["evidence"]["slope_median"] == pytest.approx(10.0, abs=0.5)


def test_stored_date_dates_a_scene_without_one(tmp_path):
    proj = _project(tmp_path, with_dem=False)
    (proj / SCENE).rename(proj / "tile.tif")
    ann = load_annotation(proj / "scene.json")
    ann.image_path = "tile.tif"
    ann.farmannot = {"scene": {"date": "2021-01-15"}}
    save_annotation(ann, proj / "scene.json")
    res = CliRunner().invoke(cli, ["caption", str(proj / "scene.json"), "--json"])
    kw = json.loads(res.output.splitlines()[0])["keywords"]
    assert kw["month"]["value"] == "january" and kw["month"]["evidence"]["date_from"] == "annotation"
    assert kw["month"]["evidence"]["season"] == "summer"  # southern hemisphere
    res = CliRunner().invoke(cli, ["caption", str(proj / "scene.json"), "--json", "--date", "2021-07-01"])
    assert json.loads(res.output.splitlines()[0])["keywords"]["month"]["value"] == "july"


def test_rgb_scene_uses_stretched_green_leaf_index(tmp_path):
    proj = tmp_path / "rgb"
    proj.mkdir()
    rgb = np.zeros((3, H, W), np.uint16)
    rgb[0], rgb[1], rgb[2] = 900, 700, 1500  # raw DN, bare and hazy: not green
    rgb[0, :32], rgb[1, :32], rgb[2, :32] = 600, 1400, 1100  # greener top half
    with rasterio.open(proj / "GF2_PMS1_E113.6_N40.1_20160308_L1A0001472278.tif", "w", driver="GTiff",
                       width=W, height=H, count=3, dtype="uint16", crs="EPSG:32650",
                       transform=from_origin(500000.0, 4440000.0, 4.0, 4.0)) as dst:
        dst.write(rgb)
    ann = Annotation([Shape("farmland", [[0, 0], [64, 0], [64, 64], [0, 64]])],
                     "GF2_PMS1_E113.6_N40.1_20160308_L1A0001472278.tif", H, W)
    save_annotation(ann, proj / "a.json")
    res = CliRunner().invoke(cli, ["caption", str(proj / "a.json"), "--suggest", "--json"])
    assert res.exit_code == 0, res.output
    kw = json.loads(res.output.splitlines()[0])["keywords"]
    assert kw["month"]["value"] == "march" and kw["month"]["evidence"]["season"] == "spring"
    assert kw["sowing"]["evidence"]["index"] == "gli"
    assert kw["sowing"]["evidence"]["green_fraction"] == pytest.approx(0.5, abs=0.02)
    assert kw["sowing"]["value"] == "partially_covered"
    assert "buildings" not in kw  # RGB cannot verify buildings


def test_project_layout_annotation_reaches_its_scene(tmp_path):
    """PROJECT/annotations/NAME.json with imagePath ../scenes/NAME.tif (the documented layout) is inside the
    project, alone or as the annotations/ folder; a path climbing above the project is still refused."""
    proj = _project(tmp_path, with_dem=False)
    (proj / "scenes").mkdir()
    (proj / SCENE).rename(proj / "scenes" / SCENE)
    (proj / "annotations").mkdir()
    ann = load_annotation(proj / "scene.json")
    ann.image_path = f"../scenes/{SCENE}"
    save_annotation(ann, proj / "annotations" / "scene.json")
    (proj / "scene.json").unlink()
    for target in (proj / "annotations" / "scene.json", proj / "annotations"):
        res = CliRunner().invoke(cli, ["caption", str(target), "--json", "--no-progress"])
        assert res.exit_code == 0, res.output
        rec = json.loads(res.output.splitlines()[0])
        assert rec["keywords"]["month"]["value"] == "may"  # from the product name: the scene was found
        res = CliRunner().invoke(cli, ["export-vectors", str(target), "-o", str(tmp_path / "p.gpkg"),
                                       "--no-progress"])
        assert res.exit_code == 0, res.output
        parcels = pyogrio.read_dataframe(tmp_path / "p.gpkg", layer="parcels")
        assert sorted(parcels["label"]) == sorted(s.label for s in ann.shapes)
    ann.image_path = f"../../{SCENE}"
    save_annotation(ann, proj / "annotations" / "up.json")
    res = CliRunner().invoke(cli, ["caption", str(proj / "annotations" / "up.json")])
    assert res.exit_code != 0 and "outside the project folder" in res.output


def test_missing_month_points_at_date(tmp_path):
    """A scene without a date: --suggest cannot give the month, the output says to pass --date instead."""
    proj = _project(tmp_path, with_dem=False)
    (proj / SCENE).rename(proj / "undated.tif")
    ann = load_annotation(proj / "scene.json")
    ann.image_path = "undated.tif"
    save_annotation(ann, proj / "scene.json")
    res = CliRunner().invoke(cli, ["caption", str(proj / "scene.json"), "--suggest"])
    assert res.exit_code == 0, res.output
    assert "missing: month" in res.output and "--date YYYY-MM-DD" in res.output
    res = CliRunner().invoke(cli, ["caption", str(proj / "scene.json"), "--suggest", "--date", "2020-05-18",
                                   "--json"])
    assert json.loads(res.output.splitlines()[0])["keywords"]["month"]["value"] == "may"


def test_scene_option_does_not_need_the_image_path(tmp_path):
    """--scene names the raster: an imagePath pointing outside the project is not read, so not refused."""
    proj = _project(tmp_path, with_dem=False)
    ann = load_annotation(proj / "scene.json")
    ann.image_path = "../../elsewhere/scene.tif"
    save_annotation(ann, proj / "scene.json")
    res = CliRunner().invoke(cli, ["caption", str(proj / "scene.json"), "--json"])
    assert res.exit_code != 0 and "outside the project folder" in res.output
    res = CliRunner().invoke(cli, ["caption", str(proj / "scene.json"), "--scene", str(proj / SCENE), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.splitlines()[0])["keywords"]["month"]["value"] == "may"


def test_folder_captions_only_labelme_files(tmp_path):
    """A dataset built inside the project leaves JSON files that are not annotations (records, FarmSeg-VL
    captions, COCO): the folder run captions the labelme files only, as export-vectors reads them."""
    proj = _project(tmp_path, with_dem=False)
    other = proj / "out" / "farmseg-vl" / "train" / "json"
    other.mkdir(parents=True)
    (other / "t_0_0.json").write_text(json.dumps({"img_description_eg": "x", "img_description_cn": "y"}))
    (proj / "out" / "build_report.json").write_text(json.dumps({"project": str(proj), "scenes": []}))
    res = CliRunner().invoke(cli, ["caption", str(proj), "--json", "--no-progress"])
    assert res.exit_code == 0, res.output
    paths = [json.loads(line)["path"] for line in res.output.splitlines() if line.startswith("{")]
    assert paths == [str(proj / "scene.json")]
