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
    sam3_installed = importlib.util.find_spec("sam3") is not None
    assert rows["SAM family SAM 3"].startswith("installed: sam3 (concept prompts" if sam3_installed else
                                               "not installed (pip install --no-deps sam3==0.1.4")
    assert rows["SAM checkpoints found"].startswith("2 ")
    lines = [line.split() for line in res.output.splitlines()]
    assert ["SAM", "2.1", "checkpoint", str(folder / "sam2.1_hiera_tiny.pt")] in lines
    assert ["SAM", "checkpoint", str(folder / "sam_vit_b_01ec64.pth")] in lines


def test_gui_check_names_missing_libraries_and_their_packages():
    """The xcb plugin's libraries as ldd sees them; each one reported missing really fails to load."""
    import ctypes
    import importlib.util
    import subprocess
    from pathlib import Path

    from farmannot.cli.info import XCB_PACKAGES, gui_rows, missing_libraries

    text = ("\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x1)\n\tlibxcb-icccm.so.4 => not found\n"
            "\tlibxcb-keysyms.so.1 => not found\n\tlibxcb-icccm.so.4 => not found\n")
    assert missing_libraries(text) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    assert [XCB_PACKAGES[m] for m in missing_libraries(text)] == ["libxcb-icccm4", "libxcb-keysyms1"]
    rows = dict(gui_rows())
    plugin = Path(importlib.util.find_spec("PyQt5").origin).parent / "Qt5" / "plugins" / "platforms" / "libqxcb.so"
    missing = missing_libraries(subprocess.run(["ldd", str(plugin)], capture_output=True, text=True).stdout)
    for name in missing:  # the dynamic loader agrees
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        raise AssertionError(f"{name} loads, yet was reported missing")
    row = rows["GUI libraries (Qt xcb)"]
    assert ("apt-get install" in row and all(m in row for m in missing)) if missing else row == "all found"
    assert "CJK font" in rows
