"""Clicks decoded by onnxruntime give the masks the torch decoder gives (segment-anything's own ONNX graph)."""

from __future__ import annotations

import numpy as np
import pytest

from farmannot.sam import onnx_decoder
from farmannot.sam.cache import EmbeddingCache
from farmannot.sam.session import SamSession, default_decoder

PROMPTS = {
    "one click (multimask)": ([[60.0, 50.0]], [1]),
    "two clicks": ([[60.0, 50.0], [100.0, 30.0]], [1, 1]),
    "click and exclusion": ([[60.0, 50.0], [20.0, 100.0]], [1, 0]),
    "box": ([[30.0, 20.0], [110.0, 80.0]], [2, 3]),
    "box and click": ([[30.0, 20.0], [110.0, 80.0], [70.0, 50.0]], [2, 3, 1]),
}


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(1)
    img = (rng.random((120, 180, 3)) * 60).astype(np.uint8)
    img[20:80, 30:110] += 150
    return img


@pytest.fixture(scope="module")
def sessions(tiny_checkpoint, tmp_path_factory):
    cache = EmbeddingCache(tmp_path_factory.mktemp("cache"))
    return (SamSession.from_checkpoint(tiny_checkpoint, cache=cache, decoder="torch"),
            SamSession.from_checkpoint(tiny_checkpoint, cache=cache, decoder="onnx"))


@pytest.mark.parametrize("name", list(PROMPTS))
def test_onnx_masks_equal_torch_masks(sessions, image, name):
    torch_session, onnx_session = sessions
    emb, _ = torch_session.embed(image)
    points, labels = PROMPTS[name]
    ref_mask, ref_score = torch_session.predict(emb, points, labels)
    mask, score = onnx_session.predict(emb, points, labels)
    assert mask.shape == ref_mask.shape == image.shape[:2]
    assert ref_mask.any() and not ref_mask.all()  # a prompt that says something
    # same graph, another runtime: logits agree to float rounding, so at most a pixel on the threshold flips
    assert (mask != ref_mask).sum() <= 2
    assert score == pytest.approx(ref_score, abs=1e-4)


def test_exported_decoder_is_kept_beside_the_cache(tiny_checkpoint, tmp_path, monkeypatch, image):
    first = SamSession.from_checkpoint(tiny_checkpoint, cache=EmbeddingCache(tmp_path), decoder="onnx")
    first.onnx_decoder()
    (saved,) = (tmp_path / "decoders").glob("*.onnx")
    assert saved.stat().st_size > 1_000_000  # the decoder's weights are in it
    second = SamSession.from_checkpoint(tiny_checkpoint, cache=EmbeddingCache(tmp_path), decoder="onnx")
    monkeypatch.setattr(onnx_decoder, "export_decoder", lambda sam: pytest.fail("exported again"))
    emb, _ = second.embed(image)
    mask, _ = second.predict(emb, [[60.0, 50.0]], [1])
    assert mask.any()


def test_default_decoder(monkeypatch):
    monkeypatch.delenv("FARMANNOT_SAM_DECODER", raising=False)
    assert default_decoder("cpu") == "onnx"  # onnx and onnxruntime are installed with the gui extra
    assert default_decoder("cuda") == "torch"
    monkeypatch.setenv("FARMANNOT_SAM_DECODER", "torch")
    assert default_decoder("cpu") == "torch"
