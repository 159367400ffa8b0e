"""Shared test fixtures: the shared real-data folder, a clean HOME for labelme/Qt, offline models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO / "sample_data"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLBACKEND", "Agg")
# Sessions loaded from a checkpoint decode clicks with onnxruntime by default; exporting the decoder takes
# seconds per fresh cache folder, so the suite decodes with torch unless a test asks for onnx
# (tests/sam/test_onnx_decoder.py proves the two give the same masks).
os.environ.setdefault("FARMANNOT_SAM_DECODER", "torch")


def _find_shared() -> Path | None:
    env = os.environ.get("FARMANNOT_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared" / "data", REPO.parent.parent / "shared" / "data"]
    for c in candidates:
        if c.is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The project's shared real-data folder (labelme examples, SPEX demo, real scenes).

    Skips only when the folder is absent on a user's machine (it is always present in CI).
    """
    path = _find_shared()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("shared data folder (../shared/data) missing in CI")
        pytest.skip("shared data folder (../shared/data) not present on this machine")
    return path


@pytest.fixture(scope="session")
def sample_data() -> Path:
    return SAMPLE_DATA


@pytest.fixture()
def qt_home(tmp_path, monkeypatch):
    """HOME in a temp dir: labelme writes its config there."""
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="session")
def tiny_sam():
    """A tiny random-weight SAM (the real architecture, small)."""
    from farmannot.sam.model import TINY, random_sam

    return random_sam(TINY, seed=0)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_sam):
    """``tiny_sam`` written as a checkpoint file, loaded by the tests through the real checkpoint code."""
    from farmannot.sam.model import save_checkpoint

    return save_checkpoint(tiny_sam, tmp_path_factory.mktemp("ckpt") / "tiny-sam.pth")


def pytest_collection_modifyitems(config, items):
    """Every test under ``tests/plugins/`` drives Qt and labelme: marked ``gui`` (``-m "not gui"`` skips them
    on a machine without the Qt system libraries)."""
    plugins = Path(__file__).parent / "plugins"
    for item in items:
        if plugins in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.gui)
