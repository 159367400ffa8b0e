"""Clicks decoded by onnxruntime give the masks the torch decoder gives (segment-anything's own ONNX graph)."""

from __future__ import annotations

import numpy as np
import pytest

from farmannot.sam import onnx_decoder
from farmannot.sam import threads as sam_threads
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


def test_onnx_sessions_for_the_click_threads_beside_an_embedding_and_without(sessions):
    session = sessions[1]
    dec = session.onnx_decoder()
    budget = session.threads
    assert dec.threads == tuple(sorted({budget.click, budget.idle_click}))
    for threads in dec.threads:
        assert dec.session(threads).get_session_options().intra_op_num_threads == threads
    with session._encode_lock:  # what compute_embedding holds while the encoder runs
        assert dec.session(session.click_threads()).get_session_options().intra_op_num_threads == budget.click
    assert dec.session(session.click_threads()).get_session_options().intra_op_num_threads == budget.idle_click


@pytest.mark.parametrize("name", list(PROMPTS))
def test_one_and_two_thread_sessions_give_the_torch_masks(sessions, tiny_checkpoint, image, tmp_path, name):
    """The decoder on 1 thread (beside an embedding on 2 cores) and on 2 (no embedding running): the same
    masks, and each the torch decoder's."""
    from farmannot.sam.threads import ThreadBudget

    torch_session = sessions[0]
    two = SamSession.from_checkpoint(tiny_checkpoint, cache=sessions[1].cache, decoder="onnx")
    two.threads = ThreadBudget(total=2, click=1)
    assert two.onnx_decoder().threads == (1, 2)
    emb, _ = torch_session.embed(image)
    points, labels = PROMPTS[name]
    ref_mask, ref_score = torch_session.predict(emb, points, labels)
    idle_mask, idle_score = two.predict(emb, points, labels)  # a new decoder tries its most threads first
    assert two.onnx_decoder().chooser.fitting(two.click_threads()) == [1, 2]
    with two._encode_lock:
        busy_mask, busy_score = two.predict(emb, points, labels)
    np.testing.assert_array_equal(idle_mask, busy_mask)
    assert idle_score == pytest.approx(busy_score, abs=1e-5)
    for mask, score in ((idle_mask, idle_score), (busy_mask, busy_score)):
        assert (mask != ref_mask).sum() <= 2
        assert score == pytest.approx(ref_score, abs=1e-4)


def _click(chooser, limit, seconds):
    """One click, alone: the count chosen, then its time handed back with the choice."""
    choice = chooser.choose(limit)
    chooser.record(choice, seconds)
    return choice.threads


def test_faster_threads_takes_the_faster_count_and_notices_a_change():
    chooser = sam_threads.FasterThreads([1, 2])
    assert _click(chooser, 1, 9.0) == 1  # beside an embedding: one count, no choice, not recorded
    assert _click(chooser, 2, 0.090) == 2  # each count tried once, the most threads first
    assert _click(chooser, 2, 0.060) == 1  # the 9 s beside the embedding was not taken as 1 thread's time
    for _ in range(5):  # choices 3..7: the faster lately
        assert _click(chooser, 2, 0.060) == 1
    assert sam_threads.PROBE_EVERY == 8
    # the 8th: the count measured least recently runs again; faster than 1 thread's 60 ms: the cores are
    # free now, its 90 ms forgotten
    assert _click(chooser, 2, 0.030) == 2
    for _ in range(7):  # choices 9..15
        assert _click(chooser, 2, 0.030) == 2
    assert _click(chooser, 2, 0.090) == 1  # the 16th: a probe of 1 thread, slower: nothing changes
    assert chooser.choose(2).threads == 2
    assert chooser.choose(None).threads == 1 and chooser.fitting(4) == [1, 2]


def _chooser_probing_next() -> sam_threads.FasterThreads:
    """2 threads measured at 90 ms, 1 thread at 60 ms over choices 1..7: the 8th choice probes 2 threads."""
    chooser = sam_threads.FasterThreads([1, 2])
    assert _click(chooser, 2, 0.090) == 2
    for _ in range(6):
        assert _click(chooser, 2, 0.060) == 1
    return chooser


def test_a_probe_is_kept_by_its_click_when_another_click_is_chosen_meanwhile():
    chooser = _chooser_probing_next()
    probe = chooser.choose(2)  # the 8th choice: the probe of 2 threads, against 1 thread's median of 60 ms
    assert (probe.threads, probe.probe_median) == (2, 0.060)
    other = chooser.choose(1)  # a click beside an embedding is chosen while the probe runs
    chooser.record(other, 9.0)
    chooser.record(probe, 0.030)  # its time ran beside another click: neither is recorded
    assert _click(chooser, 2, 0.060) == 1  # 2 threads keep their 90 ms, so 1 thread runs
    # the next probe, alone, comes with its own median and still counts
    for _ in range(6):
        assert _click(chooser, 2, 0.060) == 1
    probe = chooser.choose(2)
    assert (probe.threads, probe.probe_median) == (2, 0.060)
    chooser.record(probe, 0.030)
    assert _click(chooser, 2, 0.030) == 2  # the probe was faster: 2 threads' 90 ms forgotten


def test_a_click_whose_conditions_changed_is_not_recorded():
    chooser = _chooser_probing_next()
    probe = chooser.choose(2)
    assert probe.threads == 2
    chooser.record(probe, None)  # an embedding started while it ran: its 30 ms says nothing about idle cores
    assert _click(chooser, 2, 0.060) == 1


def test_a_click_during_which_an_embedding_starts_is_not_timed(sessions, tiny_checkpoint, image):
    """A click chosen on idle cores while no embedding runs, during which one starts: its time is not taken
    as the idle cores' time (the count stays untried), while a click with nothing changing is recorded."""
    from farmannot.sam.threads import ThreadBudget

    two = SamSession.from_checkpoint(tiny_checkpoint, cache=sessions[1].cache, decoder="onnx")
    two.threads = ThreadBudget(total=2, click=1)
    dec = two.onnx_decoder()
    real, lock = dec._sessions[2]

    class EmbeddingStarts:
        def run(self, *args):
            out = real.run(*args)
            two._encode_lock.acquire()  # what compute_embedding holds while the encoder runs
            return out

    dec._sessions[2] = (EmbeddingStarts(), lock)
    emb, _ = sessions[0].embed(image)
    try:
        two.predict(emb, [[60.0, 50.0]], [1])
    finally:
        two._encode_lock.release()
        dec._sessions[2] = (real, lock)
    asked = dec.chooser.choose(2)
    dec.chooser.record(asked, None)
    assert asked.threads == 2  # still untried: the click's time was dropped
    two.predict(emb, [[60.0, 50.0]], [1])  # on 2 threads, nothing changing: recorded
    assert dec.chooser.choose(2).threads == 1  # 2 tried, 1 is the untried one now


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


@pytest.mark.parametrize("img_size", [256, 1024])
@pytest.mark.parametrize("original", [(120, 180), (1024, 1024), (700, 1024), (1024, 333), (3000, 2200)])
def test_upsampling_only_where_true_equals_sams_postprocess(img_size, original):
    """The click path's numpy upsampling of the chosen mask (only the rows and columns that can be true) against
    segment-anything's ``Sam.postprocess_masks`` (torch) and its threshold, on a field-like logit map."""
    import torch
    from segment_anything.utils.transforms import ResizeLongestSide

    from farmannot.sam.model import SamConfig, random_sam

    sam = random_sam(SamConfig(32, 2, 2, (1,), img_size=img_size), seed=0)
    input_size = ResizeLongestSide(img_size).get_preprocess_shape(*original, img_size)
    low_n = img_size // 4
    rng = np.random.default_rng(sum(original))
    yy, xx = np.mgrid[0:low_n, 0:low_n]
    cy, cx = input_size[0] / 4 * 0.4, input_size[1] / 4 * 0.6  # a blob inside the picture, and noise
    low = (8.0 - np.hypot((yy - cy) / (input_size[0] / 160), (xx - cx) / (input_size[1] / 120))
           + rng.normal(0, 0.5, (low_n, low_n))).astype(np.float32)
    with torch.inference_mode():
        ref = sam.postprocess_masks(torch.from_numpy(low[None, None]), input_size, original)[0, 0].numpy()
    ref_mask = ref > sam.mask_threshold
    got = onnx_decoder.upsample_mask(low, input_size, original, img_size, sam.mask_threshold)
    assert got.shape == ref_mask.shape and ref_mask.any() and not ref_mask.all()
    near = np.abs(ref) < 1e-4  # float32 rounding of torch's intermediate may flip a logit this close to 0
    assert ((got != ref_mask) & ~near).sum() == 0
    assert onnx_decoder.upsample_mask(np.full_like(low, -1.0), input_size, original, img_size).sum() == 0
    spread = rng.normal(0, 1, low.shape).astype(np.float32)  # positive logits all over: left to torch's resize
    assert onnx_decoder.upsample_mask(spread, input_size, original, img_size, max_fraction=0.2) is None


@pytest.mark.parametrize("name", list(PROMPTS))
def test_int8_decoder_masks_close_to_torch(sessions, tiny_checkpoint, image, tmp_path, name):
    """``decoder="onnx-int8"`` (segment-anything's own quantisation): the same field up to its edge pixels."""
    torch_session = sessions[0]
    int8 = SamSession.from_checkpoint(tiny_checkpoint, cache=EmbeddingCache(tmp_path), decoder="onnx-int8")
    emb, _ = torch_session.embed(image)
    points, labels = PROMPTS[name]
    ref, _ = torch_session.predict(emb, points, labels)
    mask, _ = int8.predict(emb, points, labels)
    assert (mask & ref).sum() / (mask | ref).sum() > 0.9
    sessions[1].onnx_decoder()  # the float decoder, exported into its cache
    (saved,) = (tmp_path / "decoders").glob("*.onnx")  # its own file beside the cache
    assert saved.stat().st_size < 0.5 * next((sessions[1].cache.root / "decoders").glob("*.onnx")).stat().st_size
