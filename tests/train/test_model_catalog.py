"""The catalog the CLI offers: every name builds; PSPNet and UperNet train; missing inputs are refused."""

import pytest
import torch
from click.testing import CliRunner
from train_fixtures import TINY, write_farmseg

from farmannot.cli.main import cli
from farmannot.errors import InputError
from farmannot.train.config import TrainConfig
from farmannot.train.models import build_model
from farmannot.train.models.catalog import MODELS as CATALOG
from farmannot.train.models.registry import MODELS as BACKBONES
from farmannot.train.trainer import train


def test_cli_choices_are_the_catalog_and_every_backbone_has_a_builder():
    from farmannot.cli.train import command

    model_opt = next(p for p in command.params if p.name == "model")
    assert list(model_opt.type.choices) == list(CATALOG)
    assert {n for n, s in CATALOG.items() if s.family in ("smp", "torchvision")} == set(BACKBONES)
    assert {"pspnet", "upernet"} <= set(model_opt.type.choices)


@pytest.mark.parametrize("model", ["pspnet", "upernet"])
def test_pspnet_and_upernet_forward_backward(model):
    torch.manual_seed(0)
    m = build_model({"model": model, "encoder": TINY["encoder"], "in_channels": 4, "inputs": "image+text+dem"})
    g = torch.Generator().manual_seed(0)
    out = m(torch.randn(2, 4, 64, 64, generator=g), text=torch.randn(2, 384, generator=g),
            dem=torch.randn(2, 2, 64, 64, generator=g))
    assert out.shape == (2, 1, 64, 64)
    out.mean().backward()
    assert m.dem.gate.grad is not None and m.dem.gate.grad.abs().sum() > 0


def test_pspnet_trains_one_epoch_from_the_cli(gtpbd_dataset, tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(cli, ["train", str(gtpbd_dataset), "-o", str(out), "--model", "pspnet", "--encoder",
                                 TINY["encoder"], "--epochs", "1", "--batch-size", "4", "--workers", "0",
                                 "--no-progress"])
    assert r.exit_code == 0, r.output
    assert (out / "best.pt").exists()


def test_missing_dem_or_caption_is_an_error_naming_the_layout(tmp_path, gtpbd_dataset):
    fs = write_farmseg(tmp_path / "fs")
    cfg = TrainConfig(dataset=str(fs), inputs="image+text+dem", epochs=1, **TINY)
    with pytest.raises(InputError, match=r"needs DEM tiles.*gtpbd-mm/SPLIT/REGION/dem/NAME\.tif"):
        train(cfg, tmp_path / "run", progress=False)
    texts = list((gtpbd_dataset / "gtpbd-mm" / "train").glob("*/text/*.txt"))
    assert texts
    for f in texts:
        f.unlink()
    cfg = TrainConfig(dataset=str(gtpbd_dataset), inputs="image+text", epochs=1, **TINY)
    with pytest.raises(InputError, match=r"needs captions.*gtpbd-mm/SPLIT/REGION/text/NAME\.txt"):
        train(cfg, tmp_path / "run2", progress=False)
    assert not (tmp_path / "run").exists() and not (tmp_path / "run2" / "last.pt").exists()


def test_the_cli_reads_the_catalog_without_importing_torch():
    import subprocess
    import sys

    code = "import sys, farmannot.cli.train; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
