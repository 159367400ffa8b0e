"""A tiny random SAM checkpoint written by the tests, loaded through the real checkpoint code."""

from __future__ import annotations

import pytest

from farmannot.sam.model import TINY, random_sam, save_checkpoint


@pytest.fixture(scope="session")
def tiny_sam():
    return random_sam(TINY, seed=0)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_sam):
    return save_checkpoint(tiny_sam, tmp_path_factory.mktemp("ckpt") / "tiny-sam.pth")
