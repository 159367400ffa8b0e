"""Per-chip embeddings: precompute fills the cache chip by chip and propose hits it."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.transform import from_origin
from rasterio.windows import Window

from farmannot.cli.main import cli
from farmannot.io.stretch import Stretch
from farmannot.sam.cache import EmbeddingCache
from farmannot.sam.chip_embed import chip_key_parts, chip_picture, is_large
from farmannot.sam.chips import chip_grid
from farmannot.sam.propose import ProposeOptions, propose_scene
from farmannot.sam.session import SamSession


@pytest.fixture()
def scene(tmp_path):
    rng = np.random.default_rng(1)
    data = (rng.random((4, 150, 200)) * 50 + 50).astype(np.uint8)
    data[1, 40:110, 50:150] = 200
    path = tmp_path / "big.tif"
    with rasterio.open(path, "w", driver="GTiff", width=200, height=150, count=4, dtype="uint8",
                       crs="EPSG:32618", transform=from_origin(500000, 4000000, 2, 2)) as dst:
        dst.write(data)
    return path


def test_precompute_fills_one_entry_per_chip_and_propose_hits_them(scene, tiny_checkpoint, tmp_path):
    cache = tmp_path / "cache"
    args = ["precompute-embeddings", str(scene), "--sam-checkpoint", str(tiny_checkpoint), "--cache-dir",
            str(cache), "--chip", "64", "--overlap", "16", "--chip-above", "100", "--sensor", "rgbn",
            "--no-progress"]
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    # 200 x 150 at 64 px with 16 overlap: columns 0,48,96,136 x rows 0,48,86 -> 12 chips (hand-counted)
    assert len(chip_grid(200, 150, 64, 16)) == 12
    assert "12 computed, 0 already cached" in res.output
    assert len(list(cache.rglob("*.npz"))) == 12
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert "0 computed, 12 already cached" in res.output
    session = SamSession.from_checkpoint(tiny_checkpoint, cache=EmbeddingCache(cache))
    out = propose_scene(scene, session, ProposeOptions(chip=64, overlap=16, points_per_side=2, veg_filter="none"),
                        sensor="rgbn")
    assert (out.chips, out.cache_hits) == (12, 12)


def test_annotate_only_keeps_small_rasters_whole(scene, tiny_checkpoint, tmp_path):
    cache = tmp_path / "cache"
    res = CliRunner().invoke(cli, ["precompute-embeddings", str(scene), "--sam-checkpoint", str(tiny_checkpoint),
                                   "--cache-dir", str(cache), "--chip", "64", "--overlap", "16", "--for", "annotate",
                                   "--no-progress"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "1 computed" in res.output and len(list(cache.rglob("*.npz"))) == 1
    assert not is_large(200, 150) and is_large(9000, 10)


@pytest.mark.slow
def test_precompute_then_every_command_computes_no_embedding(scene, tiny_checkpoint, tmp_path, monkeypatch):
    """One cache key: after precompute-embeddings, propose, propose --points and the annotator's picture
    are all answered from the cache (the encoder is not allowed to run)."""
    import geopandas
    import shapely

    from farmannot.sam.imagery import render_picture

    cache = tmp_path / "cache"
    common = ["--sam-checkpoint", str(tiny_checkpoint), "--cache-dir", str(cache), "--chip", "64", "--overlap", "16",
              "--bands", "red=3,green=2,blue=1,nir=4"]
    res = CliRunner().invoke(cli, ["precompute-embeddings", str(scene), "--no-progress", *common],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "13 computed, 0 already cached" in res.output  # 12 chips + the whole picture the annotator shows

    def no_encoder(self, rgb):
        raise AssertionError("an embedding was computed after precompute-embeddings")

    monkeypatch.setattr(SamSession, "compute_embedding", no_encoder)
    res = CliRunner().invoke(cli, ["propose", str(scene), "-o", str(tmp_path / "p.json"), "--points-per-side", "2",
                                   "--filter", "none", *common], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "on 12 chip(s) (12 embedding(s) from cache" in res.output
    gdf = geopandas.GeoDataFrame({"label": ["a", "b"]}, geometry=[shapely.Point(500000 + 2 * 60, 4000000 - 2 * 50),
                                                                 shapely.Point(500000 + 2 * 180, 4000000 - 2 * 130)],
                                 crs="EPSG:32618")
    gdf.to_file(tmp_path / "pts.gpkg")
    res = CliRunner().invoke(cli, ["propose", str(scene), "-o", str(tmp_path / "q.json"), "--points",
                                   str(tmp_path / "pts.gpkg"), *common], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "from 2 point(s)" in res.output
    session = SamSession.from_checkpoint(tiny_checkpoint, cache=EmbeddingCache(cache))
    picture = render_picture(scene, band_map={"red": 3, "green": 2, "blue": 1, "nir": 4})
    assert session.embed(picture.rgb)[1]  # the annotator's key: a hit, the encoder never ran


def test_chip_picture_native_and_downsampled(scene):
    st = Stretch((50.0, 50.0, 50.0), (250.0, 250.0, 250.0))
    with rasterio.open(scene) as src:
        rgb, valid = chip_picture(src, Window(40, 30, 64, 64), [1, 2, 3], st)
        assert rgb.shape == (64, 64, 3) and valid.all()
        raw = src.read(2, window=Window(40, 30, 64, 64)).astype(float)
        np.testing.assert_array_equal(rgb[..., 1], np.clip(np.round((raw - 50) * 255 / 200), 0, 255))
        small, valid = chip_picture(src, Window(0, 0, 200, 150), [1, 2, 3], st, size=100)
        assert small.shape == (75, 100, 3) and valid.shape == (75, 100)
        # the bright green block 40:110 x 50:150 shows at half scale
        assert small[37, 50, 1] == 191 and small[5, 5, 1] < 80  # (200-50)*255/200; background <= 100
    native = chip_key_parts("big.tif", Window(0, 0, 64, 64), [1, 2, 3], st)
    assert native == {"scene": "big.tif", "window": [0, 0, 64, 64], "bands": [1, 2, 3],
                      "stretch": {"low": [50.0] * 3, "high": [250.0] * 3}}
    assert chip_key_parts("big.tif", Window(0, 0, 200, 150), [1, 2, 3], st, size=100)["size"] == 100
