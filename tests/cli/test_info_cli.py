"""``farmannot info``: the installation report a lab checks its setup with."""

from __future__ import annotations

import torch
from click.testing import CliRunner

from farmannot import __version__
from farmannot.cli.main import cli


def _rows(output: str) -> dict[str, str]:
    return {line.split("  ", 1)[0].strip(): line.split("  ", 1)[1].strip() for line in output.splitlines()}


def test_info_reports_versions_gpu_checkpoint_and_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    (cache / "ab").mkdir(parents=True)
    (cache / "ab" / "one.npz").write_bytes(b"x" * 2048)
    (cache / "two.npz").write_bytes(b"y" * 1024)
    monkeypatch.setenv("FARMANNOT_SAM_CACHE", str(cache))
    monkeypatch.setenv("FARMANNOT_SAM_CHECKPOINT", str(tmp_path / "nowhere.pth"))
    res = CliRunner().invoke(cli, ["info"])
    assert res.exit_code == 0, res.output
    rows = _rows(res.output)
    assert rows["farmannot"] == __version__
    assert torch.__version__.startswith(rows["torch"])
    assert rows["labelme"].startswith("6.3.")
    assert ("none visible" in rows["GPU"]) == (not torch.cuda.is_available())
    assert "MISSING" in rows["SAM checkpoint"] and "nowhere.pth" in rows["SAM checkpoint"]
    assert rows["SAM embedding cache"].startswith(f"{cache} (2 file(s)")
    ckpt = tmp_path / "sam.pth"
    ckpt.write_bytes(b"0")
    monkeypatch.setenv("FARMANNOT_SAM_CHECKPOINT", str(ckpt))
    monkeypatch.delenv("FARMANNOT_SAM_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    rows = _rows(CliRunner().invoke(cli, ["info"]).output)
    assert "(found;" in rows["SAM checkpoint"]
    assert rows["SAM embedding cache"].startswith(f"{tmp_path / 'xdg' / 'farmannot' / 'sam-embeddings'} (0 file(s)")


def test_info_lists_sam_families_and_checkpoints_found(tmp_path, monkeypatch):
    import importlib.util

    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "sam2.1_hiera_tiny.pt").write_bytes(b"0")
    (folder / "sam_vit_b_01ec64.pth").write_bytes(b"0")
    (folder / "my-notes.pt").write_bytes(b"0")
    monkeypatch.setenv("FARMANNOT_SAM_CHECKPOINT_DIR", str(folder))
    monkeypatch.delenv("FARMANNOT_SAM_CHECKPOINT", raising=False)
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["info"])
    assert res.exit_code == 0, res.output
    rows = _rows(res.output)
    for family, package, model in (("SAM", "segment_anything", "vit_b"), ("SAM 2.1", "sam2", "sam2.1_tiny")):
        installed = importlib.util.find_spec(package) is not None
        assert rows[f"SAM family {family}"].startswith("installed" if installed else "not installed")
        assert (model in rows[f"SAM family {family}"]) == installed
    assert rows["SAM checkpoints found"].startswith("2 ")
    lines = [line.split() for line in res.output.splitlines()]
    assert ["SAM", "2.1", "checkpoint", str(folder / "sam2.1_hiera_tiny.pt")] in lines
    assert ["SAM", "checkpoint", str(folder / "sam_vit_b_01ec64.pth")] in lines
