"""ETTerra on tiny random SAM and CLIP checkpoints, through the same code path as the published ones."""

import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from farmannot.cli.main import cli
from farmannot.errors import InputError
from farmannot.train.checkpoint import load_model
from farmannot.train.config import TrainConfig
from farmannot.train.evaluate import evaluate_run
from farmannot.train.models import build_model, prepare_config
from farmannot.train.models.clip_text import build_text_tower, tokenize
from farmannot.train.trainer import train

CLIP_TINY = {"embed_dim": 32, "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 1,
                                           "layers": 1}}


@pytest.fixture(scope="module")
def clip_checkpoint(tmp_path_factory):
    """A tiny open_clip text tower saved as a CLIP state dict (with a visual key, as whole CLIP files have)."""
    torch.manual_seed(1)
    state = build_text_tower(CLIP_TINY).state_dict()
    state["visual.proj"] = torch.zeros(2, 2)
    state["logit_scale"] = torch.tensor(4.6)
    path = tmp_path_factory.mktemp("clip") / "tiny-clip.pt"
    torch.save(state, path)
    return path


def _config(sam, clip, inputs="image+text+dem", size=64, channels=3, **kw):
    return prepare_config({"model": "etterra", "in_channels": channels, "inputs": inputs, "sam_checkpoint": str(sam),
                           "clip_checkpoint": str(clip), "sam_image_size": size, **kw})


def _batch(n=2, s=48, channels=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.from_numpy(tokenize(["terraced parcels on a steep slope", "flat farmland by a river"][:n]))
    return {"image": torch.randn(n, channels, s, s, generator=g), "text": ids,
            "dem": torch.randn(n, 2, s, s, generator=g)}


def test_pretrained_sam_encoder_is_segment_anythings(tiny_checkpoint, tiny_sam, clip_checkpoint):
    cfg = _config(tiny_checkpoint, clip_checkpoint, size=256)
    assert cfg["etterra"]["sam"]["embed_dim"] == 32 and cfg["etterra"]["freeze"] == ["image-encoder", "text-encoder"]
    m = build_model(cfg, pretrained=True).eval()
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        assert torch.allclose(m.encode_image(x), tiny_sam.image_encoder(x), atol=1e-5)
        ref = tiny_sam.mask_decoder.transformer.layers[0].self_attn.q_proj.weight
        assert torch.equal(m.mask_decoder.transformer.layers[0].self_attn.q_proj.weight, ref)
    small = build_model(_config(tiny_checkpoint, clip_checkpoint, size=64), pretrained=True)
    assert small.image_encoder.pos_embed.shape[1:3] == (4, 4)  # 16 x 16 grid resized to 4 x 4


def test_forward_backward_and_partial_freezing(tiny_checkpoint, clip_checkpoint):
    torch.manual_seed(0)
    m = build_model(_config(tiny_checkpoint, clip_checkpoint, channels=4), pretrained=True)
    b = _batch(channels=4)
    out = m(**b)
    assert out.shape == (2, 1, 48, 48)
    out.mean().backward()
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert all(p.grad is not None for n, p in m.named_parameters() if n in trainable)
    assert not any(n.startswith(("image_encoder.", "text_encoder.")) for n in trainable)
    assert {"adapter.weight", "semantic.queries", "dem.residual.weight"} <= trainable
    assert any(n.startswith("mask_decoder.") for n in trainable)
    m2 = build_model(_config(tiny_checkpoint, clip_checkpoint, freeze=["mask-decoder"]))
    names = {n for n, p in m2.named_parameters() if p.requires_grad}
    assert any(n.startswith("image_encoder.") for n in names) and not any(n.startswith("mask_decoder.") for n in names)


def test_dem_branch_is_identity_at_step_zero_then_learns(tiny_checkpoint, clip_checkpoint):
    torch.manual_seed(0)
    m = build_model(_config(tiny_checkpoint, clip_checkpoint), pretrained=True)
    b1, b2 = _batch(seed=1), _batch(seed=2)
    b2["image"], b2["text"] = b1["image"], b1["text"]  # same image and caption, another DEM
    with torch.no_grad():
        f = m.encode_image(b1["image"])
        assert torch.equal(m.dem(f, b1["dem"]), f)
        assert torch.equal(m(**b1), m(**b2))
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(m(**b1), torch.ones(2, 1, 48, 48)).backward()
        opt.step()
    with torch.no_grad():
        assert not torch.allclose(m(**b1), m(**b2))


def test_image_only_setting_has_no_text_encoder(tiny_checkpoint, clip_checkpoint):
    m = build_model(_config(tiny_checkpoint, clip_checkpoint, inputs="image"), pretrained=True)
    assert m.text_encoder is None and m.dem is None
    assert m(_batch()["image"]).shape == (2, 1, 48, 48)


def test_wrong_checkpoints_are_clear_errors(tiny_checkpoint, clip_checkpoint, tmp_path):
    with pytest.raises(InputError, match="not a segment-anything SAM checkpoint"):
        _config(clip_checkpoint, clip_checkpoint)
    with pytest.raises(InputError, match="not a CLIP state dict"):
        _config(tiny_checkpoint, tiny_checkpoint)
    with pytest.raises(InputError, match="not found"):
        _config(tmp_path / "missing.pth", clip_checkpoint)
    with pytest.raises(InputError, match="multiple of 16"):
        _config(tiny_checkpoint, clip_checkpoint, size=40)


@pytest.mark.slow
def test_train_save_load_and_evaluate_a_run(gtpbd_dataset, tiny_checkpoint, clip_checkpoint, tmp_path):
    sam, clip = tmp_path / "sam.pth", tmp_path / "clip.pt"
    shutil.copy(tiny_checkpoint, sam)
    shutil.copy(clip_checkpoint, clip)
    run = tmp_path / "run"
    r = CliRunner().invoke(cli, ["train", str(gtpbd_dataset), "-o", str(run), "--model", "etterra",
                                 "--inputs", "image+text+dem", "--sam-checkpoint", str(sam), "--clip-checkpoint",
                                 str(clip), "--sam-image-size", "32", "--epochs", "2", "--batch-size", "4",
                                 "--lr", "1e-3", "--workers", "0", "--no-progress"])
    assert r.exit_code == 0, r.output
    sam.unlink()
    clip.unlink()  # a saved run holds its weights: the pretrained files are needed only to start
    model, config = load_model(run)
    assert config["etterra"]["sam"]["img_size"] == 32 and config["model"] == "etterra"
    result = evaluate_run(run, gtpbd_dataset, tmp_path / "eval", progress=False)
    assert result["overall"]["images"] == 4 and 0 <= result["overall"]["IoU"] <= 1
    # resuming a finished run with more epochs rebuilds the same architecture from the saved config
    cfg = TrainConfig(dataset=str(gtpbd_dataset), model="etterra", inputs="image+text+dem", epochs=3, batch_size=4,
                      workers=0, sam_image_size=32)
    summary = train(cfg, run, resume=True, progress=False)
    assert summary["epochs"] == 3
    before = np.asarray(model.semantic.queries.detach())
    after, _ = load_model(run / "last.pt")
    assert not np.allclose(before, after.semantic.queries.detach().numpy())


def test_scene_prediction_feeds_the_caption_as_clip_tokens(tiny_checkpoint, clip_checkpoint):
    from farmannot.predict.model_fn import model_predict_fn

    cfg = _config(tiny_checkpoint, clip_checkpoint, inputs="image+text", size=32)
    m = build_model(cfg, pretrained=True).eval()
    x = np.random.default_rng(0).normal(size=(2, 3, 32, 32)).astype(np.float32)
    got = model_predict_fn(m, cfg, caption="Terraced parcels.")(x)
    ids = torch.from_numpy(tokenize(["Terraced parcels."] * 2))
    with torch.no_grad():
        want = torch.sigmoid(m(torch.from_numpy(x), text=ids)).numpy()
    assert np.allclose(got, want, atol=1e-6)
    other = model_predict_fn(m, cfg, caption="A lake.")(x)
    assert not np.allclose(got, other)  # the caption reaches the model
