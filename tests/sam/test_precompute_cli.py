"""precompute-embeddings fills the cache with the keys the GUI computes for the same pictures."""

from __future__ import annotations

import shutil

import numpy as np
from click.testing import CliRunner
from PIL import Image

from farmannot.cli.main import cli
from farmannot.sam.cache import EmbeddingCache
from farmannot.sam.imagery import render_picture
from farmannot.sam.session import SamSession


def test_precompute_then_hit(tmp_path, tiny_checkpoint, sample_data):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray((np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)).save(folder / "a.png")
    shutil.copy(sample_data / "scenes" / "rgbn-cul-de-sac-suba.tif", folder / "s.tif")
    cache = tmp_path / "cache"
    args = ["precompute-embeddings", str(folder), "--sam-checkpoint", str(tiny_checkpoint),
            "--cache-dir", str(cache), "--no-progress"]
    res = CliRunner().invoke(cli, args, obj={})
    assert res.exit_code == 0, res.output
    # a.png whole; s.tif whole (8-bit, shown as stored) and as its one chip (scene-stretched, as propose sees it)
    assert "3 computed, 0 already cached" in res.output
    assert len(list(cache.rglob("*.npz"))) == 3
    res = CliRunner().invoke(cli, args, obj={})
    assert "0 computed, 3 already cached" in res.output
    session = SamSession.from_checkpoint(tiny_checkpoint, cache=EmbeddingCache(cache))
    for name in ("a.png", "s.tif"):
        assert session.key_for(render_picture(folder / name).rgb) in session.cache


def test_precompute_errors(tmp_path, tiny_checkpoint, monkeypatch):
    monkeypatch.delenv("FARMANNOT_SAM_CHECKPOINT", raising=False)
    (tmp_path / "bad.png").write_bytes(b"nope")
    res = CliRunner().invoke(cli, ["precompute-embeddings", str(tmp_path)], obj={})
    assert res.exit_code != 0 and "--sam-checkpoint" in res.output
    res = CliRunner().invoke(cli, ["precompute-embeddings", str(tmp_path), "--sam-checkpoint", str(tiny_checkpoint),
                                   "--cache-dir", str(tmp_path / "c"), "--keep-going", "--no-progress"], obj={})
    assert res.exit_code == 1 and "bad.png" in res.output and "1 failed" in res.output
