"""SAM 3 through the registry: a tiny random model through the checkpoint loader, judged by sam3's own
``Sam3Processor`` on the full (uncached) path; concept proposals over a scene's chips."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
from click.testing import CliRunner
from rasterio.transform import from_origin

pytest.importorskip("sam3", reason="the sam3 package is not installed (pip install --no-deps sam3==0.1.4)")

from farmannot.cli.main import cli  # noqa: E402
from farmannot.errors import InputError  # noqa: E402
from farmannot.io.labelme_json import load_annotation  # noqa: E402
from farmannot.sam.cache import EmbeddingCache  # noqa: E402
from farmannot.sam.click import click_polygons  # noqa: E402
from farmannot.sam.prompts import Prompt  # noqa: E402
from farmannot.sam.registry import MODEL_NAMES, load_model  # noqa: E402
from farmannot.sam.sam3_model import PRESETS, TINY, cpu_safe, random_sam3, save_sam3_checkpoint  # noqa: E402
from farmannot.sam.session import SamSession  # noqa: E402


@pytest.fixture(scope="module")
def sam3_checkpoint(tmp_path_factory):
    return save_sam3_checkpoint(random_sam3(TINY, seed=1), TINY, tmp_path_factory.mktemp("ckpt3") / "tiny-sam3.pt")


@pytest.fixture(scope="module")
def picture():
    rng = np.random.default_rng(0)
    rgb = (rng.random((90, 120, 3)) * 60 + 40).astype(np.uint8)
    rgb[20:60, 30:100] = (60, 200, 60)
    return rgb


@pytest.fixture(scope="module")
def session(sam3_checkpoint, tmp_path_factory):
    s = SamSession.from_checkpoint(sam3_checkpoint, cache=EmbeddingCache(tmp_path_factory.mktemp("cache3")))
    s.backend.score_threshold = 0.0  # random weights: keep every query to compare them all
    return s


def _processor(session, picture):
    """sam3's own processor on the session's model: full backbone on the picture, no cache."""
    from PIL import Image
    from sam3.model.sam3_image_processor import Sam3Processor

    proc = Sam3Processor(session.sam, resolution=TINY.image_size, device="cpu", confidence_threshold=0.0)
    with cpu_safe():
        state = proc.set_image(Image.fromarray(picture))
    return proc, state


def test_tiny_sam3_loads_through_the_checkpoint_loader(sam3_checkpoint):
    backend, config, model_id = load_model(sam3_checkpoint)
    assert backend.family == "sam3" and config == TINY and model_id.startswith("sam3-test:")
    saved = torch.load(sam3_checkpoint, weights_only=True)["model"]
    loaded = backend.module.state_dict()
    assert len(saved) == len(loaded)
    assert all(torch.equal(saved[f"detector.{k}"], v) for k, v in loaded.items())
    assert "sam3" in MODEL_NAMES
    with pytest.raises(InputError, match="holds sam3-test, not sam3"):
        load_model(sam3_checkpoint, "sam3")


def test_computed_rope_buffers_may_be_absent_but_weights_may_not(tmp_path):
    model = random_sam3(TINY, seed=3)
    state = {f"detector.{k}": v for k, v in model.state_dict().items() if not k.endswith(".freqs_cis")}
    path = tmp_path / "no-rope.pt"
    torch.save({"model": state, "farmannot_config": TINY.to_dict()}, path)
    loaded = load_model(path)[0].module.state_dict()
    assert all(torch.equal(v, loaded[k]) for k, v in model.state_dict().items())


def test_a_checkpoint_missing_weights_is_one_clear_error(tmp_path):
    state = {f"detector.{k}": v for k, v in random_sam3(TINY).state_dict().items()
             if not k.startswith("transformer.decoder.")}
    path = tmp_path / "cut.pt"
    torch.save({"model": state, "farmannot_config": TINY.to_dict()}, path)
    with pytest.raises(InputError, match="weights do not fit sam3-test"):
        load_model(path)


def test_text_prompt_masks_match_sam3s_own_processor(session, picture):
    emb, hit = session.embed(picture)
    assert not hit and emb.features.shape == (32, 8, 8)  # the ViT trunk: 112 px / patch 14
    ours = session.backend.text_masks(picture, emb, "farmland parcel")
    proc, state = _processor(session, picture)
    with cpu_safe():
        ref = proc.set_text_prompt("farmland parcel", state)
    order = torch.argsort(ref["scores"], descending=True)
    assert len(ours) == len(order) == TINY.queries
    for m, i in zip(ours, order.tolist(), strict=True):
        assert m["predicted_iou"] == pytest.approx(float(ref["scores"][i]), abs=1e-5)
        assert m["segmentation"].shape == picture.shape[:2]
        assert (m["segmentation"] == ref["masks"][i, 0].numpy()).mean() > 0.999


def test_text_with_example_boxes_matches_sam3s_own_processor(session, picture):
    emb, _ = session.embed(picture)
    h, w = picture.shape[:2]
    ours = session.backend.text_masks(picture, emb, "farmland parcel", boxes=[[30.0, 20.0, 100.0, 60.0]])
    alone = session.backend.text_masks(picture, emb, "farmland parcel")
    proc, state = _processor(session, picture)
    with cpu_safe():
        proc.set_text_prompt("farmland parcel", state)
        ref = proc.add_geometric_prompt([65 / w, 40 / h, 70 / w, 40 / h], True, state)
    want = sorted(ref["scores"].tolist(), reverse=True)
    assert [m["predicted_iou"] for m in ours] == pytest.approx(want, abs=1e-5)
    assert [m["predicted_iou"] for m in ours] != pytest.approx([m["predicted_iou"] for m in alone], abs=1e-5)


def test_box_and_point_prompts_match_sam3s_own_processor(session, picture):
    emb, _ = session.embed(picture)
    h, w = picture.shape[:2]
    mask, score = session.backend.decode(emb, Prompt(None, None, np.array([30.0, 20.0, 100.0, 60.0])))
    proc, state = _processor(session, picture)
    with cpu_safe():
        ref = proc.add_geometric_prompt([65 / w, 40 / h, 70 / w, 40 / h], True, state)
    best = int(torch.argmax(ref["scores"]))
    assert score == pytest.approx(float(ref["scores"][best]), abs=1e-5)
    assert (mask == ref["masks"][best, 0].numpy()).mean() > 0.999

    mask, score = session.backend.decode(emb, Prompt(np.array([[60.0, 40.0]], np.float32), np.array([1], np.int32),
                                                     None))
    proc, state = _processor(session, picture)
    state["backbone_out"].update(session.sam.backbone.forward_text(["visual"], device="cpu"))
    state["geometric_prompt"] = session.sam._get_dummy_prompt()
    state["geometric_prompt"].append_points(torch.tensor([[[60 / w, 40 / h]]]), torch.tensor([[1]]))
    with cpu_safe():
        ref = proc._forward_grounding(state)
    best = int(torch.argmax(ref["scores"]))
    assert score == pytest.approx(float(ref["scores"][best]), abs=1e-5)
    assert mask.shape == (h, w) and (mask == ref["masks"][best, 0].numpy()).mean() > 0.999
    raw, raw_score = session.predict(emb, [[60.0, 40.0]], [1])  # the session's click path: the same mask
    assert np.array_equal(raw, mask) and raw_score == score
    seg = click_polygons(session, emb, [[60.0, 40.0]], [1])  # ... of which the click keeps only the parts it hits
    assert seg.score == score and not (seg.mask & ~mask).any()


def test_cache_is_keyed_per_model_and_reused(session, picture, sam3_checkpoint, tmp_path):
    emb, hit = session.embed(picture)
    again, hit2 = session.embed(picture)
    assert hit2 and np.array_equal(again.features, emb.features)
    # prompts on a kept neck output and kept text features answer as a fresh model does
    box = Prompt(None, None, np.array([10.0, 10.0, 70.0, 50.0]))
    kept = [session.backend.decode(emb, box) for _ in range(2)]
    kept_text = [session.backend.text_masks(picture, emb, "farmland parcel") for _ in range(2)]
    fresh = load_model(sam3_checkpoint)[0]
    fresh.score_threshold = 0.0
    mask, score = fresh.decode(emb, box)
    for m, s in kept:
        assert np.array_equal(m, mask) and s == pytest.approx(score, abs=1e-6)
    ref = fresh.text_masks(picture, emb, "farmland parcel")
    for got in kept_text:
        assert [g["predicted_iou"] for g in got] == pytest.approx([r["predicted_iou"] for r in ref], abs=1e-6)
    other = save_sam3_checkpoint(random_sam3(TINY, seed=2), TINY, tmp_path / "other.pt")
    assert SamSession.from_checkpoint(other).key_for(picture) != session.key_for(picture)
    from farmannot.sam.sam2_model import TINY as SAM2_TINY
    from farmannot.sam.sam2_model import random_sam2, save_sam2_checkpoint

    sam2 = save_sam2_checkpoint(random_sam2(SAM2_TINY, seed=1), SAM2_TINY, tmp_path / "sam2.pt")
    assert SamSession.from_checkpoint(sam2).key_for(picture) != session.key_for(picture)


@pytest.fixture()
def scene(tmp_path):
    rng = np.random.default_rng(0)
    data = (rng.random((4, 96, 120)) * 40 + 60).astype(np.uint8)
    data[1, 20:60, 30:90] = 220   # a green field across the seams of 64-pixel chips
    data[0, 20:60, 30:90] = 40
    path = tmp_path / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", width=120, height=96, count=4, dtype="uint8",
                       crs="EPSG:32618", transform=from_origin(790000, 2050000, 5, 5)) as dst:
        dst.write(data)
    return path


def test_text_proposals_over_chips_with_the_seam_merge(session, scene):
    from farmannot.sam.propose import ProposeOptions, propose_scene

    res = propose_scene(scene, session, ProposeOptions(chip=64, overlap=16, text="farmland parcel",
                                                       veg_filter="none", max_area_fraction=1.0), sensor="rgbn")
    assert res.chips == 6 and res.raw_masks == 6 * TINY.queries  # threshold 0: every query of every chip
    assert res.proposals
    for p in res.proposals:
        x0, y0, x1, y1 = p.geometry.bounds
        assert x0 >= 0 and y0 >= 0 and x1 <= 120 and y1 <= 96


def test_propose_text_cli_runs_sam3_and_reuses_the_cache(sam3_checkpoint, scene, tmp_path):
    out = tmp_path / "scene.json"
    args = ["propose", str(scene), "--sam-checkpoint", str(sam3_checkpoint), "--text", "farmland parcel", "-o",
            str(out), "--chip", "64", "--overlap", "16", "--filter", "none", "--cache-dir", str(tmp_path / "c"),
            "--sensor", "rgbn"]
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "on 6 chip(s)" in res.output and "0 embedding(s) from cache" in res.output
    prov = load_annotation(out).farmannot["provenance"]
    assert prov["method"] == "sam-text" and prov["inputs"]["text"] == "farmland parcel"
    assert prov["inputs"]["model"].startswith("sam3-test:")
    res2 = CliRunner().invoke(cli, [*args, "--overwrite"], catch_exceptions=False)
    assert "6 embedding(s) from cache" in res2.output
    res3 = CliRunner().invoke(cli, [*args, "--overwrite", "--sam-model", "sam3"])
    assert res3.exit_code != 0 and "holds sam3-test, not sam3" in res3.output and "Traceback" not in res3.output


def test_text_polygons_trace_the_instances_apart_and_stop_at_fields(session, picture):
    """``sam.click.text_polygons``: every instance's pixels, less a field drawn and less the instances before
    it, judged by rasterio's rasteriser against the backend's own masks."""
    import rasterio.features

    from farmannot.labels.polygonize import Rings
    from farmannot.sam.click import text_polygons

    emb, _ = session.embed(picture)
    masks = session.backend.text_masks(picture, emb, "farmland parcel")
    field = Rings(np.array([[0.0, 0.0], [40.0, 0.0], [40.0, 90.0], [0.0, 90.0]]), [])  # columns 0-39
    found = text_polygons(session, emb, picture, "farmland parcel", [field], simplify_px=0.0, min_area_px=0.0)
    shape = picture.shape[:2]
    want = np.zeros(shape, bool)
    for m in masks:
        want |= m["segmentation"]
    want[:, :40] = False
    each = [rasterio.features.rasterize([(r.to_shapely(), 1) for r in c.polygons], out_shape=shape).astype(bool)
            for c in found]
    got = np.logical_or.reduce(each)
    assert want.any() and np.array_equal(got, want)
    assert sum(int(e.sum()) for e in each) == int(got.sum())  # no pixel in two instances
    scores = [c.score for c in found]
    assert scores == sorted(scores, reverse=True) and set(scores) <= {m["predicted_iou"] for m in masks}


@pytest.mark.slow
def test_published_preset_is_sam3s_own_image_model():
    """The published preset has exactly the tensors ``sam3.model_builder`` builds (names and shapes), with
    the builder's CUDA-only caches sent to the CPU for the comparison."""
    from sam3.model_builder import build_sam3_image_model
    from torch.overrides import TorchFunctionMode

    from farmannot.sam.sam3_model import bpe_path, build_sam3_model

    class CudaToCpu(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = dict(kwargs or {})
            if str(kwargs.get("device", "")).startswith("cuda"):
                kwargs["device"] = "cpu"
            return func(*args, **kwargs)

    with CudaToCpu():
        ref = build_sam3_image_model(bpe_path=bpe_path(), device="cpu", load_from_HF=False)
    want = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    del ref
    got = {k: tuple(v.shape) for k, v in build_sam3_model(PRESETS["sam3"]).state_dict().items()}
    assert got == want and len(got) == 1134
