"""CPU smoke training of every model farmannot added for the papers, on the real sample dataset."""

import pytest
import torch
from train_fixtures import TINY
from train_fixtures import fake_embedder as conftest_fake_embedder

from farmannot.dataset.build import build_dataset
from farmannot.dataset.config import load_config
from farmannot.train.checkpoint import load_checkpoint
from farmannot.train.config import TrainConfig
from farmannot.train.models.clip_text import build_text_tower
from farmannot.train.trainer import train

CLIP_TINY = {"embed_dim": 32, "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 1,
                                           "layers": 1}}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from pathlib import Path

    sample = Path(__file__).resolve().parents[2] / "sample_data"
    out = tmp_path_factory.mktemp("sample") / "dataset"
    cfg = load_config(sample / "build.yaml", {"layouts": "gtpbd-mm", "card": False})
    build_dataset(sample, out, cfg, progress=False)
    return out


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory):
    torch.manual_seed(4)
    path = tmp_path_factory.mktemp("clip") / "tiny-clip.pt"
    torch.save(build_text_tower(CLIP_TINY).state_dict(), path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("model,inputs", [("pspnet", "image"), ("upernet", "image"), ("tsmnet-text", "image+text"),
                                          ("etterra", "image+text+dem")])
def test_one_epoch_on_the_sample_dataset(model, inputs, dataset, clip_file, tiny_checkpoint, tmp_path):
    opts = {"sam_checkpoint": str(tiny_checkpoint), "sam_image_size": 64} if model == "etterra" else \
        {"encoder": TINY["encoder"]}
    if model == "upernet":
        opts["arch_kwargs"] = {"decoder_channels": 32}  # smp's default 256 is slow for a CPU smoke run
    cfg = TrainConfig(dataset=str(dataset), model=model, inputs=inputs, epochs=1, batch_size=8, workers=0,
                      clip_checkpoint=str(clip_file), **opts)
    summary = train(cfg, tmp_path / "run", progress=False, embedder=conftest_fake_embedder)
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["epoch"] == 1 and summary["last"]["train_loss"] > 0
    assert 0 <= summary["last"]["val_IoU"] <= 1  # the sample has a validation split
