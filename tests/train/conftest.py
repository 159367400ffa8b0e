"""Fixtures of the train tests (the datasets' writers, the tiny model and the fake embedder in ``train_fixtures``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from train_fixtures import fake_embedder, write_farmseg, write_gtpbd


@pytest.fixture()
def gtpbd_dataset(tmp_path) -> Path:
    return write_gtpbd(tmp_path / "ds")


@pytest.fixture()
def farmseg_dataset(tmp_path) -> Path:
    return write_farmseg(tmp_path / "fs")


@pytest.fixture()
def embedder():
    return fake_embedder
