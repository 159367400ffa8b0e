"""Benchmark: every SAM family farmannot runs, on one 1024 x 1024 chip, on this machine's CPU (or a GPU).

For each model (real architectures built by farmannot's registry, random weights: no checkpoint can be
downloaded here, and neither encoder nor decoder time depends on the weights):

- embedding time of one 1024 x 1024 chip (the image encoder: what the annotator waits for once per image
  or chip, and what ``propose`` pays per chip);
- decoder latency per click once embedded (prompt encoder + mask decoder + upsampling the chosen mask),
  median and 90th percentile over clicks, in torch and (segment-anything models) onnxruntime on the same
  clicks, and click -> polygons on a field-like mask (``bench_click.py``: the click alone, with a background
  embedding, and with a real-sized mask);
- reopen with a cache hit (picture digest + reading the ``.npz`` in a fresh session: what every later
  command pays instead of the encoder);
- with ``--batch-memory``: peak memory of decoding one batch of ``propose``'s point grid on a 1024 px chip
  (segment-anything's generator step: decoder, three masks per prompt upsampled to the chip, stability
  scores), 16 prompts against the generators' default 64, each in a fresh child process that reads its own
  ``VmHWM`` (the peak of the process itself, not of a parent);
- with ``--propose``: one chip of ``propose`` (the family's automatic mask generator with propose's
  defaults, 16 x 16 points) with the point grid decoded in CPU-sized batches (16) and in the generators'
  default batches (64), embedding from the cache.
- SAM 3 (``sam3``, needs the ``sam3`` package): its click is a geometric prompt through the whole detector
  (text encoder of ``"visual"``, fusion encoder, decoder, mask head), and one concept prompt
  (``"farmland parcel"``: what ``propose --text`` pays per chip once embedded) is timed as well.

The plain reference is SAM ViT-B, the only model farmannot ran before: each model's embedding time is
printed as a ratio to it. The picture is the 768 x 768 Landsat scene of sample_data/, rendered as the
annotator sees it and mirrored out to 1024 x 1024.

Run: .venv/bin/python bench/bench_sam.py [--models vit_b,sam2.1_tiny,...] [--clicks 10] [--propose] [--batch-memory]
     [--device cpu|cuda] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from farmannot.labels.convention import to_labelme_rings
from farmannot.labels.polygonize import mask_to_polygons
from farmannot.sam import model as sam1
from farmannot.sam import sam2_model, sam3_model
from farmannot.sam.cache import EmbeddingCache
from farmannot.sam.imagery import render_picture
from farmannot.sam.propose import CPU_POINTS_PER_BATCH
from farmannot.sam.session import SamSession

SCENE = Path(__file__).resolve().parents[1] / "sample_data" / "scenes" / \
    "LC08_L1TP_224078_20200518_20200518_01_RT_subset.tif"
QUICK = "vit_b,sam2.1_tiny,sam2.1_small"
ALL = "vit_b,sam2.1_tiny,sam2.1_small,sam2.1_base_plus,sam2.1_large,vit_l,vit_h"


def config_of(name: str):
    if name in sam3_model.PRESETS:
        return sam3_model.PRESETS[name]
    return sam1.PRESETS[name] if name in sam1.PRESETS else sam2_model.PRESETS[name]


def chip_picture(side: int = 1024) -> np.ndarray:
    rgb = render_picture(SCENE).rgb
    pad = [(0, max(0, side - rgb.shape[0])), (0, max(0, side - rgb.shape[1])), (0, 0)]
    return np.ascontiguousarray(np.pad(rgb, pad, mode="reflect")[:side, :side])


def field_polygons_ms(shape) -> float:
    field = np.zeros(shape, np.uint8)
    cv2.fillPoly(field, [np.array([[260, 240], [700, 300], [640, 760], [220, 680]], np.int32)], 1)
    cv2.circle(field, (450, 500), 30, 0, -1)
    t0 = time.perf_counter()
    for _ in range(10):
        [r for rings in mask_to_polygons(field, 1.5, 16) for r in to_labelme_rings(rings)]
    return (time.perf_counter() - t0) * 100


def _batch_peak(batch: int, queue) -> None:
    """Child process: one batch of the automatic mask generator on a 1024 px chip; VmHWM before and after."""
    from segment_anything import SamAutomaticMaskGenerator

    def hwm() -> float:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) / 1024

    session = SamSession.random(sam1.SamConfig(768, 1, 12, (0,)))  # SAM's prompt encoder + decoder; encoder unused
    gen = SamAutomaticMaskGenerator(session.sam, points_per_side=16, points_per_batch=batch)
    pred = gen.predictor
    pred.features = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 256, 64, 64)).astype(np.float32))
    pred.original_size = pred.input_size = (1024, 1024)
    pred.is_image_set = True
    pts = np.random.default_rng(1).uniform(0, 1024, (batch, 2))
    before = hwm()
    with torch.inference_mode():
        gen._process_batch(pts, (1024, 1024), [0, 0, 1024, 1024], (1024, 1024))
    queue.put((before, hwm()))


def batch_memory() -> None:
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    for batch in (CPU_POINTS_PER_BATCH, 64):
        q = ctx.Queue()
        proc = ctx.Process(target=_batch_peak, args=(batch, q))
        proc.start()
        before, peak = q.get()
        proc.join()
        print(f"propose point grid, one batch of {batch} prompts on a 1024 px chip: peak {peak:.0f} MiB "
              f"(+{peak - before:.0f} MiB over the process before the batch)", flush=True)


def bench_model(name: str, rgb: np.ndarray, clicks: int, device: str, propose: bool, tmp: str) -> dict:
    session = SamSession.random(config_of(name), seed=0, cache=EmbeddingCache(Path(tmp) / name))
    session.sam.to(device)
    params = sum(p.numel() for p in session.sam.parameters()) / 1e6
    t0 = time.perf_counter()
    emb, hit = session.embed(rgb)
    embed_s = time.perf_counter() - t0
    assert not hit
    rng = np.random.default_rng(0)
    pts = rng.uniform(64, rgb.shape[0] - 64, size=(clicks + 2, 2))
    for x, y in pts[:2]:  # warm-up
        session.predict(emb, [[x, y]], [1])
    dec = []
    for x, y in pts[2:]:
        t0 = time.perf_counter()
        session.predict(emb, [[x, y]], [1])
        dec.append(time.perf_counter() - t0)
    dec_onnx = []
    if session.family == "sam":  # the same clicks on the same embedding through onnxruntime (the annotator's default)
        onnx = SamSession(session.backend, session.model_id, decoder="onnx")
        for x, y in pts[:2]:
            onnx.predict(emb, [[x, y]], [1])
        for x, y in pts[2:]:
            t0 = time.perf_counter()
            onnx.predict(emb, [[x, y]], [1])
            dec_onnx.append(time.perf_counter() - t0)
    fresh = SamSession(session.backend, session.model_id, cache=EmbeddingCache(Path(tmp) / name))
    t0 = time.perf_counter()
    emb2, hit = fresh.embed(rgb)
    reopen_s = time.perf_counter() - t0
    assert hit and np.array_equal(emb2.features, emb.features)
    out = {"model": name, "family": session.family, "params_m": params, "embed_s": embed_s,
           "decode_ms": statistics.median(dec) * 1000, "decode_p90_ms": float(np.percentile(dec, 90)) * 1000,
           "decode_onnx_ms": statistics.median(dec_onnx) * 1000 if dec_onnx else None,
           "reopen_ms": reopen_s * 1000, "entry_mb": sum(a.nbytes for a in [emb.features, *emb.extras.values()]) / 2**20}
    if session.family == "sam3":
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            session.backend.text_masks(rgb, emb, "farmland parcel")
            times.append(time.perf_counter() - t0)
        out["text_s"] = statistics.median(times)
    elif propose:
        for batch in (CPU_POINTS_PER_BATCH, 64):
            t0 = time.perf_counter()
            masks = session.backend.automatic_masks(rgb, emb, points_per_side=16, points_per_batch=batch,
                                                    pred_iou_thresh=0.88, stability_score_thresh=0.95)
            out[f"propose_chip_s_batch{batch}"] = time.perf_counter() - t0
            out[f"propose_masks_batch{batch}"] = len(masks)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=QUICK, help=f"comma-separated (default {QUICK}; all: {ALL})")
    ap.add_argument("--clicks", type=int, default=10)
    ap.add_argument("--propose", action="store_true", help="also time one propose chip (16 x 16 points)")
    ap.add_argument("--batch-memory", action="store_true", help="peak memory of one point batch, 16 vs 64")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    models = ALL.split(",") if args.models == "all" else [m.strip() for m in args.models.split(",") if m.strip()]
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[0]
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}, load {load}")
    if args.batch_memory:
        batch_memory()
    rgb = chip_picture()
    print(f"chip: {rgb.shape[1]} x {rgb.shape[0]} px; polygons from a field-like mask: "
          f"{field_polygons_ms(rgb.shape[:2]):.1f} ms")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            r = bench_model(name, rgb, args.clicks, args.device, args.propose, tmp)
            rows.append(r)
            line = (f"{name:17s} {r['params_m']:6.1f} M  embed {r['embed_s']:6.2f} s  click median "
                    f"{r['decode_ms']:5.0f} ms (p90 {r['decode_p90_ms']:.0f})"
                    + (f", onnxruntime {r['decode_onnx_ms']:.0f} ms ({r['decode_ms'] / r['decode_onnx_ms']:.2f}x)"
                       if r["decode_onnx_ms"] else "")
                    + f"  cache hit {r['reopen_ms']:4.0f} ms  "
                    f"entry {r['entry_mb']:.0f} MiB")
            if "text_s" in r:
                line += f"  text prompt {r['text_s']:.1f} s"
            elif args.propose:
                line += (f"  propose chip: batch {CPU_POINTS_PER_BATCH} {r[f'propose_chip_s_batch{CPU_POINTS_PER_BATCH}']:.1f} s"
                         f", batch 64 {r['propose_chip_s_batch64']:.1f} s")
            print(line, flush=True)
    ref = next((r for r in rows if r["model"] == "vit_b"), None)
    if ref:
        for r in rows:
            print(f"{r['model']:17s} embedding: {ref['embed_s'] / r['embed_s']:.1f}x faster than SAM ViT-B "
                  f"(the plain reference)")
    with open("/proc/loadavg") as fh:
        print(f"load at the end: {fh.read().split()[0]}")


if __name__ == "__main__":
    main()
