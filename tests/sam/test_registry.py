"""The model registry: SAM 2.1 through the same loader and session as SAM, judged by sam2's own predictor."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from farmannot.errors import InputError
from farmannot.sam.cache import EmbeddingCache
from farmannot.sam.registry import MODEL_NAMES, family_of_state, find_checkpoints, load_model
from farmannot.sam.sam2_model import (
    PRESETS,
    TINY,
    build_sam2_model,
    infer_sam2_config,
    random_sam2,
    save_sam2_checkpoint,
)
from farmannot.sam.session import SamSession


@pytest.fixture(scope="module")
def sam2_checkpoint(tmp_path_factory):
    return save_sam2_checkpoint(random_sam2(TINY, seed=1), TINY, tmp_path_factory.mktemp("ckpt2") / "tiny-sam2.pt")


@pytest.fixture(scope="module")
def picture():
    rng = np.random.default_rng(0)
    rgb = (rng.random((180, 240, 3)) * 60 + 40).astype(np.uint8)
    rgb[40:120, 60:200] = (60, 200, 60)
    return rgb


def _sam2_predictor(session):
    """sam2's own SAM2ImagePredictor on the session's model (its feature sizes follow the model's input)."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    pred = SAM2ImagePredictor(session.sam)
    s = session.img_size
    pred._bb_feat_sizes = [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]
    return pred


def test_sam2_checkpoint_loads_and_decodes_as_sam2s_predictor(sam2_checkpoint, picture):
    session = SamSession.from_checkpoint(sam2_checkpoint)
    assert session.family == "sam2" and session.model_id.startswith("sam2.1_tiny-test:")
    emb, hit = session.embed(picture)
    assert not hit and emb.features.shape == (256, 16, 16)
    assert emb.extras["high_res_0"].shape == (32, 64, 64) and emb.extras["high_res_1"].shape == (64, 32, 32)
    pred = _sam2_predictor(session)
    pred.set_image(picture)
    np.testing.assert_array_equal(pred._features["image_embed"][0].numpy(), emb.features)
    # a click: best of three masks, upsampled to the picture
    mask, score = session.predict(emb, [[130, 80]], [1])
    masks, ious, _ = pred.predict(point_coords=np.array([[130, 80]]), point_labels=np.array([1]))
    best = int(np.argmax(ious))
    assert mask.shape == picture.shape[:2] and mask.any()
    np.testing.assert_array_equal(mask, masks[best] > 0)
    assert score == pytest.approx(float(ious[best]), abs=1e-6)
    # a box (labelme's corners 2 and 3) and a box with an exclusion click
    mask, _ = session.predict(emb, [[60, 40], [200, 120]], [2, 3])
    masks, _, _ = pred.predict(box=np.array([60, 40, 200, 120]), multimask_output=False)
    np.testing.assert_array_equal(mask, masks[0] > 0)
    mask, _ = session.predict(emb, [[60, 40], [200, 120], [100, 100]], [2, 3, 0])
    masks, _, _ = pred.predict(point_coords=np.array([[100, 100]]), point_labels=np.array([0]),
                               box=np.array([60, 40, 200, 120]), multimask_output=False)
    np.testing.assert_array_equal(mask, masks[0] > 0)


def test_cache_is_keyed_per_model_and_keeps_sam2_features(sam2_checkpoint, tiny_checkpoint, picture, tmp_path):
    cache = EmbeddingCache(tmp_path / "cache")
    s2 = SamSession.from_checkpoint(sam2_checkpoint, cache=cache)
    s1 = SamSession.from_checkpoint(tiny_checkpoint, cache=cache)
    assert s1.key_for(picture) != s2.key_for(picture)
    e2, _ = s2.embed(picture)
    e1, hit = s1.embed(picture)
    assert not hit and e1.features.shape == (256, 16, 16) and not e1.extras
    # a new session (empty memory) reads the SAM 2 entry back from disk, high-resolution maps included
    again = SamSession.from_checkpoint(sam2_checkpoint, cache=EmbeddingCache(tmp_path / "cache"))
    e2b, hit = again.embed(picture)
    assert hit and set(e2b.extras) == {"high_res_0", "high_res_1"}
    for k in e2.extras:
        np.testing.assert_array_equal(e2b.extras[k], e2.extras[k])
    np.testing.assert_array_equal(again.predict(e2b, [[130, 80]], [1])[0], s2.predict(e2, [[130, 80]], [1])[0])
    # another checkpoint of the same configuration is another model
    other = save_sam2_checkpoint(random_sam2(TINY, seed=2), TINY, tmp_path / "other.pt")
    assert SamSession.from_checkpoint(other).key_for(picture) != s2.key_for(picture)


@pytest.mark.slow
def test_loader_refuses_what_it_cannot_run(sam2_checkpoint, tiny_checkpoint, tmp_path):
    with pytest.raises(InputError, match="holds sam2.1_tiny-test, not sam2.1_tiny"):
        load_model(sam2_checkpoint, "sam2.1_tiny")
    with pytest.raises(InputError, match="not vit_b"):
        load_model(sam2_checkpoint, "vit_b")
    with pytest.raises(InputError, match="not sam2.1_large"):
        load_model(tiny_checkpoint, "sam2.1_large")
    sam3 = tmp_path / "sam3.pt"
    torch.save({"model": {"detector.backbone.vision_backbone.trunk.pos_embed": torch.zeros(1)}}, sam3)
    with pytest.raises(InputError, match="SAM 3 checkpoint, but the `sam3` package|weights do not fit sam3"):
        load_model(sam3)
    other = tmp_path / "other.pt"
    torch.save({"model": {"encoder.weight": torch.zeros(1)}}, other)
    with pytest.raises(InputError, match="not a SAM"):
        load_model(other)
    with pytest.raises(InputError, match="not found"):
        load_model(tmp_path / "missing.pt")
    assert "sam2.1_tiny" in MODEL_NAMES and "vit_b" in MODEL_NAMES


@pytest.mark.slow
def test_published_sizes_are_recognised_from_their_weights(tmp_path):
    """The real Hiera-tiny built from sam2's config: its weight shapes say sam2.1_tiny (39 M parameters), and a
    file in the official layout ({"model": state_dict}, as sam2.build_sam reads it) loads strictly."""
    model = build_sam2_model(PRESETS["sam2.1_tiny"])
    state = model.state_dict()
    assert family_of_state(state) == "sam2"
    assert infer_sam2_config(state) == PRESETS["sam2.1_tiny"]
    assert 38e6 < sum(p.numel() for p in model.parameters()) < 40e6
    path = tmp_path / "sam2.1_hiera_tiny.pt"
    torch.save({"model": state}, path)
    backend, config, model_id = load_model(path, "sam2.1_tiny")
    assert config == PRESETS["sam2.1_tiny"] and model_id.startswith("sam2.1_tiny:") and backend.img_size == 1024
    assert torch.equal(backend.module.state_dict()["image_encoder.trunk.patch_embed.proj.weight"],
                       state["image_encoder.trunk.patch_embed.proj.weight"])


def test_find_checkpoints_lists_official_names(tmp_path):
    (tmp_path / "sam2.1_hiera_tiny.pt").write_bytes(b"x")
    (tmp_path / "sam_vit_b_01ec64.pth").write_bytes(b"x")
    (tmp_path / "notes.pt").write_bytes(b"x")
    found = find_checkpoints([tmp_path])
    assert sorted((fam, p.name) for fam, p in found) == [("SAM", "sam_vit_b_01ec64.pth"),
                                                        ("SAM 2.1", "sam2.1_hiera_tiny.pt")]


@pytest.mark.slow
def test_propose_runs_sam2s_mask_generator_on_cached_chips(sam2_checkpoint, tmp_path):
    from farmannot.sam.propose import ProposeOptions, propose_scene

    rng = np.random.default_rng(3)
    data = (rng.random((3, 96, 120)) * 40 + 60).astype(np.uint8)
    data[1, 20:60, 30:90] = 220
    scene = tmp_path / "scene.tif"
    with rasterio.open(scene, "w", driver="GTiff", width=120, height=96, count=3, dtype="uint8",
                       crs="EPSG:32618", transform=from_origin(500000, 4000000, 5, 5)) as dst:
        dst.write(data)
    session = SamSession.from_checkpoint(sam2_checkpoint, cache=EmbeddingCache(tmp_path / "cache"))
    opts = ProposeOptions(chip=64, overlap=16, points_per_side=3, points_per_batch=4, pred_iou_thresh=-100,
                          stability_score_thresh=-100, veg_filter="none")
    first = propose_scene(scene, session, opts)
    assert first.chips == 6 and first.cache_hits == 0 and first.raw_masks > 0
    again = propose_scene(scene, SamSession.from_checkpoint(sam2_checkpoint, cache=EmbeddingCache(tmp_path / "cache")),
                          opts)
    assert again.cache_hits == 6 and again.raw_masks == first.raw_masks
