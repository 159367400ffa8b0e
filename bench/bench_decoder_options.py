"""SAM's onnxruntime decoder under other threads and options: which measure faster, on one machine, one run.

The decoder is segment-anything's ViT-B prompt encoder + mask decoder (random weights) as
``farmannot.sam.onnx_decoder`` exports it. Every variant is an onnxruntime session of that graph; the
variants run interleaved (one run of each, in turn, ``--runs`` times) so that a change of load on a shared
machine falls on all of them alike, and each median (and minimum: the run least disturbed by other
programs) is printed with its ratio to the default session (``OnnxDecoder``'s own, started by
``_start_session``: one thread, ``ORT_ENABLE_ALL``, no spinning). Every variant's outputs are compared with
the default session's (max abs difference of the logits).

    python bench/bench_decoder_options.py            # nothing else running
    python bench/bench_decoder_options.py --busy     # a ViT-B encoder embeds in a background thread

Variants: 1 / 2 threads; spinning on; graph optimisation levels; ``single``: the graph cut to one mask
output (what segment-anything's ``return_single_mask`` returns), to see what the other three masks cost.
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
from farmannot.sam.onnx_decoder import (  # noqa: E402
    _session_options,
    _start_session,
    export_decoder,
    padded_points,
)
from farmannot.sam.prompts import prompt_from_labelme  # noqa: E402
from farmannot.sam.session import SamSession  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from bench_click import embed_in_background  # noqa: E402


def _single_mask_graph(sam) -> bytes:
    """The decoder graph with one mask output (the first multimask mask) instead of four."""
    import io
    import warnings

    import torch

    from farmannot.sam.onnx_decoder import _OPSET, _decoder_module

    full = _decoder_module(sam)

    class One(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.full = full

        def forward(self, image_embeddings, point_coords, point_labels):
            masks, iou = self.full(image_embeddings, point_coords, point_labels)
            return masks[:, 1:2], iou

    grid = sam.prompt_encoder.image_embedding_size
    dummy = (torch.zeros(1, sam.prompt_encoder.embed_dim, *grid), torch.zeros(1, 2, 2), torch.tensor([[1.0, -1.0]]))
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(One().eval(), dummy, buf, dynamo=False, opset_version=_OPSET,
                          input_names=["image_embeddings", "point_coords", "point_labels"],
                          output_names=["low_res_masks", "iou_predictions"],
                          dynamic_axes={"point_coords": {1: "points"}, "point_labels": {1: "points"}})
    return buf.getvalue()


def _session(model: bytes, threads: int = 1, spinning: bool = False, level: str = "ORT_ENABLE_ALL",
             denormal_zero: bool = False):
    """A variant: the default session's options (``_session_options``) with the given ones changed."""
    import onnxruntime as ort

    opts = _session_options(threads)
    opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    if spinning:
        ort.set_default_logger_severity(3)  # overriding the default's "0" is what this variant is for: no warning
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1")
    if denormal_zero:
        opts.add_session_config_entry("session.set_denormal_as_zero", "1")
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--busy", action="store_true", help="a ViT-B encoder embeds in a background thread "
                                                         "(on the threads the session's budget leaves it)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    sam = random_sam(SamConfig(32, 2, 2, (1,), img_size=1024), seed=0)
    model, single = export_decoder(sam), _single_mask_graph(sam)
    variants = {
        "default: 1 thread": _start_session(model, 1),
        "2 threads": _session(model, 2),
        "1 thread, spinning": _session(model, 1, spinning=True),
        "2 threads, spinning": _session(model, 2, spinning=True),
        "2 threads, ORT_ENABLE_BASIC": _session(model, 2, level="ORT_ENABLE_BASIC"),
        "2 threads, ORT_ENABLE_EXTENDED": _session(model, 2, level="ORT_ENABLE_EXTENDED"),
        "2 threads, ORT_DISABLE_ALL": _session(model, 2, level="ORT_DISABLE_ALL"),
        "2 threads, denormals as zero": _session(model, 2, denormal_zero=True),
        "2 threads, single-mask graph": _session(single, 2),
    }
    rng = np.random.default_rng(0)
    features = rng.normal(0, 1, (1, 256, 64, 64)).astype(np.float32)
    from segment_anything.utils.transforms import ResizeLongestSide

    feeds = []
    for x, y in rng.integers(20, 1000, (args.runs, 2)):
        coords, labels = padded_points(prompt_from_labelme([[float(x), float(y)]], [1]), ResizeLongestSide(1024),
                                       (1024, 1024))
        feeds.append({"image_embeddings": features, "point_coords": coords, "point_labels": labels})
    for sess in variants.values():  # warm-up
        for feed in feeds[:3]:
            sess.run(None, feed)

    stop = threading.Event()
    if args.busy:
        encoder = SamSession(random_sam(PRESETS["vit_b"], seed=1), model_id="bench-busy", decoder="torch")
        img = (rng.random((1024, 1024, 3)) * 255).astype(np.uint8)
        busy = embed_in_background(encoder, img, True, stop)
        print(f"busy: a ViT-B encoder on {encoder.threads.background} torch thread(s) in the background")
    print(f"load before: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores")
    times = {name: [] for name in variants}
    ref = [variants["default: 1 thread"].run(None, feed) for feed in feeds]
    diff = dict.fromkeys(variants, 0.0)
    for i, feed in enumerate(feeds):
        for name, sess in variants.items():
            t0 = time.perf_counter()
            masks, iou = sess.run(None, feed)
            times[name].append((time.perf_counter() - t0) * 1000)
            want = ref[i][0][:, 1:2] if masks.shape[1] == 1 else ref[i][0]
            diff[name] = max(diff[name], float(np.abs(masks - want).max()), float(np.abs(iou - ref[i][1]).max()))
    print(f"load after: {os.getloadavg()[0]:.2f}")
    base, base_min = statistics.median(times["default: 1 thread"]), min(times["default: 1 thread"])
    for name, ms in times.items():
        med = statistics.median(ms)
        print(f"{name:32s} median {med:6.1f} ms  min {min(ms):6.1f} ms  speed-up {base / med:4.2f}x "
              f"(of the minima {base_min / min(ms):4.2f}x)  max |diff| {diff[name]:.1e}")
    stop.set()
    if args.busy:
        busy.join()


if __name__ == "__main__":
    main()
