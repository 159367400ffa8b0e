import ast
import json

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.transform import from_origin

from farmannot.cli.main import cli


def write_tif(path, data, nodata=None, descriptions=None):
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                       dtype=data.dtype, crs="EPSG:32633", transform=from_origin(500000, 4000000, 10, 10),
                       nodata=nodata) as dst:
        dst.write(data)
        if descriptions:
            dst.descriptions = descriptions
    return path


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture()
def field_scene(tmp_path):
    # A vegetated square field (NDVI 0.6) in bare soil (NDVI ~0), bands R,G,B,NIR.
    r = np.full((64, 64), 100, np.uint16)
    nir = np.full((64, 64), 100, np.uint16)
    nir[8:40, 8:40] = 400
    g = np.full((64, 64), 90, np.uint16)
    b = np.full((64, 64), 80, np.uint16)
    return write_tif(tmp_path / "scene.tif", np.stack([r, g, b, nir]))


def test_prompts_json_output_records(field_scene, tmp_path):
    out = tmp_path / "p.jsonl"
    res = run("prompts", field_scene, "--bands", "red=1,green=2,blue=3,nir=4", "--category", "vegetation",
              "--format", "json", "--output", out)
    assert res.exit_code == 0, res.output
    (rec,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert rec["window"] == [0, 0, 64, 64]
    assert rec["index"] == "ndvi" and rec["category"] == "vegetation"
    (reg,) = rec["regions"]
    assert reg["area_px"] == 32 * 32
    assert reg["share"] == pytest.approx(1024 / 4096)       # 0.25 -> "large" (0.2441, 0.3662]
    assert reg["size"] == "large"
    assert reg["centroid_px"] == [23.5, 23.5]
    assert reg["location"] == "center"                      # 23.5 >= 64/3
    assert reg["bbox_px"] == [[8, 8], [39, 8], [39, 39], [8, 39]]
    assert 0.0 < rec["threshold"] < 0.6
    assert rec["instruction"].startswith("Based on the provided image and the attributes of the vegetation")


def test_prompts_spex_output_parses(field_scene, tmp_path):
    out = tmp_path / "p.jsonl"
    res = run("prompts", field_scene, "--sensor", "rgbn", "--output", out, "--bbox", "rotated")
    assert res.exit_code == 0, res.output
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["category"] for r in recs} == {"vegetation", "water"}
    assert "building skipped" in res.output  # no SWIR band: a note, not a failure
    veg = next(r for r in recs if r["category"] == "vegetation")
    lst = ast.literal_eval(veg["instruction"].split("them:", 1)[1])
    assert lst[0]["Size of area"] == "large"
    assert lst[0]["Bounding box"] == [[0.125, 0.125], [0.609, 0.125], [0.609, 0.609], [0.125, 0.609]]


def test_folder_input_and_progress(field_scene, tmp_path):
    write_tif(tmp_path / "second.tif", np.ones((4, 16, 16), np.uint16))
    out = tmp_path / "all.jsonl"
    res = run("prompts", tmp_path, "--sensor", "rgbn", "--category", "vegetation", "-o", out)
    assert res.exit_code == 0, res.output
    sources = [json.loads(line)["source"] for line in out.read_text().splitlines()]
    assert sorted(set(s.rsplit("/", 1)[1] for s in sources)) == ["scene.tif", "second.tif"]
    # constant second scene: no regions, and the run says so
    assert "no regions" in res.output


def test_missing_file_is_one_clear_error(tmp_path):
    res = run("prompts", tmp_path / "nope.tif")
    assert res.exit_code != 0
    assert "nope.tif" in res.output and "no such file" in res.output
    assert "Traceback" not in res.output


def test_not_a_raster(tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_text("not a tiff")
    res = run("prompts", bad, "--sensor", "rgbn")
    assert res.exit_code != 0 and "bad.tif" in res.output and "not a readable raster" in res.output


def test_wrong_band_map(field_scene):
    res = run("prompts", field_scene, "--bands", "red=1,nir=9")
    assert res.exit_code != 0 and "only 4 band" in res.output
    res = run("prompts", field_scene, "--bands", "red=x")
    assert res.exit_code != 0 and "must be an integer" in res.output


def test_keep_going_reports_failures_at_the_end(field_scene, tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_text("x")
    out = tmp_path / "o.jsonl"
    res = run("prompts", bad, field_scene, "--sensor", "rgbn", "--keep-going", "-o", out)
    assert res.exit_code == 1
    assert "1 of 2 input(s) failed" in res.output
    assert out.read_text().count("\n") == 2  # the good scene still finished


def test_all_nodata_and_nan_and_1x1(tmp_path):
    nod = write_tif(tmp_path / "nod.tif", np.zeros((4, 8, 8), np.uint8), nodata=0)
    res = run("prompts", nod, "--sensor", "rgbn", "--format", "json", "--category", "vegetation")
    assert res.exit_code == 0
    rec = json.loads(res.stdout.splitlines()[0])
    assert rec["regions"] == [] and "no valid pixels" in rec["note"] and rec["threshold"] is None

    data = np.ones((4, 8, 8), np.float32)
    data[3, :4] = 3.0
    data[:, 0, 0] = np.nan
    nan = write_tif(tmp_path / "nan.tif", data)
    res = run("prompts", nan, "--sensor", "rgbn", "--format", "json", "--category", "vegetation")
    rec = json.loads(res.stdout.splitlines()[0])
    assert rec["valid_pixels"] == 63
    assert rec["regions"][0]["area_px"] == 31  # rows 0..3 minus the NaN pixel

    one = write_tif(tmp_path / "one.tif", np.ones((4, 1, 1), np.uint8))
    res = run("prompts", one, "--sensor", "rgbn", "--category", "vegetation")
    assert res.exit_code == 0
    assert json.loads(res.stdout.splitlines()[0])["regions"] == []


def test_descriptions_drive_band_detection(tmp_path):
    data = np.ones((3, 8, 8), np.uint16)
    data[2, :4] = 5
    p = write_tif(tmp_path / "d.tif", data, descriptions=("Red", "Green", "NIR"))
    res = run("prompts", p, "--category", "vegetation", "--format", "json")
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout.splitlines()[0])
    assert rec["bands"] == {"nir": 3, "red": 1}
    assert rec["regions"][0]["area_px"] == 32


def test_version_and_help():
    assert "farmannot" in run("--version").output
    assert "prompts" in run("--help").output
