"""Click latency: SAM's decoder in torch vs onnxruntime, alone and while the encoder embeds the next image.

One run measures both runtimes on the same embedding and prompts and prints the ratio. The model has the
published ViT-B prompt encoder and mask decoder (the decoder is the same for ViT-B/L/H) with random weights;
the encoder is ViT-B-sized only with ``--encoder vit_b`` (the background load), else a tiny one.

    python bench/bench_click.py            # decoder alone, one thread
    python bench/bench_click.py --busy     # and with a ViT-B encoder embedding in a background thread

What is timed: ``SamSession.predict`` (prompt -> chosen mask upsampled to a 1024 x 1024 chip), and
``SamSession.segment`` (the same plus polygons), median and p90 of ``--clicks`` clicks per runtime.
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

from farmannot.sam.model import PRESETS, SamConfig, random_sam  # noqa: E402
from farmannot.sam.session import SamSession  # noqa: E402


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
            session.segment(emb, [pt], [1])
        else:
            session.predict(emb, [pt], [1])
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _summary(ms: list[float]) -> str:
    ms = sorted(ms)
    return f"median {statistics.median(ms):7.1f} ms  p90 {ms[int(0.9 * (len(ms) - 1))]:7.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clicks", type=int, default=15)
    ap.add_argument("--busy", action="store_true", help="a ViT-B encoder embeds in a background thread")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the click path")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    sam = random_sam(SamConfig(32, 2, 2, (1,), img_size=1024), seed=0)
    sessions = {rt: SamSession(sam, model_id="bench-click", decoder=rt) for rt in ("torch", "onnx")}
    img = _field_image()
    emb = sessions["torch"].compute_embedding(img)
    t0 = time.perf_counter()
    sessions["onnx"].onnx_decoder()
    print(f"onnx export + session start: {time.perf_counter() - t0:.1f} s (once per checkpoint, then cached)")
    rng = np.random.default_rng(1)
    clicks = [[float(x), float(y)] for x, y in rng.integers(20, 1000, (args.clicks, 2))]
    for s in sessions.values():  # warm-up
        _time_clicks(s, emb, clicks[:2], segment=False)

    stop = threading.Event()
    if args.busy:
        encoder = SamSession(random_sam(PRESETS["vit_b"], seed=1), model_id="bench-busy", decoder="torch")

        def _embed_forever():
            while not stop.is_set():
                encoder.compute_embedding(img)

        busy = threading.Thread(target=_embed_forever, daemon=True)
        busy.start()
        time.sleep(2.0)

    print(f"load: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores; background encoder: {args.busy}")
    results = {}
    for what in ("predict", "segment"):
        for rt, s in sessions.items():
            ms = _time_clicks(s, emb, clicks, segment=(what == "segment"))
            results[(what, rt)] = statistics.median(ms)
            print(f"{what:8s} {rt:6s} {_summary(ms)}")
        print(f"{what:8s} torch/onnx median ratio: {results[(what, 'torch')] / results[(what, 'onnx')]:.2f}x")
    stop.set()
    if args.busy:
        busy.join()  # let the embedding in flight finish: torch aborts when the interpreter exits under it


if __name__ == "__main__":
    main()
