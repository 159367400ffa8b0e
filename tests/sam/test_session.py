"""Prompts -> masks -> polygons on a tiny random SAM, checked against segment-anything's own predictor."""

from __future__ import annotations

import numpy as np
import pytest
from segment_anything import SamPredictor

from farmannot.labels.polygonize import Rings, rings_to_mask
from farmannot.sam.cache import EmbeddingCache
from farmannot.sam.click import click_polygons
from farmannot.sam.prompts import prompt_from_labelme
from farmannot.sam.session import SamSession


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(1)
    img = (rng.random((120, 180, 3)) * 60).astype(np.uint8)
    img[20:80, 30:110] += 150  # a bright field
    return img


def test_prompt_conversion():
    p = prompt_from_labelme([[5, 6], [50, 40], [10, 10]], [2, 3, 0])
    np.testing.assert_array_equal(p.box, [5, 6, 50, 40])
    np.testing.assert_array_equal(p.point_coords, [[10, 10]])
    assert not p.multimask
    p = prompt_from_labelme([[50, 40], [5, 6]], [2, 3])  # corners in any order
    np.testing.assert_array_equal(p.box, [5, 6, 50, 40])
    assert p.point_coords is None
    assert prompt_from_labelme([[1, 2]], [1]).multimask
    with pytest.raises(ValueError):
        prompt_from_labelme([[1, 2]], [2])
    with pytest.raises(ValueError):
        prompt_from_labelme([[1, 2]], [7])


def test_cached_decode_equals_segment_anything_predictor(tiny_checkpoint, image, tmp_path):
    session = SamSession.from_checkpoint(tiny_checkpoint, cache=EmbeddingCache(tmp_path))
    emb, hit = session.embed(image)
    assert not hit
    assert emb.original_size == (120, 180)
    ref = SamPredictor(session.sam)
    ref.set_image(image)
    np.testing.assert_allclose(emb.features, ref.features[0].numpy(), rtol=1e-5, atol=1e-6)
    masks, scores, _ = ref.predict(point_coords=np.array([[60.0, 50.0]]), point_labels=np.array([1]),
                                   multimask_output=True)
    mask, score = session.predict(emb, [[60.0, 50.0]], [1])
    np.testing.assert_array_equal(mask, masks[np.argmax(scores)])
    assert score == pytest.approx(float(scores.max()))


def test_cache_hit_in_a_new_session(tiny_checkpoint, image, tmp_path, monkeypatch):
    first = SamSession.from_checkpoint(tiny_checkpoint, cache=EmbeddingCache(tmp_path))
    emb, _ = first.embed(image)
    second = SamSession.from_checkpoint(tiny_checkpoint, cache=EmbeddingCache(tmp_path))
    monkeypatch.setattr(second, "compute_embedding", lambda rgb: pytest.fail("cache missed"))
    got, hit = second.embed(image)
    assert hit
    np.testing.assert_array_equal(got.features, emb.features)
    # another model never reads this model's entries
    other = SamSession.random(seed=5, cache=EmbeddingCache(tmp_path))
    assert other.key_for(image) != first.key_for(image)


def test_segment_polygons_match_mask_and_respect_neighbours(tiny_checkpoint, image):
    session = SamSession.from_checkpoint(tiny_checkpoint)
    emb, _ = session.embed(image)
    exact = click_polygons(session, emb, [[10, 10], [170, 110]], [2, 3], simplify_px=0, min_area_px=0)
    assert exact.mask.shape == (120, 180) and exact.mask.any()
    np.testing.assert_array_equal(rings_to_mask(exact.polygons, exact.mask.shape), exact.mask)
    left = Rings(np.array([[0.0, 0.0], [90.0, 0.0], [90.0, 120.0], [0.0, 120.0]]), [])  # a field drawn on the left
    apart = click_polygons(session, emb, [[10, 10], [170, 110]], [2, 3], existing=[left], simplify_px=0,
                           min_area_px=0)
    occupied = np.zeros_like(exact.mask)
    occupied[:, :90] = True
    assert not (apart.mask & occupied).any()
    for rings in apart.polygons:
        assert rings.exterior[:, 0].min() >= 90


def test_thread_budget_leaves_the_click_its_threads(monkeypatch):
    import torch

    from farmannot.sam.threads import ThreadBudget

    assert (ThreadBudget.for_machine(1).click, ThreadBudget.for_machine(1).background) == (1, 1)
    assert (ThreadBudget.for_machine(2).click, ThreadBudget.for_machine(2).background) == (1, 1)
    assert (ThreadBudget.for_machine(8).click, ThreadBudget.for_machine(8).background) == (2, 6)

    seen = []

    class Backend:  # records torch's threads while encoding
        family, module, img_size, device = "stub", None, 64, "cpu"

        def encode(self, rgb):
            seen.append(torch.get_num_threads())
            return "emb"

    session = SamSession(Backend(), model_id="stub")
    session.threads = ThreadBudget(total=3, click=1)
    before = torch.get_num_threads()
    session.compute_embedding(np.zeros((8, 8, 3), np.uint8), background=True)
    session.compute_embedding(np.zeros((8, 8, 3), np.uint8))
    assert seen == [2, before]  # the background embedding runs on the cores the click leaves
    assert torch.get_num_threads() == before  # restored


def test_click_threads_follow_the_encoder():
    """A click gets the budget's share while an embedding is computed, the idle cores when none is."""
    import threading

    from farmannot.sam.threads import ThreadBudget

    assert [ThreadBudget.for_machine(n).idle_click for n in (1, 2, 3, 8)] == [1, 2, 3, 4]
    assert [ThreadBudget.for_machine(n).click for n in (1, 2, 3, 8)] == [1, 1, 1, 2]
    started, release = threading.Event(), threading.Event()

    class Backend:  # an encoder that runs until the test lets it finish
        family, module, img_size, device = "stub", None, 64, "cpu"

        def encode(self, rgb):
            started.set()
            assert release.wait(10)
            return "emb"

    session = SamSession(Backend(), model_id="stub")
    session.threads = ThreadBudget(total=2, click=1)
    assert session.click_threads() == 2 and not session.embedding_running
    worker = threading.Thread(target=session.compute_embedding, args=(np.zeros((8, 8, 3), np.uint8),),
                              kwargs={"background": True})
    worker.start()
    try:
        assert started.wait(10)
        assert session.embedding_running
        assert session.click_threads() == 1
    finally:
        release.set()
        worker.join(10)
    assert session.click_threads() == 2 and not session.embedding_running
