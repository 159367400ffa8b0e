"""``predict`` reads only the bands its run's preprocessing needs, and predicts what it predicts from a scene
holding just those bands."""

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.transform import from_origin
from rasterio.windows import Window

import farmannot.predict.scene as scene_mod
from farmannot.cli.main import cli
from farmannot.io.raster import read_window_bands
from farmannot.train.checkpoint import BEST, write_config
from farmannot.train.preprocess import Preprocess

PROFILE = dict(driver="GTiff", width=70, height=50, crs="EPSG:32618", transform=from_origin(500000, 4000000, 10, 10),
               tiled=True, blockxsize=32, blockysize=32)


def _run(run, prep: Preprocess) -> None:
    import torch

    from farmannot.train.models import build_model

    torch.manual_seed(0)
    run.mkdir()
    config = {"model": "unet", "encoder": "resnet18", "in_channels": prep.channels, "inputs": "image",
              "arch_kwargs": {"encoder_depth": 3, "decoder_channels": [32, 16, 8]}, "preprocess": prep.to_dict()}
    write_config(run, config)
    torch.save({"model": build_model(config).state_dict()}, run / BEST)


def _scene(path, data: np.ndarray, **profile) -> None:
    with rasterio.open(path, "w", count=data.shape[0], dtype=data.dtype, **(PROFILE | profile)) as dst:
        dst.write(data)


class _Recording:
    """``open_raster``'s dataset, recording the bands each ``read`` asks for."""

    def __init__(self, opened, reads: list):
        self._opened, self._reads = opened, reads

    def __enter__(self):
        self._src = self._opened.__enter__()
        return self

    def __exit__(self, *exc):
        return self._opened.__exit__(*exc)

    def __getattr__(self, name):
        return getattr(self._src, name)

    def read(self, indexes=None, **kwargs):
        self._reads.append(tuple(range(1, self._src.count + 1)) if indexes is None else
                           (indexes,) if isinstance(indexes, int) else tuple(indexes))
        return self._src.read(indexes, **kwargs)


def _predict(monkeypatch, run, scene, out, *options) -> list:
    """``predict`` with 32 px patches; the bands of every read of the patch loop."""
    reads, open_raster = [], scene_mod.open_raster
    with monkeypatch.context() as m:
        m.setattr(scene_mod, "open_raster", lambda path: _Recording(open_raster(path), reads))
        res = CliRunner().invoke(cli, ["predict", str(run), str(scene), "-o", str(out), "--patch", "32",
                                       "--overlap", "8", "--no-progress", *options], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return reads


@pytest.mark.parametrize("rule, picked, options", [
    ("display", (6, 4, 2), ["--bands", "red=6,green=4,blue=2"]),
    ("stored", (1, 2, 3, 4), []),
])
def test_predict_reads_only_the_model_bands_and_predicts_as_from_those_bands_alone(tmp_path, monkeypatch, rule,
                                                                                   picked, options):
    rng = np.random.default_rng(5)
    data = rng.integers(1, 3000, (8, 50, 70)).astype(np.uint16)
    data[:, :10, :12] = 0  # nodata in every band
    data[6, 20:30, 20:30] = 0  # nodata in one band the model does not use: still valid, as the dataset mask says
    scene, alone = tmp_path / "eight.tif", tmp_path / "alone.tif"
    _scene(scene, data, nodata=0)
    _scene(alone, data[[i - 1 for i in picked]], nodata=0)
    run = tmp_path / "run"
    _run(run, Preprocess(rule, (300.0,) * len(picked), (200.0,) * len(picked)))

    reads = _predict(monkeypatch, run, scene, tmp_path / "p.tif", *options)
    assert len(reads) == 6  # 3 x 2 patches, one read each
    assert set(reads) == {tuple(sorted(picked))}
    alone_options = ["--bands", "red=1,green=2,blue=3"] if rule == "display" else []
    _predict(monkeypatch, run, alone, tmp_path / "ref.tif", *alone_options)
    with rasterio.open(tmp_path / "p.tif") as got, rasterio.open(tmp_path / "ref.tif") as ref:
        g, r = got.read(), ref.read()
    # the scene's mask is the union of its bands' masks: the pixels where only band 7 is nodata stay predicted
    assert np.isnan(g[1, :10, :12]).all() and np.isfinite(g[1, 20:30, 20:30]).all()
    np.testing.assert_array_equal(g, r)


def test_read_window_bands_gives_the_bands_asked_for_and_the_scene_validity_of_read_window_all(tmp_path):
    rng = np.random.default_rng(2)
    data = rng.random((5, 50, 70)).astype(np.float32)
    data[4, 5:9, 5:9] = np.nan  # a band not asked for: its NaNs make the pixel invalid, as in the dataset's tiles
    data[:, 40:, 60:] = np.nan
    data[0, 30, 30] = np.inf
    path = tmp_path / "f.tif"
    _scene(path, data, nodata=float("nan"))
    win = Window(3, 2, 64, 45)
    with rasterio.open(path) as src:
        got, valid = read_window_bands(src, [3, 1, 3], win)
        np.testing.assert_array_equal(got, src.read([3, 1, 3], window=win))
        want = (src.dataset_mask(window=win) > 0) & np.isfinite(src.read(window=win)).all(axis=0)
    np.testing.assert_array_equal(valid, want)
    assert not valid[3:7, 2:6].any() and valid[10, 10] and not valid[28, 27]
