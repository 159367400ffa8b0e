"""One preprocessing from training to prediction: a model trained on a dataset built from scenes feeds
``predict`` the same normalised input, pixel for pixel, as the training loader gave it for those pixels."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from farmannot.cli.main import cli
from farmannot.errors import InputError
from farmannot.train.checkpoint import BEST, load_checkpoint, write_config
from farmannot.train.data import list_tiles
from farmannot.train.preprocess import Preprocess
from farmannot.train.samples import TileDataset
from farmannot.train.scene_input import bind_scene

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dataset"))
from projectgen import make_project, scene_pixels  # noqa: E402

TINY = ["--model", "unet", "--encoder", "tu-mobilenetv3_small_050", "--encoder-depth", "3"]


def _nodata_scene(path: Path) -> np.ndarray:
    """Scene a1 again with nodata 255: a corner where every band is 255, one pixel where only blue is."""
    data = scene_pixels(0)
    data[:, :6, :6] = 255  # stretched it would be 255; as nodata the dataset's picture holds 0
    data[2, 40, 10] = 255  # still a valid pixel for the dataset mask; red and green keep their values
    with rasterio.open(path, "r+") as dst:
        dst.nodata = 255
        dst.write(data)
    return data


def _build_and_train(project: Path, tmp_path: Path) -> Preprocess:
    """build-dataset (gtpbd-mm, 32 px tiles) of ``project`` into ``tmp_path/ds``, 1 epoch of a tiny U-Net into
    ``tmp_path/run``; the run's saved preprocessing."""
    runner = CliRunner()
    res = runner.invoke(cli, ["build-dataset", str(project), "-o", str(tmp_path / "ds"), "--tile-size", "32",
                              "--layout", "gtpbd-mm", "--no-progress"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["train", str(tmp_path / "ds"), "-o", str(tmp_path / "run"), *TINY, "--epochs", "1",
                              "--batch-size", "4", "--workers", "0", "--no-progress"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    saved = json.loads(load_checkpoint(tmp_path / "run" / BEST)["config"])
    assert "stats" not in saved
    return Preprocess.from_config(saved)


def _predict_inputs(monkeypatch, run: Path, scene: Path, out: Path, *options: str):
    """Run ``predict RUN SCENE`` on 32 px patches; ``({(row_off, col_off): model input}, output)``."""
    import farmannot.predict.scene as scene_mod
    from farmannot.train.scene_input import ScenePreprocess

    windows, inputs = [], []
    read_bands, apply = scene_mod.read_window_bands, ScenePreprocess.apply

    def record_read(src, indexes, win):
        windows.append((int(win.row_off), int(win.col_off)))
        return read_bands(src, indexes, win)

    def record_apply(self, x, valid):
        inputs.append(apply(self, x, valid))
        return inputs[-1]

    with monkeypatch.context() as m:
        m.setattr(scene_mod, "read_window_bands", record_read)
        m.setattr(ScenePreprocess, "apply", record_apply)
        res = CliRunner().invoke(cli, ["predict", str(run), str(scene), "-o", str(out), "--patch", "32",
                                       "--overlap", "0", "--no-progress", *options], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return dict(zip(windows, inputs)), res.output


def _loader_inputs(dataset: Path, scene: str, prep: Preprocess) -> dict:
    """``{(row_off, col_off): image}`` the training loader gives for the tiles of ``scene``."""
    layout, recs = list_tiles(dataset, "all")
    mine = [r for r in recs if r.scene == scene]
    assert mine, [r.scene for r in recs]
    loader = TileDataset(mine, layout, prep)
    return {(int(r.extra["row_off"]), int(r.extra["col_off"])): loader[i]["image"].numpy()
            for i, r in enumerate(mine)}


@pytest.mark.slow
def test_predict_feeds_the_model_what_the_training_loader_fed_it(tmp_path, monkeypatch):
    project = make_project(tmp_path / "project", dem_for=None)
    scene = project / "scenes" / "a1.tif"
    data = _nodata_scene(scene)
    prep = _build_and_train(project, tmp_path)
    assert prep.bands == "display" and prep.channels == 3

    # every patch predict reads (its window) and the model input it makes of it
    got, _ = _predict_inputs(monkeypatch, tmp_path / "run", scene, tmp_path / "p.tif")
    assert sorted(got) == [(0, 0), (0, 32), (32, 0), (32, 32)]
    want = _loader_inputs(tmp_path / "ds", "a1", prep)
    assert sorted(want) == sorted(got)
    for pos, x in want.items():
        np.testing.assert_array_equal(got[pos], x, err_msg=str(pos))
    # the nodata corner is 0 in the picture (both sides), the pixel with only blue = 255 keeps red and green
    expect_corner = (0.0 - np.float32(prep.mean[0])) / np.float32(prep.std[0])
    assert got[(0, 0)][0, 0, 0] == pytest.approx(expect_corner)
    assert data[0, 40, 10] < 255 and got[(32, 0)][0, 8, 10] > expect_corner


def _as_bgrn_without_descriptions(project: Path) -> None:
    """Store every scene of ``project`` as B,G,R,N with no band descriptions and say ``sensor=bgrn`` in
    scenes.csv: only the sensor tells which band is red."""
    for path in sorted((project / "scenes").glob("*.tif")):
        with rasterio.open(path) as src:
            rgbn, profile = src.read(), src.profile
        path.unlink()
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(rgbn[[2, 1, 0, 3]])
        with rasterio.open(path) as src:
            assert src.descriptions == (None,) * 4
    table = project / "scenes.csv"
    lines = table.read_text(encoding="utf-8").splitlines()
    table.write_text("\n".join([lines[0] + ",sensor"] + [ln + ",bgrn" for ln in lines[1:]]) + "\n",
                     encoding="utf-8")


@pytest.mark.slow
def test_predict_with_the_sensor_the_dataset_was_built_with_feeds_the_loaders_input(tmp_path, monkeypatch):
    project = make_project(tmp_path / "project", dem_for=None)
    _as_bgrn_without_descriptions(project)
    scene = project / "scenes" / "a1.tif"
    prep = _build_and_train(project, tmp_path)
    want = _loader_inputs(tmp_path / "ds", "a1", prep)
    # the tiles hold true colour: their red is the scene's band 3 (scene_pixels' red), not its band 1 (blue)
    rgbn = scene_pixels(0)
    red = want[(0, 0)][0] * np.float32(prep.std[0]) + np.float32(prep.mean[0])
    assert np.corrcoef(red.ravel(), rgbn[0, :32, :32].ravel().astype(float))[0, 1] > 0.9

    run = tmp_path / "run"
    for options in (["--sensor", "bgrn"], ["--bands", "red=3,green=2,blue=1,nir=4"]):
        got, output = _predict_inputs(monkeypatch, run, scene, tmp_path / "p.tif", *options)
        assert sorted(got) == sorted(want), options
        for pos, x in want.items():
            np.testing.assert_array_equal(got[pos], x, err_msg=f"{options} {pos}")
        assert "note:" not in output, output

    # without it the band count alone decides (R,G,B,N): red and blue swap, and one note says so
    got, output = _predict_inputs(monkeypatch, run, scene, tmp_path / "p.tif")
    assert not np.array_equal(got[(0, 0)], want[(0, 0)])
    notes = [ln for ln in output.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and "a1.tif" in notes[0] and "bands 1,2,3" in notes[0] and "--sensor" in notes[0], output


def _random_run(run: Path, prep: Preprocess) -> dict:
    """A run folder holding an untrained depth-3 U-Net with ``prep`` as its input preprocessing; its config."""
    import torch

    from farmannot.train.models import build_model

    run.mkdir()
    config = {"model": "unet", "encoder": "resnet18", "in_channels": prep.channels, "inputs": "image",
              "arch_kwargs": {"encoder_depth": 3, "decoder_channels": [32, 16, 8]}, "preprocess": prep.to_dict()}
    write_config(run, config)
    torch.save({"model": build_model(config).state_dict()}, run / BEST)
    return config


def _predict(run: Path, scene: Path, out: Path, *options: str):
    return CliRunner().invoke(cli, ["predict", str(run), str(scene), "-o", str(out), "--patch", "32",
                                    "--overlap", "0", "--no-progress", *options])


def test_predict_refuses_a_scene_with_too_few_bands_in_one_line(tmp_path):
    run = tmp_path / "run"
    _random_run(run, Preprocess("stored", (1.0,) * 4, (2.0,) * 4))
    scene = tmp_path / "rgb.tif"
    with rasterio.open(scene, "w", driver="GTiff", width=16, height=16, count=3, dtype="uint8") as dst:
        dst.write(np.ones((3, 16, 16), np.uint8))
    res = _predict(run, scene, tmp_path / "p.tif")
    assert res.exit_code != 0 and not (tmp_path / "p.tif").exists()
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "rgb.tif" in lines[0] and "needs 4 band(s), the scene has 3" in lines[0], res.output


def test_a_one_band_scene_goes_to_a_display_model_as_gray_with_one_note(tmp_path):
    run = tmp_path / "run"
    config = _random_run(run, Preprocess("display", (100.0,) * 3, (50.0,) * 3))
    scene = tmp_path / "gray.tif"
    gray = np.arange(32 * 32, dtype=np.uint16).reshape(1, 32, 32)
    with rasterio.open(scene, "w", driver="GTiff", width=32, height=32, count=1, dtype="uint16") as dst:
        dst.write(gray)
    res = _predict(run, scene, tmp_path / "p.tif")
    assert res.exit_code == 0, res.output
    notes = [ln for ln in res.output.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and "gray.tif" in notes[0] and "gray in all three channels" in notes[0]
    with rasterio.open(scene) as src:
        sp = bind_scene(Preprocess.from_config(config), src)
    assert sp.band_indexes == (1, 1, 1)  # the one band as gray in every channel, as build-dataset tiles it


def test_predict_asks_for_and_reads_the_bands_that_sensor_or_bands_name(tmp_path):
    """Five bands, no descriptions: nothing says which is red; predict asks for --sensor/--bands in one line
    (as build-dataset asks for a sensor) and then reads the bands they name."""
    run = tmp_path / "run"
    _random_run(run, Preprocess("display", (100.0,) * 3, (50.0,) * 3))
    scene = tmp_path / "five.tif"
    bands = (np.arange(5, dtype=np.uint16)[:, None, None] * 1000
             + np.arange(32 * 32, dtype=np.uint16).reshape(1, 32, 32))
    with rasterio.open(scene, "w", driver="GTiff", width=32, height=32, count=5, dtype="uint16") as dst:
        dst.write(bands)
    out = tmp_path / "p.tif"
    for options, says in (((), "--sensor"), (("--bands", "red=6,green=2,blue=1"), "only 5 band(s)")):
        res = _predict(run, scene, out, *options)
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert res.exit_code != 0 and not out.exists(), res.output
        assert len(lines) == 1 and "five.tif" in lines[0] and says in lines[0], res.output
    res = _predict(run, scene, out, "--bands", "red=3,green=2,blue=1")
    assert res.exit_code == 0 and out.exists(), res.output
    assert "note:" not in res.output, res.output  # the user named the bands: nothing was guessed

    with rasterio.open(scene) as src:
        display = Preprocess("display", (0.0,) * 3, (1.0,) * 3)
        assert bind_scene(display, src, bands={"red": 3, "green": 2, "blue": 1}).band_indexes == (3, 2, 1)
        assert bind_scene(display, src, sensor="bgrn").band_indexes == (3, 2, 1)
        assert bind_scene(display, src, sensor="rgbn").band_indexes == (1, 2, 3)
        # --bands wins over --sensor (farmannot.io.bands.resolve_band_map, for every command)
        assert bind_scene(display, src, sensor="bgrn", bands={"red": 5, "green": 4, "blue": 1}).band_indexes == (5, 4, 1)
        # a stored model reads the first bands as build-dataset's GeoTIFF tiles hold them, whatever the map
        stored = Preprocess("stored", (0.0,) * 4, (1.0,) * 4)
        assert bind_scene(stored, src, bands={"red": 3, "green": 2, "blue": 1}).band_indexes == (1, 2, 3, 4)


def test_a_run_without_preprocess_reads_its_stats_as_predict_always_did():
    old = {"in_channels": 3, "stats": {"mean": [1, 2, 3], "std": [4, 5, 6], "dem_scale": 7}}
    prep = Preprocess.from_config(old)
    assert prep == Preprocess("display", (1.0, 2.0, 3.0), (4.0, 5.0, 6.0), 7.0)
    assert Preprocess.from_config({"stats": {"mean": [0.0] * 4, "std": [1.0] * 4}}).bands == "stored"
    assert Preprocess.from_dict(prep.to_dict()) == prep
    x = np.arange(3 * 2 * 2, dtype=np.float32).reshape(3, 2, 2)
    np.testing.assert_allclose(prep.apply(x), (x - np.array([1, 2, 3])[:, None, None]) / np.array([4, 5, 6])[:, None, None],
                               rtol=1e-6)
    with pytest.raises(InputError, match="records no input preprocessing"):
        Preprocess.from_config({"model": "unet"})
