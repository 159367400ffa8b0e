"""Click latency: SAM's decoder in torch vs onnxruntime, alone and while the encoder embeds the next image.

One run measures both runtimes on the same embedding and prompts and prints the ratio. The model has the
published ViT-B prompt encoder and mask decoder (the decoder is the same for ViT-B/L/H) with random weights;
the encoder is ViT-B-sized only with ``--encoder vit_b`` (the background load), else a tiny one.

    python bench/bench_click.py            # decoder alone, one thread
    python bench/bench_click.py --busy     # and with a ViT-B encoder embedding in a background thread

What is timed (torch, onnxruntime, and onnxruntime with int8 weights): ``SamSession.predict`` (prompt ->
chosen mask upsampled to a 1024 x 1024 chip), and
``farmannot.sam.click.click_polygons`` (the same plus polygons), median and p90 of ``--clicks`` clicks per runtime; the
decoder alone (the onnxruntime session's run); and click -> polygons with a real-sized mask: the decoder
runs, its (random-weight, speckled) mask is replaced by a 400 x 300 px field with a farmstead hole plus
speckles over the chip (3 % of the pixels, hundreds of blobs over 16 px), then ``farmannot.sam.click`` and labelme vertices, as the
annotator's click worker does. The plain reference for that step traces every part of the mask (what the
plugin did before: one shape per speckle).

With ``--busy`` the background encoder runs twice: on torch's default threads, and on the threads the
session's ``ThreadBudget`` leaves it (``background=True``, as the annotator's prefetch of the next image).
The click's onnxruntime threads follow the encoder (``SamSession.click_threads``: up to the cores when it
is idle, the faster count lately; the budget's share while it runs); the decoder alone and
click -> polygons are also timed on the budget's share whatever runs (the click's threads before), with
the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from farmannot.labels.convention import to_labelme_rings  # noqa: E402
from farmannot.labels.polygonize import mask_to_polygons  # noqa: E402
from farmannot.sam.click import click_polygons, labelme_rings  # noqa: E402
from farmannot.sam.model import PRESETS, SamConfig, random_sam  # noqa: E402
from farmannot.sam.session import SamSession  # noqa: E402

FIELD = (200, 300, 600, 600)  # x0, y0, x1, y1 in the 1024 px chip: 400 x 300 px
FARMSTEAD = (350, 400, 430, 470)


def _field_image(size: int = 1024) -> np.ndarray:
    rng = np.random.default_rng(0)
    img = (rng.random((size, size, 3)) * 60).astype(np.uint8)
    for y in range(0, size, 128):
        for x in range(0, size, 160):
            img[y + 8:y + 120, x + 8:x + 150] += np.uint8(rng.integers(60, 180))
    return img


def _time_clicks(session: SamSession, emb, clicks, segment: bool) -> list[float]:
    out = []
    for pt in clicks:
        t0 = time.perf_counter()
        if segment:
            click_polygons(session, emb, [pt], [1])
        else:
            session.predict(emb, [pt], [1])
        out.append((time.perf_counter() - t0) * 1000)
    return out


def speckles(size: int, seed: int) -> np.ndarray:
    """Speckles as a random-weight SAM scatters them: blobs of 1 to ~100 px over 3 % of the picture."""
    import cv2

    noise = cv2.GaussianBlur(np.random.default_rng(seed).random((size, size)).astype(np.float32), (0, 0), 2.0)
    return noise > np.quantile(noise, 0.97)


def _field_mask(size: int = 1024) -> np.ndarray:
    mask = speckles(size, 2)
    x0, y0, x1, y1 = FIELD
    mask[y0:y1, x0:x1] = True
    x0, y0, x1, y1 = FARMSTEAD
    mask[y0:y1, x0:x1] = False
    return mask


class _RealSized:
    """The session's decoder runs; the mask it returns is the real-sized field."""

    def __init__(self, session: SamSession, mask: np.ndarray) -> None:
        self.session, self.mask = session, mask

    def predict(self, emb, points, labels):
        _, score = self.session.predict(emb, points, labels)
        return self.mask, score


def _time_field(session: SamSession, emb, n: int, reference: bool) -> list[float]:
    real, out = _RealSized(session, _field_mask()), []
    for _ in range(n):
        t0 = time.perf_counter()
        if reference:  # every part of the mask becomes a shape
            mask, _ = real.predict(emb, [[400.5, 350.5]], [1])
            rings = [r for p in mask_to_polygons(mask, 1.5, 16.0) for r in to_labelme_rings(p)]
        else:
            rings = labelme_rings(click_polygons(real, emb, [[400.5, 350.5]], [1]).polygons)
        out.append((time.perf_counter() - t0) * 1000)
    _time_field.shapes = sum(1 + len(r.holes) for r in rings)
    return out


def _time_field_on_the_share(session: SamSession, emb, n: int) -> tuple[list[float], list[float]]:
    """click -> polygons on the threads the session chooses and on the budget's share whatever runs (the click
    before its threads followed the encoder), one click of each in turn."""
    chosen_threads, chosen, share = session.click_threads, [], []
    try:
        for _ in range(n):
            session.click_threads = chosen_threads
            chosen += _time_field(session, emb, 1, reference=False)
            session.click_threads = lambda: session.threads.click
            share += _time_field(session, emb, 1, reference=False)
    finally:
        session.click_threads = chosen_threads
    return chosen, share


def _time_decoder(session: SamSession, emb, clicks) -> tuple[list[float], list[float]]:
    """The decoder alone on the threads the session chooses now (up to ``click_threads``, the faster lately),
    and on the budget's share (the click's threads before they followed the encoder), one run of each in turn."""
    from segment_anything.utils.transforms import ResizeLongestSide

    from farmannot.sam.onnx_decoder import padded_points
    from farmannot.sam.prompts import prompt_from_labelme

    dec, chosen, share = session.onnx_decoder(), [], []
    for pt in clicks:
        coords, labels = padded_points(prompt_from_labelme([pt], [1]), ResizeLongestSide(1024), emb.original_size)
        for threads, out in ((session.click_threads(), chosen), (session.threads.click, share)):
            t0 = time.perf_counter()
            dec.decode(emb.features, coords, labels, threads=threads)
            out.append((time.perf_counter() - t0) * 1000)
    return chosen, share


def _time_upsampling(sam, original: tuple[int, int], n: int = 10) -> tuple[float, float]:
    """Median ms of SAM's ``postprocess_masks`` + threshold (torch, the whole picture) and of the click path's
    ``upsample_mask`` (numpy, only where the mask can be true) on the low-res logits of a 400 x 300 px field."""
    import torch
    from segment_anything.utils.transforms import ResizeLongestSide

    from farmannot.sam.onnx_decoder import upsample_mask

    input_size = ResizeLongestSide(1024).get_preprocess_shape(*original, 1024)
    low = np.full((256, 256), -5.0, np.float32)
    f = input_size[0] / original[0] / 4  # original px -> low-res px
    low[int(300 * f):int(600 * f), int(200 * f):int(600 * f)] = 5.0
    ref, new = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        with torch.inference_mode():
            (sam.postprocess_masks(torch.from_numpy(low[None, None]), input_size, original)[0, 0] > 0).numpy()
        ref.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        upsample_mask(low, input_size, original, 1024)
        new.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ref), statistics.median(new)


def _summary(ms: list[float]) -> str:
    ms = sorted(ms)
    return f"median {statistics.median(ms):7.1f} ms  p90 {ms[int(0.9 * (len(ms) - 1))]:7.1f} ms"


def embed_in_background(encoder, img, background: bool, stop: threading.Event) -> threading.Thread:
    """A thread computing ``img``'s embedding again and again until ``stop`` is set (the next image of an
    annotator's folder), started and given 3 s to get going."""
    def _embed_forever():
        while not stop.is_set():
            encoder.compute_embedding(img, background=background)

    busy = threading.Thread(target=_embed_forever, daemon=True)
    busy.start()
    time.sleep(3.0)
    return busy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clicks", type=int, default=15)
    ap.add_argument("--busy", action="store_true", help="a ViT-B encoder embeds in a background thread")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the click path")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    sam = random_sam(SamConfig(32, 2, 2, (1,), img_size=1024), seed=0)
    sessions = {rt: SamSession(sam, model_id="bench-click", decoder=rt) for rt in ("torch", "onnx", "onnx-int8")}
    img = _field_image()
    emb = sessions["torch"].compute_embedding(img)
    t0 = time.perf_counter()
    sessions["onnx"].onnx_decoder()
    sessions["onnx-int8"].onnx_decoder()
    print(f"onnx export (float and int8) + session start: {time.perf_counter() - t0:.1f} s (once per checkpoint, then cached)")
    rng = np.random.default_rng(1)
    clicks = [[float(x), float(y)] for x, y in rng.integers(20, 1000, (args.clicks, 2))]
    for s in sessions.values():  # warm-up
        _time_clicks(s, emb, clicks[:2], segment=False)

    for original in ((1024, 1024), (3000, 3000)):
        ref, new = _time_upsampling(sam, original)
        print(f"upsampling the chosen mask to {original[1]} x {original[0]} px: torch postprocess_masks {ref:.1f} ms, "
              f"numpy where it can be true {new:.1f} ms ({ref / new:.1f}x)")
    budget = sessions["onnx"].threads
    print(f"load: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores; click threads (onnxruntime): "
          f"{budget.idle_click} without an embedding running, {budget.click} beside one")
    phases = [("no background encoder", None)]
    if args.busy:
        encoder = SamSession(random_sam(PRESETS["vit_b"], seed=1), model_id="bench-busy", decoder="torch")
        for s in sessions.values():  # one model in the annotator: its clicks see its encoder running
            s._encode_lock = encoder._encode_lock
        phases = [("busy, encoder on all threads", False),
                  (f"busy, encoder on the budget ({encoder.threads.background} threads)", True)]
    for phase, background in phases:
        stop = threading.Event()
        if background is not None:
            busy = embed_in_background(encoder, img, background, stop)
        print(f"-- {phase}; load {os.getloadavg()[0]:.2f}; click threads {sessions['onnx'].click_threads()}")
        results = {}
        for what in ("predict", "segment"):
            for rt, s in sessions.items():
                ms = _time_clicks(s, emb, clicks, segment=(what == "segment"))
                results[(what, rt)] = statistics.median(ms)
                print(f"{what:8s} {rt:9s} {_summary(ms)}")
            print(f"{what:8s} torch/onnx median ratio: {results[(what, 'torch')] / results[(what, 'onnx')]:.2f}x; "
                  f"onnx/onnx-int8: {results[(what, 'onnx')] / results[(what, 'onnx-int8')]:.2f}x")
        for rt in ("onnx", "onnx-int8"):
            chosen, share = _time_decoder(sessions[rt], emb, clicks)
            print(f"decoder alone ({rt} session run): {_summary(chosen)}; on the budget's share "
                  f"({budget.click} thread(s), interleaved): {_summary(share)}; "
                  f"speed-up {statistics.median(share) / statistics.median(chosen):.2f}x")
        ref = _time_field(sessions["onnx"], emb, args.clicks, reference=True)
        ref_shapes = _time_field.shapes
        new = _time_field(sessions["onnx"], emb, args.clicks, reference=False)
        print(f"click -> polygons, real-sized field + speckles (onnx): {_summary(new)}, {_time_field.shapes} "
              f"shape(s); reference (every part traced): {_summary(ref)}, {ref_shapes} shapes; ratio "
              f"{statistics.median(ref) / statistics.median(new):.2f}x")
        chosen, share = _time_field_on_the_share(sessions["onnx"], emb, args.clicks)
        print(f"click -> polygons (onnx), interleaved: chosen threads {_summary(chosen)}; budget's share "
              f"({budget.click} thread(s)) {_summary(share)}; speed-up {statistics.median(share) / statistics.median(chosen):.2f}x")
        stop.set()
        if background is not None:
            busy.join()  # let the embedding in flight finish: torch aborts when the interpreter exits under it


if __name__ == "__main__":
    main()
