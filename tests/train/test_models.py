"""Every model and input setting runs forward and backward; conditioning starts as the identity."""

import pytest
import torch

from farmannot.errors import FarmannotError
from farmannot.train.models import build_model

TINY_ENC = "tu-mobilenetv3_small_050"


def _batch(b=2, c=3, s=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.nn.functional.normalize(torch.randn(b, 384, generator=g), dim=1)
    return {"image": torch.randn(b, c, s, s, generator=g), "text": t,
            "clauses": torch.randn(b, 8, 384, generator=g), "clause_mask": torch.tensor([[1] * 3 + [0] * 5] * b).bool(),
            "dem": torch.randn(b, 2, s, s, generator=g)}


def _cfg(model, inputs="image", encoder=TINY_ENC, in_channels=3, fusion="film"):
    return {"model": model, "encoder": encoder, "in_channels": in_channels, "inputs": inputs, "text_fusion": fusion}


@pytest.mark.parametrize("model,encoder", [("unet", TINY_ENC), ("deeplabv3", TINY_ENC), ("deeplabv3plus", TINY_ENC),
                                           ("segformer", "mit_b0"), ("fcn", "resnet50")])
def test_every_model_forward_backward(model, encoder):
    torch.manual_seed(0)
    # 4 bands (RGB + NIR): extra input channels
    m = build_model(_cfg(model, "image+text+dem", encoder, in_channels=4,
                         fusion="cross-attention" if model == "fcn" else "film"))
    b = _batch(c=4)
    out = m(**b)
    assert out.shape == (2, 1, 32, 32)
    out.mean().backward()
    grads = [p.grad for p in m.backbone.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    assert m.dem.gate.grad is not None and m.dem.gate.grad.abs().sum() > 0


@pytest.mark.parametrize("inputs,fusion", [("image+text", "cross-attention"), ("image+text+dem", "film")])
def test_conditioning_starts_as_identity_then_learns(inputs, fusion):
    torch.manual_seed(0)
    m = build_model(_cfg("unet", inputs, fusion=fusion))
    m.eval()
    b1, b2 = _batch(seed=1), _batch(seed=2)
    b2["image"] = b1["image"]  # same image, different caption / DEM
    with torch.no_grad():
        assert torch.allclose(m(**b1), m(**b2), atol=1e-6)  # zero-initialised residuals
    m.train()
    opt = torch.optim.SGD(m.parameters(), lr=0.5)
    for _ in range(2):
        opt.zero_grad()
        (m(**b1) - 1).pow(2).mean().backward()
        opt.step()
    m.eval()
    with torch.no_grad():
        assert not torch.allclose(m(**b1), m(**b2), atol=1e-6)


def test_model_errors():
    with pytest.raises(FarmannotError, match="unknown model"):
        build_model(_cfg("mask2former"))
    with pytest.raises(FarmannotError, match="fcn supports"):
        build_model(_cfg("fcn", encoder="vgg11"))
    with pytest.raises(ValueError, match="DEM"):
        build_model(_cfg("unet", "image+text+dem"))(**{k: v for k, v in _batch().items() if k != "dem"})
