"""tsmnet-text: CoOp class prompts, the pixel-text score map, t <- t + gamma v, caption InfoNCE and fusion."""

import pytest
import torch
from click.testing import CliRunner
from train_fixtures import TINY
from train_fixtures import fake_embedder as conftest_fake_embedder

from farmannot.cli.main import cli
from farmannot.errors import InputError
from farmannot.train.checkpoint import load_model
from farmannot.train.models import auxiliary_loss, build_model, prepare_config
from farmannot.train.models.clip_text import build_text_tower

CLIP_TINY = {"embed_dim": 32, "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 1,
                                           "layers": 1}}


@pytest.fixture(scope="module")
def clip_checkpoint(tmp_path_factory):
    torch.manual_seed(2)
    path = tmp_path_factory.mktemp("clip") / "tiny-clip.pt"
    torch.save(build_text_tower(CLIP_TINY).state_dict(), path)
    return path


def _model(clip, inputs="image+text", **kw):
    cfg = prepare_config({"model": "tsmnet-text", "encoder": TINY["encoder"], "in_channels": 3, "inputs": inputs,
                          "clip_checkpoint": str(clip), **kw})
    return build_model(cfg, pretrained=True), cfg


def _batch(b=3, s=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(b, 1, s, s)
    mask[:, :, 8:40, 16:48] = 1
    return ({"image": torch.randn(b, 3, s, s, generator=g),
             "text": torch.nn.functional.normalize(torch.randn(b, 384, generator=g), dim=1),
             "clauses": torch.randn(b, 8, 384, generator=g),
             "clause_mask": torch.tensor([[1] * 3 + [0] * 5] * b).bool()},
            mask, torch.ones(b, 1, s, s, dtype=torch.bool))


def test_forward_backward_gamma_and_frozen_text_encoder(clip_checkpoint):
    torch.manual_seed(0)
    m, cfg = _model(clip_checkpoint)
    assert cfg["tsmnet"]["class_names"] == ["background", "farmland"]
    assert torch.allclose(m.gamma, torch.full_like(m.gamma, 1e-4))  # TSMNet: gamma starts at 1e-4
    assert all(not p.requires_grad for p in m.prompts.tower.parameters())
    ref = torch.load(clip_checkpoint, weights_only=True)["token_embedding.weight"]
    assert torch.equal(m.prompts.tower.token_embedding.weight, ref)
    x, mask, valid = _batch()
    out = m(**x)
    assert out.shape == (3, 1, 64, 64)
    aux = auxiliary_loss(m, mask, valid)
    assert aux is not None and torch.isfinite(aux)
    (out.mean() + aux).backward()
    for name in ("prompts.context", "gamma", "logit_scale", "caption_proj.weight", "fusion.0.gate"):
        g = dict(m.named_parameters())[name].grad
        assert g is not None and g.abs().sum() > 0, name


def test_learnable_context_changes_the_score_map_after_a_step(clip_checkpoint):
    torch.manual_seed(0)
    m, _ = _model(clip_checkpoint, inputs="image")
    x, mask, valid = _batch()
    m.eval()
    with torch.no_grad():
        z = m.visual(m.encoder(x["image"])[-1])
        before = m.score_map(z, m.text_features(z))
        ctx0 = m.prompts.context.detach().clone()
    assert before.shape == (3, 2, 2, 2)
    opt = torch.optim.SGD([m.prompts.context], lr=1.0)  # only the context learns
    m.train()
    m(x["image"])
    auxiliary_loss(m, mask, valid).backward()
    opt.step()
    m.eval()
    with torch.no_grad():
        after = m.score_map(z, m.text_features(z))
    assert not torch.equal(m.prompts.context, ctx0)
    assert (after - before).abs().max() > 1e-4


def test_inputs_and_class_names_are_checked(clip_checkpoint):
    with pytest.raises(InputError, match="takes --inputs image or image\\+text"):
        _model(clip_checkpoint, inputs="image+text+dem")
    with pytest.raises(InputError, match="two names"):
        _model(clip_checkpoint, class_names="farmland")


def test_cli_trains_on_farmseg_and_the_run_loads(farmseg_dataset, clip_checkpoint, tmp_path, monkeypatch):
    import farmannot.train.text as text

    monkeypatch.setattr(text, "sentence_embedder", lambda device="cpu": conftest_fake_embedder)
    run = tmp_path / "run"
    r = CliRunner().invoke(cli, ["train", str(farmseg_dataset), "-o", str(run), "--model", "tsmnet-text",
                                 "--encoder", TINY["encoder"], "--inputs", "image+text", "--clip-checkpoint",
                                 str(clip_checkpoint), "--class-names", "other land,farmland", "--epochs", "1",
                                 "--batch-size", "2", "--workers", "0", "--no-progress"])
    assert r.exit_code == 0, r.output
    model, config = load_model(run)
    assert config["tsmnet"]["class_names"] == ["other land", "farmland"]
    assert not model.training and model.prompts.context.shape == (4, 64)
